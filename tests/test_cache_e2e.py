"""The cache through the real gRPC server, the real local model and a real redis-server."""

from __future__ import annotations

import asyncio
import time

import aitext.server
import grpc
import pytest
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

pytestmark = pytest.mark.integration

TEXT = (
    "The city council approved the new transit budget on Tuesday. The plan adds three bus lines "
    "and extends evening service. Critics worried about the cost, but supporters said ridership "
    "has grown every year since 2019."
)


class CountingProcessor:
    """The real processor, counting model calls; optionally posing as another model or prompt version."""

    def __init__(self, inner, *, model_name: str | None = None, prompt_version: str | None = None) -> None:
        self.inner = inner
        self.calls = 0
        self.model_name = model_name or inner.model_name
        self.prompt_version = prompt_version or inner.prompt_version

    @property
    def circuit_state(self):
        return self.inner.circuit_state

    async def run(self, *args, **kwargs):
        self.calls += 1
        return await self.inner.run(*args, **kwargs)


@pytest.fixture
def counting(monkeypatch):
    """Makes the next servers use counting processors; `counting.identity` sets the next one's model/prompt."""
    real_build = aitext.server.build_processor

    class Factory:
        def __init__(self) -> None:
            self.processors: list[CountingProcessor] = []
            self.identity: dict[str, str] = {}

        def __call__(self, settings):
            processor = CountingProcessor(real_build(settings), **self.identity)
            self.processors.append(processor)
            return processor

    factory = Factory()
    monkeypatch.setattr(aitext.server, "build_processor", factory)
    return factory


async def _process(port: int, request: pb.ProcessRequest) -> pb.ProcessResponse:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        return await pb_grpc.TextServiceStub(channel).Process(request)


SUMMARIZE = pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SUMMARIZE)


async def test_same_request_twice_is_answered_from_cache(start_server, counting, redis_url):
    running = await start_server(redis_url=redis_url)
    first = await _process(running.port, SUMMARIZE)
    second = await _process(running.port, SUMMARIZE)
    assert (first.cache.hit, first.cache.tier) == (False, "")
    assert (second.cache.hit, second.cache.tier) == (True, "memory")
    assert second.cache.key == first.cache.key and first.cache.key.startswith("ai_cache:t:anonymous:v1:summarize:")
    assert second.summary == first.summary and second.summary
    assert counting.processors[0].calls == 1

    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stats = await pb_grpc.TextServiceStub(channel).GetCacheStats(pb.GetCacheStatsRequest())
    totals = {(c.tier, c.operation): (c.hits, c.misses) for c in stats.counts}
    assert totals[("memory", "summarize")] == (1, 1) and totals[("redis", "summarize")] == (0, 1)
    assert (stats.redis_mode, stats.redis_available, stats.memory_entries) == ("redis", True, 1)
    assert [(k.text_tier, k.count) for k in stats.key_latency] == [("small", 2)]
    assert stats.key_latency[0].backend in ("rust", "python") and stats.key_latency[0].p50_us > 0


async def test_another_model_or_prompt_version_is_a_miss(start_server, counting, redis_url):
    original = await start_server(redis_url=redis_url)
    stored = await _process(original.port, SUMMARIZE)

    same = await start_server(redis_url=redis_url)  # empty memory, same model and prompts
    from_redis = await _process(same.port, SUMMARIZE)
    assert (from_redis.cache.hit, from_redis.cache.tier, from_redis.cache.key) == (True, "redis", stored.cache.key)

    counting.identity = {"model_name": "openai:gpt-4o-mini"}
    other_model = await start_server(redis_url=redis_url)
    counting.identity = {"prompt_version": "a-changed-prompt"}
    other_prompt = await start_server(redis_url=redis_url)
    for running in (other_model, other_prompt):
        response = await _process(running.port, SUMMARIZE)
        assert not response.cache.hit
        assert response.cache.key != stored.cache.key
    assert [p.calls for p in counting.processors] == [1, 0, 1, 1]


async def test_fifty_concurrent_identical_requests_call_the_model_once(start_server, counting, redis_url):
    running = await start_server(redis_url=redis_url)
    request = pb.ProcessRequest(text=TEXT + " Fifty at once.", operation=pb.OPERATION_KEY_POINTS)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = pb_grpc.TextServiceStub(channel)
        responses = await asyncio.gather(*(stub.Process(request) for _ in range(50)))
    assert counting.processors[0].calls == 1
    assert len({tuple(r.key_points.points) for r in responses}) == 1


async def _cache_health(channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return (await stub.Check(health_pb2.HealthCheckRequest(service="aitext.cache"))).status


async def test_redis_killed_during_a_request_loop(start_server, own_redis):
    running = await start_server(redis_url=own_redis.url, cache_memory_tiers="")
    texts = [f"{TEXT} Variant {i}." for i in range(4)]
    failed = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = pb_grpc.TextServiceStub(channel)
        health = health_pb2_grpc.HealthStub(channel)

        async def one_round() -> list[str]:
            nonlocal failed
            tiers = []
            for text in texts:
                try:
                    response = await stub.Process(pb.ProcessRequest(text=text, operation=pb.OPERATION_SENTIMENT))
                    tiers.append(response.cache.tier)
                except grpc.aio.AioRpcError:
                    failed += 1
            return tiers

        async def wait_for(condition, what: str) -> None:
            deadline = time.monotonic() + 5
            while not await condition():
                assert time.monotonic() < deadline, f"{what} not within 5 s"
                await one_round()
                await asyncio.sleep(0.05)

        await one_round()
        assert await one_round() == ["redis"] * len(texts)
        assert await _cache_health(channel) == health_pb2.HealthCheckResponse.SERVING

        own_redis.kill()
        for _ in range(10):
            await one_round()

        async def cache_not_serving() -> bool:
            return await _cache_health(channel) == health_pb2.HealthCheckResponse.NOT_SERVING

        await wait_for(cache_not_serving, "aitext.cache NOT_SERVING")
        overall = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert overall.status == health_pb2.HealthCheckResponse.SERVING

        own_redis.start()
        seen: list[str] = []

        async def l2_hits_again() -> bool:
            seen[:] = await one_round()
            return "redis" in seen

        await wait_for(l2_hits_again, "an L2 hit after the restart")
        assert await _cache_health(channel) == health_pb2.HealthCheckResponse.SERVING
    assert failed == 0
