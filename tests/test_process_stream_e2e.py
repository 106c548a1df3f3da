"""ProcessStream of a 1 MB text over a 16 KB input budget (the offline local model): progress
events, one per chunk, arrive before the final response, over gRPC straight to the server and
through the real gateway over gRPC, gRPC-Web (Connect-ES from Node), Connect and REST
(newline-delimited JSON).

Each path sends its own text, so each does the whole map-reduce (no whole-answer cache hit).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc
from google.protobuf import json_format

from tests.fixtures.documents import document
from tests.fixtures.gateway import GatewayProcess
from tests.fixtures.server import ServerProcess

pytestmark = pytest.mark.e2e

BUDGET = 16_384
TEXT_BYTES = 1_000_000
SERVICE = "aitext.v1.TextService"


def long_request(seed: int) -> pb.ProcessRequest:
    return pb.ProcessRequest(text=document(TEXT_BYTES, seed=seed), operation=pb.OPERATION_SUMMARIZE)


def check_progress_then_response(events: list[pb.ProcessStreamResponse]) -> None:
    """Progress events, one at least per chunk, counting up to the total; then one final response."""
    kinds = [event.WhichOneof("event") for event in events]
    assert kinds[-1] == "response" and kinds.count("response") == 1, kinds
    response = events[-1].response
    chunks = response.chunks
    assert chunks.total > TEXT_BYTES // BUDGET, chunks  # a 1 MB text in pieces under the budget
    assert chunks.model_calls > chunks.total, chunks  # a map call per chunk, then reduce calls
    assert response.summary
    progress = [event.progress for event in events[:-1]]
    assert len(progress) >= chunks.total
    assert [p.chunks_done for p in progress] == sorted(p.chunks_done for p in progress)
    assert {p.chunks_total for p in progress} == {chunks.total}
    assert progress[0].chunks_done <= 1 and progress[-1].chunks_done == chunks.total
    assert {p.stage for p in progress} <= {"map", "reduce"}


@pytest.fixture
def stream_server(server_process_factory: Callable[..., ServerProcess]) -> ServerProcess:
    return server_process_factory(env={"AITEXT_MODEL": "local", "AITEXT_MODEL_MAX_INPUT_BYTES": str(BUDGET)})


@pytest.fixture
def gateway(stream_server: ServerProcess, gateway_factory: Callable[..., GatewayProcess]) -> GatewayProcess:
    gateway = gateway_factory([stream_server.address])
    gateway.wait_until(lambda backends: all(row["healthy"] for row in backends.values()))
    return gateway


def grpc_events(address: str, request: pb.ProcessRequest) -> list[pb.ProcessStreamResponse]:
    with grpc.insecure_channel(address) as channel:
        stream = pb_grpc.TextServiceStub(channel).ProcessStream(pb.ProcessStreamRequest(request=request), timeout=120)
        return list(stream)


def test_grpc_straight_to_the_server(stream_server: ServerProcess) -> None:
    check_progress_then_response(grpc_events(stream_server.address, long_request(seed=1)))


def test_grpc_through_the_gateway(gateway: GatewayProcess) -> None:
    check_progress_then_response(grpc_events(gateway.address, long_request(seed=2)))


def test_grpc_web_through_the_gateway(
    gateway: GatewayProcess, grpcweb_call: Callable[..., list[dict[str, Any]]]
) -> None:
    request = json_format.MessageToDict(pb.ProcessStreamRequest(request=long_request(seed=3)))
    messages = grpcweb_call(gateway.url, "ProcessStream", request)
    assert "error" not in messages[-1], messages[-1]
    check_progress_then_response([json_format.ParseDict(m, pb.ProcessStreamResponse()) for m in messages])


def connect_frames(chunks: Iterator[bytes]) -> Iterator[tuple[int, bytes]]:
    """The Connect streaming envelopes of a response body: (flags, payload), as they arrive."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= 5:
            flags, length = struct.unpack(">BI", buffer[:5])
            if len(buffer) < 5 + length:
                break
            yield flags, buffer[5 : 5 + length]
            buffer = buffer[5 + length :]
    assert not buffer, f"{len(buffer)} bytes after the last envelope"


def test_connect_through_the_gateway(gateway: GatewayProcess) -> None:
    """The Connect protocol's server stream (application/connect+proto), framed by hand: each
    message in a 5-byte envelope, the end of the stream an envelope flagged 0x02 holding JSON."""
    message = pb.ProcessStreamRequest(request=long_request(seed=4)).SerializeToString()
    headers = {"Content-Type": "application/connect+proto", "Connect-Protocol-Version": "1"}
    events: list[pb.ProcessStreamResponse] = []
    end: dict[str, Any] | None = None
    with httpx.stream(
        "POST",
        f"{gateway.url}/{SERVICE}/ProcessStream",
        content=struct.pack(">BI", 0, len(message)) + message,
        headers=headers,
        timeout=120,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/connect+proto"
        for flags, payload in connect_frames(response.iter_bytes()):
            assert end is None, "a message after the end of the stream"
            if flags & 0x02:
                end = json.loads(payload)
            else:
                events.append(pb.ProcessStreamResponse.FromString(payload))
    assert end is not None and "error" not in end, end
    check_progress_then_response(events)


def test_rest_through_the_gateway(gateway: GatewayProcess) -> None:
    """POST /v1/process:stream takes the ProcessRequest JSON (as /v1/process does) and answers
    one line {"result": ProcessStreamResponse} per event."""
    body = json_format.MessageToDict(long_request(seed=5))
    with httpx.stream("POST", f"{gateway.url}/v1/process:stream", json=body, timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert all(set(line) == {"result"} for line in lines), [line for line in lines if "result" not in line]
    check_progress_then_response([json_format.ParseDict(line["result"], pb.ProcessStreamResponse()) for line in lines])


def test_a_bad_request_fails_before_any_event_on_every_path(
    gateway: GatewayProcess, grpcweb_call: Callable[..., list[dict[str, Any]]]
) -> None:
    """An empty text: INVALID_ARGUMENT naming request.text, never a progress event; over REST an
    HTTP 400 with the status as its body, as POST /v1/process answers."""
    empty = pb.ProcessRequest(text=" ", operation=pb.OPERATION_SUMMARIZE)
    with pytest.raises(grpc.RpcError) as failed:
        grpc_events(gateway.address, empty)
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    [web] = grpcweb_call(gateway.url, "ProcessStream", {"request": json_format.MessageToDict(empty)})
    assert web["error"]["code"] == "InvalidArgument", web

    rest = httpx.post(f"{gateway.url}/v1/process:stream", json=json_format.MessageToDict(empty), timeout=30)
    assert rest.status_code == 400, rest.text
    assert rest.headers["content-type"] == "application/json"
    violations = [v for d in rest.json()["details"] for v in d.get("fieldViolations", [])]
    assert any(v["field"] == "request.text" for v in violations), rest.text
