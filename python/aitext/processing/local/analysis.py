"""One linear pass over a document: sentences, their content-word stems, how central each stem is."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from aitext.processing.local.text import STOPWORDS, WORD, split_sentences, stem, tokens

# Summaries, key points and questions of a longer text are drawn from an evenly spaced sample.
MAX_ANALYSED_SENTENCES = 20_000
# How much of the text is read to learn how a word is usually written (for questions).
SURFACE_FORM_CHARS = 1_000_000


@dataclass
class Analysis:
    sentences: list[str]
    stems: list[frozenset[str]]  # content-word stems of each sentence
    weights: dict[str, float]  # how central a stem is to the document
    surface: dict[str, str]  # the most frequent written form of a stem

    @classmethod
    def of(cls, document: str) -> Analysis:
        """The analysis of the text, or of an evenly spaced sample of its sentences when it is very long."""
        sentences = split_sentences(document)
        if len(sentences) > MAX_ANALYSED_SENTENCES:
            step = len(sentences) / MAX_ANALYSED_SENTENCES
            sentences = [sentences[int(i * step)] for i in range(MAX_ANALYSED_SENTENCES)]
        per_sentence: list[list[str]] = [tokens(s) for s in sentences]
        stems = [frozenset(stem(t) for t in words if t not in STOPWORDS and not t.isdigit()) for words in per_sentence]
        document_frequency: Counter[str] = Counter()
        for sentence_stems in stems:
            document_frequency.update(sentence_stems)
        n = len(sentences)
        weights: dict[str, float] = {}
        for term, df in document_frequency.items():
            # Words in most sentences of a longer text are function words of some language.
            if n >= 8 and df > n / 2:
                continue
            weights[term] = math.log1p(df) * (1.0 if len(term) > 1 or not term.isascii() else 0.2)
        forms: dict[str, Counter[str]] = {}
        for word in WORD.findall(document[:SURFACE_FORM_CHARS]):
            lower = word.lower()
            if lower not in STOPWORDS:
                forms.setdefault(stem(lower), Counter())[word] += 1
        surface = {term: counts.most_common(1)[0][0] for term, counts in forms.items()}
        return cls(sentences, stems, weights, surface)

    def scores(self) -> list[float]:
        scores = []
        for index, (sentence, terms) in enumerate(zip(self.sentences, self.stems, strict=True)):
            if not terms:
                scores.append(0.0)
                continue
            score = sum(self.weights.get(t, 0.0) for t in terms) / math.sqrt(len(terms) + 4)
            if len(sentence.split()) < 4:
                score *= 0.3
            if index == 0:
                score *= 1.1
            scores.append(score)
        return scores

    def ranked(self) -> list[int]:
        scores = self.scores()
        return sorted(range(len(self.sentences)), key=lambda i: (-scores[i], i))

    def top_terms(self, count: int) -> list[str]:
        ranked = sorted(self.weights.items(), key=lambda item: (-item[1], item[0]))
        forms = (self.surface.get(t, t) for t, _ in ranked if len(t) > 3)
        # Inflected verbs and adverbs make awkward question topics.
        return [f for f in forms if not f.lower().endswith(("ed", "ing", "ly"))][:count]


def distinct(candidate: frozenset[str], chosen: list[frozenset[str]], threshold: float = 0.6) -> bool:
    for other in chosen:
        union = len(candidate | other)
        if union and len(candidate & other) / union > threshold:
            return False
    return True
