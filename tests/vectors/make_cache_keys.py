"""Writes tests/vectors/cache_keys.json: request cases with the keys the Python reference gives.

    python tests/vectors/make_cache_keys.py          # rewrite the file
    python tests/vectors/make_cache_keys.py --check  # fail if the file differs

The keys pin the spec: a key that changes orphans every cached entry. Add cases; never
change an existing case's key (tests/test_keys_vectors.py holds both implementations to it).

Large texts are stored as recipes, not text:
    {"repeat": UNIT, "count": N}      UNIT * N
    {"numbered": PREFIX, "count": N}  PREFIX + "0\\n" + PREFIX + "1\\n" ... up to N - 1
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from aitext.cache.keys import DOMAIN, make_key
from aitext.operations import BY_NAME

PATH = Path(__file__).with_name("cache_keys.json")
KiB = 1024
MiB = 1024 * KiB


def text_of(case: dict[str, Any]) -> str:
    if "text" in case:
        return str(case["text"])
    recipe = case["text_recipe"]
    if "repeat" in recipe:
        return str(recipe["repeat"]) * int(recipe["count"])
    prefix = recipe["numbered"]
    return "".join(f"{prefix}{i}\n" for i in range(int(recipe["count"])))


def case(
    name: str,
    text: str | dict[str, Any],
    operation: str = "summarize",
    *,
    options: dict[str, Any] | None = None,
    given: dict[str, Any] | None = None,
    question: str | None = None,
    model: str = "local",
    prompt_version: str = "1",
    namespace: str | None = None,
    same_as: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if same_as is not None:
        # The one earlier case this one must share its key with; all other keys are distinct.
        out["same_key_as"] = same_as
    if isinstance(text, dict):
        out["text_recipe"] = text
    else:
        out["text"] = text
    out["operation"] = operation
    if given is not None:
        # A client's options; the key is made from the effective ones (defaults applied).
        out["given_options"] = given
        options = BY_NAME[operation].effective_options(given)
    elif options is None:
        options = BY_NAME[operation].effective_options({}) if operation in BY_NAME else {}
    out["options"] = options
    out["question"] = question
    out["model"] = model
    out["prompt_version"] = prompt_version
    if namespace is not None:
        out["namespace"] = namespace
    return out


def cases() -> list[dict[str, Any]]:
    hello = "The quick brown fox jumps over the lazy dog."
    c = [
        # Every operation, with and without a question.
        case("op summarize", hello, "summarize"),
        case("op sentiment", hello, "sentiment"),
        case("op key_points", hello, "key_points"),
        case("op questions", hello, "questions"),
        case("op qa", hello, "qa", question="What does the fox do?"),
        case("op qa without question", hello, "qa"),
        case("op summarize with question", hello, "summarize", question="What does the fox do?"),
        case("question empty", hello, "qa", question="", same_as="op qa without question"),
        case("question trailing space", hello, "qa", question="What does the fox do? "),
        case("question emoji and NUL", hello, "qa", question="Why 🦊?\x00"),
        case("question looks like a field", hello, "qa", question="|q:deadbeef"),
        # Defaults applied: given {} and given the default are the same request.
        case("defaults summarize given none", hello, "summarize", given={}, same_as="op summarize"),
        case("defaults summarize given default", hello, "summarize", given={"max_length": 100}, same_as="op summarize"),
        case("defaults summarize given other", hello, "summarize", given={"max_length": 50}),
        case("defaults key_points given none", hello, "key_points", given={}, same_as="op key_points"),
        case(
            "defaults key_points given default", hello, "key_points", given={"max_points": 5}, same_as="op key_points"
        ),
        case("defaults questions given none", hello, "questions", given={}, same_as="op questions"),
        case("defaults questions given other", hello, "questions", given={"num_questions": 3}),
        # Options as such.
        case("options empty", hello, "summarize", options={}),
        case("options empty sentiment", hello, "sentiment", options={}, same_as="op sentiment"),
        case("options bool true", hello, "summarize", options={"strict": True}),
        case("options bool false", hello, "summarize", options={"strict": False}),
        case("options str value", hello, "summarize", options={"style": "bullet points"}),
        case("options negative int", hello, "summarize", options={"offset": -42}),
        case("options big int", hello, "summarize", options={"seed": 2**70}),
        case("options two in order", hello, "summarize", options={"a": 1, "b": 2}),
        case("options two reversed", hello, "summarize", options={"b": 2, "a": 1}, same_as="options two in order"),
        case("options name ab value 1", hello, "summarize", options={"ab": 1}),
        case("options name a value b1", hello, "summarize", options={"a": "b1"}),
        case("options unicode name", hello, "summarize", options={"länge": 7, "长度": "短"}),
        case("options value with separators", hello, "summarize", options={"style": "a&b=c|d:e"}),
        # The value's text is what counts: int 100 and str "100" are the same option.
        case("options int as str", hello, "summarize", options={"max_length": "100"}, same_as="op summarize"),
        case("options value with nul", hello, "summarize", options={"style": "a\x00b"}),
        # Unicode forms and characters.
        case("nfc cafe", "caf\u00e9"),
        case("nfd cafe", "cafe\u0301"),
        case("emoji skin tone", "👍🏽 great"),
        case("emoji zwj family", "👨\u200d👩\u200d👧"),
        case("emoji flag", "🇺🇳"),
        case("astral math letters", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢"),
        case("cjk", "漢字かなカナ한국어"),
        case("rtl", "שלום مرحبا"),
        case("bom and line separator", "\ufeffline\u2028next"),
        case("ansi escape", "\x1b[31mred\x1b[0m"),
        case("max code point", "\U0010ffff"),
        # NUL and separators a key scheme might use.
        case("nul inside", "a\x00b"),
        case("nul alone", "\x00"),
        case("nul run", "\x00" * 8),
        case("pipe", "a|b"),
        case("colon", "a:b"),
        case("underscore", "a_b"),
        case("ampersand equals", "max_length=100&question=x"),
        case("key-like op", "op:summarize"),
        case("key-like components", "op:summarize|txt:hello|opts:1a2b3c4d|q:5e6f7a8b"),
        case("key-like full key", "ai_cache:v1:summarize:" + "0" * 64),
        case("only separators", "|:_&=|:_&="),
        case("whitespace plain", "hello"),
        case("whitespace trailing", "hello "),
        case("whitespace leading", " hello"),
        case("whitespace newline", "hello\n"),
        case("whitespace crlf", "hello\r\n"),
        # Fields cannot bleed into each other.
        case("shift text ab question empty", "ab", "qa", question=""),
        case("shift text a question b", "a", "qa", question="b"),
        case("shift model", "a", "summarize", model="bc", prompt_version=""),
        case("shift prompt", "a", "summarize", model="b", prompt_version="c"),
        # Model, prompt version and namespace.
        case("model openai", hello, model="openai:gpt-4o"),
        case("model openai mini", hello, model="openai:gpt-4o-mini"),
        case("model empty", hello, model=""),
        case("prompt version 2", hello, prompt_version="2"),
        case("namespace custom", hello, namespace="tenant-a"),
        case("namespace default spelled out", hello, namespace="ai_cache", same_as="op summarize"),
        case("namespace unicode", hello, namespace="ключи"),
        # Sizes, from nothing to 10 MiB, across BLAKE3's block (64) and chunk (1024) sizes and
        # the extension's thresholds (GIL release 8 KiB, multithreading 128 KiB or 256 KiB).
        case("size 0", ""),
        case("size 1", "x"),
        case("size 63", {"repeat": "x", "count": 63}),
        case("size 64", {"repeat": "x", "count": 64}),
        case("size 65", {"repeat": "x", "count": 65}),
        case("size 1023", {"repeat": "y", "count": 1023}),
        case("size 1024", {"repeat": "y", "count": 1024}),
        case("size 1025", {"repeat": "y", "count": 1025}),
        # The Rust side hashes messages of up to 1 KiB in one call and gathers the first 16 KiB
        # of larger ones; a summarize request with default options frames 119 bytes around
        # its text, so these messages are 1024, 1025, 16383 and 16384 bytes long.
        case("message 1 KiB", {"repeat": "m", "count": 1024 - 119}),
        case("message 1 KiB + 1", {"repeat": "m", "count": 1025 - 119}),
        case("message 16 KiB - 1", {"repeat": "n", "count": 16 * KiB - 1 - 119}),
        case("message 16 KiB", {"repeat": "n", "count": 16 * KiB - 119}),
        case("size 8 KiB - 1", {"repeat": "z", "count": 8 * KiB - 1}),
        case("size 8 KiB", {"repeat": "z", "count": 8 * KiB}),
        case("size 100 KB", {"repeat": "lorem ipsum ", "count": 100_000 // 12}),
        case("size 128 KiB - 1", {"repeat": "q", "count": 128 * KiB - 1}),
        case("size 128 KiB", {"repeat": "q", "count": 128 * KiB}),
        case("size 128 KiB + 1", {"repeat": "q", "count": 128 * KiB + 1}),
        case("size 256 KiB - 1", {"repeat": "r", "count": 256 * KiB - 1}),
        case("size 256 KiB + 1", {"repeat": "r", "count": 256 * KiB + 1}),
        case("size 1 MiB numbered", {"numbered": "line ", "count": 110_000}),
        case("size 1 MiB", {"repeat": "0123456789abcdef", "count": MiB // 16}),
        case("size 2 MiB multibyte", {"repeat": "héllo wörld 🌍 漢字 ", "count": 2 * MiB // 32}),
        case("size 10 MiB", {"repeat": "0123456789abcdef", "count": 10 * MiB // 16}, "qa", question="Which digit?"),
        case("size 10 MiB numbered", {"numbered": "row ", "count": 1_100_000}, "key_points"),
    ]
    for item in c:
        text = text_of(item)
        if item["name"].startswith("message "):
            framing = 8 * 7 + len(DOMAIN) + sum(len(item[f]) for f in ("operation", "model", "prompt_version")) + 29
            assert framing == 119, framing
        item["key"] = make_key(
            text,
            item["operation"],
            item["options"],
            item["question"],
            item["model"],
            item["prompt_version"],
            item.get("namespace"),
        )
    return c


def render() -> str:
    return json.dumps({"spec": "aitext/cache-key/v1", "cases": cases()}, ensure_ascii=True, indent=1) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if PATH.read_text(encoding="utf-8") != text:
            print(f"{PATH} differs from what the reference computes", file=sys.stderr)
            return 1
        return 0
    PATH.write_text(text, encoding="utf-8")
    print(f"wrote {PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
