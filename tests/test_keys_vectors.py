"""Both key implementations against tests/vectors/cache_keys.json, the keys that must never drift."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from aitext import _native
from aitext.cache import keys
from aitext.operations import BY_NAME, OPERATIONS
from blake3 import blake3

from tests.vectors.make_cache_keys import PATH, text_of

pytestmark = pytest.mark.unit

CASES: list[dict[str, Any]] = json.loads(PATH.read_text(encoding="utf-8"))["cases"]
IMPLEMENTATIONS: dict[str, Callable[..., str]] = {"python": keys.make_key, "rust": _native.make_key}
BATCHES: dict[str, Callable[..., list[str]]] = {"python": keys.make_keys, "rust": _native.make_keys}
KEY = re.compile(r"^(?P<namespace>.+):v1:(?P<operation>[a-z_]+):[0-9a-f]{64}$")


def args(case: dict[str, Any]) -> tuple[Any, ...]:
    return (
        text_of(case),
        case["operation"],
        case["options"],
        case["question"],
        case["model"],
        case["prompt_version"],
        case.get("namespace"),
    )


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector(case: dict[str, Any], impl: str) -> None:
    assert IMPLEMENTATIONS[impl](*args(case)) == case["key"]


@pytest.mark.parametrize("impl", sorted(BATCHES))
def test_vectors_as_one_batch(impl: str) -> None:
    # Large and small texts mixed: the Rust batch path hashes this one on all cores.
    assert BATCHES[impl]([args(c) for c in CASES]) == [c["key"] for c in CASES]


def test_only_declared_cases_share_a_key() -> None:
    by_name = {c["name"]: c for c in CASES}
    seen: dict[str, str] = {}
    for case in CASES:
        if "same_key_as" in case:
            assert case["key"] == by_name[case["same_key_as"]]["key"], case["name"]
        else:
            assert case["key"] not in seen, f"{case['name']} shares a key with {seen.get(case['key'])}"
            seen[case["key"]] = case["name"]


def test_given_options_become_the_effective_options() -> None:
    given = [c for c in CASES if "given_options" in c]
    assert given
    for case in given:
        assert BY_NAME[case["operation"]].effective_options(case["given_options"]) == case["options"]


def test_vectors_cover_what_must_not_drift() -> None:
    texts = {c["name"]: text_of(c) for c in CASES}
    names = set(texts)
    joined = "".join(t for t in texts.values() if len(t) < 1000)
    assert len(CASES) >= 60
    assert {c["operation"] for c in CASES} >= {op.name for op in OPERATIONS}
    assert any(c["question"] for c in CASES) and any(c["question"] is None for c in CASES)
    assert any(c["options"] == {} for c in CASES) and any("given_options" in c for c in CASES)
    assert texts["nfc cafe"] != texts["nfd cafe"]
    assert any(ord(ch) > 0xFFFF for ch in joined)
    for needle in ("\x00", "|", ":", "_", "&", "=", "op:summarize"):
        assert needle in joined, needle
    sizes = {len(t.encode()) for t in texts.values()}
    assert min(sizes) == 0 and max(sizes) >= 10 * 1024 * 1024
    assert {"size 100 KB", "size 1 MiB", "size 10 MiB"} <= names
    assert PATH.stat().st_size < 100_000


def test_keys_have_the_documented_shape() -> None:
    for case in CASES:
        match = KEY.match(case["key"])
        assert match, case["key"]
        assert match["namespace"] == (case.get("namespace") or "ai_cache")
        assert match["operation"] == case["operation"]


def test_one_vector_computed_from_the_spec_text() -> None:
    # Independent of keys.py: frames and concatenation spelled out as docs/cache-keys.md states them.
    def frame(b: bytes) -> bytes:
        return len(b).to_bytes(8, "little") + b

    case = next(c for c in CASES if c["name"] == "options two in order")
    options = frame(b"a") + frame(b"1") + frame(b"b") + frame(b"2")
    message = b"".join(
        frame(part)
        for part in (b"aitext/cache-key/v1", b"summarize", text_of(case).encode(), options, b"", b"local", b"1")
    )
    assert case["key"] == "ai_cache:v1:summarize:" + blake3(message).hexdigest()


def test_vector_file_is_what_the_generator_writes() -> None:
    from tests.vectors import make_cache_keys

    assert make_cache_keys.main(["--check"]) == 0
