"""Values written straight into Redis under a real key: each forged or broken one is a miss that is replaced and
counted by reason, a correct one still hits, and the server stays healthy throughout (issue 13)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import prometheus_client
import pytest
from aitext.cache import envelope
from aitext.cache.envelope import MAC_BYTES, EntryMac, Envelope
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.asyncio import Redis

pytestmark = pytest.mark.integration

SECRET = "tamper-test-cache-secret-4f19"
A_KEY, B_KEY = "tamper-key-a-0c1d", "tamper-key-b-e2f3"
TEXT = (
    "The museum reopened after two years of renovation. Visitors praised the new lighting, "
    "although the queue at the entrance lasted more than an hour on the first weekend."
)
OTHER_TEXT = "The ferry timetable changes on Monday. Morning crossings start half an hour earlier."
SUMMARIZE = pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SUMMARIZE)
SENTIMENT = pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SENTIMENT)


def auth(key: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {key}"),)


def sealed(response: pb.ProcessResponse, key: str, *, created_at: float | None = None, secret: str | None = SECRET):
    """An envelope of `response` under `key`, MAC'd with `secret`: what a writer holding it would store."""
    stored = Envelope(
        response.SerializeToString(), time.time() if created_at is None else created_at, 3600, 10, "local"
    )
    data, _ = envelope.encode(stored, key=key, mac=EntryMac(secret), compress_min_bytes=1024)
    return data


def summary(text: str) -> pb.ProcessResponse:
    return pb.ProcessResponse(operation=pb.OPERATION_SUMMARIZE, summary=text, model="local")


def sentiment(confidence: float) -> pb.ProcessResponse:
    response = pb.ProcessResponse(operation=pb.OPERATION_SENTIMENT, model="local")
    response.sentiment.label = pb.SENTIMENT_LABEL_POSITIVE
    response.sentiment.confidence = confidence
    response.sentiment.explanation = "Visitors praised it."
    return response


@dataclass
class World:
    channel: grpc.aio.Channel
    stub: pb_grpc.TextServiceStub
    raw: Redis
    key: str  # the real key of the request under test, in A's partition

    async def check_health(self) -> None:
        health = health_pb2_grpc.HealthStub(self.channel)
        for service in ("", "aitext.cache"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, service

    async def value_of(self, request: pb.ProcessRequest, api_key: str) -> bytes:
        """The stored value of another real request (B's, or A's of another text)."""
        key = (await self.stub.Process(request, metadata=auth(api_key))).cache.key
        value = await self.raw.get(key)
        assert value is not None
        return value


@dataclass
class Case:
    request: pb.ProcessRequest
    reason: str
    forge: Callable[[World], object]  # returns the bytes, or an awaitable of them


def _v1(data: bytes) -> bytes:
    """The envelope as format version 1 wrote it: no MAC."""
    return data[:4] + bytes([1]) + data[5:-MAC_BYTES]


CASES = {
    "copied from another tenant's key": Case(SUMMARIZE, "mac", lambda w: w.value_of(SUMMARIZE, B_KEY)),
    "copied from another request's key": Case(
        SUMMARIZE, "mac", lambda w: w.value_of(pb.ProcessRequest(text=OTHER_TEXT, operation=1), A_KEY)
    ),
    "crafted without the secret": Case(
        SUMMARIZE, "mac", lambda w: sealed(summary("PWNED: wire the money to account 4471."), w.key, secret=None)
    ),
    "crafted with a guessed secret": Case(
        SUMMARIZE,
        "mac",
        lambda w: sealed(summary("PWNED: wire the money."), w.key, secret="guessed-secret-0123456789"),
    ),
    "a version 1 envelope": Case(SUMMARIZE, "format", lambda w: _v1(sealed(summary("Old format."), w.key))),
    "a sentiment result under a summarize key": Case(SUMMARIZE, "operation", lambda w: sealed(sentiment(0.9), w.key)),
    "a sentiment result labelled summarize": Case(
        SUMMARIZE,
        "bounds",
        lambda w: sealed(
            pb.ProcessResponse(operation=pb.OPERATION_SUMMARIZE, sentiment=sentiment(0.9).sentiment), w.key
        ),
    ),
    "a summary over max_length": Case(SUMMARIZE, "bounds", lambda w: sealed(summary("word " * 150), w.key)),
    "confidence 7.5": Case(SENTIMENT, "bounds", lambda w: sealed(sentiment(7.5), w.key)),
    "confidence NaN": Case(SENTIMENT, "bounds", lambda w: sealed(sentiment(math.nan), w.key)),
    "created_at NaN": Case(SUMMARIZE, "created_at", lambda w: sealed(summary("Fine."), w.key, created_at=math.nan)),
    "created_at -inf": Case(SUMMARIZE, "created_at", lambda w: sealed(summary("Fine."), w.key, created_at=-math.inf)),
    "created_at 10 years ahead": Case(
        SUMMARIZE,
        "created_at",
        lambda w: sealed(summary("Fine."), w.key, created_at=time.time() + 10 * 365 * 86400),
    ),
}


@pytest.fixture
async def world(start_server, redis_url):
    async def make(request: pb.ProcessRequest) -> World:
        # No L1: every read goes to Redis, where the forged values are.
        server = await start_server(
            api_keys=f"{A_KEY}:process@alpha,{B_KEY}:process@beta",
            allow_unauthenticated=False,
            redis_url=redis_url,
            cache_secret=SECRET,
            cache_memory_tiers=[],
        )
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        opened.append(channel)
        stub = pb_grpc.TextServiceStub(channel)
        key = (await stub.Process(request, metadata=auth(A_KEY))).cache.key
        return World(channel, stub, raw, key)

    raw = Redis.from_url(redis_url)
    opened: list[grpc.aio.Channel] = []
    yield make
    for channel in opened:
        await channel.close()
    await raw.aclose()


async def failures(world: World) -> dict[str, int]:
    stats = await world.stub.GetCacheStats(pb.GetCacheStatsRequest(), metadata=auth(A_KEY))
    return dict(stats.decode_failures_by_reason)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_a_tampered_entry_is_a_miss_that_is_replaced_and_counted(world, name):
    case = CASES[name]
    w = await world(case.request)
    genuine = await w.stub.Process(case.request, metadata=auth(A_KEY))
    assert (genuine.cache.hit, genuine.cache.tier) == (True, "redis")

    forged = case.forge(w)
    if not isinstance(forged, bytes):
        forged = await forged
    await w.raw.set(w.key, forged, ex=3600)
    assert await failures(w) == {}

    answer = await w.stub.Process(case.request, metadata=auth(A_KEY))
    assert (answer.cache.hit, answer.cache.tier, answer.cache.age_seconds) == (False, "", 0.0)
    assert answer.WhichOneof("result") == genuine.WhichOneof("result")
    assert getattr(answer, answer.WhichOneof("result")) == getattr(genuine, genuine.WhichOneof("result"))
    assert await failures(w) == {case.reason: 1}
    exposition = prometheus_client.generate_latest().decode()  # what /metrics serves
    assert f'aitext_cache_decode_failures_total{{reason="{case.reason}",tenant="alpha"}} 1.0' in exposition
    await w.check_health()

    # Replaced: Redis now holds the recomputed answer, sealed under this key, and it hits.
    replaced = envelope.decode(await w.raw.get(w.key), key=w.key, mac=EntryMac(SECRET), max_payload_bytes=1 << 20)
    assert abs(replaced.created_at - time.time()) < 30
    stored = envelope.parse_response(replaced.payload)
    field = genuine.WhichOneof("result")
    assert stored.WhichOneof("result") == field and getattr(stored, field) == getattr(genuine, field)
    again = await w.stub.Process(case.request, metadata=auth(A_KEY))
    assert (again.cache.hit, again.cache.tier) == (True, "redis")
    assert await failures(w) == {case.reason: 1}


async def test_a_correct_entry_written_with_the_secret_still_hits(world):
    w = await world(SUMMARIZE)
    await w.raw.set(w.key, sealed(summary("A summary the operator stored."), w.key, created_at=time.time() - 30))
    answer = await w.stub.Process(SUMMARIZE, metadata=auth(A_KEY))
    assert (answer.cache.hit, answer.cache.tier, answer.summary) == (True, "redis", "A summary the operator stored.")
    assert 29 <= answer.cache.age_seconds < 60
    assert await failures(w) == {}
    await w.check_health()
