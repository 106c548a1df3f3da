"""qa over a long text: the chunks most likely to hold the answer, by BM25 (the bm25s library).

Lexical ranking needs no model and no vocabulary download, and a question's rare words
(names, numbers, terms) are exactly what BM25 weighs most. Words are lower-cased, stop words
dropped and lightly stemmed (the local model's stemmer), so "landed" finds "landing".
"""

from __future__ import annotations

from collections.abc import Sequence

import bm25s

from aitext.processing.local.text import STOPWORDS, stem, tokens


def terms(text: str) -> list[str]:
    return [stem(t) for t in tokens(text) if t not in STOPWORDS]


def best_chunks(chunks: Sequence[str], question: str, room: int) -> list[int]:
    """Indexes of the best-scoring chunks that fit `room` bytes together, in document order.

    Empty when no chunk shares a word with the question: the answer is then "not found",
    without a model call.
    """
    asked = terms(question)
    if not asked or not chunks:
        return []
    ranker = bm25s.BM25()
    # Every chunk gets at least one token so that an empty one cannot shift the indexes.
    ranker.index([terms(chunk) or ["\0"] for chunk in chunks], show_progress=False)
    scores = ranker.get_scores(asked)
    ranked = sorted((i for i in range(len(chunks)) if scores[i] > 0), key=lambda i: (-scores[i], i))
    chosen: list[int] = []
    used = 0
    for index in ranked:
        size = len(chunks[index].encode()) + 2  # joined by a blank line
        if used + size > room:
            if chosen:
                break
            continue  # cannot happen for chunks planned for this room; skip rather than overflow
        chosen.append(index)
        used += size
    return sorted(chosen)
