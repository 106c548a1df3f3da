"""Writes tests/vectors/chunks.json: texts with the chunks the Python reference cuts them into.

    python tests/vectors/make_chunks.py          # rewrite the file
    python tests/vectors/make_chunks.py --check  # fail if the file differs

The chunks pin the spec (docs/chunking.md): a chunk whose digest changes misses the chunk
cache. Add cases; never change an existing case's chunks (tests/test_chunking_vectors.py
and `cargo test` hold both implementations to them).

Large texts are stored as recipes, not text:
    {"repeat": UNIT, "count": N}
        UNIT * N
    {"numbered": PREFIX, "suffix": SUFFIX, "count": N[, "every": K, "separator": SEP]}
        PREFIX + "0" + SUFFIX + PREFIX + "1" + SUFFIX ... up to N - 1, with SEP after every
        K-th item when K is given
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from aitext.chunking import DOMAIN, GEAR, GEAR_SEED, chunk_text
from blake3 import blake3

PATH = Path(__file__).with_name("chunks.json")
KiB = 1024
MB = 1_000_000
# Small sizes, so that short literal texts exercise every rule: (target, min, max).
SMALL = (128, 64, 256)


def text_of(case: dict[str, Any]) -> str:
    if "text" in case:
        return str(case["text"])
    recipe = case["text_recipe"]
    if "repeat" in recipe:
        return str(recipe["repeat"]) * int(recipe["count"])
    prefix, suffix, every = recipe["numbered"], recipe["suffix"], recipe.get("every", 0)
    separator = recipe.get("separator", "")
    return "".join(
        f"{prefix}{i}{suffix}{separator if every and (i + 1) % every == 0 else ''}" for i in range(recipe["count"])
    )


def case(name: str, text: str | dict[str, Any], sizes: tuple[int, int, int] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if isinstance(text, dict):
        out["text_recipe"] = text
    else:
        out["text"] = text
    if sizes is not None:
        out["target_bytes"], out["min_bytes"], out["max_bytes"] = sizes
    return out


def sizes_of(case: dict[str, Any]) -> dict[str, int]:
    """The case's sizes as keyword arguments; none means the defaults."""
    return {name: case[name] for name in ("target_bytes", "min_bytes", "max_bytes") if name in case}


def forced(name: str, test: str, filler: int = 226) -> dict[str, Any]:
    """`filler` bytes of one letter, `test`, then 100 bytes of another letter, on SMALL sizes,
    with the first letter that makes the first cut the one in the name's parentheses."""
    expected = int(name.rsplit("(", 1)[1].rstrip(")"))
    for letter in "xwvutsrqponmlkjihgfedcba":
        text = letter * filler + test + "Z" * 100
        if chunk_text(text, *SMALL)[0][3] == expected:
            return case(name, text, SMALL)
    raise AssertionError(f"{name}: no filler letter gives the first cut at {expected}")


def prose(count: int, every: int = 6, separator: str = "\n\n") -> dict[str, Any]:
    """Numbered sentences of about 60 bytes, a paragraph break after every `every`."""
    return {
        "numbered": "The quarterly report for region ",
        "suffix": " shows steady growth, lower costs and a few open risks. ",
        "count": count,
        "every": every,
        "separator": separator,
    }


def cases() -> list[dict[str, Any]]:
    sentence = "One sentence ends here. "
    c = [
        # Nothing, and very little.
        case("empty", ""),
        case("one char", "a"),
        case("one two-byte char", "é"),
        case("one CJK char", "漢"),
        case("one emoji", "🦊"),
        case("one space", " "),
        case("short sentence", "The quick brown fox jumps over the lazy dog."),
        # Exactly at and around the default sizes (ASCII without structure: hard cuts).
        case("min - 1", {"repeat": "x", "count": 2 * KiB - 1}),
        case("min", {"repeat": "x", "count": 2 * KiB}),
        case("min + 1", {"repeat": "x", "count": 2 * KiB + 1}),
        case("target", {"repeat": "x", "count": 8 * KiB}),
        case("max - 1", {"repeat": "x", "count": 32 * KiB - 1}),
        case("max", {"repeat": "x", "count": 32 * KiB}),
        case("max + 1", {"repeat": "x", "count": 32 * KiB + 1}),
        case("two max", {"repeat": "x", "count": 64 * KiB}),
        case("prose at min", {"repeat": sentence, "count": 2 * KiB // len(sentence)}),
        case("prose at target", {"repeat": sentence[:16], "count": 8 * KiB // 16}),
        case("prose at max", {"repeat": sentence[:16], "count": 32 * KiB // 16}),
        case("prose at max + 16", {"repeat": sentence[:16], "count": 32 * KiB // 16 + 1}),
        # Multi-byte characters where a hard cut falls: it steps back to a code point.
        case("two-byte at max", {"repeat": "é", "count": 16 * KiB}),
        case("two-byte past max", {"repeat": "é", "count": 16 * KiB + 1}),
        case("CJK without punctuation", {"repeat": "漢字かなカナ한국어", "count": 10_000}),
        case("emoji without spaces", {"repeat": "🦊", "count": 20_000}),
        case("emoji zwj without spaces", {"repeat": "👨\u200d👩\u200d👧", "count": 6_000}),
        case("combining marks without spaces", {"repeat": "e\u0301", "count": 30_000}),
        # Text without punctuation, and without any structure at all.
        case("words without punctuation", {"numbered": "word", "suffix": " ", "count": 40_000}),
        case("digits without spaces", {"numbered": "", "suffix": "", "count": 30_000}),
        case("nul bytes", {"repeat": "\x00", "count": 50_000}),
        # All whitespace: every position is a whitespace end (and after "\n\n" a paragraph end).
        case("all spaces", {"repeat": " ", "count": 100_000}),
        case("all newlines", {"repeat": "\n", "count": 50_000}),
        case("all CRLF", {"repeat": "\r\n", "count": 30_000}),
        case("tabs and spaces", {"repeat": " \t", "count": 30_000}),
        # Structure: paragraphs, sentences, CRLF.
        case("prose 100 KB", prose(100_000 // 88)),
        case("prose 1 MB", prose(MB // 88)),
        case("prose CRLF paragraphs", prose(100_000 // 88, separator="\r\n\r\n")),
        case("prose CRLF lines", prose(100_000 // 88, every=1, separator="\r\n")),
        case("prose LF lines", prose(100_000 // 88, every=1, separator="\n")),
        case("prose one paragraph", prose(100_000 // 88, every=0)),
        case("prose long paragraphs", prose(200_000 // 88, every=400)),
        case("one 5 MB line", prose(5 * MB // 88, every=0)),
        case("CJK sentences", {"numbered": "第", "suffix": "句话在这里结束。这是下一句！", "count": 8_000}),
        case("CJK paragraphs", {"numbered": "第", "suffix": "段。", "count": 10_000, "every": 30, "separator": "\n\n"}),
        case("Japanese", {"numbered": "これは", "suffix": "番目の文です。次の文？", "count": 6_000}),
        case(
            "mixed scripts",
            {"numbered": "Hello мир ", "suffix": " مرحبا؟ नमस्ते। Γειά σου. שלום 🌍 ", "count": 5_000, "every": 7},
        ),
        case(
            "emoji prose",
            {"numbered": "Great 👍🏽 work ", "suffix": " 🎉! Next 👨\u200d👩\u200d👧 step. ", "count": 5_000},
        ),
        # The rules on small sizes (target 128, min 64, max 256): 226 filler bytes without
        # whitespace, where proposals find nothing to back off to, put the test in the
        # forced cut's window [224, 256]; `forced` picks a filler letter with which no
        # proposal lands in the window, so the first cut is the one the name says.
        forced("small: paragraph over later sentences (228)", "\n\nab. cd. ef gh"),
        forced("small: sentence over later spaces (230)", "ab. cd ef gh ij"),
        forced("small: CRLF paragraph (230)", "\r\n\r\nab cd"),
        forced("small: sentence before CRLF (231)", "ab.\r\nc d"),
        forced("small: never between CR and LF (256)", "\r\n", filler=254),
        forced("small: hard cut between CR and LF (256)", "\r\n", filler=255),
        forced("small: no sentence in 3.14 or e.gx (240)", "3.14 and e.gx ok"),
        forced("small: fullwidth stop without space (232)", "文。字字字 字"),
        forced("small: danda then space (242)", "शब्द। ab cd"),
        forced("small: arabic question mark (236)", "كلمة؟ab cd"),
        forced("small: quote after the stop is no sentence end (237)", 'so "stop." then'),
        forced("small: lone CR is whitespace (230)", "a\rb\rcd"),
        forced("small: hard cut in 4-byte char (253)", "🦊" * 200, filler=1),
        forced("small: hard cut in 3-byte char (254)", "漢" * 200, filler=2),
        case("small: min equals target", {"numbered": "w", "suffix": " ", "count": 2_000}, (64, 64, 200)),
        case("small: gap of three", {"numbered": "w", "suffix": ". ", "count": 2_000}, (64, 64, 67)),
        case("small: target equals max", prose(200), (512, 64, 512)),
        case("large sizes", prose(MB // 88), (64 * KiB, 16 * KiB, 256 * KiB)),
    ]
    for item in c:
        item["chunks"] = [
            [start, end, byte_start, byte_end, digest.hex()]
            for start, end, byte_start, byte_end, digest in chunk_text(text_of(item), **sizes_of(item))
        ]
    return c


def gear() -> dict[str, Any]:
    table = b"".join(value.to_bytes(8, "little") for value in GEAR)
    return {"seed": GEAR_SEED.decode(), "first": list(GEAR[:4]), "blake3_of_table": blake3(table).hexdigest()}


def render() -> str:
    doc = {"spec": DOMAIN.decode(), "gear": gear(), "cases": cases()}
    return json.dumps(doc, ensure_ascii=True, indent=1) + "\n"


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
