"""The reduce steps that are computations, not model calls: key points, questions, sentiment.

- key points and questions: the chunks' items, near-duplicates dropped, chosen round-robin from
  equal spans of the document so the answer covers all of it, returned in document order;
- sentiment: each chunk's label weighted by its confidence and size; the heaviest label wins,
  its share of the weight is the confidence, and the explanation names the chunks behind it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aitext.processing.results import SentimentResult

_WORD = re.compile(r"\w+")
# Two items sharing this share of their words (Jaccard) say the same thing.
DUPLICATE_OVERLAP = 0.6
DRIVERS_NAMED = 3


def spread(items_per_chunk: Sequence[Sequence[str]], limit: int) -> list[str]:
    """At most `limit` distinct items, drawn evenly from the spans of the document, in document order."""
    spans = _spans(len(items_per_chunk), limit)
    queues: list[list[tuple[int, int, str]]] = []
    for first, last in spans:
        centre = (first + last - 1) / 2
        ordered = sorted(range(first, last), key=lambda c: (abs(c - centre), c))
        queues.append([(c, i, item) for c in ordered for i, item in enumerate(items_per_chunk[c])])
    chosen: list[tuple[int, int, str]] = []
    seen: list[frozenset[str]] = []
    while len(chosen) < limit and any(queues):
        for queue in queues:
            while queue and len(chosen) < limit:
                candidate = queue.pop(0)
                words = _words(candidate[2])
                if candidate[2].strip() and not any(_same(words, other) for other in seen):
                    chosen.append(candidate)
                    seen.append(words)
                    break
    return [item for _, _, item in sorted(chosen)]


def _spans(chunks: int, parts: int) -> list[tuple[int, int]]:
    parts = max(1, min(parts, chunks))
    bounds = [round(i * chunks / parts) for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(parts) if bounds[i] < bounds[i + 1]]


def _words(text: str) -> frozenset[str]:
    return frozenset(w.lower() for w in _WORD.findall(text))


def _same(a: frozenset[str], b: frozenset[str]) -> bool:
    if not a or not b:
        return a == b
    return len(a & b) / len(a | b) >= DUPLICATE_OVERLAP


def sentiment(ratings: Sequence[SentimentResult], sizes: Sequence[int]) -> SentimentResult:
    """One label for the document from its chunks' labels (a computation: no model call)."""
    weight = {"positive": 0.0, "negative": 0.0, "neutral": 0.0}
    counts = {"positive": 0, "negative": 0, "neutral": 0}
    for rating, size in zip(ratings, sizes, strict=True):
        weight[rating.label] += rating.confidence * size
        counts[rating.label] += 1
    total = sum(weight.values())
    label = max(weight, key=lambda name: (weight[name], name == "neutral"))
    confidence = weight[label] / total if total else 0.0
    drivers = sorted(
        (i for i, r in enumerate(ratings) if r.label == label),
        key=lambda i: (-ratings[i].confidence * sizes[i], i),
    )[:DRIVERS_NAMED]
    named = ", ".join(str(i + 1) for i in sorted(drivers))
    reasons = "; ".join(f"chunk {i + 1}: {_clip(ratings[i].explanation)}" for i in sorted(drivers))
    explanation = (
        f"{label.capitalize()} overall across {len(ratings)} chunks ({counts['positive']} positive, "
        f"{counts['negative']} negative, {counts['neutral']} neutral, weighted by confidence and length); "
        f"driven most by chunk{'s' if len(drivers) > 1 else ''} {named}. {reasons}"
    )
    return SentimentResult(label=label, confidence=round(min(1.0, confidence), 3), explanation=explanation)


def _clip(text: str, words: int = 25) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" ..." if len(parts) > words else "")
