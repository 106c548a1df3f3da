"""Every kind of bad request gets INVALID_ARGUMENT (or RESOURCE_EXHAUSTED) naming the field."""

from __future__ import annotations

import grpc
import pytest
from aitext.errors import field_violations
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc
from grpc_status import rpc_status

from tests.protowire import length_delimited, process_request

pytestmark = pytest.mark.unit

TEXT = "The river flooded the valley in spring. Farmers moved their herds to the hills."


def violations(error: grpc.aio.AioRpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries no google.rpc.Status details"
    return field_violations(status)


async def expect_invalid(stub, request: pb.ProcessRequest, field: str) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Process(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    found = violations(caught.value)
    assert field in found, found
    return found[field]


@pytest.mark.parametrize("text", ["", "   \n\t  "])
async def test_blank_text_is_rejected(stub, text):
    description = await expect_invalid(stub, pb.ProcessRequest(text=text, operation=pb.OPERATION_SUMMARIZE), "text")
    assert "non-whitespace" in description


async def test_text_over_the_limit_is_rejected(start_server):
    server = await start_server(max_text_bytes=1000)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.TextServiceStub(channel)
        # 400 characters of 3 UTF-8 bytes each: under the limit in characters, over it in bytes.
        request = pb.ProcessRequest(text="€" * 400, operation=pb.OPERATION_SENTIMENT)
        assert "1000" in await expect_invalid(stub, request, "text")
        ok = await stub.Process(pb.ProcessRequest(text="€" * 300, operation=pb.OPERATION_SENTIMENT))
        assert ok.HasField("sentiment")


async def test_message_over_the_size_limit_is_resource_exhausted(start_server):
    server = await start_server(max_message_bytes=1024 * 1024)
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{server.port}", options=[("grpc.max_send_message_length", 8 * 1024 * 1024)]
    ) as channel:
        stub = pb_grpc.TextServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Process(pb.ProcessRequest(text="a" * (2 * 1024 * 1024), operation=pb.OPERATION_SENTIMENT))
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize(
    "text",
    [
        b"caf\xe9 au lait",  # Latin-1, not UTF-8
        "lone \ud800 surrogate".encode("utf-8", "surrogatepass"),
        b"truncated \xe2\x82",
    ],
)
async def test_invalid_utf8_names_the_text_field(server, text):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = channel.unary_unary(
            "/aitext.v1.TextService/Process",
            request_serializer=None,
            response_deserializer=pb.ProcessResponse.FromString,
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(process_request(text, pb.OPERATION_SUMMARIZE))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "UTF-8" in violations(caught.value)["text"]


async def test_invalid_utf8_in_a_batch_item_names_the_item(server):
    item = process_request("x \udfff".encode("utf-8", "surrogatepass"), pb.OPERATION_SENTIMENT)
    good = pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SENTIMENT).SerializeToString()
    batch = b"".join(length_delimited(1, r) for r in (good, item))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = channel.unary_stream("/aitext.v1.TextService/ProcessBatch", request_serializer=None)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call(batch):
                pass
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "requests[1].text" in violations(caught.value)


async def test_garbage_bytes_are_invalid_argument_not_internal(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        call = channel.unary_unary("/aitext.v1.TextService/Process", request_serializer=None)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(b"\xff\xff\xff\xff\xff")
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("operation", [pb.OPERATION_UNSPECIFIED, 42])
async def test_missing_or_unknown_operation(stub, operation):
    await expect_invalid(stub, pb.ProcessRequest(text=TEXT, operation=operation), "operation")


@pytest.mark.parametrize("question", ["", "   "])
async def test_qa_requires_a_question(stub, question):
    request = pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_QA, question=question)
    assert "required" in await expect_invalid(stub, request, "question")


async def test_question_only_goes_with_qa(stub):
    request = pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SUMMARIZE, question="Where?")
    await expect_invalid(stub, request, "question")


async def test_question_over_the_limit(stub):
    request = pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_QA, question="why " * 600)
    await expect_invalid(stub, request, "question")


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"operation": pb.OPERATION_SUMMARIZE, "summarize_options": {"max_length": 9}}, "summarize_options.max_length"),
        (
            {"operation": pb.OPERATION_SUMMARIZE, "summarize_options": {"max_length": 1001}},
            "summarize_options.max_length",
        ),
        (
            {"operation": pb.OPERATION_KEY_POINTS, "key_points_options": {"max_points": 0}},
            "key_points_options.max_points",
        ),
        (
            {"operation": pb.OPERATION_KEY_POINTS, "key_points_options": {"max_points": 21}},
            "key_points_options.max_points",
        ),
        (
            {"operation": pb.OPERATION_QUESTIONS, "questions_options": {"num_questions": -1}},
            "questions_options.num_questions",
        ),
        (
            {"operation": pb.OPERATION_QUESTIONS, "questions_options": {"num_questions": 50}},
            "questions_options.num_questions",
        ),
        ({"operation": pb.OPERATION_SENTIMENT, "summarize_options": {"max_length": 50}}, "summarize_options"),
    ],
)
async def test_options_out_of_range_or_for_another_operation(stub, request_fields, field):
    await expect_invalid(stub, pb.ProcessRequest(text=TEXT, **request_fields), field)


async def test_every_violation_is_reported_at_once(stub):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Process(pb.ProcessRequest(text=" ", operation=pb.OPERATION_QA))
    assert {"text", "question"} <= set(violations(caught.value))


async def test_ttl_override_out_of_range(stub):
    request = pb.ProcessRequest(
        text=TEXT, operation=pb.OPERATION_SENTIMENT, cache_control=pb.CacheControl(ttl_seconds=0)
    )
    await expect_invalid(stub, request, "cache_control.ttl_seconds")


async def collect(stub, batch: pb.ProcessBatchRequest) -> list[pb.ProcessBatchResponse]:
    return [item async for item in stub.ProcessBatch(batch)]


async def test_empty_batch_is_rejected(stub):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(stub, pb.ProcessBatchRequest())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "requests" in violations(caught.value)


async def test_batch_over_the_limit_is_rejected(start_server):
    server = await start_server(max_batch_items=3)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.TextServiceStub(channel)
        items = [pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SENTIMENT)] * 4
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await collect(stub, pb.ProcessBatchRequest(requests=items))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "limit is 3" in violations(caught.value)["requests"]
