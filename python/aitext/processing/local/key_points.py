"""key_points: the most central sentences that differ from one another, each cut to a bounded length."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aitext.processing.local.analysis import Analysis, distinct
from aitext.processing.local.text import truncate_words

KEY_POINT_MAX_WORDS = 40


def run(document: str, options: Mapping[str, int], question: str) -> dict[str, Any]:
    return {"points": key_points(document, options["max_points"])}


def key_points(document: str, max_points: int) -> list[str]:
    analysis = Analysis.of(document)
    chosen: list[int] = []
    chosen_terms: list[frozenset[str]] = []
    for index in analysis.ranked():
        if len(chosen) == max_points:
            break
        if analysis.stems[index] and distinct(analysis.stems[index], chosen_terms, 0.5):
            chosen.append(index)
            chosen_terms.append(analysis.stems[index])
    if not chosen:
        chosen = list(range(min(max_points, len(analysis.sentences))))
    points = [truncate_words(analysis.sentences[i], KEY_POINT_MAX_WORDS) for i in sorted(chosen)]
    return points or [truncate_words(document.strip(), KEY_POINT_MAX_WORDS)]
