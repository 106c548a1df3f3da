"""Text primitives of the local model: sentences, tokens, stems, stopwords."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

MAX_SENTENCE_CHARS = 1_000


def word_set(words: str) -> frozenset[str]:
    """A set of words written as one whitespace-separated string."""
    return frozenset(words.split())


_BOUNDARY = re.compile(
    r"(?P<mark>[.!?…][\"'”’»)\]]?)\s+(?=[^\sa-z])"  # latin: end mark, space, not lower case next
    r"|(?P<cjk>[。！？])"  # CJK full stops need no space
    r"|\n[ \t]*\n\s*"  # paragraph break
    r"|\n(?=[ \t]*(?:[-*+•]|\d{1,3}[.)])[ \t])"  # list item
    r"|\n(?=[ \t]*#)"  # markdown heading
)
_ABBREVIATIONS = word_set(
    """
    mr mrs ms dr prof st vs etc inc ltd jr sr no fig approx e.g i.e cf al dept est gen gov sen rep univ
    """
)
_WS = re.compile(r"\s+")
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+(?:['’][^\W_{_CJK}]+)*")
WORD = re.compile(r"[^\W\d_][\w'’-]*")
YEAR = re.compile(r"\b(?:1[5-9]\d\d|20\d\d)\b")
ENTITY = re.compile(r"\b[A-Z][\w’'-]*[a-z][\w’'-]*(?:\s+(?:(?:of|the|de|von|van)\s+)?(?:[A-Z][\w’'-]+|\d+\b))*")

STOPWORDS = word_set(
    """
    a about above after again against all also am an and any are aren't as at be because been before being below
    between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
    either few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's
    hers herself him himself his how how's however i i'd i'll i'm i've if in into is isn't it it's its itself
    just let's like many may me might more most much must mustn't my myself no nor not now of off often on once
    only or other ought our ours ourselves out over own per rather same says said shall shan't she she'd she'll
    she's should shouldn't since so some such than that that's the their theirs them themselves then there
    there's these they they'd they'll they're they've this those though through thus to too under until up upon
    us very was wasn't we we'd we'll we're we've were weren't what what's when when's where where's whether
    which while who who's whom whose why why's will with within without won't would wouldn't yet you you'd
    you'll you're you've your yours yourself yourselves one two also get got make made even well back still
    anyone everyone someone anything everything something nothing anybody everybody somebody
    """
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
