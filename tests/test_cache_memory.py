"""L1: a byte-bounded LRU. Property test against a plain reference model."""

from __future__ import annotations

from collections import OrderedDict

import pytest
from aitext.cache.memory import MemoryLRU
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.unit

BUDGET = 4000
ITEM_CAP = 1500
KEYS = [f"ai_cache:v1:summarize:{i:02x}" for i in range(12)]

operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(KEYS), st.integers(0, 2500)),
        st.tuples(st.just("get"), st.sampled_from(KEYS), st.just(0)),
        st.tuples(st.just("delete"), st.sampled_from(KEYS), st.just(0)),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_lru_stays_within_budget_and_evicts_least_recently_used(ops):
    lru = MemoryLRU(BUDGET, ITEM_CAP)
    model: OrderedDict[str, int] = OrderedDict()  # key -> size, least recent first
    for op, key, payload_len in ops:
        if op == "put":
            payload = b"x" * payload_len
            size = MemoryLRU.entry_size(key, payload)
            stored = lru.put(key, payload, operation="summarize", created_at=0.0, expires_at=1e12)
            model.pop(key, None)
            assert stored == (size <= ITEM_CAP)
            if stored:
                while sum(model.values()) + size > BUDGET:
                    model.popitem(last=False)
                model[key] = size
        elif op == "get":
            entry = lru.get(key, now=1.0)
            assert (entry is not None) == (key in model)
            if entry is not None:
                model.move_to_end(key)
        else:
            assert lru.delete(key) == (1 if model.pop(key, None) is not None else 0)
        assert lru.bytes_used <= BUDGET
        assert lru.bytes_used == sum(model.values())
        assert lru.keys() == list(model)


def test_entry_over_the_item_cap_is_not_admitted_and_evicts_nothing():
    lru = MemoryLRU(10_000, 1_000)
    assert lru.put("a", b"x" * 100, operation="qa", created_at=0, expires_at=10)
    assert not lru.put("b", b"x" * 2_000, operation="qa", created_at=0, expires_at=10)
    assert lru.keys() == ["a"]


def test_replacing_an_entry_with_an_oversized_one_drops_the_old_value():
    lru = MemoryLRU(10_000, 1_000)
    lru.put("a", b"old", operation="qa", created_at=0, expires_at=10)
    assert not lru.put("a", b"x" * 2_000, operation="qa", created_at=0, expires_at=10)
    assert lru.get("a", now=1) is None
    assert lru.bytes_used == 0


def test_expired_entry_is_a_miss_and_frees_its_bytes():
    lru = MemoryLRU(10_000, 1_000)
    lru.put("a", b"payload", operation="qa", created_at=0, expires_at=10)
    assert lru.get("a", now=9.9) is not None
    assert lru.get("a", now=10.0) is None
    assert len(lru) == 0 and lru.bytes_used == 0


def test_one_large_entry_does_not_evict_more_than_it_needs():
    lru = MemoryLRU(3_000, 3_000)
    for i in range(10):
        lru.put(f"k{i}", b"x" * 50, operation="qa", created_at=0, expires_at=10)
    before = len(lru)
    lru.put("big", b"x" * 1_000, operation="qa", created_at=0, expires_at=10)
    evicted = before + 1 - len(lru)
    assert 0 < evicted < before
    assert lru.bytes_used <= 3_000


def test_delete_operation_only_touches_that_operation():
    lru = MemoryLRU(10_000, 1_000)
    lru.put("s1", b"1", operation="summarize", created_at=0, expires_at=10)
    lru.put("q1", b"1", operation="qa", created_at=0, expires_at=10)
    lru.put("s2", b"1", operation="summarize", created_at=0, expires_at=10)
    assert lru.delete_operation("summarize") == 2
    assert lru.keys() == ["q1"]


def test_zero_budget_admits_nothing():
    lru = MemoryLRU(0, 1_000)
    assert not lru.put("a", b"", operation="qa", created_at=0, expires_at=10)
    assert len(lru) == 0
