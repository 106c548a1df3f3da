"""Single-flight across workers and replicas sharing one Redis (cache/fleet_flight.py): one model call per miss."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import time

import grpc
import pytest
from aitext.cache import ResponseCache
from aitext.errors import RequestError
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from tests.fixtures.fake_provider import FakeProvider
from tests.fixtures.server import ServerProcess

pytestmark = pytest.mark.integration

LEASE_SECONDS = 3.0


def key_of(text: str) -> str:
    return f"ai_cache:v1:summarize:{hashlib.sha256(text.encode()).hexdigest()}"


class Model:
    """compute() for the caches: counts calls, takes `delay` seconds."""

    def __init__(self, delay: float) -> None:
        self.calls = 0
        self.delay = delay

    async def __call__(self) -> pb.ProcessResponse:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return pb.ProcessResponse(operation=pb.OPERATION_SUMMARIZE, model="local", summary=f"answer #{self.calls}")


async def ask(cache: ResponseCache, model: Model, text: str, *, deadline: float | None = None, **control):
    return await cache.get_or_compute(
        key_of(text),
        operation="summarize",
        text_len=len(text),
        control=pb.CacheControl(**control),
        compute=model,
        deadline=deadline,
    )


async def test_workers_sharing_redis_make_one_call_per_miss(make_cache, redis_url):
    caches = [await make_cache(redis_url=redis_url) for _ in range(3)]  # three workers' caches
    listener = AsyncRedis.from_url(redis_url)
    announcements = listener.pubsub()
    await announcements.subscribe("ai_cache:flights")
    model = Model(delay=0.5)
    outcomes = await asyncio.gather(*(ask(caches[i % 3], model, "fleet text") for i in range(30)))
    # The holder announced its finished flight, which is what wakes the waiters before their next poll.
    message = None
    for _ in range(20):  # a read that finds the subscribe confirmation returns None
        message = message or await announcements.get_message(ignore_subscribe_messages=True, timeout=0.1)
    await announcements.aclose()
    await listener.aclose()
    assert message is not None and message["data"] == key_of("fleet text").encode()
    assert model.calls == 1
    assert {o.response.summary for o in outcomes} == {"answer #1"}
    # The two caches that waited read the answer from Redis.
    assert sum(o.hit and o.tier == "redis" for o in outcomes) >= 2
    with Redis.from_url(redis_url) as redis:
        assert not redis.exists(key_of("fleet text") + ":lease")  # released


@pytest.mark.parametrize("mode", ["redis", "cluster"])
async def test_a_renewed_lease_outlives_its_expiry(make_cache, request, mode):
    # The computation takes over three times the lease: only renewals keep the waiters waiting.
    if mode == "redis":
        target = {"redis_url": request.getfixturevalue("redis_url")}
    else:
        target = {"redis_cluster_nodes": ",".join(request.getfixturevalue("redis_cluster_nodes"))}
    caches = [await make_cache(cache_lease_seconds=0.3, **target) for _ in range(2)]
    model = Model(delay=1.0)
    outcomes = await asyncio.gather(*(ask(caches[i % 2], model, f"renewed on {mode}") for i in range(10)))
    assert model.calls == 1
    assert all(cache.redis_available for cache in caches)  # no fallback to computing per process
    assert sum(o.hit and o.tier == "redis" for o in outcomes) == 5


async def test_a_waiter_fails_cleanly_at_its_deadline(make_cache, redis_url):
    holder, waiter = await make_cache(redis_url=redis_url), await make_cache(redis_url=redis_url)
    slow = Model(delay=2.0)
    computing = asyncio.ensure_future(ask(holder, slow, "slow text"))
    await asyncio.sleep(0.3)
    started = asyncio.get_running_loop().time()
    with pytest.raises(RequestError) as raised:
        await ask(waiter, Model(delay=0), "slow text", deadline=started + 0.5)
    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    assert not computing.done()  # it gave up at its deadline, not when the holder finished
    assert (await computing).response.summary == "answer #1"


async def test_skip_read_and_unstored_calls_do_not_wait_for_a_lease(make_cache, redis_url):
    holder, other = await make_cache(redis_url=redis_url), await make_cache(redis_url=redis_url)
    computing = asyncio.ensure_future(ask(holder, Model(delay=2.0), "leased text"))
    await asyncio.sleep(0.3)
    fresh, unstored = Model(delay=0), Model(delay=0)
    # skip_write stores nothing for others to read; skip_read asks for a fresh answer: another worker's is not one.
    assert (await asyncio.wait_for(ask(other, unstored, "leased text", skip_write=True), 1)).hit is False
    assert (await asyncio.wait_for(ask(other, fresh, "leased text", skip_read=True), 1)).hit is False
    assert (fresh.calls, unstored.calls) == (1, 1)
    await computing


async def test_a_waiter_takes_over_from_a_holder_that_stopped_renewing(make_cache, redis_url):
    # A lease nobody renews: what a SIGKILLed holder leaves behind.
    with Redis.from_url(redis_url) as redis:
        redis.set(key_of("orphan text") + ":lease", b"elsewhere:1:x", px=1000)
    cache = await make_cache(redis_url=redis_url)
    model = Model(delay=0)
    started = time.monotonic()
    outcome = await asyncio.wait_for(ask(cache, model, "orphan text"), 5)
    assert (outcome.response.summary, model.calls) == ("answer #1", 1)
    assert time.monotonic() - started >= 0.9  # it waited for the lease to expire


# --- the acceptance test: 2 servers x 2 workers on one Redis, a fake provider taking 2 s per call ---

TEXT = "The quarterly report shows revenue up, costs down, and a new product line launching in spring. " * 3
CALL_LINE = re.compile(r" INFO (aitext-worker-\d+) aitext\.requests: request_id=(\S+) ")


def fleet_env(redis_url: str, fake: FakeProvider) -> dict[str, str]:
    return {
        "AITEXT_REDIS_URL": redis_url,
        "AITEXT_MODEL": "openai:fake-model",
        "AITEXT_OPENAI_BASE_URL": fake.base_url,
        "AITEXT_OPENAI_API_KEY": "test-key",
        "AITEXT_PROVIDER_RETRIES": "0",
        "AITEXT_PROVIDER_TIMEOUT_SECONDS": "20",
        "AITEXT_CACHE_LEASE_SECONDS": str(LEASE_SECONDS),
    }


async def call_all(servers: list[ServerProcess], text: str, count: int, tag: str) -> list[grpc.StatusCode]:
    """`count` concurrent identical calls, each on its own connection (so SO_REUSEPORT spreads them)."""
    # A local subchannel pool: channels to one target would otherwise share a connection.
    channels = [
        grpc.aio.insecure_channel(servers[i % len(servers)].address, options=[("grpc.use_local_subchannel_pool", 1)])
        for i in range(count)
    ]
    try:
        await asyncio.gather(*(channel.channel_ready() for channel in channels))

        async def call(i: int) -> grpc.StatusCode:
            request = pb.ProcessRequest(text=text, operation=pb.OPERATION_SUMMARIZE)
            try:
                response = await pb_grpc.TextServiceStub(channels[i]).Process(
                    request, timeout=30, metadata=[("x-request-id", f"{tag}-{i}")]
                )
            except grpc.aio.AioRpcError as error:
                return error.code()
            assert response.summary == "A provider-written summary."
            return grpc.StatusCode.OK

        return await asyncio.wait_for(asyncio.gather(*(call(i) for i in range(count))), 60)
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))


def answering_workers(servers: list[ServerProcess], tag: str) -> set[tuple[int, str]]:
    """(server, worker) of each request log line of the calls tagged `tag`."""
    found = set()
    for index, server in enumerate(servers):
        for worker, request_id in CALL_LINE.findall(server.log()):
            if request_id.startswith(f"{tag}-"):
                found.add((index, worker))
    return found


async def test_forty_misses_over_four_workers_make_one_call_and_survive_the_holder_dying(
    server_process_factory, redis_url: str, fake_provider: FakeProvider, request: pytest.FixtureRequest
):
    fake_provider.latency_seconds = 2.0
    servers = [server_process_factory(workers=2, env=fleet_env(redis_url, fake_provider)) for _ in range(2)]

    assert await call_all(servers, TEXT, 40, "first") == [grpc.StatusCode.OK] * 40
    assert fake_provider.attempts == 1
    deadline = time.monotonic() + 5  # log lines are written in batches
    while len(answering_workers(servers, "first")) < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert len(answering_workers(servers, "first")) == 4  # all four workers answered some of the 40

    # Again on a new text; SIGKILL the worker holding the lease while its model call runs.
    text = TEXT + " Second edition."
    redis = Redis.from_url(redis_url)
    request.addfinalizer(redis.close)
    calls = asyncio.ensure_future(call_all(servers, text, 40, "second"))
    holder_pid = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (holder_pid is None or fake_provider.attempts < 2):
        leases = [redis.get(k) for k in redis.scan_iter("*:lease")]
        if leases and leases[0] is not None:
            holder_pid = int(leases[0].split(b":")[1])
        await asyncio.sleep(0.05)
    assert holder_pid is not None and fake_provider.attempts == 2  # the lease is held, the call under way
    os.kill(holder_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    while fake_provider.attempts < 3 and time.monotonic() - killed_at < LEASE_SECONDS + 3:
        await asyncio.sleep(0.05)
    took_over_after = time.monotonic() - killed_at
    assert fake_provider.attempts == 3, "no worker took over"
    # Within the lease's expiry, plus a waiter's poll interval (1 s at most) and some scheduling.
    assert took_over_after < LEASE_SECONDS + 2, took_over_after
    new_holder = redis.get(next(iter(redis.scan_iter("*:lease")), b"none"))
    assert new_holder is None or int(new_holder.split(b":")[1]) != holder_pid

    codes = await calls  # bounded: call_all gives up after 60 s, each call after 30
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}, codes
    assert codes.count(grpc.StatusCode.OK) >= 20  # callers of the other workers got the answer
    assert fake_provider.attempts == 3  # one call each: the first flight, the dead holder, the one taking over
