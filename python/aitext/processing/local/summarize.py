"""summarize: the most central sentences, distinct from one another, in document order, within max_length words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aitext.processing.local.analysis import Analysis, distinct
from aitext.processing.local.text import truncate_words


def run(document: str, options: Mapping[str, int], question: str) -> dict[str, Any]:
    return {"summary": summarize(document, options["max_length"])}


def summarize(document: str, max_length: int) -> str:
    analysis = Analysis.of(document)
    if not analysis.sentences:
        return truncate_words(document.strip(), max_length)
    chosen: list[int] = []
    chosen_terms: list[frozenset[str]] = []
    words = 0
    for index in analysis.ranked():
        length = len(analysis.sentences[index].split())
        if words + length > max_length or not distinct(analysis.stems[index], chosen_terms):
            continue
        chosen.append(index)
        chosen_terms.append(analysis.stems[index])
        words += length
        if max_length - words < 4:
            break
    if not chosen:
        # Even the best sentence is longer than max_length: cut it at a word boundary.
        return truncate_words(analysis.sentences[analysis.ranked()[0]], max_length)
    return " ".join(analysis.sentences[i] for i in sorted(chosen))
