"""ProcessStream: the same validation and result as Process, ending with the response."""

from __future__ import annotations

import grpc
import pytest
from aitext.v1 import aitext_pb2 as pb

from tests.test_validation import violations

pytestmark = pytest.mark.unit

TEXT = "The ferry doubled its crossings. Tourism returned within three summers. The harbour was rebuilt."


async def test_stream_ends_with_the_response_process_would_give(stub):
    request = pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_KEY_POINTS)
    direct = await stub.Process(request)

    events = [event async for event in stub.ProcessStream(pb.ProcessStreamRequest(request=request))]

    assert events[-1].WhichOneof("event") == "response"
    assert all(event.WhichOneof("event") == "progress" for event in events[:-1])
    final = events[-1].response
    assert list(final.key_points.points) == list(direct.key_points.points)
    assert final.cache.hit  # the same key as the Process call before it


async def test_invalid_request_names_the_wrapped_field(stub):
    bad = pb.ProcessStreamRequest(request=pb.ProcessRequest(text="   ", operation=pb.OPERATION_SUMMARIZE))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.ProcessStream(bad):
            pass

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request.text" in violations(caught.value)
