"""qa: the sentence that best answers the question, with the one before it when it opens with a pronoun."""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from aitext.processing.local.text import ENTITY, STOPWORDS, YEAR, split_sentences, stem, tokens, word_set


def run(document: str, options: Mapping[str, int], question: str) -> dict[str, Any]:
    return {"answer": answer(document, question)}


_QUESTION_WORDS = word_set(
    """
    what when where which who whom whose why how did does do is are was were
    """
)

_ANAPHORA = re.compile(r"(?:This|These|That|Those|It|Its|They|Their|He|His|She|Her)\b")
_PLACE = re.compile(r"\b(?:in|at|on|near|from|to|into|across|inside)\s+(?:the\s+)?[A-Z]")
_NO_ANSWER = "The text does not contain an answer to this question."
_MONTHS = word_set(
    """
    january february march april may june july august september october november december
    """
)


def answer(document: str, question: str) -> str:
    """The sentence that best answers `question`: question words weighted by rarity, plus answer-type hints."""
    asked = [stem(t) for t in tokens(question) if t not in STOPWORDS and t not in _QUESTION_WORDS]
    wanted = set(asked)
    sentences = split_sentences(document)
    if not wanted or not sentences:
        return _NO_ANSWER
    # Every sentence is searched, however long the text: a cheap substring test finds the few that
    # could match before any of them is tokenised.
    prefixes = sorted({w[:-1] if w.endswith("y") and len(w) > 3 else w for w in wanted}, key=len, reverse=True)
    could_match = re.compile("|".join(map(re.escape, prefixes)), re.IGNORECASE)
    candidates: list[tuple[int, frozenset[str]]] = []
    for index, sentence in enumerate(sentences):
        if could_match.search(sentence):
            shared = wanted & {stem(t) for t in tokens(sentence)}
            if shared:
                candidates.append((index, frozenset(shared)))
    df = Counter(t for _, overlap in candidates for t in overlap)
    idf = {t: math.log((len(sentences) + 1) / (df[t] + 0.5)) for t in wanted}
    asked_pairs = set(itertools.pairwise(asked))
    kind = question.lower().split()[0] if question.split() else ""
    best, best_score = -1, 0.0
    for index, overlap in candidates:
        sentence = sentences[index]
        score = sum(idf[t] for t in overlap)
        if asked_pairs:
            words = [stem(t) for t in tokens(sentence)]
            score += 0.5 * len(asked_pairs & set(itertools.pairwise(words)))
        score += _answer_type_bonus(kind, question.lower(), sentence)
        if score > best_score:
            best, best_score = index, score
    if best < 0:
        return _NO_ANSWER
    if best > 0 and _ANAPHORA.match(sentences[best]):
        # "They splashed down in the Pacific." needs the sentence that says who "they" are.
        return f"{sentences[best - 1]} {sentences[best]}"
    return sentences[best]


def _answer_type_bonus(kind: str, question: str, sentence: str) -> float:
    lower = sentence.lower()
    if kind == "when":
        has_date = YEAR.search(sentence) or any(m in lower.split() for m in _MONTHS)
        return 1.0 if has_date else 0.0
    if question.startswith(("how many", "how much", "how long", "how far", "how old")):
        return 1.0 if re.search(r"\d", sentence) else 0.0
    if kind in ("who", "whom", "whose"):
        return 0.5 if ENTITY.search(sentence) else 0.0
    if kind == "where":
        return 0.5 if _PLACE.search(sentence) else 0.0
    return 0.0
