"""questions: "<subject> is <something>" sentences turned round, then named entities, then central terms."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from aitext.processing.local.analysis import Analysis
from aitext.processing.local.text import ENTITY, STOPWORDS, WORD, YEAR, truncate_words, word_set


def run(document: str, options: Mapping[str, int], question: str) -> dict[str, Any]:
    return {"questions": questions(document, options["num_questions"])}


_COPULA = re.compile(
    r"^(?P<subject>(?:(?:The|This|That|These|Those|Its|His|Her|Their|Our|A|An)\s+)?[^\s,;:()\"“”]+"
    r"(?:\s+[^\s,;:()\"“”]+){0,3}?)\s+(?P<verb>is|was|are|were)\s+(?P<rest>[^\n]+)$"
)
_PRONOUN_SUBJECTS = word_set(
    """
    it this that these those they he she there here we you i which who what
    """
)
_CLAUSE_WORDS = word_set("where which that who whom when while because if")
_NOT_ENTITIES = word_set(
    """
    january february march april may june july august september october november december monday tuesday
    wednesday thursday friday saturday sunday
    """
)
_DETERMINERS = ("The ", "This ", "That ", "These ", "Those ", "A ", "An ", "Its ", "His ", "Her ", "Their ", "Our ")
_IRREGULAR_PARTICIPLES = word_set(
    """
    built made found known called given taken seen done held kept left lost sold told thought brought bought
    caught taught set put cut run won shown grown written driven chosen spoken broadcast born worn torn sent
    spent paid laid led read heard meant understood begun drawn thrown flown frozen hidden ridden risen stolen
    """
)
_PLACE_PREPOSITIONS = frozenset(
    ["in", "at", "on", "near", "inside", "outside", "under", "above", "below", "beside", "between"]
)
_NOUN_STARTS = word_set(
    """
    a an the one two three four five six seven eight nine ten its his her their our my
    """
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
        return f"{'When' if YEAR.search(rest) else 'How'} {verb} {subject} {head}?"
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
        for match in ENTITY.finditer(sentence):
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
    lower_words = frozenset(WORD.findall(document[:200_000]))
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
