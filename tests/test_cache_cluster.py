"""ResponseCache over a real 3-node Redis Cluster started by the fixture."""

from __future__ import annotations

import hashlib

import pytest
from aitext.operations import BY_NAME, OPERATIONS
from aitext.v1 import aitext_pb2 as pb

from tests.test_cache_redis import NO_CONTROL, Model, key_of, stats

pytestmark = pytest.mark.integration

KEYS_PER_OPERATION = 40


async def _fill(cache, model: Model) -> list[str]:
    keys = []
    for op in OPERATIONS:
        for i in range(KEYS_PER_OPERATION):
            key = key_of(op.name, f"cluster text {i}")
            await cache.get_or_compute(
                key, operation=op.name, text_len=20, control=NO_CONTROL, compute=model.compute(op.name)
            )
            keys.append(key)
    return keys


def _keys_by_node(redis_cluster, pattern: str = "*") -> dict[str, list[str]]:
    return {
        node.address: [k for k in node.cli("--scan", "--pattern", pattern).splitlines() if k]
        for node in redis_cluster.nodes
    }


async def test_get_set_and_ttl_across_slots(make_cache, redis_cluster, redis_cluster_nodes):
    model = Model()
    writer = await make_cache(redis_cluster_nodes=",".join(redis_cluster_nodes))
    assert (writer.redis_mode, writer.redis_available) == ("cluster", True)
    keys = await _fill(writer, model)

    by_node = _keys_by_node(redis_cluster)
    assert all(len(node_keys) > 20 for node_keys in by_node.values()), {n: len(k) for n, k in by_node.items()}
    assert sorted(k for node_keys in by_node.values() for k in node_keys) == sorted(keys)
    slots = {int(redis_cluster.nodes[0].cli("CLUSTER", "KEYSLOT", key)) for key in keys[:60]}
    assert len(slots) > 50

    for node in redis_cluster.nodes:
        for key in by_node[node.address][:5]:
            operation = key.split(":")[2]
            ttl = int(node.cli("TTL", key))
            expected = BY_NAME[operation].default_ttl_seconds
            assert expected - 5 <= ttl <= expected, (key, ttl)

    # Another process (memory empty) reads every entry back from the cluster.
    reader = await make_cache(redis_cluster_nodes=",".join(redis_cluster_nodes), cache_memory_tiers="")
    for key in keys:
        operation = key.split(":")[2]
        outcome = await reader.get_or_compute(
            key, operation=operation, text_len=20, control=NO_CONTROL, compute=model.compute(operation)
        )
        assert (outcome.hit, outcome.tier) == (True, "redis"), key
    assert model.calls == len(keys)
    totals = {(c.tier, c.operation): (c.hits, c.misses) for c in stats(reader).counts}
    assert totals[("redis", "")] == (len(keys), 0)


async def test_ttl_override_on_cluster(make_cache, redis_cluster, redis_cluster_nodes):
    cache = await make_cache(redis_cluster_nodes=",".join(redis_cluster_nodes))
    key = key_of("qa", "override " + hashlib.sha256(b"x").hexdigest())
    await cache.get_or_compute(
        key, operation="qa", text_len=3, control=pb.CacheControl(ttl_seconds=77), compute=Model().compute("qa")
    )
    ttls = [int(node.cli("TTL", key)) for node in redis_cluster.nodes if node.cli("EXISTS", key) == "1"]
    assert len(ttls) == 1 and 72 <= ttls[0] <= 77


async def test_invalidate_operation_on_every_master(make_cache, redis_cluster, redis_cluster_nodes):
    cache = await make_cache(redis_cluster_nodes=",".join(redis_cluster_nodes))
    await _fill(cache, Model())
    assert await cache.invalidate_operation("sentiment") == KEYS_PER_OPERATION
    assert all(keys == [] for keys in _keys_by_node(redis_cluster, "ai_cache:v1:sentiment:*").values())
    for op in OPERATIONS:
        if op.name != "sentiment":
            remaining = sum(len(k) for k in _keys_by_node(redis_cluster, f"ai_cache:v1:{op.name}:*").values())
            assert remaining == KEYS_PER_OPERATION, op.name
    assert all(entry_key.split(":")[2] != "sentiment" for entry_key in cache.memory.keys())
    assert await cache.invalidate_all() == KEYS_PER_OPERATION * (len(OPERATIONS) - 1)
    assert all(keys == [] for keys in _keys_by_node(redis_cluster, "ai_cache:*").values())


async def test_invalidation_reaches_other_processes_through_the_cluster(make_cache, redis_cluster_nodes):
    import asyncio
    import time

    nodes = ",".join(redis_cluster_nodes)
    a = await make_cache(redis_cluster_nodes=nodes)
    b = await make_cache(redis_cluster_nodes=nodes)
    model = Model()
    for cache in (a, b):
        for i in range(10):
            await cache.get_or_compute(
                key_of("questions", f"q{i}"),
                operation="questions",
                text_len=5,
                control=NO_CONTROL,
                compute=model.compute("questions"),
            )
    assert len(b.memory) == 10 and model.calls == 10
    assert await a.invalidate_operation("questions") == 10
    deadline = time.monotonic() + 5
    while len(b.memory):
        assert time.monotonic() < deadline, "B kept its entries"
        await asyncio.sleep(0.02)
