"""The real-provider path through the gRPC server, against an OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc

from tests.fixtures.fake_provider import CANNED, Fail, Hang, Reply

pytestmark = pytest.mark.integration

TEXT = "The new phone's battery died within two hours. Support never answered my emails."


def provider_overrides(fake, **extra) -> dict:
    return {
        "model": "openai:fake-model",
        "openai_base_url": fake.base_url,
        "openai_api_key": "test-key",
        "provider_retries": 2,
        "provider_timeout_seconds": 5.0,
        "provider_backoff_initial_seconds": 0.01,
        "provider_backoff_max_seconds": 0.05,
        **extra,
    }


@pytest.fixture
async def provider_stub(start_server, fake_provider):
    server = await start_server(**provider_overrides(fake_provider))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield pb_grpc.TextServiceStub(channel)


async def test_provider_results_are_parsed_into_typed_responses(provider_stub, fake_provider):
    summary = await provider_stub.Process(pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SUMMARIZE))
    assert summary.summary == CANNED["submit_summary"]["summary"]
    assert summary.model == "openai:fake-model"
    sentiment = await provider_stub.Process(pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SENTIMENT))
    assert sentiment.sentiment.label == pb.SENTIMENT_LABEL_NEGATIVE
    assert sentiment.sentiment.confidence == pytest.approx(0.9)
    points = await provider_stub.Process(pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_KEY_POINTS))
    assert list(points.key_points.points) == CANNED["submit_key_points"]["points"]
    # The text reached the provider inside the user message.
    assert any(TEXT in message for message in fake_provider.user_messages())


async def test_provider_500_is_unavailable_after_the_retries_and_nothing_is_cached(provider_stub, fake_provider):
    fake_provider.script(Fail(500), Fail(500), Fail(500))
    request = pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SUMMARIZE)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await provider_stub.Process(request)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert fake_provider.attempts == 3  # one call and provider_retries=2 retries

    recovered = await provider_stub.Process(request)
    assert not recovered.cache.hit
    assert fake_provider.attempts == 4


async def test_provider_that_hangs_is_unavailable_after_its_timeout(start_server, fake_provider):
    fake_provider.default = Hang()
    server = await start_server(**provider_overrides(fake_provider, provider_timeout_seconds=0.3, provider_retries=1))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await pb_grpc.TextServiceStub(channel).Process(
                pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SENTIMENT), timeout=20
            )
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert fake_provider.attempts == 2


async def test_the_client_deadline_bounds_the_provider_call(start_server, fake_provider):
    fake_provider.default = Hang()
    server = await start_server(**provider_overrides(fake_provider, provider_timeout_seconds=30, provider_retries=3))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.TextServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Process(pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SENTIMENT), timeout=0.5)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # The server gave up with the client: no retries ran past the deadline.
        await asyncio.sleep(1.0)
        assert fake_provider.attempts == 1


async def test_overload_is_refused_not_queued(start_server, fake_provider):
    fake_provider.default = Hang()
    server = await start_server(
        **provider_overrides(fake_provider, provider_timeout_seconds=1.5, provider_retries=0), max_concurrent_rpcs=2
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.TextServiceStub(channel)

        async def call(i: int) -> grpc.StatusCode:
            try:
                await stub.Process(pb.ProcessRequest(text=f"{TEXT} {i}", operation=pb.OPERATION_SENTIMENT), timeout=20)
            except grpc.aio.AioRpcError as error:
                return error.code()
            return grpc.StatusCode.OK

        codes = await asyncio.gather(*(call(i) for i in range(6)))
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 4, codes
    assert codes.count(grpc.StatusCode.UNAVAILABLE) == 2, codes


async def test_a_request_whose_caller_left_stops_its_model_call(start_server, fake_provider):
    """The caller cancels (no deadline): the model call is cancelled, so the next caller starts a new one."""
    fake_provider.default = Hang()
    server = await start_server(**provider_overrides(fake_provider, provider_timeout_seconds=30, provider_retries=0))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.TextServiceStub(channel)
        request = pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SUMMARIZE)
        call = stub.Process(request)
        while fake_provider.attempts == 0:
            await asyncio.sleep(0.01)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        fake_provider.default = Reply()
        # Had the first call kept running, this one would join it and hang with it.
        response = await stub.Process(request, timeout=10)
    assert response.summary == CANNED["submit_summary"]["summary"]
    assert fake_provider.attempts == 2
