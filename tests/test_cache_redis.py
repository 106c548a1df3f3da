"""ResponseCache over a real redis-server: tiers, corrupt values, TTLs, cache control, single-flight, invalidation."""

from __future__ import annotations

import asyncio
import hashlib
import time

import prometheus_client
import pytest
from aitext.cache import ResponseCache, envelope
from aitext.cache.envelope import CODEC_LZ4, CODEC_RAW, EntryMac, Envelope
from aitext.config import Settings
from aitext.operations import BY_NAME, OPERATIONS
from aitext.stats import fill_cache_stats
from aitext.v1 import aitext_pb2 as pb
from redis.asyncio import Redis

pytestmark = pytest.mark.integration

NO_CONTROL = pb.CacheControl()
NO_SECRET = EntryMac(None)  # the caches here run without AITEXT_CACHE_SECRET


def key_of(operation: str, text: str, namespace: str = "ai_cache") -> str:
    return f"{namespace}:v1:{operation}:{hashlib.sha256(text.encode()).hexdigest()}"


def response_for(operation: str, content: str) -> pb.ProcessResponse:
    response = pb.ProcessResponse(operation=BY_NAME[operation].enum, model="local", prompt_version="p1")
    match operation:
        case "summarize":
            response.summary = content
        case "sentiment":
            response.sentiment.label = pb.SENTIMENT_LABEL_POSITIVE
            response.sentiment.confidence = 0.75
            response.sentiment.explanation = content
        case "key_points":
            response.key_points.points.extend([content, content + " again"])
        case "questions":
            response.questions.questions.extend([content + "?"])
        case "qa":
            response.answer = content
    return response


class Model:
    """Stands in for the model behind compute(): counts calls, answers differently each time."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay

    def compute(self, operation: str):
        async def run() -> pb.ProcessResponse:
            self.calls += 1
            call = self.calls
            if self.delay:
                await asyncio.sleep(self.delay)
            return response_for(operation, f"answer #{call}")

        return run


async def ask(cache: ResponseCache, model: Model, operation: str, text: str, control=NO_CONTROL, text_len=None):
    return await cache.get_or_compute(
        key_of(operation, text),
        operation=operation,
        text_len=len(text) if text_len is None else text_len,
        control=control,
        compute=model.compute(operation),
    )


def stats(cache: ResponseCache) -> pb.GetCacheStatsResponse:
    out = pb.GetCacheStatsResponse()
    fill_cache_stats(out, cache)
    return out


async def test_miss_then_memory_hit_then_redis_hit_in_another_process(make_cache, redis_url):
    model = Model()
    first = await make_cache(redis_url=redis_url)
    miss = await ask(first, model, "summarize", "some text")
    assert (miss.hit, miss.tier, miss.response.summary) == (False, "", "answer #1")
    hit = await ask(first, model, "summarize", "some text")
    assert (hit.hit, hit.tier, hit.response.summary) == (True, "memory", "answer #1")
    assert hit.age_seconds >= 0

    # A second worker shares Redis but not memory; its L2 hit is promoted to its L1.
    second = await make_cache(redis_url=redis_url)
    from_redis = await ask(second, model, "summarize", "some text")
    assert (from_redis.hit, from_redis.tier, from_redis.response.summary) == (True, "redis", "answer #1")
    promoted = await ask(second, model, "summarize", "some text")
    assert (promoted.hit, promoted.tier) == (True, "memory")
    assert model.calls == 1


async def test_injected_client_is_used(redis_url):
    client = Redis.from_url(redis_url)
    cache = ResponseCache(Settings(redis_url=None), redis=client)
    await cache.start()
    try:
        assert cache.redis_mode == "redis" and cache.redis_available
        await ask(cache, Model(), "qa", "injected")
        assert await client.exists(key_of("qa", "injected")) == 1
    finally:
        await cache.close()
        await client.aclose()


def test_injected_client_must_be_a_redis_client():
    with pytest.raises(TypeError):
        ResponseCache(Settings(redis_url=None), redis=object())


async def test_hits_are_independent_copies(make_cache, redis_url):
    cache = await make_cache(redis_url=redis_url)
    model = Model()
    first = await ask(cache, model, "summarize", "copy me")
    first.response.cache.hit = True
    first.response.summary = "mutated by the caller"
    again = await ask(cache, model, "summarize", "copy me")
    assert again.response.summary == "answer #1"
    assert not again.response.HasField("cache")


def _lz4_value(operation: str) -> bytes:
    payload = response_for(operation, "word " * 50).SerializeToString() * 40
    key = key_of(operation, "corrupt")
    data, codec = envelope.encode(
        Envelope(payload, time.time(), 600, 10, "local"), key=key, mac=NO_SECRET, compress_min_bytes=1024
    )
    assert codec == CODEC_LZ4
    return data


CORRUPT = {
    "garbage": lambda: b"\x80\x04\x95\x10\x00\x00\x00 not a pickle, not an envelope",
    "truncated lz4": lambda: _lz4_value("summarize")[:-25],
    "wrong version": lambda: (lambda v: v[:4] + b"\x09" + v[5:])(_lz4_value("summarize")),
}
CORRUPT_REASON = {"garbage": "format", "truncated lz4": "mac", "wrong version": "format"}


@pytest.mark.parametrize("kind", sorted(CORRUPT))
async def test_corrupt_value_is_a_miss_that_gets_replaced_and_counted(make_cache, redis_url, kind):
    cache = await make_cache(redis_url=redis_url)
    key = key_of("summarize", "corrupt")
    raw = Redis.from_url(redis_url)
    try:
        await raw.set(key, CORRUPT[kind](), ex=600)
        model = Model()
        outcome = await ask(cache, model, "summarize", "corrupt")
        assert (outcome.hit, outcome.response.summary) == (False, "answer #1")
        assert model.calls == 1
        assert stats(cache).decode_failures == 1
        assert dict(stats(cache).decode_failures_by_reason) == {CORRUPT_REASON[kind]: 1}
        replaced = envelope.decode(await raw.get(key), key=key, mac=NO_SECRET, max_payload_bytes=1 << 20)
        assert envelope.parse_response(replaced.payload).summary == "answer #1"
    finally:
        await raw.aclose()
    # A fresh process now reads the replacement from Redis.
    other = await make_cache(redis_url=redis_url)
    assert (await ask(other, Model(), "summarize", "corrupt")).tier == "redis"


@pytest.mark.parametrize("operation", [op.name for op in OPERATIONS])
async def test_stored_ttl_is_the_operation_default(make_cache, redis_url, redis_server, operation):
    cache = await make_cache(redis_url=redis_url)
    await ask(cache, Model(), operation, "ttl text")
    ttl = int(redis_server.cli("TTL", key_of(operation, "ttl text")))
    expected = BY_NAME[operation].default_ttl_seconds
    assert cache.ttl_for(operation) == expected
    assert expected - 5 <= ttl <= expected


async def test_ttl_settings_and_per_request_override(make_cache, redis_url, redis_server):
    cache = await make_cache(redis_url=redis_url, cache_ttl_qa_seconds=90)
    await ask(cache, Model(), "qa", "configured")
    assert 85 <= int(redis_server.cli("TTL", key_of("qa", "configured"))) <= 90
    await ask(cache, Model(), "qa", "override", control=pb.CacheControl(ttl_seconds=42))
    assert 37 <= int(redis_server.cli("TTL", key_of("qa", "override"))) <= 42


async def test_skip_read_recomputes_and_stores_the_fresh_answer(make_cache, redis_url):
    cache = await make_cache(redis_url=redis_url)
    model = Model()
    await ask(cache, model, "qa", "text")
    fresh = await ask(cache, model, "qa", "text", control=pb.CacheControl(skip_read=True))
    assert (fresh.hit, fresh.response.answer) == (False, "answer #2")
    assert (await ask(cache, model, "qa", "text")).response.answer == "answer #2"
    other = await make_cache(redis_url=redis_url)
    assert (await ask(other, model, "qa", "text")).response.answer == "answer #2"
    assert model.calls == 2


async def test_skip_write_stores_nothing_anywhere(make_cache, redis_url, redis_server):
    cache = await make_cache(redis_url=redis_url)
    model = Model()
    outcome = await ask(cache, model, "qa", "text", control=pb.CacheControl(skip_write=True))
    assert not outcome.hit
    assert redis_server.cli("EXISTS", key_of("qa", "text")) == "0"
    assert len(cache.memory) == 0
    assert not (await ask(cache, model, "qa", "text")).hit
    assert model.calls == 2


async def test_skip_write_still_reads(make_cache, redis_url):
    cache = await make_cache(redis_url=redis_url)
    model = Model()
    await ask(cache, model, "qa", "text")
    outcome = await ask(cache, model, "qa", "text", control=pb.CacheControl(skip_write=True))
    assert (outcome.hit, outcome.tier) == (True, "memory")


async def test_max_age_treats_older_entries_as_misses(make_cache, redis_url):
    key = key_of("summarize", "aged")
    payload = response_for("summarize", "two minutes old").SerializeToString()
    data, _ = envelope.encode(
        Envelope(payload, time.time() - 120, 3600, 4, "local"), key=key, mac=NO_SECRET, compress_min_bytes=1024
    )
    raw = Redis.from_url(redis_url)
    try:
        await raw.set(key, data, ex=3600)
    finally:
        await raw.aclose()

    cache = await make_cache(redis_url=redis_url)
    model = Model()
    accepted = await ask(cache, model, "summarize", "aged", control=pb.CacheControl(max_age_seconds=600))
    assert (accepted.hit, accepted.tier, accepted.response.summary) == (True, "redis", "two minutes old")
    assert 119 <= accepted.age_seconds < 180
    # Now in memory as well, still two minutes old: a tighter max_age misses both tiers.
    rejected = await ask(cache, model, "summarize", "aged", control=pb.CacheControl(max_age_seconds=60))
    assert (rejected.hit, rejected.response.summary) == (False, "answer #1")
    fresh = await ask(cache, model, "summarize", "aged", control=pb.CacheControl(max_age_seconds=60))
    assert (fresh.hit, fresh.tier, fresh.response.summary) == (True, "memory", "answer #1")
    assert model.calls == 1


async def test_failed_compute_propagates_and_stores_nothing(make_cache, redis_url, redis_server):
    cache = await make_cache(redis_url=redis_url)

    async def provider_down() -> pb.ProcessResponse:
        raise ConnectionError("provider unavailable")

    with pytest.raises(ConnectionError):
        await cache.get_or_compute(
            key_of("qa", "down"), operation="qa", text_len=4, control=NO_CONTROL, compute=provider_down
        )
    assert redis_server.cli("EXISTS", key_of("qa", "down")) == "0"
    assert len(cache.memory) == 0
    model = Model()
    assert not (await ask(cache, model, "qa", "down")).hit
    assert model.calls == 1


async def test_concurrent_identical_misses_share_one_compute(make_cache, redis_url):
    cache = await make_cache(redis_url=redis_url)
    model = Model(delay=0.05)
    outcomes = await asyncio.gather(*(ask(cache, model, "key_points", "cold text") for _ in range(50)))
    assert model.calls == 1
    assert {tuple(o.response.key_points.points) for o in outcomes} == {("answer #1", "answer #1 again")}
    assert len({id(o.response) for o in outcomes}) == 50  # each caller owns its message
    assert stats(cache).singleflight_joins == 49


async def test_waiters_share_a_failure_and_the_next_request_retries(make_cache, redis_url):
    cache = await make_cache(redis_url=redis_url)
    calls = 0

    async def flaky() -> pb.ProcessResponse:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        raise ConnectionError("provider unavailable")

    results = await asyncio.gather(
        *(
            cache.get_or_compute(key_of("qa", "f"), operation="qa", text_len=1, control=NO_CONTROL, compute=flaky)
            for _ in range(10)
        ),
        return_exceptions=True,
    )
    assert calls == 1
    assert all(isinstance(r, ConnectionError) for r in results)
    assert not (await ask(cache, Model(), "qa", "f")).hit


async def test_cancelled_leader_does_not_cancel_waiters(make_cache, redis_url):
    cache = await make_cache(redis_url=redis_url)
    model = Model(delay=0.1)
    leader = asyncio.ensure_future(ask(cache, model, "qa", "cancel"))
    await asyncio.sleep(0.01)
    waiter = asyncio.ensure_future(ask(cache, model, "qa", "cancel"))
    await asyncio.sleep(0.01)
    leader.cancel()
    outcome = await waiter
    assert outcome.response.answer == "answer #1"
    assert model.calls == 1


async def test_text_tier_admission_keeps_large_texts_out_of_memory(make_cache, redis_url):
    cache = await make_cache(redis_url=redis_url, cache_memory_tiers="small,medium")
    model = Model()
    for text_len, tier in [(499, "small"), (4_999, "medium"), (5_000, "large"), (50_000, "xlarge")]:
        assert cache.text_tiers.of(text_len) == tier
        await ask(cache, model, "summarize", tier, text_len=text_len)
        again = await ask(cache, model, "summarize", tier, text_len=text_len)
        assert again.tier == ("memory" if tier in ("small", "medium") else "redis"), tier
    assert model.calls == 4
    assert len(cache.memory) == 2


async def test_answer_over_the_item_cap_lives_in_redis_only(make_cache, redis_url, redis_server):
    cache = await make_cache(redis_url=redis_url, cache_memory_max_item_bytes=2_000)
    big = response_for("summarize", "x" * 5_000)

    async def compute() -> pb.ProcessResponse:
        return big

    key = key_of("summarize", "big")
    for expected_tier in ("", "redis", "redis"):
        outcome = await cache.get_or_compute(
            key, operation="summarize", text_len=3, control=NO_CONTROL, compute=compute
        )
        assert outcome.tier == expected_tier
    assert len(cache.memory) == 0


async def test_large_answers_are_stored_lz4_compressed(make_cache, redis_url):
    cache = await make_cache(redis_url=redis_url)
    model = Model()
    await ask(cache, model, "qa", "small answer")
    big = response_for("summarize", "The quarterly report shows steady growth. " * 200)

    async def compute() -> pb.ProcessResponse:
        return big

    await cache.get_or_compute(
        key_of("summarize", "big"), operation="summarize", text_len=9, control=NO_CONTROL, compute=compute
    )
    raw = Redis.from_url(redis_url)
    try:
        small_value = await raw.get(key_of("qa", "small answer"))
        big_value = await raw.get(key_of("summarize", "big"))
    finally:
        await raw.aclose()
    assert small_value[:4] == envelope.MAGIC and small_value[5] == CODEC_RAW
    assert big_value[:4] == envelope.MAGIC and big_value[5] == CODEC_LZ4
    assert len(big_value) < len(big.SerializeToString()) / 4
    assert 0 < stats(cache).compression_ratio < 0.5


async def _fill_every_operation(cache: ResponseCache, per_operation: int) -> None:
    model = Model()
    for op in OPERATIONS:
        for i in range(per_operation):
            await ask(cache, model, op.name, f"text {i}")


def _scan(server, pattern: str) -> list[str]:
    out = server.cli("--scan", "--pattern", pattern)
    return [line for line in out.splitlines() if line]


async def test_invalidate_operation_removes_exactly_that_operation(make_cache, redis_url, redis_server):
    cache = await make_cache(redis_url=redis_url)
    await _fill_every_operation(cache, per_operation=30)
    assert await cache.invalidate_operation("key_points") == 30
    assert _scan(redis_server, "ai_cache:v1:key_points:*") == []
    for op in OPERATIONS:
        if op.name != "key_points":
            assert len(_scan(redis_server, f"ai_cache:v1:{op.name}:*")) == 30, op.name
    model = Model()
    assert not (await ask(cache, model, "key_points", "text 0")).hit  # gone from memory too
    assert (await ask(cache, model, "qa", "text 0")).tier == "memory"


async def test_invalidate_key_and_all(make_cache, redis_url, redis_server):
    cache = await make_cache(redis_url=redis_url)
    await _fill_every_operation(cache, per_operation=3)
    redis_server.cli("SET", "other_namespace:v1:qa:abc", "keep me")
    assert await cache.invalidate_key(key_of("qa", "text 1")) == 1
    assert await cache.invalidate_key(key_of("qa", "text 1")) == 0
    assert not (await ask(cache, Model(), "qa", "text 1")).hit
    assert await cache.invalidate_all() == 15
    assert _scan(redis_server, "ai_cache:*") == []
    assert redis_server.cli("GET", "other_namespace:v1:qa:abc") == "keep me"
    assert len(cache.memory) == 0


async def test_invalidation_escapes_glob_characters_in_the_namespace(make_cache, redis_url, redis_server):
    cache = await make_cache(redis_url=redis_url, cache_namespace="a*")
    redis_server.cli("SET", "ab:v1:qa:1", "not ours")
    model = Model()
    await cache.get_or_compute(
        "a*:v1:qa:1", operation="qa", text_len=1, control=NO_CONTROL, compute=model.compute("qa")
    )
    assert await cache.invalidate_all() == 1
    assert redis_server.cli("GET", "ab:v1:qa:1") == "not ours"


async def test_memory_only_cache_invalidates_memory(make_cache):
    cache = await make_cache()
    await _fill_every_operation(cache, per_operation=2)
    assert cache.redis_mode == "none" and not cache.redis_available
    assert await cache.invalidate_operation("qa") == 2
    assert await cache.invalidate_all() == 8


async def test_stats_and_prometheus_metrics(make_cache, redis_url):
    cache = await make_cache(redis_url=redis_url)
    model = Model()
    await ask(cache, model, "summarize", "a")
    await ask(cache, model, "summarize", "a")
    await ask(cache, model, "qa", "b")
    cache.observe_key_latency(100, "rust", 2e-6)
    cache.observe_key_latency(100_000, "python", 800e-6)

    out = stats(cache)
    totals = {(c.tier, c.operation): (c.hits, c.misses) for c in out.counts}
    assert totals[("memory", "")] == (1, 2)
    assert totals[("memory", "summarize")] == (1, 1)
    assert totals[("redis", "")] == (0, 2)
    assert out.hit_ratio == pytest.approx(1 / 3)
    assert out.memory_entries == 2 and 0 < out.memory_bytes <= out.memory_max_bytes
    assert (out.redis_mode, out.redis_available) == ("redis", True)
    latency = {(k.text_tier, k.backend): k for k in out.key_latency}
    assert set(latency) == {("small", "rust"), ("xlarge", "python")}
    assert latency[("small", "rust")].count == 1
    assert 1 <= latency[("small", "rust")].p50_us <= 3
    assert 500 <= latency[("xlarge", "python")].p99_us <= 1200

    exposition = prometheus_client.generate_latest().decode()  # the default registry /metrics serves
    assert 'aitext_cache_lookups_total{operation="summarize",result="hit",tenant="",tier="memory"} 1.0' in exposition
    assert "aitext_cache_memory_entries 2.0" in exposition
    assert "aitext_cache_redis_available 1.0" in exposition
    assert 'aitext_cache_key_seconds_count{backend="rust",text_tier="small"} 1.0' in exposition


async def test_metric_labels_stay_bounded(make_cache):
    cache = await make_cache()
    for i in range(50):
        cache.observe_key_latency(i, f"backend-{i}", 1e-6)
    assert {k.backend for k in stats(cache).key_latency} == {"other"}


async def _wait_until(condition, what: str, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {seconds}s"
        await asyncio.sleep(0.02)


async def test_invalidation_clears_the_memory_of_other_processes(make_cache, redis_url):
    """Worker A invalidates; worker B sharing Redis drops the same entries from its own L1."""
    a = await make_cache(redis_url=redis_url)
    b = await make_cache(redis_url=redis_url)
    await _fill_every_operation(a, per_operation=3)
    await _fill_every_operation(b, per_operation=3)  # B's L1 now holds all 15 (promoted from Redis)
    assert len(b.memory) == 15

    await a.invalidate_operation("qa")
    await _wait_until(lambda: len(b.memory) == 12, "B dropping its qa entries")
    assert all(key.split(":")[2] != "qa" for key in b.memory.keys())

    await a.invalidate_key(key_of("summarize", "text 0"))
    await _wait_until(lambda: key_of("summarize", "text 0") not in b.memory, "B dropping one key")

    await a.invalidate_all()
    await _wait_until(lambda: len(b.memory) == 0, "B clearing its memory")
