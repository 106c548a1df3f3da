"""Tenants against real servers and a real Redis: isolation by default, sharing by choice, scoped stats,
invalidation and limits, and the issue's membership probe re-run (issue 13)."""

from __future__ import annotations

import asyncio
import hashlib

import grpc
import pytest
from aitext.security.tenants import derived_tenant
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

pytestmark = pytest.mark.integration

SECRET = "tenants-test-cache-secret-0123"
A_KEY, B_KEY, B2_KEY, OPS_KEY = "key-of-a-5d1e", "key-of-b-93c0", "key-of-b2-77aa", "key-of-ops-0b3f"
KEYS = ",".join(
    [
        f"{A_KEY}:process+admin@alpha",
        f"{B_KEY}:process+admin@beta",
        f"{B2_KEY}:process@beta",
        f"{OPS_KEY}:ops@operators",
    ]
)
CONFIDENTIAL = (
    "Board minutes, strictly confidential. The company will acquire Northwind Traders for 412 million "
    "dollars in March. The announcement is planned for the first Monday after the audit closes."
)
OTHER = "The library extended its opening hours. Students welcomed the change during the exam period."


def summarize(text: str, **control: object) -> pb.ProcessRequest:
    return pb.ProcessRequest(text=text, operation=pb.OPERATION_SUMMARIZE, cache_control=pb.CacheControl(**control))


def auth(key: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {key}"),)


class Caller:
    """One API key's view of one server."""

    def __init__(self, channel: grpc.aio.Channel, key: str) -> None:
        self.stub = pb_grpc.TextServiceStub(channel)
        self.key = key

    async def process(self, request: pb.ProcessRequest) -> pb.ProcessResponse:
        return await self.stub.Process(request, metadata=auth(self.key))

    async def stats(self) -> pb.GetCacheStatsResponse:
        return await self.stub.GetCacheStats(pb.GetCacheStatsRequest(), metadata=auth(self.key))

    async def invalidate(self, **target: object) -> int:
        reply = await self.stub.InvalidateCache(pb.InvalidateCacheRequest(**target), metadata=auth(self.key))
        return reply.deleted


def lookups(stats: pb.GetCacheStatsResponse) -> dict[str, tuple[int, int]]:
    """tier -> (hits, misses), all operations."""
    return {c.tier: (c.hits, c.misses) for c in stats.counts if c.operation == ""}


@pytest.fixture
async def servers(start_server, redis_url):
    """Two workers of one deployment (one Redis), so B is tried against L1 and against L2."""

    async def start(**overrides: object) -> tuple[grpc.aio.Channel, grpc.aio.Channel]:
        settings = {
            "api_keys": KEYS,
            "allow_unauthenticated": False,
            "redis_url": redis_url,
            "cache_secret": SECRET,
            "rate_limit_per_second": 1000,
            "rate_limit_burst": 1000,
            **overrides,
        }
        first, second = await start_server(**settings), await start_server(**settings)
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{s.port}") for s in (first, second)]
        opened.extend(channels)
        return channels[0], channels[1]

    opened: list[grpc.aio.Channel] = []
    yield start
    for channel in opened:
        await channel.close()


@pytest.mark.parametrize("shared", [False, True], ids=["isolated", "shared"])
async def test_a_then_b_isolated_by_default_and_shared_when_opted_in(servers, redis_server, shared):
    one, two = await servers(cache_shared=shared)
    a, b_here, b_there = Caller(one, A_KEY), Caller(one, B_KEY), Caller(two, B_KEY)

    first = await a.process(summarize(CONFIDENTIAL))
    assert not first.cache.hit
    await asyncio.sleep(0.2)  # so a hit would show an age
    same_worker = await b_here.process(summarize(CONFIDENTIAL, skip_write=True))
    other_worker = await b_there.process(summarize(CONFIDENTIAL, skip_write=True))

    if not shared:
        for answer in (same_worker, other_worker):
            assert (answer.cache.hit, answer.cache.tier, answer.cache.age_seconds) == (False, "", 0.0)
            assert answer.cache.key != first.cache.key
        assert first.cache.key.startswith("ai_cache:t:alpha:v1:summarize:")
        assert same_worker.cache.key.startswith("ai_cache:t:beta:v1:summarize:")
        # The partitions differ only in the namespace: the digest is the request's alone.
        assert first.cache.key.rsplit(":", 1)[1] == same_worker.cache.key.rsplit(":", 1)[1]
    else:
        assert (same_worker.cache.hit, same_worker.cache.tier) == (True, "memory")
        assert (other_worker.cache.hit, other_worker.cache.tier) == (True, "redis")
        assert same_worker.cache.age_seconds >= 0.2 and other_worker.cache.age_seconds >= 0.2
        assert same_worker.cache.key == first.cache.key and first.cache.key.startswith("ai_cache:shared:v1:")
    assert same_worker.summary == first.summary

    # B's stats: its own lookups and nothing of A's (A's miss on worker one is not among them).
    b_stats = await b_here.stats()
    assert b_stats.tenant == "beta"
    assert lookups(b_stats)["memory"] == ((1, 0) if shared else (0, 1))
    assert (b_stats.memory_entries, b_stats.memory_bytes, b_stats.singleflight_joins) == (0, 0, 0)
    assert not b_stats.key_latency
    a_stats = await a.stats()
    assert (a_stats.tenant, lookups(a_stats)["memory"]) == ("alpha", (0, 1))

    if shared:
        return
    # B's admin clears: everything, then by operation, then the exact request. A's entry stays.
    assert await b_here.invalidate(all=True) == 0
    assert await b_here.invalidate(operation=pb.OPERATION_SUMMARIZE) == 0
    assert await b_here.invalidate(request=summarize(CONFIDENTIAL)) == 0
    assert len(redis_server.cli("--scan", "--pattern", "ai_cache:t:alpha:*").split()) == 1
    again = await a.process(summarize(CONFIDENTIAL))
    assert (again.cache.hit, again.cache.tier) == (True, "memory")
    assert (await Caller(two, A_KEY).process(summarize(CONFIDENTIAL))).cache.tier == "redis"


async def test_a_tenant_may_opt_into_the_shared_pool_alone(servers):
    one, _ = await servers(tenants={"alpha": {"shared": True}, "beta": {"shared": True}})
    a, b, ops = Caller(one, A_KEY), Caller(one, B_KEY), Caller(one, OPS_KEY)
    await a.process(summarize(CONFIDENTIAL))
    assert (await b.process(summarize(CONFIDENTIAL))).cache.hit  # both opted in
    assert not (await ops.process(summarize(CONFIDENTIAL))).cache.hit  # "operators" did not


async def test_ops_sees_and_clears_the_whole_deployment(servers, redis_server):
    one, two = await servers()
    a, b, ops = Caller(one, A_KEY), Caller(two, B_KEY), Caller(one, OPS_KEY)
    await a.process(summarize(CONFIDENTIAL))
    await b.process(summarize(OTHER))
    await b.process(summarize(OTHER))

    everything = await ops.stats()
    assert everything.tenant == ""
    # This worker's lookups: A's miss and nothing else (B used the other worker); and its L1.
    assert lookups(everything)["memory"] == (0, 1) and everything.memory_entries == 1

    # An admin key cannot clear other tenants; an ops key clears every partition.
    assert await a.invalidate(operation=pb.OPERATION_SUMMARIZE) == 1
    await a.process(summarize(CONFIDENTIAL))
    assert await ops.invalidate(operation=pb.OPERATION_SUMMARIZE) == 2
    assert redis_server.cli("--scan", "--pattern", "ai_cache:t:*") == ""
    await a.process(summarize(CONFIDENTIAL))
    await b.process(summarize(OTHER))
    assert await ops.invalidate(all=True) == 2
    assert not (await b.process(summarize(OTHER))).cache.hit


async def test_a_key_without_a_tenant_is_a_tenant_of_its_own(start_server):
    first, second = "plain-key-one-4471", "plain-key-two-9c20"
    server = await start_server(api_keys=f"{first},{second}:process+admin", allow_unauthenticated=False)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        one, two = Caller(channel, first), Caller(channel, second)
        assert not (await one.process(summarize(CONFIDENTIAL))).cache.hit
        assert (await one.process(summarize(CONFIDENTIAL))).cache.hit
        assert not (await two.process(summarize(CONFIDENTIAL))).cache.hit
        tenant = (await one.stats()).tenant
        assert tenant == derived_tenant(hashlib.sha256(first.encode()).digest())
        assert tenant.startswith("key-") and first not in tenant
        assert (await two.stats()).tenant not in ("", tenant)


async def test_the_largest_ttl_is_per_tenant(servers, redis_server):
    one, _ = await servers(tenant_max_ttl_seconds=7200, tenants={"beta": {"max_ttl_seconds": 60}})
    a, b = Caller(one, A_KEY), Caller(one, B_KEY)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await b.process(summarize(CONFIDENTIAL, ttl_seconds=61))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cache_control.ttl_seconds" in refused.value.details() and "60" in refused.value.details()
    answer = await b.process(summarize(CONFIDENTIAL, ttl_seconds=60))
    assert 55 <= int(redis_server.cli("TTL", answer.cache.key)) <= 60
    answer = await a.process(summarize(CONFIDENTIAL, ttl_seconds=3600))  # alpha has the deployment's 7200
    assert 3595 <= int(redis_server.cli("TTL", answer.cache.key)) <= 3600
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await a.process(summarize(CONFIDENTIAL, ttl_seconds=7201))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_tenant_limit_covers_all_its_keys_and_no_other_tenant(servers):
    one, _ = await servers(tenants={"beta": {"rate_limit_per_second": 0.001, "rate_limit_burst": 3}})
    b, b2, a = Caller(one, B_KEY), Caller(one, B2_KEY), Caller(one, A_KEY)
    await b.stats()
    await b2.stats()
    await b.stats()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await b2.stats()  # b2's own bucket is nearly full: the tenant's is empty
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "tenant" in refused.value.details()
    for _ in range(5):
        await a.stats()


async def test_the_membership_probe_of_the_issue_finds_nothing(server_process_factory, redis_url):
    """Issue 13's probe: `aitext serve --workers 2` with Redis and two ordinary process keys.

    A processes a confidential text; B asks for the same text with skip_write, on new connections
    so both workers answer; B reads its stats; B tries to overwrite A's entry with a 1 s TTL.
    Timing is not asserted (the benchmarks measure it); the fields that leaked are.
    """
    a_key, b_key = "probe-key-a-61f0", "probe-key-b-2be4"
    served = server_process_factory(
        workers=2,
        env={
            "AITEXT_API_KEYS": f"{a_key},{b_key}",  # ordinary keys: no tenants named, each its own
            "AITEXT_ALLOW_UNAUTHENTICATED": "false",
            "AITEXT_REDIS_URL": redis_url,
            "AITEXT_CACHE_SECRET": SECRET,
        },
    )
    document = CONFIDENTIAL * 100
    request = pb.ProcessRequest(text=document, operation=pb.OPERATION_KEY_POINTS)
    async with grpc.aio.insecure_channel(served.address) as channel:
        stored = await Caller(channel, a_key).process(request)
    await asyncio.sleep(1.0)

    for _ in range(6):
        async with grpc.aio.insecure_channel(served.address) as channel:  # a new connection: either worker
            probe = await Caller(channel, b_key).process(
                pb.ProcessRequest(
                    text=document, operation=pb.OPERATION_KEY_POINTS, cache_control=pb.CacheControl(skip_write=True)
                )
            )
            assert (probe.cache.hit, probe.cache.tier, probe.cache.age_seconds) == (False, "", 0.0)
            assert probe.cache.key != stored.cache.key
            b_stats = await Caller(channel, b_key).stats()
            assert b_stats.tenant == derived_tenant(hashlib.sha256(b_key.encode()).digest())
            counted = lookups(b_stats)
            assert counted.get("memory", (0, 0))[0] == 0 and counted.get("redis", (0, 0))[0] == 0
            assert b_stats.memory_entries == 0

    # B "overwrites" with skip_read and a 1 s TTL: it writes its own partition, A still reads its entry.
    async with grpc.aio.insecure_channel(served.address) as channel:
        await Caller(channel, b_key).process(
            pb.ProcessRequest(
                text=document,
                operation=pb.OPERATION_KEY_POINTS,
                cache_control=pb.CacheControl(skip_read=True, ttl_seconds=1),
            )
        )
    await asyncio.sleep(1.5)
    for _ in range(4):
        async with grpc.aio.insecure_channel(served.address) as channel:
            again = await Caller(channel, a_key).process(request)
            assert again.cache.hit and again.cache.age_seconds >= 2.0
            assert list(again.key_points.points) == list(stored.key_points.points)
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert health.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_partition_clear_on_a_cluster_reaches_every_node_and_no_other_partition(
    make_cache, redis_cluster, redis_cluster_nodes
):
    """The partition patterns on a real 3-node cluster, with the L1 copies of a second worker."""
    from tests.test_cache_redis import NO_CONTROL, Model, key_of

    nodes = ",".join(redis_cluster_nodes)
    writer, other_worker = await make_cache(redis_cluster_nodes=nodes), await make_cache(redis_cluster_nodes=nodes)
    model = Model()
    for cache in (writer, other_worker):  # the second worker's L1 gets the entries from Redis
        for namespace in ("ai_cache:t:alpha", "ai_cache:t:alpha2", "ai_cache:shared"):
            for operation in ("summarize", "qa"):
                for i in range(20):
                    await cache.get_or_compute(
                        key_of(operation, f"text {i}", namespace),
                        operation=operation,
                        text_len=10,
                        control=NO_CONTROL,
                        compute=model.compute(operation),
                    )
    assert model.calls == 120 and len(other_worker.memory) == 120

    def stored(pattern: str) -> int:
        return sum(len(node.cli("--scan", "--pattern", pattern).split()) for node in redis_cluster.nodes)

    assert await writer.invalidate_operation("qa", "ai_cache:t:alpha") == 20
    assert await writer.invalidate_all("ai_cache:t:alpha") == 20
    assert stored("ai_cache:t:alpha:*") == 0
    assert stored("ai_cache:t:alpha2:*") == 40 and stored("ai_cache:shared:*") == 40
    for _ in range(100):  # the announcement reaches the other worker
        if len(other_worker.memory) == 80:
            break
        await asyncio.sleep(0.05)
    assert sorted({key.rsplit(":", 3)[0] for key in other_worker.memory.keys()}) == [
        "ai_cache:shared",
        "ai_cache:t:alpha2",
    ]
