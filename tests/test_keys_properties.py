"""Property tests: the two key implementations agree on random input, and keys separate requests."""

from __future__ import annotations

from typing import Any

import pytest
from aitext import _native
from aitext.cache import keys
from aitext.operations import OPERATIONS
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

# Every code point a UTF-8 str can hold: all of Unicode but the surrogates.
texts = st.text(st.characters(codec="utf-8"))
option_values = st.one_of(st.booleans(), st.integers(), st.integers(min_value=-(2**80), max_value=2**80), texts)
options = st.dictionaries(texts, option_values, max_size=5)
questions = st.none() | texts
operations = st.sampled_from([op.name for op in OPERATIONS]) | texts
namespaces = st.none() | texts
requests = st.tuples(texts, operations, options, questions, texts, texts, namespaces)

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(requests)
def test_both_implementations_agree(request: tuple[Any, ...]) -> None:
    assert _native.make_key(*request) == keys.make_key(*request)


@settings(max_examples=100, deadline=None)
@given(st.lists(requests, max_size=20))
def test_both_batch_implementations_agree(batch: list[tuple[Any, ...]]) -> None:
    expected = [keys.make_key(*r) for r in batch]
    assert keys.make_keys(batch) == expected
    assert _native.make_keys(batch) == expected


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 400_000), texts, st.sampled_from("aé🌍"))
def test_both_agree_across_the_size_thresholds(size: int, tail: str, fill: str) -> None:
    text = fill * (size // len(fill.encode())) + tail
    request: tuple[Any, ...] = (text, "qa", {}, tail, "m", "1")
    assert _native.make_key(*request) == keys.make_key(*request)


@PROPERTY
@given(texts, st.integers(0xD800, 0xDFFF), texts, st.integers(0, 6))
def test_lone_surrogates_raise_the_same_error_at_the_same_index(
    before: str, surrogate: int, after: str, field: int
) -> None:
    bad = before + chr(surrogate) + after
    request: list[Any] = ["text", "summarize", {}, None, "m", "1", "ns"]
    request[field] = {bad: 1} if field == 2 else bad
    for make_key in (keys.make_key, _native.make_key):
        with pytest.raises(UnicodeEncodeError) as info:
            make_key(*request)
        assert type(info.value) is UnicodeEncodeError
        assert info.value.start == len(before)


def _value_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _meaning(field: int, value: Any) -> object:
    """What a field's value means to the key (None question = "", 1 and "1" are one option)."""
    if field == 2:
        return sorted((name, _value_text(v)) for name, v in value.items())
    if field == 3:
        return value or ""
    if field == 6:
        return keys.DEFAULT_NAMESPACE if value is None else value
    return value


FIELD_STRATEGIES = (texts, operations, options, questions, texts, texts, namespaces)


@PROPERTY
@given(requests, st.data())
def test_requests_differing_in_one_field_never_share_a_key(request: tuple[Any, ...], data: st.DataObject) -> None:
    field = data.draw(st.integers(0, 6), label="field")
    value = data.draw(FIELD_STRATEGIES[field], label="other value")
    assume(_meaning(field, value) != _meaning(field, request[field]))
    other = (*request[:field], value, *request[field + 1 :])
    for make_key in (keys.make_key, _native.make_key):
        assert make_key(*request) != make_key(*other)


@PROPERTY
@given(texts, texts)
def test_moving_characters_between_text_and_question_changes_the_key(a: str, b: str) -> None:
    assume(b)
    joined: tuple[Any, ...] = (a + b, "qa", {}, None, "m", "1")
    split: tuple[Any, ...] = (a, "qa", {}, b, "m", "1")
    assert keys.make_key(*joined) != keys.make_key(*split)
    assert _native.make_key(*joined) != _native.make_key(*split)
