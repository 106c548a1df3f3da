"""aitext.chunking (reference) and aitext._native.chunk_text: the same errors, defaults and dispatch; GIL release."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from aitext import _native, chunking
from aitext.cache import keys

from tests.gil import other_thread_ran_during

pytestmark = pytest.mark.unit

IMPLEMENTATIONS: dict[str, chunking.ChunkText] = {"python": chunking.chunk_text, "rust": _native.chunk_text}


def outcome(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, str]:
    try:
        return ("ok", repr(fn(*args, **kwargs)))
    except Exception as exc:
        return (type(exc).__name__, str(exc))


BAD_CALLS: list[tuple[tuple[Any, ...], dict[str, Any], str]] = [
    ((b"bytes",), {}, "TypeError"),
    ((None,), {}, "TypeError"),
    (("lone \ud800 surrogate",), {}, "ValueError"),
    (("text", "8192"), {}, "TypeError"),
    (("text", 8192.0), {}, "TypeError"),
    (("text", True), {}, "TypeError"),
    (("text", None), {}, "TypeError"),
    (("text",), {"min_bytes": None}, "TypeError"),
    (("text", 63), {}, "ValueError"),
    (("text", -5), {}, "ValueError"),
    (("text", 2**100), {}, "ValueError"),
    (("text", 8192, 2**64), {}, "ValueError"),
    (("text", 8192, 2048, 2**32 + 1), {}, "ValueError"),
    (("text", 1000), {}, "ValueError"),  # below the default min
    (("text", 40000), {}, "ValueError"),  # above the default max
    (("text", 64, 64, 66), {}, "ValueError"),
    # The first bad argument decides: a range error before a later type error.
    (("text", 10, "x"), {}, "ValueError"),
    (("text", 8192, "x", 10), {}, "TypeError"),
    ((b"x", "y"), {}, "TypeError"),
]


@pytest.mark.parametrize(("args", "kwargs", "kind"), BAD_CALLS, ids=[repr(c[:2])[:60] for c in BAD_CALLS])
def test_bad_arguments_raise_the_same_error_in_both(args: tuple[Any, ...], kwargs: dict[str, Any], kind: str) -> None:
    python = outcome(chunking.chunk_text, *args, **kwargs)
    rust = outcome(_native.chunk_text, *args, **kwargs)
    assert python[0] == kind
    assert rust == python


def test_error_messages_name_the_argument_and_the_rule() -> None:
    with pytest.raises(ValueError, match=r"^min_bytes must be between 64 and 4294967296, not 10$"):
        _native.chunk_text("t", 8192, 10)
    with pytest.raises(ValueError, match=r"min_bytes <= target_bytes <= max_bytes, not 2048, 1000, 32768"):
        _native.chunk_text("t", 1000)
    with pytest.raises(ValueError, match=r"lone surrogate at index 3"):
        _native.chunk_text("abc\udfff")
    with pytest.raises(TypeError, match=r"^max_bytes must be int, not str$"):
        _native.chunk_text("t", max_bytes="1")  # type: ignore[arg-type]


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
def test_defaults_and_keywords(impl: str) -> None:
    fn = IMPLEMENTATIONS[impl]
    text = "Some words. " * 5000
    assert fn(text) == fn(text, 8192, 2048, 32768) == fn(text, max_bytes=32768, min_bytes=2048, target_bytes=8192)
    assert (chunking.DEFAULT_TARGET_BYTES, chunking.DEFAULT_MIN_BYTES, chunking.DEFAULT_MAX_BYTES) == (
        8192,
        2048,
        32768,
    )
    assert fn("") == []
    assert fn("x") == [(0, 1, 0, 1, chunking.chunk_digest(b"x"))]


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
def test_str_subclasses_and_int_subclasses_are_their_values(impl: str) -> None:
    class Text(str):
        def encode(self, *args: Any, **kwargs: Any) -> bytes:
            return b"not the text"

    class Size(int):
        def __repr__(self) -> str:
            return "not the size"

    fn = IMPLEMENTATIONS[impl]
    text = "Word and word. " * 2000
    assert fn(Text(text), Size(128), Size(64), Size(256)) == fn(text, 128, 64, 256)
    assert outcome(fn, text, Size(10)) == outcome(_native.chunk_text, text, 10)


def test_chunker_follows_the_key_backend() -> None:
    assert chunking.chunker("python") is chunking.chunk_text
    assert chunking.chunker("rust") is _native.chunk_text
    with pytest.raises(ValueError, match="rust or python"):
        chunking.chunker("go")  # type: ignore[arg-type]
    try:
        keys.configure("python")
        assert chunking.chunker() is chunking.chunk_text
        keys.configure("rust")
        assert chunking.chunker() is _native.chunk_text
    finally:
        keys.configure()


def test_rust_releases_the_gil_while_chunking_a_large_text() -> None:
    text = "A sentence of prose. " * 200_000  # 4 MB
    assert other_thread_ran_during(lambda: _native.chunk_text(text), 50)


def test_rust_keeps_the_gil_for_a_small_text() -> None:
    # The control for the test above: without a release the other thread never runs.
    text = "A sentence. " * 100
    assert len(text) < _native.CHUNK_DETACH_MIN_BYTES
    assert not other_thread_ran_during(lambda: _native.chunk_text(text), 2000)
