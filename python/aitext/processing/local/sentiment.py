"""sentiment: VADER over a bounded, evenly spaced sample of sentences, explained by the words that drove it."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from aitext.processing.local.text import split_sentences, tokens, word_set

MAX_SENTIMENT_SENTENCES = 2_000


def run(document: str, options: Mapping[str, int], question: str) -> dict[str, Any]:
    return sentiment(document)


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


_NEGATIONS = word_set(
    """
    not no never none nothing nobody neither nor cannot can't don't doesn't didn't isn't wasn't aren't weren't
    won't wouldn't shouldn't couldn't hardly barely without
    """
)


_ENGLISH_MARKERS = word_set(
    """
    the and is are was of to in it that for with on this not but you i
    """
)


def sentiment(document: str) -> dict[str, Any]:
    analyzer = _vader()
    sentences = split_sentences(document) or [document]
    step = max(1, math.ceil(len(sentences) / MAX_SENTIMENT_SENTENCES))
    sample = sentences[::step]
    sample_words = [w for s in sample for w in tokens(s)]
    if len(sample_words) >= 8 and sum(w in _ENGLISH_MARKERS for w in sample_words) < 0.05 * len(sample_words):
        # VADER's lexicon is English: read German "die" as "to die" and it calls a travel guide negative.
        return {
            "label": "neutral",
            "confidence": 0.3,
            "explanation": "The text does not look like English, and the offline sentiment lexicon covers English "
            "only, so no sentiment could be read from it.",
        }
    compounds = [analyzer.polarity_scores(s)["compound"] for s in sample]
    mean = sum(compounds) / len(compounds)
    positive = sum(c >= 0.05 for c in compounds)
    negative = sum(c <= -0.05 for c in compounds)
    if mean >= 0.05:
        label = "positive"
    elif mean <= -0.05:
        label = "negative"
    else:
        label = "neutral"
    neutral = len(compounds) - positive - negative
    agreement = {"positive": positive, "negative": negative, "neutral": neutral}[label] / len(compounds)
    if label == "neutral":
        confidence = 0.5 + 0.5 * (1 - abs(mean) / 0.05) * max(agreement, 0.5)
    else:
        confidence = 0.5 + 0.3 * min(1.0, abs(mean) / 0.6) + 0.2 * agreement
    drivers = _drivers(sample, analyzer.lexicon, label)
    scope = f"{len(sample)} sentence{'s' if len(sample) != 1 else ''}" + (
        f" sampled from {len(sentences)}" if step > 1 else ""
    )
    tally = f"{positive} positive, {negative} negative, {neutral} neutral"
    explanation = f"{label.capitalize()} overall: mean VADER compound {mean:+.2f} over {scope} ({tally})."
    if drivers:
        explanation += " Driven by: " + ", ".join(f"“{w}”" for w in drivers) + "."
    elif label == "neutral":
        explanation += " No strongly positive or negative wording."
    return {"label": label, "confidence": round(min(1.0, max(0.0, confidence)), 3), "explanation": explanation}


def _drivers(sentences: list[str], lexicon: dict[str, float], label: str, count: int = 5) -> list[str]:
    """The words whose lexicon valence, after negation, pushed hardest towards `label`."""
    pull: defaultdict[str, float] = defaultdict(float)
    sign = {"positive": 1.0, "negative": -1.0}.get(label)
    for sentence in sentences:
        words = [w.strip(".,;:!?\"'()[]“”‘’").lower() for w in sentence.split()]
        for position, word in enumerate(words):
            valence = lexicon.get(word)
            if valence is None:
                continue
            negated = any(w in _NEGATIONS for w in words[max(0, position - 3) : position])
            shown = f"not {word}" if negated else word
            value = -valence if negated else valence
            if sign is None or value * sign > 0:
                pull[shown] += abs(value)
    if sign is None:
        return []
    return [w for w, _ in sorted(pull.items(), key=lambda item: (-item[1], item[0]))[:count]]
