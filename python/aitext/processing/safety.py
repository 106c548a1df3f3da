"""Prompt safety: delimiting user text, neutralising injection patterns, spotting echoed prompts.

Ordinary text must reach the model byte for byte, so nothing here strips
characters, escapes quotes or braces, or truncates. Only two things change
user text:

- a known injection pattern (an instruction override, a role switch, a
  request for the hidden prompt, a chat-template control token or role
  marker) is replaced by a visible `[filtered: <category>]` marker that the
  instructions explain to the model;
- the delimiter tags themselves, if the text contains them, get their `<`
  written as `&lt;` so the text cannot close its own block.

The patterns are deliberately narrow (a phrase must name instructions,
prompts or a role, not just say "ignore" or "you are now"), because a false
positive mangles someone's document while a false negative still meets the
delimiters and the instructions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCUMENT_TAG = "user_document"
QUESTION_TAG = "user_question"

MARKER = "[filtered: {category}]"

_W = r"[^\W\d_]+"  # one word, any script
_TARGET = (
    r"(?:instructions?|prompts?|rules|directions|directives|guidelines|guardrails|commands|orders|"
    r"constraints|programming|restrictions|context)"
)

# (category, anchors, pattern, flags). Every match of a pattern contains one of its anchors (compared
# in lower case) within _REACH characters, so a long text is only searched around anchor hits; a
# pattern without anchors is cheap enough to run over the whole text.
_PATTERNS: tuple[tuple[str, tuple[str, ...], str, int], ...] = (
    (
        "instruction-override",
        ("ignore", "disregard", "forget", "override", "bypass", "skip", "drop", "abandon", "neglect"),
        # The filler must hold a word that points at *our* instructions ("previous", "your",
        # "system"...): "users ignore the instructions on the box" is ordinary text.
        rf"\b(?:ignore|disregard|forget|override|bypass|skip|drop|abandon|neglect)\s+"
        rf"(?:(?:the|of|these|those|this|its|my|other|current)\s+)*"
        rf"(?:all|any|every|each|your|previous|prior|above|earlier|preceding|foregoing|former|original|"
        rf"initial|existing|system|safety|developer)\s+"
        rf"(?:(?:{_W})\s+){{0,3}}?{_TARGET}\b",
        re.IGNORECASE,
    ),
    (
        "instruction-override",
        ("forget", "disregard", "ignore"),
        r"\b(?:forget|disregard|ignore)\s+(?:everything|all)\s+(?:(?:you\s+)?(?:were|have\s+been)\s+told|"
        r"(?:you\s+)?know|above|before|so\s+far|previously|said\s+(?:above|before))",
        re.IGNORECASE,
    ),
    (
        "instruction-override",
        ("instruction",),
        r"\b(?:new|updated|real|actual|revised|override)\s+(?:system\s+)?instructions?\s*:",
        re.IGNORECASE,
    ),
    (
        "instruction-override",
        ("ignor", "negeer", "忽略", "无视", "忽視", "無視", "игнорир"),
        # French, Spanish, Italian, Portuguese, German, Dutch, Chinese, Japanese, Russian.
        r"\b(?:ignor(?:e[zr]?|a|ar|are|iere|ieren)|negeer)\s+(?:[^\W\d_]+\s+){0,2}?"
        r"(?:(?:toutes|todas|todos|tutte|alle)\s+(?:[^\W\d_]+\s+){0,2}?"
        r"(?:instructions|istruzioni|instrucciones|instruções|anweisungen|instruktionen|instructies)"
        r"|(?:instructions|istruzioni|instrucciones|instruções|anweisungen|instruktionen|instructies)\s+"
        r"(?:précédentes|antérieures|ci-dessus|anteriores|previas|precedenti|anteriori|vorherigen|eerdere)"
        r"|(?:vorherigen|bisherigen|obigen|vorigen|eerdere|vorige|precedenti)\s+"
        r"(?:anweisungen|instruktionen|instructies|istruzioni))\b"
        r"|(?:忽略|无视|忽視|無視)(?:掉)?(?:之前|以上|先前|上面|前面|所有)(?:的)?(?:所有)?(?:指令|指示|说明|說明|规则|規則|提示)"
        r"|(?:以前|前|上記|これまで)の(?:指示|命令|ルール)を(?:すべて)?無視"
        r"|\bигнорир(?:уй|уйте)\s+(?:все\s+)?(?:предыдущие\s+)?(?:инструкции|указания|правила)",
        re.IGNORECASE,
    ),
    (
        "role-change",
        (
            "dan",
            "unrestricted",
            "unfiltered",
            "uncensored",
            "jailbroken",
            "jail-broken",
            "evil",
            "unaligned",
            "unbound",
            "amoral",
            "unethical",
            "rogue",
        ),
        rf"\b(?:(?:you\s+are|you're)\s+(?:now|from\s+now\s+on)|from\s+now\s+on,?\s+you\s+are|"
        rf"(?:act|behave|respond|answer|roleplay|role-play)\s+as|pretend\s+(?:to\s+be|you\s+are))\s+"
        rf"(?:(?:an?|the|my)\s+)?(?:{_W}\s+){{0,2}}?"
        rf"(?:DAN|unrestricted|unfiltered|uncensored|jailbroken|jail-broken|evil|unaligned|unbound|"
        rf"amoral|unethical|rogue)\b",
        re.IGNORECASE,
    ),
    (
        "role-change",
        ("now", "longer", "pretend"),
        rf"\b(?:(?:you\s+are|you're)\s+(?:now|no\s+longer)|from\s+now\s+on,?\s+you\s+are|"
        rf"pretend\s+(?:to\s+be|you\s+are))\s+(?:(?:an?|the|my)\s+)?(?:{_W}\s+){{0,2}}?"
        rf"(?:ai|assistant|chatbot|bot|language\s+model|llm)\b",
        re.IGNORECASE,
    ),
    (
        "role-change",
        ("mode",),
        r"\b(?:enable|activate|enter|switch\s+to|you\s+are\s+(?:now\s+)?in)\s+(?:the\s+)?"
        r"(?:DAN|jailbreak|god|developer|unrestricted|admin|sudo)\s+mode\b",
        re.IGNORECASE,
    ),
    (
        "prompt-extraction",
        ("prompt", "instruction", "system", "rules"),
        r"\b(?:reveal|print|show|repeat|output|display|leak|dump|expose|disclose|recite|share|tell\s+me|"
        r"give\s+me|write\s+out|what\s+(?:is|are|were))\s+(?:me\s+)?(?:all\s+)?"
        r"(?:(?:your|the)\s+(?:(?:full|entire|complete|original|hidden|secret|initial|exact|verbatim)\s+)*"
        r"(?:system\s+(?:prompt|message|instructions?)|(?:prompt|instructions)\b(?!\s+(?:for|on|to|in|of)\b))"
        r"|(?:your|the)\s+(?:hidden|secret|initial|original)\s+(?:prompt|instructions|rules))"
        r"|\b(?:reveal|print|show|repeat|output|display|recite|dump)\s+(?:back\s+)?(?:the\s+)?"
        r"(?:text|content|contents|words)\s+of\s+(?:your|the)\s+(?:system\s+(?:prompt|message)|instructions|prompt)",
        re.IGNORECASE,
    ),
    (
        "control-token",
        (),
        r"<\|[a-z_]{2,24}\|>|<\|?(?:start|end)_of_turn\|?>|\[/?INST\]|<</?SYS>>",
        re.IGNORECASE,
    ),
    (
        "role-marker",
        (),
        r"</?(?:system|assistant|developer|instructions?|im_start|im_end)(?:\s[^<>\n]{0,64})?>",
        re.IGNORECASE,
    ),
    (
        "role-marker",
        (),
        # A line that opens a chat turn: "SYSTEM: ...", "### System: You are ...". A capitalised
        # "System:" counts only before an instruction, so "System: Linux" in a spec sheet and the
        # YAML key `system:` pass untouched.
        r"^[ \t>]*(?:#{1,6}[ \t]*)?(?:\*\*)?"
        r"(?:(?:SYSTEM|ASSISTANT|DEVELOPER)(?:[ \t]+(?:PROMPT|MESSAGE|INSTRUCTIONS))?(?:\*\*)?[ \t]*:(?=[ \t]*\S)"
        r"|(?:System|Assistant|Developer)(?:[ \t]+(?:prompt|message|instructions))?(?:\*\*)?[ \t]*:"
        r"(?=[ \t]*(?i:you|ignore|disregard|forget|new|from\s+now|reveal|print|override|always|never|"
        r"do\s+not|the\s+user|sure|okay|ok|of\s+course|certainly|here\s+is|i\s+will|i'll|as\s+an)\b))"
        r"|^[ \t]*#{2,6}[ \t]*(?:Instruction|Response|System)[ \t]*:?[ \t]*$",
        re.MULTILINE,
    ),
)


_REACH = 200
# Everything that decides what the model is shown; part of Processor.prompt_version.
RULES = repr((_PATTERNS, MARKER, DOCUMENT_TAG, QUESTION_TAG))
_COMPILED: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (category, anchors, re.compile(pattern, flags)) for category, anchors, pattern, flags in _PATTERNS
)

_DELIMITER = re.compile(rf"<(?=\s*/?\s*(?:{DOCUMENT_TAG}|{QUESTION_TAG})\b)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Finding:
    category: str
    start: int
    end: int


def _windows(lowered: str | None, anchors: tuple[str, ...], size: int) -> list[tuple[int, int]]:
    """Merged stretches of the text within _REACH of an anchor hit; the whole text without anchors."""
    if not anchors or lowered is None:
        return [(0, size)]
    hits: list[int] = []
    for anchor in anchors:
        position = lowered.find(anchor)
        while position >= 0:
            hits.append(position)
            position = lowered.find(anchor, position + 1)
    windows: list[tuple[int, int]] = []
    for hit in sorted(hits):
        start, end = max(0, hit - _REACH), min(size, hit + _REACH)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], end))
        else:
            windows.append((start, end))
    return windows


def _lowered(text: str) -> str | None:
    lowered = text.lower()
    # A few characters lower-case to two, which would shift offsets: then search everything.
    return lowered if len(lowered) == len(text) else None


def _matches(pattern: re.Pattern[str], anchors: tuple[str, ...], text: str, lowered: str | None) -> list[re.Match[str]]:
    return [
        match for start, end in _windows(lowered, anchors, len(text)) for match in pattern.finditer(text, start, end)
    ]


def find_injections(text: str) -> list[Finding]:
    """Every span of `text` that matches a known injection pattern."""
    lowered = _lowered(text)
    return [
        Finding(category, match.start(), match.end())
        for category, anchors, pattern in _COMPILED
        for match in _matches(pattern, anchors, text, lowered)
    ]


def neutralize(text: str) -> tuple[str, list[str]]:
    """`text` with injection patterns replaced by markers, and the categories found.

    Text without a match is returned unchanged (the same object).
    """
    found: list[str] = []
    lowered = _lowered(text)
    for category, anchors, pattern in _COMPILED:
        matches = _matches(pattern, anchors, text, lowered)
        if not matches:
            continue
        marker = MARKER.format(category=category)
        pieces, position = [], 0
        for match in matches:
            pieces += [text[position : match.start()], marker]
            position = match.end()
        text = "".join([*pieces, text[position:]])
        lowered = _lowered(text)
        found.extend([category] * len(matches))
    return text, found


def escape_delimiters(text: str) -> str:
    """Make the delimiter tags inert inside user text: `</user_document>` becomes `&lt;/user_document>`."""
    return _DELIMITER.sub("&lt;", text)


def delimit(tag: str, text: str) -> str:
    return f"<{tag}>\n{text}\n</{tag}>"


def undelimit(tag: str, prompt: str) -> str | None:
    """The content of the block `delimit(tag, ...)` produced in `prompt`, or None."""
    opening, closing = f"<{tag}>\n", f"\n</{tag}>"
    start = prompt.find(opening)
    if start < 0:
        return None
    start += len(opening)
    end = prompt.find(closing, start)
    return None if end < 0 else prompt[start:end]


def prepare_user_text(text: str) -> tuple[str, list[str]]:
    """What the model is shown for a piece of user text, and which injection categories were neutralised."""
    neutralized, found = neutralize(text)
    return escape_delimiters(neutralized), found


def screen_user_text(text: str) -> tuple[str | None, list[str]]:
    """`prepare_user_text` for the offload pool: None when the text is shown as it is (the usual
    case), so a long text is not sent back to the caller whole only to be the same string."""
    shown, found = prepare_user_text(text)
    return (None if shown == text else shown), found


_WS = re.compile(r"\s+")


def _normalize(text: str) -> str:
    return _WS.sub(" ", text).strip().lower()


class EchoGuard:
    """Spots an answer that repeats the system prompt.

    The guarded passages are the instruction sentences long enough to be
    unmistakable; an answer quoting one of them is an echo, unless the user's
    own text contains the same sentence (a document about this service).
    """

    def __init__(self, instructions: str, *, min_chars: int = 40) -> None:
        sentences = re.split(r"(?<=[.:!?])\s+", instructions)
        self._passages = tuple({_normalize(s) for s in sentences if len(s.strip()) >= min_chars})

    def echoed(self, output: str, user_text: str) -> bool:
        answer = _normalize(output)
        if not any(passage in answer for passage in self._passages):
            return False
        source = _normalize(user_text)
        return any(passage in answer and passage not in source for passage in self._passages)
