"""aitext.cache.keys (reference) and aitext._native: same behaviour at the edges, backend choice."""

from __future__ import annotations

import enum
import logging
import sys
import tracemalloc
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aitext import _native
from aitext.cache import keys

from tests.gil import other_thread_ran_during

pytestmark = pytest.mark.unit

IMPLEMENTATIONS: dict[str, tuple[Callable[..., str], Callable[..., list[str]]]] = {
    "python": (keys.make_key, keys.make_keys),
    "rust": (_native.make_key, _native.make_keys),
}
BASE: tuple[Any, ...] = ("some text", "summarize", {"max_length": 100}, None, "local", "1")


def with_field(index: int, value: object) -> tuple[Any, ...]:
    return (*BASE[:index], value, *BASE[index + 1 :])


def outcome(fn: Callable[..., Any], *args: Any) -> object:
    """The result, or the type of the exception raised: what the two implementations must
    agree on. Their messages may differ (the Rust ones are PyO3's)."""
    try:
        return fn(*args)
    except Exception as exc:
        return type(exc)


BAD_CALLS: dict[str, tuple[Any, ...]] = {
    "surrogate text": with_field(0, "ok \ud800 then"),
    "surrogate text at 0": with_field(0, "\udfff"),
    "surrogate operation": with_field(1, "sum\udc80"),
    "surrogate option name": with_field(2, {"max_\ud83d": 1}),
    "surrogate option value": with_field(2, {"style": "x\udbff"}),
    "surrogate question": with_field(3, "why\ud800?"),
    "surrogate model": with_field(4, "\ud800"),
    "surrogate prompt_version": with_field(5, "1\ud800"),
    "surrogate namespace": (*BASE, "ns\ud800"),
    "surrogates in two fields": ("\ud800", "summarize", {}, "\ud801", "m", "1"),
    "float option": with_field(2, {"max_length": 100.0}),
    "None option": with_field(2, {"max_length": None}),
    "list option": with_field(2, {"max_length": [1]}),
    "non-str option name": with_field(2, {1: 1}),
    "first bad value in name order": with_field(2, {"b": 1.5, "a": b"x"}),
    "options not a mapping": with_field(2, [("max_length", 100)]),
    "options None": with_field(2, None),
    "text bytes": with_field(0, b"some text"),
    "text None": with_field(0, None),
    "operation int": with_field(1, 3),
    "question int": with_field(3, 7),
    "model None": with_field(4, None),
    "namespace int": (*BASE, 5),
}


@pytest.mark.parametrize("name", sorted(BAD_CALLS))
def test_bad_input_raises_the_same_exception_type_in_both(name: str) -> None:
    call = BAD_CALLS[name]
    python = outcome(keys.make_key, *call)
    assert python == outcome(_native.make_key, *call)
    assert python in (TypeError, UnicodeEncodeError)


# What an error about each argument of make_key must mention, in its message or a note.
ARGUMENT_NAMES = ("text", "operation", "option", "question", "model", "prompt_version", "namespace")


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("index", range(len(ARGUMENT_NAMES)))
def test_errors_name_the_argument_and_the_surrogate_position(impl: str, index: int) -> None:
    make_key, _ = IMPLEMENTATIONS[impl]
    for bad, error in ((1.5, TypeError), ("ab\ud800", UnicodeEncodeError)):
        call = with_field(index, {"k": bad} if index == 2 else bad) if index < 6 else (*BASE, bad)
        with pytest.raises(error) as info:
            make_key(*call)
        assert type(info.value) is error
        said = " ".join([str(info.value), *getattr(info.value, "__notes__", [])])
        assert ARGUMENT_NAMES[index] in said, said
        if isinstance(info.value, UnicodeEncodeError):
            assert info.value.start == 2


class Level(enum.IntEnum):
    HIGH = 9


class Text(str):
    def __str__(self) -> str:
        return "changed"


class OrderedOptions(dict[str, Any]):
    pass


GOOD_CALLS: dict[str, tuple[Any, ...]] = {
    "mappingproxy options": with_field(2, types.MappingProxyType({"max_length": 100})),
    "dict subclass options": with_field(2, OrderedOptions(max_length=100)),
    "IntEnum value": with_field(2, {"level": Level.HIGH}),
    "huge int": with_field(2, {"seed": -(10**40)}),
    "str subclass everywhere": (
        Text("t"),
        Text("qa"),
        {Text("k"): Text("v")},
        Text("q"),
        Text("m"),
        Text("1"),
        Text("ns"),
    ),
    "namespace None": (*BASE, None),
    "empty everything": ("", "", {}, "", "", "", ""),
}


@pytest.mark.parametrize("name", sorted(GOOD_CALLS))
def test_unusual_but_valid_input_gives_the_same_key(name: str) -> None:
    call = GOOD_CALLS[name]
    key = keys.make_key(*call)
    assert isinstance(key, str)
    assert _native.make_key(*call) == key


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
def test_values_are_their_text(impl: str) -> None:
    make_key, _ = IMPLEMENTATIONS[impl]
    assert make_key(*with_field(2, {"level": Level.HIGH})) == make_key(*with_field(2, {"level": 9}))
    assert make_key(*with_field(2, {"flag": True})) == make_key(*with_field(2, {"flag": "true"}))
    assert make_key(*with_field(2, {"flag": True})) != make_key(*with_field(2, {"flag": 1}))
    assert make_key(*with_field(2, {"flag": False})) != make_key(*with_field(2, {"flag": 0}))


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
def test_defaults_of_question_and_namespace(impl: str) -> None:
    make_key, _ = IMPLEMENTATIONS[impl]
    assert make_key(*with_field(3, "")) == make_key(*BASE)
    assert make_key(*BASE) == make_key(*BASE, None) == make_key(*BASE, "ai_cache")
    assert make_key(*BASE, namespace="t1").startswith("t1:v1:summarize:")
    assert make_key(*BASE, "t1").split(":")[-1] == make_key(*BASE).split(":")[-1]


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
def test_batch_accepts_tuples_lists_and_iterables(impl: str) -> None:
    make_key, make_keys = IMPLEMENTATIONS[impl]
    requests = [BASE, list(with_field(0, "other")), (*BASE, "ns")]

    def generate() -> Iterator[Any]:
        yield from requests

    expected = [make_key(*r) for r in requests]
    assert make_keys(requests) == expected
    assert make_keys(tuple(requests)) == expected
    assert make_keys(generate()) == expected
    assert make_keys([]) == []


@pytest.mark.parametrize("impl", sorted(IMPLEMENTATIONS))
def test_large_batches_match_one_by_one(impl: str) -> None:
    make_key, make_keys = IMPLEMENTATIONS[impl]
    # 300 KiB of text in total: the Rust batch hashes on all cores with the GIL released.
    requests: list[tuple[Any, ...]] = [(f"{i} " * 500, "sentiment", {}, None, "m", "1") for i in range(300)]
    requests.append(("é" * 200_000, "qa", {}, "q", "m", "1", "ns"))
    assert make_keys(requests) == [make_key(*r) for r in requests]


BAD_BATCHES: dict[str, list[Any]] = {
    "request is a str": ["abcdef"],
    "request too short": [BASE[:5]],
    "request too long": [(*BASE, "ns", "extra")],
    "request is a dict": [dict(enumerate(BASE))],
    "second request bad after a good one": [BASE, (1, 2)],
    "bad field before bad shape": [with_field(0, "\ud800"), (1,)],
    "float option in a batch": [BASE, with_field(2, {"x": 0.5})],
}


@pytest.mark.parametrize("name", sorted(BAD_BATCHES))
def test_bad_batches_raise_the_same_exception_type_in_both(name: str) -> None:
    batch = BAD_BATCHES[name]
    python = outcome(keys.make_keys, batch)
    assert python == outcome(_native.make_keys, batch)
    assert python in (TypeError, UnicodeEncodeError)


def test_batch_of_non_iterable_is_a_type_error() -> None:
    for _, make_keys in IMPLEMENTATIONS.values():
        with pytest.raises(TypeError):
            make_keys(5)


def test_rust_reads_an_ascii_text_without_copying_it() -> None:
    text = "a" * 4_000_000
    tracemalloc.start()
    try:
        _native.make_key(text, "sentiment", {}, None, "m", "1")
        rust_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        keys.make_key(text, "sentiment", {}, None, "m", "1")
        python_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rust_peak < 64 * 1024
    assert python_peak >= len(text)  # the reference encodes a copy: the check can tell


def test_rust_encodes_a_non_ascii_text_once_and_reuses_it() -> None:
    # CPython builds a non-ASCII str's UTF-8 form on first request and caches it on the str.
    text = "é" * 1_000_000
    tracemalloc.start()
    try:
        first = _native.make_key(text, "sentiment", {}, None, "m", "1")
        first_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        cached = tracemalloc.get_traced_memory()[0]  # the UTF-8 form, now owned by the str
        second = _native.make_key(text, "sentiment", {}, None, "m", "1")
        second_peak = tracemalloc.get_traced_memory()[1] - cached
    finally:
        tracemalloc.stop()
    assert first == second == keys.make_key(text, "sentiment", {}, None, "m", "1")
    assert first_peak >= 2_000_000 and cached >= 2_000_000
    assert second_peak < 64 * 1024


def test_rust_releases_the_gil_while_hashing_a_large_text() -> None:
    text = "x" * (4 * 1024 * 1024)
    assert other_thread_ran_during(lambda: _native.make_key(text, "sentiment", {}, None, "m", "1"), 200)


def test_rust_releases_the_gil_while_hashing_a_large_batch() -> None:
    batch: list[tuple[Any, ...]] = [("y" * 100_000, "sentiment", {}, None, "m", "1")] * 40
    assert other_thread_ran_during(lambda: _native.make_keys(batch), 200)


def test_rust_keeps_the_gil_for_a_small_text() -> None:
    # The control for the two tests above: without a release the other thread never runs.
    assert not other_thread_ran_during(lambda: _native.make_key("small", "sentiment", {}, None, "m", "1"), 2000)


def test_thresholds_are_exposed_and_ordered() -> None:
    assert 0 < _native.DETACH_MIN_BYTES < _native.MULTITHREAD_MIN_BYTES
    assert _native.KEY_VERSION == keys.KEY_VERSION
    assert _native.DEFAULT_NAMESPACE == keys.DEFAULT_NAMESPACE


@pytest.fixture
def restore_backend() -> Iterator[None]:
    saved = keys._selected
    yield
    keys._selected = saved


@pytest.mark.usefixtures("restore_backend")
def test_backend_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert keys.configure("python") == "python" == keys.backend()
    assert keys.key_function() is keys.make_key and keys.batch_key_function() is keys.make_keys
    assert keys.configure("rust") == "rust" == keys.backend()
    assert keys.key_function() is _native.make_key and keys.batch_key_function() is _native.make_keys
    assert keys.configure(" AUTO ") == "rust"
    monkeypatch.setenv("AITEXT_KEY_BACKEND", "python")
    assert keys.configure() == "python"
    monkeypatch.setenv("AITEXT_KEY_BACKEND", "fast")
    with pytest.raises(ValueError, match="AITEXT_KEY_BACKEND"):
        keys.configure()


@pytest.mark.usefixtures("restore_backend")
def test_backend_without_the_extension(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "aitext._native", None)  # makes the import fail
    monkeypatch.delattr("aitext._native", raising=False)
    with caplog.at_level(logging.WARNING, logger="aitext.cache.keys"):
        assert keys.configure("auto") == "python"
    assert "aitext._native does not import" in caplog.text
    assert keys.key_function() is keys.make_key
    with pytest.raises(ImportError, match="AITEXT_KEY_BACKEND=rust"):
        keys.configure("rust")


@pytest.mark.usefixtures("restore_backend")
def test_backend_refuses_an_extension_that_disagrees(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_native, "make_key", lambda *args: "ai_cache:v1:summarize:" + "0" * 64)
    with pytest.raises(RuntimeError, match="different cache keys"):
        keys.configure("rust")
    assert keys.configure("auto") == "python"
