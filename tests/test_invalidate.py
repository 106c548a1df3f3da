"""InvalidateCache through the server: what it deletes, and what it says when it cannot."""

from __future__ import annotations

import grpc
import pytest
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc

pytestmark = pytest.mark.integration

TEXT = "The orchestra rehearsed for six weeks. The premiere sold out in an hour."


async def test_invalidate_by_request_then_by_operation(start_server, redis_url):
    server = await start_server(redis_url=redis_url)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.TextServiceStub(channel)
        summarize = pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SUMMARIZE)
        sentiment = pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SENTIMENT)
        await stub.Process(summarize)
        await stub.Process(sentiment)

        deleted = await stub.InvalidateCache(pb.InvalidateCacheRequest(request=summarize))
        assert deleted.deleted == 1
        assert not (await stub.Process(summarize)).cache.hit
        assert (await stub.Process(sentiment)).cache.hit

        deleted = await stub.InvalidateCache(pb.InvalidateCacheRequest(operation=pb.OPERATION_SENTIMENT))
        assert deleted.deleted == 1
        assert not (await stub.Process(sentiment)).cache.hit
        assert (await stub.Process(summarize)).cache.hit


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({}, "target"),
        ({"operation": pb.OPERATION_UNSPECIFIED}, "operation"),
        ({"request": {"text": " "}}, "request.text"),
    ],
)
async def test_invalidate_with_a_bad_target_is_invalid_argument(stub, request_fields, field):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.InvalidateCache(pb.InvalidateCacheRequest(**request_fields))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in caught.value.details()


async def test_invalidate_while_redis_is_down_is_unavailable_not_success(start_server, own_redis):
    server = await start_server(redis_url=own_redis.url)
    own_redis.kill()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await pb_grpc.TextServiceStub(channel).InvalidateCache(pb.InvalidateCacheRequest(all=True))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
