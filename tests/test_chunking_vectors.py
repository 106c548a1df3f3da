"""Both chunkers against tests/vectors/chunks.json, the chunks (and digests) that must never drift."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aitext import _native, chunking
from blake3 import blake3

from tests.vectors.make_chunks import PATH, SMALL, sizes_of, text_of

pytestmark = pytest.mark.unit

DOC: dict[str, Any] = json.loads(PATH.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = DOC["cases"]
IMPLEMENTATIONS: dict[str, chunking.ChunkText] = {"python": chunking.chunk_text, "rust": _native.chunk_text}


def as_json(chunks: list[chunking.Chunk]) -> list[list[Any]]:
    return [[start, end, byte_start, byte_end, digest.hex()] for start, end, byte_start, byte_end, digest in chunks]


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector(case: dict[str, Any], impl: str) -> None:
    assert as_json(IMPLEMENTATIONS[impl](text_of(case), **sizes_of(case))) == case["chunks"]


def test_gear_table_is_derived_from_its_seed() -> None:
    assert DOC["spec"] == chunking.DOMAIN.decode()
    assert DOC["gear"]["seed"] == chunking.GEAR_SEED.decode()
    table = blake3(chunking.GEAR_SEED).digest(length=2048)
    assert list(chunking.GEAR) == [int.from_bytes(table[i : i + 8], "little") for i in range(0, 2048, 8)]
    assert DOC["gear"]["first"] == list(chunking.GEAR[:4])
    assert blake3(table).hexdigest() == DOC["gear"]["blake3_of_table"]


def test_digests_are_the_framed_blake3_of_the_chunk() -> None:
    for case in CASES[:40]:
        data = text_of(case).encode()
        for _, _, byte_start, byte_end, digest in case["chunks"]:
            piece = data[byte_start:byte_end]
            framed = len(b"aitext/chunk/v1").to_bytes(8, "little") + b"aitext/chunk/v1"
            framed += len(piece).to_bytes(8, "little") + piece
            assert blake3(framed).hexdigest() == digest


def test_vectors_cover_what_must_not_drift() -> None:
    texts = {c["name"]: text_of(c) for c in CASES}
    sizes = {name: len(text.encode()) for name, text in texts.items()}
    assert len(CASES) >= 40
    assert min(sizes.values()) == 0 and max(sizes.values()) >= 5_000_000
    joined = "".join(text[:2000] for text in texts.values())
    for needle in ("\r\n\r\n", "\n\n", "。", "🦊", "漢", "é", "\u0964", "؟", "\x00"):
        assert needle in joined, repr(needle)
    one_line = texts["one 5 MB line"]
    assert len(one_line) >= 5_000_000 and "\n" not in one_line
    # Exactly at the default sizes, and just around them.
    assert {2047, 2048, 2049, 8192, 32767, 32768, 32769} <= set(sizes.values())
    # The rule cases land their first cut where their names say (see make_chunks.forced).
    for case in CASES:
        if case["name"].startswith("small: ") and case["name"].endswith(")"):
            assert (case["target_bytes"], case["min_bytes"], case["max_bytes"]) == SMALL
            assert case["chunks"][0][3] == int(case["name"].rsplit("(", 1)[1].rstrip(")")), case["name"]
    # Hard cuts that had to step back to a code point, and ones that split nothing.
    assert [c[3] for c in next(c for c in CASES if c["name"] == "two-byte past max")["chunks"]] == [32768, 32770]
    assert next(c for c in CASES if c["name"] == "emoji without spaces")["chunks"][0][3] == 32768
