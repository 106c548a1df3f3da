"""Redis going away (SIGKILL) and coming back: requests never fail, health follows, L2 returns by itself."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.fixtures.redis import RedisProcess, free_port
from tests.test_cache_redis import Model, ask, stats

pytestmark = pytest.mark.integration

RECOVERY_DEADLINE_SECONDS = 5.0


class Health:
    def __init__(self) -> None:
        self.reports: list[bool] = []

    def __call__(self, ok: bool) -> None:
        self.reports.append(ok)


async def test_redis_killed_and_restarted_under_a_request_loop(make_cache, own_redis: RedisProcess):
    health = Health()
    # Memory admits nothing, so every hit below had to come from Redis.
    cache = await make_cache(redis_url=own_redis.url, cache_memory_tiers="", health=health)
    model = Model()
    texts = [f"text {i}" for i in range(5)]
    failures = 0

    async def one_round() -> list[str]:
        nonlocal failures
        tiers = []
        for text in texts:
            try:
                tiers.append((await ask(cache, model, "summarize", text)).tier)
            except Exception:
                failures += 1
        return tiers

    assert await one_round() == [""] * 5
    assert await one_round() == ["redis"] * 5
    assert health.reports == [True]

    own_redis.kill()
    for _ in range(20):
        assert all(tier == "" for tier in await one_round())
    assert health.reports == [True, False]
    assert not cache.redis_available
    assert stats(cache).redis_available is False
    calls_while_down = model.calls

    own_redis.start()
    deadline = time.monotonic() + RECOVERY_DEADLINE_SECONDS
    recovered_tiers: list[str] = []
    while "redis" not in recovered_tiers:
        assert time.monotonic() < deadline, f"no L2 hit within {RECOVERY_DEADLINE_SECONDS}s of the restart"
        recovered_tiers = await one_round()
        await asyncio.sleep(0.05)
    assert failures == 0
    assert health.reports == [True, False, True]
    assert cache.redis_available
    assert model.calls > calls_while_down  # the empty restarted Redis was refilled by misses


async def test_down_redis_is_skipped_without_a_reconnect_per_request(make_cache, own_redis: RedisProcess):
    # No periodic PING during the test: the first request, not the prober, is to notice the outage.
    cache = await make_cache(redis_url=own_redis.url, redis_probe_interval_seconds=60)
    own_redis.kill()
    model = Model()
    await ask(cache, model, "qa", "first")  # this store notices Redis is gone
    errors_after_first = stats_errors(cache)
    for i in range(50):
        assert not (await ask(cache, model, "qa", f"t{i}")).hit
    # Requests skip L2 while the circuit is open; only the background reconnect touches Redis.
    assert stats_errors(cache) == errors_after_first == 1


def stats_errors(cache) -> float:
    return cache.metrics.total(cache.metrics.redis_errors)


async def test_redis_down_at_start_then_appearing(make_cache, tmp_path):
    port = free_port()
    health = Health()
    cache = await make_cache(redis_url=f"redis://127.0.0.1:{port}/0", health=health)
    assert health.reports == [False]
    model = Model()
    assert not (await ask(cache, model, "qa", "x")).hit
    assert (await ask(cache, model, "qa", "x")).tier == "memory"  # L1 carries on alone

    server = RedisProcess(tmp_path / "late", port)
    server.start()
    try:
        deadline = time.monotonic() + RECOVERY_DEADLINE_SECONDS
        while not cache.redis_available:
            assert time.monotonic() < deadline, "L2 did not come back within 5 s"
            await asyncio.sleep(0.05)
        assert health.reports == [False, True]
        await ask(cache, model, "qa", "stored now")
        assert server.cli("DBSIZE") == "1"
    finally:
        server.stop()


async def test_invalidation_reports_a_down_redis(make_cache, own_redis: RedisProcess):
    cache = await make_cache(redis_url=own_redis.url)
    own_redis.kill()
    for invalidate in (cache.invalidate_all(), cache.invalidate_operation("qa"), cache.invalidate_key("k")):
        try:
            await invalidate
        except ConnectionError:
            continue
        raise AssertionError("invalidation against a dead Redis must not report success")


async def _wait_until(condition, what: str, seconds: float = RECOVERY_DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {seconds}s"
        await asyncio.sleep(0.02)


async def test_memory_survives_a_redis_restart_without_invalidations(make_cache, own_redis: RedisProcess):
    cache = await make_cache(redis_url=own_redis.url)
    model = Model()
    for i in range(5):
        await ask(cache, model, "qa", f"kept {i}")
    own_redis.kill()
    await ask(cache, model, "qa", "noticed")  # the failure that opens the circuit
    own_redis.start()
    await _wait_until(lambda: cache.redis_available and cache.redis.subscribed.is_set(), "resubscription")
    await asyncio.sleep(0.2)  # let the missed-invalidation check finish
    assert [(await ask(cache, model, "qa", f"kept {i}")).tier for i in range(5)] == ["memory"] * 5


async def test_missed_invalidation_while_unsubscribed_clears_memory(make_cache, own_redis: RedisProcess):
    cache = await make_cache(redis_url=own_redis.url)
    model = Model()
    for i in range(5):
        await ask(cache, model, "qa", f"stale {i}")
    # Another process invalidated while this one's subscription was down: it SET a new token.
    own_redis.cli("SET", "ai_cache.invalidation-token", "someone-else")
    assert int(own_redis.cli("CLIENT", "KILL", "TYPE", "pubsub")) == 1
    await _wait_until(lambda: len(cache.memory) == 0, "memory cleared after the missed invalidation")
    assert cache.redis_available  # only the subscription broke


async def test_a_cancelled_caller_does_not_mark_redis_down(make_cache, own_redis: RedisProcess):
    health = Health()
    cache = await make_cache(redis_url=own_redis.url, health=health)
    own_redis.cli("CLIENT", "PAUSE", "400", "ALL")  # commands block, well within the 0.5 s timeout
    for _ in range(3):
        call = asyncio.ensure_future(cache.invalidate_key("ai_cache:v1:qa:00"))
        await asyncio.sleep(0.05)
        call.cancel()
        try:
            await call
        except asyncio.CancelledError:
            pass
    assert cache.redis_available and health.reports == [True]
    assert stats_errors(cache) == 0
