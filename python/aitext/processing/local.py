"""The offline `local` model: deterministic, extractive, no network.

Every operation works on one linear pass of analysis (sentences, tokens,
sentence frequencies) over the document, so multi-megabyte texts stay
cheap: no sentence-pair loops, and VADER reads a bounded, evenly spaced
sample of sentences.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolCallPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from aitext import offload
from aitext.processing import prompts

# Bump when an algorithm below changes what it returns: it feeds the prompt version, hence the cache key.
ALGORITHM_VERSION = "1"

MAX_SENTENCE_CHARS = 1_000
MAX_SENTIMENT_SENTENCES = 2_000
# Summaries, key points and questions of a longer text are drawn from an evenly spaced sample.
MAX_ANALYSED_SENTENCES = 20_000
KEY_POINT_MAX_WORDS = 40
# How much of the text is read to learn how a word is usually written (for questions).
SURFACE_FORM_CHARS = 1_000_000

_BOUNDARY = re.compile(
    r"(?P<mark>[.!?…][\"'”’»)\]]?)\s+(?=[^\sa-z])"  # latin: end mark, space, not lower case next
    r"|(?P<cjk>[。！？])"  # CJK full stops need no space
    r"|\n[ \t]*\n\s*"  # paragraph break
    r"|\n(?=[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t])"  # list item
    r"|\n(?=[ \t]*#)"  # markdown heading
)
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "vs",
        "etc",
        "inc",
        "ltd",
        "jr",
        "sr",
        "no",
        "fig",
        "approx",
        "e.g",
        "i.e",
        "cf",
        "al",
        "dept",
        "est",
        "gen",
        "gov",
        "sen",
        "rep",
        "univ",
    ]
)
_WS = re.compile(r"\s+")
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+(?:['’][^\W_{_CJK}]+)*")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "aren't",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "can't",
        "cannot",
        "could",
        "couldn't",
        "did",
        "didn't",
        "do",
        "does",
        "doesn't",
        "doing",
        "don't",
        "down",
        "during",
        "each",
        "either",
        "few",
        "for",
        "from",
        "further",
        "had",
        "hadn't",
        "has",
        "hasn't",
        "have",
        "haven't",
        "having",
        "he",
        "he'd",
        "he'll",
        "he's",
        "her",
        "here",
        "here's",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "how's",
        "however",
        "i",
        "i'd",
        "i'll",
        "i'm",
        "i've",
        "if",
        "in",
        "into",
        "is",
        "isn't",
        "it",
        "it's",
        "its",
        "itself",
        "just",
        "let's",
        "like",
        "many",
        "may",
        "me",
        "might",
        "more",
        "most",
        "much",
        "must",
        "mustn't",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "often",
        "on",
        "once",
        "only",
        "or",
        "other",
        "ought",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "per",
        "rather",
        "same",
        "says",
        "said",
        "shall",
        "shan't",
        "she",
        "she'd",
        "she'll",
        "she's",
        "should",
        "shouldn't",
        "since",
        "so",
        "some",
        "such",
        "than",
        "that",
        "that's",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "there's",
        "these",
        "they",
        "they'd",
        "they'll",
        "they're",
        "they've",
        "this",
        "those",
        "though",
        "through",
        "thus",
        "to",
        "too",
        "under",
        "until",
        "up",
        "upon",
        "us",
        "very",
        "was",
        "wasn't",
        "we",
        "we'd",
        "we'll",
        "we're",
        "we've",
        "were",
        "weren't",
        "what",
        "what's",
        "when",
        "when's",
        "where",
        "where's",
        "whether",
        "which",
        "while",
        "who",
        "who's",
        "whom",
        "whose",
        "why",
        "why's",
        "will",
        "with",
        "within",
        "without",
        "won't",
        "would",
        "wouldn't",
        "yet",
        "you",
        "you'd",
        "you'll",
        "you're",
        "you've",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "one",
        "two",
        "also",
        "get",
        "got",
        "make",
        "made",
        "even",
        "well",
        "back",
        "still",
        "anyone",
        "everyone",
        "someone",
        "anything",
        "everything",
        "something",
        "nothing",
        "anybody",
        "everybody",
        "somebody",
    ]
)
_QUESTION_WORDS = frozenset(
    [
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "how",
        "did",
        "does",
        "do",
        "is",
        "are",
        "was",
        "were",
    ]
)


_SUFFIXES = (("ies", "y"), ("ingly", ""), ("edly", ""), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light stemmer: enough to match "landed" with "landing" and "batteries" with "battery"."""
    for suffix, replacement in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            word = word[: len(word) - len(suffix)] + replacement
            break
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def split_sentences(text: str) -> list[str]:
    """The text's sentences, each a whitespace-collapsed copy of a slice of the text, in order."""
    pieces: list[str] = []
    start = 0
    merge = False
    for boundary in _BOUNDARY.finditer(text):
        if boundary["mark"]:
            cut = boundary.end("mark")
        else:
            cut = boundary.end() if boundary["cjk"] else boundary.start()
        piece = text[start:cut]
        if merge:
            pieces[-1] += " " + piece
        else:
            pieces.append(piece)
        # "Dr. Smith": a full stop after an abbreviation ends no sentence.
        merge = bool(boundary["mark"]) and _ends_with_abbreviation(pieces[-1])
        start = boundary.end()
    if merge:
        pieces[-1] += " " + text[start:]
    else:
        pieces.append(text[start:])
    sentences: list[str] = []
    for piece in pieces:
        heading, newline, body = piece.lstrip().partition("\n")
        if heading.startswith("#") and newline:
            # A markdown heading is a line of its own, whatever follows it.
            sentences.append(_WS.sub(" ", heading).strip())
            piece = body
        for part in _bounded(piece):
            collapsed = _WS.sub(" ", part).strip()
            if collapsed:
                sentences.append(collapsed)
    return sentences


def _ends_with_abbreviation(piece: str) -> bool:
    last = piece.rstrip().rsplit(None, 1)[-1] if piece.strip() else ""
    if not last.endswith("."):
        return False
    word = last[:-1].lower().lstrip("(\"'")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _bounded(piece: str) -> Iterable[str]:
    """Cut a run-on "sentence" (code, a table, a text without punctuation) into bounded chunks."""
    if len(piece) <= MAX_SENTENCE_CHARS:
        yield piece
        return
    position = 0
    while position < len(piece):
        end = position + MAX_SENTENCE_CHARS
        if end < len(piece):
            cut = max(piece.rfind("\n", position, end), piece.rfind(" ", position, end))
            end = cut if cut > position else end
        yield piece[position:end]
        position = end


def truncate_words(text: str, limit: int) -> str:
    """At most `limit` words, cut at a word boundary; a cut is marked with an ellipsis."""
    words = text.split()
    if len(words) <= limit:
        return text
    return " ".join(words[:limit]).rstrip(",;:—-") + "…"


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
        for word in _WORD.findall(document[:SURFACE_FORM_CHARS]):
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


def _distinct(candidate: frozenset[str], chosen: list[frozenset[str]], threshold: float = 0.6) -> bool:
    for other in chosen:
        union = len(candidate | other)
        if union and len(candidate & other) / union > threshold:
            return False
    return True


def summarize(document: str, max_length: int) -> str:
    analysis = Analysis.of(document)
    if not analysis.sentences:
        return truncate_words(document.strip(), max_length)
    chosen: list[int] = []
    chosen_terms: list[frozenset[str]] = []
    words = 0
    for index in analysis.ranked():
        length = len(analysis.sentences[index].split())
        if words + length > max_length or not _distinct(analysis.stems[index], chosen_terms):
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


def key_points(document: str, max_points: int) -> list[str]:
    analysis = Analysis.of(document)
    chosen: list[int] = []
    chosen_terms: list[frozenset[str]] = []
    for index in analysis.ranked():
        if len(chosen) == max_points:
            break
        if analysis.stems[index] and _distinct(analysis.stems[index], chosen_terms, 0.5):
            chosen.append(index)
            chosen_terms.append(analysis.stems[index])
    if not chosen:
        chosen = list(range(min(max_points, len(analysis.sentences))))
    points = [truncate_words(analysis.sentences[i], KEY_POINT_MAX_WORDS) for i in sorted(chosen)]
    return points or [truncate_words(document.strip(), KEY_POINT_MAX_WORDS)]


_COPULA = re.compile(
    r"^(?P<subject>(?:(?:The|This|That|These|Those|Its|His|Her|Their|Our|A|An)\s+)?[^\s,;:()\"“”]+"
    r"(?:\s+[^\s,;:()\"“”]+){0,3}?)\s+(?P<verb>is|was|are|were)\s+(?P<rest>[^\n]+)$"
)
_PRONOUN_SUBJECTS = frozenset(
    [
        "it",
        "this",
        "that",
        "these",
        "those",
        "they",
        "he",
        "she",
        "there",
        "here",
        "we",
        "you",
        "i",
        "which",
        "who",
        "what",
    ]
)
_CLAUSE_WORDS = frozenset(["where", "which", "that", "who", "whom", "when", "while", "because", "if"])
_YEAR = re.compile(r"\b(?:1[5-9]\d\d|20\d\d)\b")
_ENTITY = re.compile(r"\b[A-Z][\w’'-]*[a-z][\w’'-]*(?:\s+(?:(?:of|the|de|von|van)\s+)?(?:[A-Z][\w’'-]+|\d+\b))*")
_NOT_ENTITIES = frozenset(
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
)
_DETERMINERS = ("The ", "This ", "That ", "These ", "Those ", "A ", "An ", "Its ", "His ", "Her ", "Their ", "Our ")
_IRREGULAR_PARTICIPLES = frozenset(
    [
        "built",
        "made",
        "found",
        "known",
        "called",
        "given",
        "taken",
        "seen",
        "done",
        "held",
        "kept",
        "left",
        "lost",
        "sold",
        "told",
        "thought",
        "brought",
        "bought",
        "caught",
        "taught",
        "set",
        "put",
        "cut",
        "run",
        "won",
        "shown",
        "grown",
        "written",
        "driven",
        "chosen",
        "spoken",
        "broadcast",
        "born",
        "worn",
        "torn",
        "sent",
        "spent",
        "paid",
        "laid",
        "led",
        "read",
        "heard",
        "meant",
        "understood",
        "begun",
        "drawn",
        "thrown",
        "flown",
        "frozen",
        "hidden",
        "ridden",
        "risen",
        "stolen",
    ]
)
_PLACE_PREPOSITIONS = frozenset(
    ["in", "at", "on", "near", "inside", "outside", "under", "above", "below", "beside", "between"]
)
_NOUN_STARTS = frozenset(
    [
        "a",
        "an",
        "the",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "its",
        "his",
        "her",
        "their",
        "our",
        "my",
    ]
)


def _copula_question(sentence: str, lower_words: frozenset[str]) -> str | None:
    """A question the sentence answers, when it has the shape "<subject> is/was <something>"."""
    match = _COPULA.match(sentence.rstrip(".!?…"))
    if not match:
        return None
    subject, verb, rest = match["subject"], match["verb"], match["rest"]
    words = subject.split()
    first = words[0].lower()
    if first in _PRONOUN_SUBJECTS or (first in STOPWORDS and not subject.startswith(_DETERMINERS)):
        return None
    if any(w.lower() in _CLAUSE_WORDS for w in words):
        return None
    if subject.startswith(_DETERMINERS) or first in lower_words:
        subject = subject[0].lower() + subject[1:]
    head = rest.split()[0].lower().strip(",;:")
    if head in {"not", "also", "still", "now", "very", "too", "so", "then"}:
        return None
    if head in _IRREGULAR_PARTICIPLES or re.fullmatch(r"[a-z]{3,}(?:ed|en)", head):
        return f"{'When' if _YEAR.search(rest) else 'How'} {verb} {subject} {head}?"
    if head in _PLACE_PREPOSITIONS:
        return f"Where {verb} {subject}?"
    if head in _NOUN_STARTS or head[0].isdigit():
        return f"What {verb} {subject}?"
    return f"What {verb} {subject} like?"


def _entities(sentences: Iterable[str]) -> list[str]:
    """Capitalised names, most frequent first; a lone capitalised word opening a sentence does not count."""
    counts: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    for sentence in sentences:
        for match in _ENTITY.finditer(sentence):
            words = match.group(0).split()
            opens_sentence = not sentence[: match.start()].strip(" ¿¡\"'“‘([-*#>")
            if len(words) == 1 and (opens_sentence or len(words[0]) < 3):
                continue
            while words and (words[0].lower() in STOPWORDS or words[0].lower().rstrip("s") in _NOT_ENTITIES):
                words.pop(0)
            if not words or words[0][0].isdigit():
                continue
            name = " ".join(words)
            counts[name] += 1
            first_seen.setdefault(name, len(first_seen))
    return sorted(counts, key=lambda name: (-counts[name], first_seen[name]))


def questions(document: str, num_questions: int) -> list[str]:
    analysis = Analysis.of(document)
    found: list[str] = []
    seen: set[str] = set()

    def add(question: str) -> None:
        key = question.lower()
        if key not in seen and len(found) < num_questions:
            seen.add(key)
            found.append(question)

    ranked = analysis.ranked()
    lower_words = frozenset(_WORD.findall(document[:200_000]))
    for index in ranked[:200]:
        if (question := _copula_question(analysis.sentences[index], lower_words)) is not None:
            add(question)
        if len(found) >= (num_questions + 1) // 2:
            break
    for entity in _entities(analysis.sentences[i] for i in sorted(ranked[:500]))[:num_questions]:
        named = f"the {entity}" if f"the {entity}" in document else entity
        add(f"What does the text say about {named}?")
    templates = (
        "How does the text describe {}?",
        "Why does {} matter in the text?",
        "What is said about {} in the text?",
    )
    for position, term in enumerate(analysis.top_terms(num_questions * 2)):
        add(templates[position % len(templates)].format(term))
    if not found:
        opening = truncate_words(analysis.sentences[0] if analysis.sentences else document.strip(), 8)
        add(f"What is the main point of the passage that begins “{opening}”?")
    return found


_ANAPHORA = re.compile(r"(?:This|These|That|Those|It|Its|They|Their|He|His|She|Her)\b")
_PLACE = re.compile(r"\b(?:in|at|on|near|from|to|into|across|inside)\s+(?:the\s+)?[A-Z]")
_NO_ANSWER = "The text does not contain an answer to this question."
_MONTHS = frozenset(
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ]
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
            overlap = wanted & {stem(t) for t in tokens(sentence)}
            if overlap:
                candidates.append((index, frozenset(overlap)))
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
        has_date = _YEAR.search(sentence) or any(m in lower.split() for m in _MONTHS)
        return 1.0 if has_date else 0.0
    if question.startswith(("how many", "how much", "how long", "how far", "how old")):
        return 1.0 if re.search(r"\d", sentence) else 0.0
    if kind in ("who", "whom", "whose"):
        return 0.5 if _ENTITY.search(sentence) else 0.0
    if kind == "where":
        return 0.5 if _PLACE.search(sentence) else 0.0
    return 0.0


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


_NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nothing",
        "nobody",
        "neither",
        "nor",
        "cannot",
        "can't",
        "don't",
        "doesn't",
        "didn't",
        "isn't",
        "wasn't",
        "aren't",
        "weren't",
        "won't",
        "wouldn't",
        "shouldn't",
        "couldn't",
        "hardly",
        "barely",
        "without",
    ]
)


_ENGLISH_MARKERS = frozenset(
    [
        "the",
        "and",
        "is",
        "are",
        "was",
        "of",
        "to",
        "in",
        "it",
        "that",
        "for",
        "with",
        "on",
        "this",
        "not",
        "but",
        "you",
        "i",
    ]
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
    pull: Counter[str] = Counter()
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


def compute(operation: str, options: dict[str, int], question: str, document: str) -> dict[str, Any]:
    """The output tool's arguments for one operation."""
    if operation == "summarize":
        return {"summary": summarize(document, options["max_length"])}
    if operation == "sentiment":
        return sentiment(document)
    if operation == "key_points":
        return {"points": key_points(document, options["max_points"])}
    if operation == "questions":
        return {"questions": questions(document, options["num_questions"])}
    if operation == "qa":
        return {"answer": answer(document, question)}
    raise ValueError(f"unknown operation {operation!r}")


def _last_user_prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in reversed(message.parts):
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    raise ValueError("no user prompt in the request")


def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """FunctionModel entry point: read the request like a remote model would, answer with the output tool."""
    operation, options, question, document = prompts.parse_user_message(_last_user_prompt(messages))
    (tool,) = info.output_tools
    args = compute(operation, options, question, document)
    return ModelResponse(parts=[ToolCallPart(tool_name=tool.name, args=args)])


def compute_from_prompt(message: str) -> dict[str, Any]:
    """The output tool's arguments for a user prompt, parsed here too (where offload.run sends it)."""
    operation, options, question, document = prompts.parse_user_message(message)
    return compute(operation, options, question, document)


async def respond_off_the_loop(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """`respond`, with the parsing and computing in the offload pool when the text is long (the loop serves on)."""
    message = _last_user_prompt(messages)
    (tool,) = info.output_tools
    args = await offload.run(compute_from_prompt, message, size=len(message))
    # Given a usage, pydantic-ai does not estimate one: a regex split of the whole prompt, on the loop.
    usage = RequestUsage(input_tokens=len(message) // 4 + 1, output_tokens=1)
    return ModelResponse(parts=[ToolCallPart(tool_name=tool.name, args=args)], usage=usage)


def local_model() -> FunctionModel:
    return FunctionModel(respond_off_the_loop, model_name="local")
