"""Hypothesis against a running server: random fields, bytes, sizes and enums never crash it or give INTERNAL."""

from __future__ import annotations

import grpc
import pytest
from aitext.v1 import aitext_pb2 as pb
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.protowire import length_delimited, varint

pytestmark = pytest.mark.integration

# Codes a well-behaved server may answer a hostile or odd request with.
ACCEPTABLE = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
METHODS = ("Process", "ProcessBatch", "ListOperations", "GetCacheStats", "InvalidateCache")
cases_run = {"count": 0}


@pytest.fixture(scope="module")
def fuzz_channel(tmp_path_factory):
    from tests.fixtures.server import spawn_server

    served = spawn_server(
        tmp_path_factory.mktemp("fuzz"),
        env={"AITEXT_MAX_TEXT_BYTES": str(256 * 1024), "AITEXT_MAX_MESSAGE_BYTES": str(1024 * 1024)},
    )
    channel = grpc.insecure_channel(served.address, options=[("grpc.max_send_message_length", 4 * 1024 * 1024)])
    yield served, channel
    channel.close()
    served.terminate()
    print(f"\nfuzz: {cases_run['count']} requests sent")


def call_raw(channel: grpc.Channel, method: str, payload: bytes) -> grpc.StatusCode:
    path = f"/aitext.v1.TextService/{method}"
    cases_run["count"] += 1
    try:
        if method == "ProcessBatch":
            for _ in channel.unary_stream(path)(payload, timeout=30):
                pass
        else:
            channel.unary_unary(path)(payload, timeout=30)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


# Text as arbitrary bytes: valid UTF-8 mostly, sometimes not (lone surrogates, Latin-1, cut sequences).
texts = st.one_of(
    st.text(max_size=400).map(lambda t: t.encode("utf-8")),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=5).map(
        lambda t: t.encode("utf-8", "surrogatepass")
    ),
    st.binary(max_size=300),
    st.integers(0, 400_000).map(lambda n: b"word " * (n // 5)),
)


@st.composite
def process_requests(draw) -> bytes:
    parts = [length_delimited(1, draw(texts)), varint(2 << 3) + varint(draw(st.integers(-(2**40), 2**40)))]
    if draw(st.booleans()):
        parts.append(length_delimited(3, draw(texts)))
    if draw(st.booleans()):
        option_field = draw(st.sampled_from([4, 5, 6]))
        parts.append(length_delimited(option_field, varint(1 << 3) + varint(draw(st.integers(-(2**63), 2**64 - 1)))))
    if draw(st.booleans()):
        control = varint(1 << 3) + varint(draw(st.integers(0, 3)))
        control += varint(3 << 3) + varint(draw(st.integers(0, 2**33)))
        control += varint(4 << 3) + varint(draw(st.integers(0, 2**33)))
        parts.append(length_delimited(7, control))
    return b"".join(draw(st.permutations(parts)))


def assert_acceptable(code: grpc.StatusCode, method: str, payload: bytes) -> None:
    assert code in ACCEPTABLE, f"{method} answered {code} to {payload[:200]!r}"


@FUZZ
@given(payload=process_requests())
def test_random_process_requests(fuzz_channel, payload):
    assert_acceptable(call_raw(fuzz_channel[1], "Process", payload), "Process", payload)


@FUZZ
@given(method=st.sampled_from(METHODS), payload=st.binary(max_size=2048))
def test_random_bytes_to_every_method(fuzz_channel, method, payload):
    code = call_raw(fuzz_channel[1], method, payload)
    assert_acceptable(code, method, payload)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(items=st.lists(process_requests(), min_size=0, max_size=130), concurrency=st.integers(0, 2**32 - 1))
def test_random_batches(fuzz_channel, items, concurrency):
    payload = b"".join(length_delimited(1, item) for item in items) + varint(2 << 3) + varint(concurrency)
    assert_acceptable(call_raw(fuzz_channel[1], "ProcessBatch", payload), "ProcessBatch", payload[:200])


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(depth=st.integers(50, 5000), method=st.sampled_from(METHODS))
def test_deeply_nested_and_oversized_messages(fuzz_channel, depth, method):
    # Unknown groups nested `depth` deep: protobuf's recursion limit must turn into INVALID_ARGUMENT.
    nested = varint(99 << 3 | 3) * depth + varint(99 << 3 | 4) * depth
    assert_acceptable(call_raw(fuzz_channel[1], method, nested), method, nested)
    huge = length_delimited(1, b"x" * (1024 * 1024 + depth))
    assert call_raw(fuzz_channel[1], method, huge) == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_server_is_healthy_after_the_fuzzing(fuzz_channel):
    served, channel = fuzz_channel
    assert cases_run["count"] >= 300, "run with the other fuzz tests"
    assert served.process.poll() is None
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    ok = channel.unary_unary("/aitext.v1.TextService/Process", response_deserializer=pb.ProcessResponse.FromString)(
        pb.ProcessRequest(text="Still answering after all that.", operation=pb.OPERATION_SENTIMENT).SerializeToString(),
        timeout=30,
    )
    assert ok.HasField("sentiment")
