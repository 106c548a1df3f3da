"""GetCacheStats for the fleet: real `aitext serve --workers 2`, with a real Redis and without."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

import grpc
import psutil
import pytest
import redis
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc

from tests.fixtures.server import ServerProcess

pytestmark = pytest.mark.integration

PERIOD = 0.3  # publishing period of the servers under test; snapshots expire after 3 of them
CALLS = 100


def _fleet_env(redis_url: str | None) -> dict[str, str]:
    env = {"AITEXT_STATS_PUBLISH_SECONDS": str(PERIOD), "AITEXT_MODEL": "local"}
    env["AITEXT_REDIS_URL"] = redis_url or ""
    return env


def _stats(address: str, **request: Any) -> pb.GetCacheStatsResponse:
    with grpc.insecure_channel(address) as channel:  # a fresh channel: SO_REUSEPORT may pick either worker
        return pb_grpc.TextServiceStub(channel).GetCacheStats(pb.GetCacheStatsRequest(**request), timeout=10)


def _lookups(stats: pb.GetCacheStatsResponse) -> int:
    return next(c.hits + c.misses for c in stats.counts if c.tier == "memory" and c.operation == "")


def _spread_calls(address: str) -> set[int]:
    """CALLS sentiment calls over several channels; the pids of the workers that answered them."""
    answered: set[int] = set()
    for channel_index in range(20):
        with grpc.insecure_channel(address) as channel:
            stub = pb_grpc.TextServiceStub(channel)
            for i in range(CALLS // 20):
                stub.Process(
                    pb.ProcessRequest(operation=pb.OPERATION_SENTIMENT, text=f"good day {channel_index % 7} {i % 2}"),
                    timeout=10,
                )
            answered.add(_stats(address, this_worker_only=True).workers[0].pid)
    return answered


def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def _worker_pids(server: ServerProcess) -> list[int]:
    # multiprocessing's spawned workers, not its resource tracker (also a child of the supervisor).
    children = psutil.Process(server.process.pid).children()
    return [c.pid for c in children if "spawn_main" in " ".join(c.cmdline())]


def _check_fleet_totals(server: ServerProcess, scope: str) -> None:
    workers = _worker_pids(server)
    assert len(workers) == 2
    # Both workers publish before any call: the totals are about both, from the start.
    _wait_for(lambda: len(_stats(server.address).workers) == 2, 10)
    _spread_calls(server.address)
    # Snapshots are at most one period old: after two, every call is in every answer.
    time.sleep(2 * PERIOD + 0.2)
    answers = [_stats(server.address) for _ in range(12)]
    answered_by = {a.workers[0].pid for a in answers}
    assert answered_by == set(workers), "SO_REUSEPORT sent the stats calls to one worker only; retry"
    for stats in answers:
        assert _lookups(stats) == CALLS
        assert stats.scope == scope
        assert {w.pid for w in stats.workers} == set(workers)
        assert sum(w.lookups for w in stats.workers) == CALLS
        assert all(w.lookups > 0 for w in stats.workers), "the calls were not spread over both workers"
        assert [w.answering for w in stats.workers] == [True, False]
        assert stats.workers[0].age_seconds == 0
        assert 0 <= stats.workers[1].age_seconds <= stats.snapshot_expiry_seconds
        assert stats.snapshot_expiry_seconds == pytest.approx(3 * PERIOD)
        # Key latency: the merged buckets count every key made, over both workers.
        assert sum(k.count for k in stats.key_latency) == CALLS
    # One worker's own view is still there on request, and it is not the total.
    own = _stats(server.address, this_worker_only=True)
    assert own.scope == "worker" and len(own.workers) == 1
    assert 0 < _lookups(own) < CALLS


def test_totals_count_every_worker_with_redis(server_process_factory, redis_url: str) -> None:
    server = server_process_factory(workers=2, env=_fleet_env(redis_url))
    _check_fleet_totals(server, "deployment")


def test_totals_count_every_worker_without_redis(server_process_factory) -> None:
    server = server_process_factory(workers=2, env=_fleet_env(None))
    _check_fleet_totals(server, "host")


@pytest.mark.parametrize("with_redis", [True, False], ids=["redis", "no-redis"])
def test_killed_worker_drops_out_within_its_expiry(server_process_factory, request, with_redis: bool) -> None:
    redis_url = request.getfixturevalue("redis_url") if with_redis else None
    server = server_process_factory(workers=2, env=_fleet_env(redis_url))
    _wait_for(lambda: len(_stats(server.address).workers) == 2, 10)
    victim = _worker_pids(server)[0]
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()

    def workers_seen() -> set[int] | None:
        try:
            return {w.pid for w in _stats(server.address).workers}
        except grpc.RpcError as failed:  # a connection the kernel had queued for the killed worker
            assert failed.code() == grpc.StatusCode.UNAVAILABLE
            return None

    # The supervisor starts a replacement; the victim's snapshot must leave within 3 periods.
    _wait_for(lambda: (seen := workers_seen()) is not None and victim not in seen, 3 * PERIOD + 2)
    gone_after = time.monotonic() - killed_at
    assert gone_after <= 3 * PERIOD + 1.0  # the expiry, plus a call's round trip and the replacement's start
    _wait_for(lambda: len(workers_seen() or ()) == 2, 20)  # the replacement joins


def test_invalidate_all_by_ops_keeps_snapshots(server_process_factory, redis_url: str) -> None:
    # A long period: the snapshots are written once at start, so only a clear could remove them.
    server = server_process_factory(workers=2, env={**_fleet_env(redis_url), "AITEXT_STATS_PUBLISH_SECONDS": "60"})
    _wait_for(lambda: len(_stats(server.address).workers) == 2, 10)
    with grpc.insecure_channel(server.address) as channel:
        stub = pb_grpc.TextServiceStub(channel)
        stub.Process(pb.ProcessRequest(operation=pb.OPERATION_SENTIMENT, text="fine"), timeout=10)
        stub.InvalidateCache(pb.InvalidateCacheRequest(all=True), timeout=10)
    client = redis.Redis.from_url(redis_url)
    try:
        assert len(client.smembers("ai_cache.stats-workers")) == 2
        assert len(list(client.scan_iter(match="ai_cache.stats:*"))) == 2
    finally:
        client.close()


def test_a_tenant_sees_its_own_lookups_summed_over_workers(server_process_factory, redis_url: str) -> None:
    keys = {"alpha": "fleet-key-a-81c2", "beta": "fleet-key-b-04fe", "ops": "fleet-key-ops-6d1a"}
    env = {
        **_fleet_env(redis_url),
        "AITEXT_ALLOW_UNAUTHENTICATED": "false",
        "AITEXT_API_KEYS": f"{keys['alpha']}:process@alpha,{keys['beta']}:process@beta,{keys['ops']}:ops@operators",
        "AITEXT_RATE_LIMIT_PER_SECOND": "1000",
        "AITEXT_RATE_LIMIT_BURST": "1000",
    }
    server = server_process_factory(workers=2, env=env)

    def stats(key: str) -> pb.GetCacheStatsResponse:
        with grpc.insecure_channel(server.address) as channel:
            stub = pb_grpc.TextServiceStub(channel)
            return stub.GetCacheStats(pb.GetCacheStatsRequest(), metadata=(("authorization", f"Bearer {key}"),))

    _wait_for(lambda: len(stats(keys["ops"]).workers) == 2, 10)
    calls = {"alpha": 30, "beta": 10}
    for tenant, count in calls.items():
        for i in range(count):
            with grpc.insecure_channel(server.address) as channel:  # fresh channels spread over the workers
                pb_grpc.TextServiceStub(channel).Process(
                    pb.ProcessRequest(operation=pb.OPERATION_SENTIMENT, text=f"fine {i % 3}"),
                    metadata=(("authorization", f"Bearer {keys[tenant]}"),),
                    timeout=10,
                )
    time.sleep(2 * PERIOD + 0.2)
    for _ in range(6):
        alpha, beta, ops = stats(keys["alpha"]), stats(keys["beta"]), stats(keys["ops"])
        assert (alpha.tenant, _lookups(alpha), sum(w.lookups for w in alpha.workers)) == ("alpha", 30, 30)
        assert (beta.tenant, _lookups(beta), sum(w.lookups for w in beta.workers)) == ("beta", 10, 10)
        assert (ops.tenant, _lookups(ops)) == ("", 40)
        # Worker-wide figures would show other tenants' activity: only ops sees them.
        assert all(w.memory_entries == 0 for w in alpha.workers) and alpha.memory_entries == 0
        assert sum(w.memory_entries for w in ops.workers) == ops.memory_entries > 0
