"""Hostile and careless traffic against real servers over sockets: no slot without a key and a request.

Silent HTTP/2 streams (HEADERS, never a message) come from a bare h2 client (tests/rawh2.py);
keyed callers use grpc as any client would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from aitext.errors import retry_delay_seconds
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from tests.fixtures.fake_provider import CANNED, FakeProvider
from tests.fixtures.server import ServerProcess
from tests.rawh2 import RawH2, grpc_frame

pytestmark = pytest.mark.integration

KEY = "admission-key-5e1b"
KEYED = (("x-api-key", KEY),)
PROCESS = "/aitext.v1.TextService/Process"
WATCH = "/grpc.health.v1.Health/Watch"
GRPC_OK, GRPC_INVALID_ARGUMENT, GRPC_DEADLINE_EXCEEDED, GRPC_UNAUTHENTICATED = 0, 3, 4, 16
TEXT = "The committee approved the new bridge. Construction starts in May and ends next year."
REQUEST = pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SENTIMENT).SerializeToString()


def secured_env(**extra: str) -> dict[str, str]:
    return {
        "AITEXT_API_KEYS": KEY,
        "AITEXT_ALLOW_UNAUTHENTICATED": "false",
        "AITEXT_RATE_LIMIT_PER_SECOND": "0",
        **extra,
    }


async def open_silent_streams(port: int, count: int) -> list[tuple[RawH2, int, bool]]:
    """`count` Process calls that send HEADERS and nothing more; every other one carries the key."""
    streams: list[tuple[RawH2, int, bool]] = []
    conn: RawH2 | None = None
    opened = 0
    while len(streams) < count:
        if conn is None or opened == conn.max_streams:
            conn = await RawH2.connect("127.0.0.1", port)
            opened = 0
        keyed = len(streams) % 2 == 0
        streams.append((conn, conn.start(PROCESS, dict(KEYED) if keyed else {}), keyed))
        opened += 1
    return streams


async def close_all(streams: list[tuple[RawH2, int, bool]]) -> None:
    for conn in {conn for conn, _, _ in streams}:
        await conn.close()


async def keyed_calls(port: int, count: int, concurrency: int) -> list[grpc.StatusCode]:
    gate = asyncio.Semaphore(concurrency)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.TextServiceStub(channel)

        async def one(i: int) -> grpc.StatusCode:
            async with gate:
                request = pb.ProcessRequest(text=f"{TEXT} Call {i}.", operation=pb.OPERATION_SENTIMENT)
                try:
                    await stub.Process(request, metadata=KEYED, timeout=30)
                except grpc.aio.AioRpcError as error:
                    return error.code()
                return grpc.StatusCode.OK

        return await asyncio.gather(*(one(i) for i in range(count)))


async def test_silent_streams_and_keyless_watches_do_not_starve_keyed_callers(server_process_factory):
    server: ServerProcess = server_process_factory(
        env=secured_env(AITEXT_MAX_CONCURRENT_RPCS="20", AITEXT_REQUEST_TIMEOUT_SECONDS="8")
    )
    silent = await open_silent_streams(server.port, 200)
    async with grpc.aio.insecure_channel(server.address) as health_channel:
        health = health_pb2_grpc.HealthStub(health_channel)
        watches = [health.Watch(health_pb2.HealthCheckRequest(service="")) for _ in range(100)]
        try:
            first = await asyncio.gather(*(_first_update_or_code(w) for w in watches))
            # Watches have their own small limit: the first 16 stream on, the rest are refused at once.
            assert first.count(grpc.StatusCode.OK) == 16
            assert first.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 84

            assert await keyed_calls(server.port, 50, concurrency=10) == [grpc.StatusCode.OK] * 50
            # ... while every keyed silent stream was still open (waiting for its request).
            assert sum(conn.is_open(stream) for conn, stream, keyed in silent if keyed) == 100
        finally:
            for watch in watches:
                watch.cancel()

    # Keyless streams were refused on their headers; keyed ones stayed open until the request timeout.
    for conn, stream, keyed in silent:
        result = await conn.result(stream, timeout=15)
        expected = GRPC_DEADLINE_EXCEEDED if keyed else GRPC_UNAUTHENTICATED
        assert result.grpc_status == expected, (stream, keyed, result)
    await close_all(silent)


async def _first_update_or_code(call: AsyncIterator[health_pb2.HealthCheckResponse]) -> grpc.StatusCode:
    try:
        async for update in call:
            assert update.status == health_pb2.HealthCheckResponse.SERVING
            return grpc.StatusCode.OK
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.UNKNOWN


async def test_twelve_hundred_silent_streams_change_nothing_for_keyed_callers(server_process_factory):
    server = server_process_factory(env=secured_env(AITEXT_MAX_CONCURRENT_RPCS="20"))
    silent = await open_silent_streams(server.port, 1200)
    try:
        assert await keyed_calls(server.port, 50, concurrency=10) == [grpc.StatusCode.OK] * 50
        still_open = sum(conn.is_open(stream) for conn, stream, keyed in silent if keyed)
        assert still_open == 600  # they hold no slot, yet nothing was taken from them either
    finally:
        await close_all(silent)


async def test_overload_is_refused_at_once_with_retry_info(server_process_factory, fake_provider: FakeProvider):
    def slow(tool: str, body: dict) -> dict:
        time.sleep(3)  # the provider thread, not the server, waits
        return CANNED[tool]

    fake_provider.responder = slow
    server = server_process_factory(
        env=secured_env(
            AITEXT_MAX_CONCURRENT_RPCS="32",
            AITEXT_MODEL="openai:fake-model",
            AITEXT_OPENAI_BASE_URL=fake_provider.base_url,
            AITEXT_OPENAI_API_KEY="test-key",
            AITEXT_PROVIDER_RETRIES="0",
            AITEXT_PROVIDER_TIMEOUT_SECONDS="20",
        )
    )
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = pb_grpc.TextServiceStub(channel)
        # Connected first, so the client knows the server's stream limit and queues past it; a
        # burst on a fresh connection would get streams over the limit refused (REFUSED_STREAM).
        await stub.ListOperations(pb.ListOperationsRequest(), metadata=KEYED)

        async def call(i: int) -> tuple[grpc.StatusCode, float, float | None]:
            started = time.monotonic()
            request = pb.ProcessRequest(text=f"{TEXT} Caller {i}.", operation=pb.OPERATION_SUMMARIZE)
            try:
                await stub.Process(request, metadata=KEYED, timeout=30)
            except grpc.aio.AioRpcError as error:
                status = rpc_status.from_call(error)
                delay = retry_delay_seconds(status) if status is not None else None
                return error.code(), time.monotonic() - started, delay
            return grpc.StatusCode.OK, time.monotonic() - started, None

        outcomes = await asyncio.gather(*(call(i) for i in range(500)))

    accepted = [o for o in outcomes if o[0] == grpc.StatusCode.OK]
    refused = [o for o in outcomes if o[0] == grpc.StatusCode.RESOURCE_EXHAUSTED]
    others = [o for o in outcomes if o[0] not in (grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED)]
    assert not others, (len(others), len(accepted), len(refused))
    # All 32 slots were used, and nothing queued behind them: at most one more wave got in.
    assert 32 <= len(accepted) <= 64, len(accepted)
    assert all(seconds >= 3 for _, seconds, _ in accepted)
    # Refused at once (well before a slot could free up), each with a RetryInfo delay.
    assert max(seconds for _, seconds, _ in refused) < 2.5
    assert all(delay is not None and delay > 0 for _, _, delay in refused)


async def test_a_unary_call_with_two_messages_is_invalid(start_server):
    server = await start_server()
    conn = await RawH2.connect("127.0.0.1", server.port)
    try:
        stream = conn.start(PROCESS)
        conn.send_message(stream, REQUEST)
        conn.send_message(stream, REQUEST, end=True)
        result = await conn.result(stream, timeout=5)
        assert result.grpc_status == GRPC_INVALID_ARGUMENT, result
        assert "exactly one request message" in result.grpc_message

        stream = conn.start(PROCESS)
        conn.send_message(stream, REQUEST, end=True)
        assert (await conn.result(stream, timeout=5)).grpc_status == GRPC_OK  # one message is fine
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(None, id="no-message"),
        pytest.param(grpc_frame(REQUEST)[:-5], id="truncated-message"),
        pytest.param(b"\x00\x00\x00", id="truncated-prefix"),
        pytest.param(grpc_frame(b"\xff\xff\xff"), id="not-protobuf"),
    ],
)
async def test_empty_or_truncated_requests_are_invalid_at_once(start_server, body: bytes | None):
    server = await start_server(request_timeout_seconds=30)
    conn = await RawH2.connect("127.0.0.1", server.port)
    try:
        started = time.monotonic()
        stream = conn.start(PROCESS, end=body is None)
        if body is not None:
            conn.send_raw(stream, body, end=True)
        result = await conn.result(stream, timeout=5)
        assert result.grpc_status == GRPC_INVALID_ARGUMENT, result
        assert time.monotonic() - started < 1
    finally:
        await conn.close()


async def test_a_silent_stream_is_ended_after_the_request_timeout(start_server):
    server = await start_server(request_timeout_seconds=0.5)
    conn = await RawH2.connect("127.0.0.1", server.port)
    try:
        streams = [conn.start(PROCESS), conn.start("/grpc.health.v1.Health/Check"), conn.start(WATCH)]
        for stream in streams:
            result = await conn.result(stream, timeout=5)
            assert result.grpc_status == GRPC_DEADLINE_EXCEEDED, result
        assert server.admission.work.in_use == server.admission.watches.in_use == 0
    finally:
        await conn.close()


async def test_a_keyless_call_is_refused_before_its_request_is_read(start_server):
    server = await start_server(api_keys=KEY, allow_unauthenticated=False, request_timeout_seconds=30)
    conn = await RawH2.connect("127.0.0.1", server.port)
    try:
        started = time.monotonic()
        result = await conn.result(conn.start(PROCESS), timeout=5)  # no key, no message, no END_STREAM
        assert result.grpc_status == GRPC_UNAUTHENTICATED
        assert time.monotonic() - started < 1
    finally:
        await conn.close()
