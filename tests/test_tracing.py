"""OpenTelemetry traces end to end: one gRPC-Web call through the real gateway into `aitext serve`,
exported over OTLP/HTTP to a receiver on loopback, gives one trace whose spans chain from the
gateway's to the server's to the key, cache and model spans, and carry no user text and no key.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from aitext.v1 import aitext_pb2 as pb
from google.protobuf import json_format

from tests.fixtures.documents import document, paragraphs
from tests.fixtures.otlp import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.e2e

SERVER_SPAN = "aitext.v1.TextService/Process"
SERVER_STREAM = "aitext.v1.TextService/ProcessStream"
SERVER_SPAN_STREAM_ANCESTRY = {SERVER_STREAM, "POST /aitext.v1.TextService/ProcessStream"}
LONG_TEXT_BUDGET = 8_000  # bytes of prompt: ~4.9 KB of document per call
LONG_TEXT_BYTES = 20_000


def by_id(spans: list[ReceivedSpan]) -> dict[bytes, ReceivedSpan]:
    return {s.span.span_id: s for s in spans}


def ancestors(span: ReceivedSpan, index: dict[bytes, ReceivedSpan]) -> list[str]:
    """The names of the span's parents, nearest first, as far as the chain of parent ids reaches."""
    names = []
    while span.span.parent_span_id and (parent := index.get(span.span.parent_span_id)) is not None:
        names.append(parent.name)
        span = parent
    return names


def trace_complete(spans: list[ReceivedSpan]) -> bool:
    names = {s.name for s in spans}
    return (
        any(s.service == "aitext-gateway" for s in spans)
        and {SERVER_SPAN, "cache.key", "cache.memory", "cache.redis.get", "cache.redis.set"} <= names
        and any(s.name.startswith("chat ") for s in spans)
    )


@dataclass
class TracedStack:
    server: Any  # tests.fixtures.server.ServerProcess
    gateway: Any  # tests.fixtures.gateway.GatewayProcess


@pytest.fixture
def traced_stack(
    otlp_receiver: OtlpReceiver,
    redis_url: str,
    server_process_factory,
    gateway_factory,
    monkeypatch: pytest.MonkeyPatch,
) -> TracedStack:
    """`aitext serve` (Redis, a small model input budget for long texts) behind the gateway, both exporting."""
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    server = server_process_factory(
        env={
            **otel,
            "OTEL_SERVICE_NAME": "aitext-test",
            "AITEXT_REDIS_URL": redis_url,
            "AITEXT_MODEL_MAX_INPUT_BYTES": str(LONG_TEXT_BUDGET),
        }
    )
    for name, value in otel.items():
        monkeypatch.setenv(name, value)  # the gateway inherits the test's environment
    gateway = gateway_factory([server.address])
    gateway.wait_until(lambda backends: all(row["healthy"] for row in backends.values()))
    return TracedStack(server, gateway)


def assert_nothing_recorded(spans: list[ReceivedSpan], secrets: dict[str, str]) -> None:
    """No attribute of any span (events included) holds any of `secrets`."""
    for span in spans:
        for attribute, value in span.attributes().items():
            for what, secret in secrets.items():
                assert secret not in value, f"{span.name} {attribute} holds the {what}"


def test_a_grpcweb_miss_through_the_gateway_is_one_trace_without_user_text(
    otlp_receiver: OtlpReceiver, traced_stack: TracedStack, grpcweb_call
) -> None:
    server, gateway = traced_stack.server, traced_stack.gateway
    marker = uuid.uuid4().hex  # a miss: no earlier run stored this text
    text = (
        f"Tracing follows one request across processes. The marker {marker} appears only in this text. "
        "A span records where time went, never what the user wrote."
    )
    question = f"Which marker appears only in the text {marker[:8]}?"
    request = pb.ProcessRequest(text=text, operation=pb.OPERATION_QA, question=question)
    [message] = grpcweb_call(gateway.url, "Process", json_format.MessageToDict(request))
    response = json_format.ParseDict(message, pb.ProcessResponse())
    assert not response.cache.hit and response.cache.key

    spans = otlp_receiver.wait_for(trace_complete)
    [gateway_span] = [s for s in spans if s.service == "aitext-gateway" and not s.span.parent_span_id]
    trace = [s for s in spans if s.span.trace_id == gateway_span.span.trace_id]
    assert {s.service for s in trace} == {"aitext-gateway", "aitext-test"}
    # Every span of the server's work is in the gateway's trace: none started a trace of its own.
    assert [s.name for s in spans if s.span.trace_id != gateway_span.span.trace_id] == []

    index = by_id(trace)
    [server_span] = [s for s in trace if s.name == SERVER_SPAN]
    assert server_span.span.kind == server_span.span.SPAN_KIND_SERVER
    assert server_span.span.parent_span_id == gateway_span.span.span_id
    assert server_span.attributes()["rpc.grpc.status_code"] == "0"
    for name in ("cache.key", "cache.memory", "cache.redis.set"):
        [child] = [s for s in trace if s.name == name]
        assert SERVER_SPAN in ancestors(child, index), name
    # Redis is read on the miss, and once more under the fleet lease before computing.
    reads = [s for s in trace if s.name == "cache.redis.get"]
    assert reads and all(SERVER_SPAN in ancestors(s, index) for s in reads)
    # pydantic-ai's model span (`chat <model>`), under the server's span.
    models = [s for s in trace if s.name.startswith("chat ")]
    assert models and all(SERVER_SPAN in ancestors(s, index) for s in models)
    # Parent links intact: the gateway's span is the one span whose parent is not in the trace.
    assert [s.name for s in trace if s.span.parent_span_id not in index] == [gateway_span.name]
    assert next(s for s in trace if s.name == "cache.memory").attributes()["aitext.cache.hit"] == "False"

    # Nothing the user sent, and not the key, in any attribute of any span (events included).
    assert_nothing_recorded(spans, {"text": text, "question": question, "key": response.cache.key, "marker": marker})

    # The request log line names the trace.
    trace_hex = gateway_span.span.trace_id.hex()
    deadline = time.monotonic() + 10
    while not (lines := [line for line in server.log().splitlines() if "operation=qa" in line]):
        assert time.monotonic() < deadline, "no request log line"
        time.sleep(0.05)  # the log handler writes every 0.2 s
    assert re.search(rf"trace_id={trace_hex}\b", lines[-1]), lines


def test_each_call_of_a_long_text_has_its_span_under_the_rpc(
    otlp_receiver: OtlpReceiver, traced_stack: TracedStack, grpcweb_call
) -> None:
    marker = uuid.uuid4().hex
    text = f"{document(LONG_TEXT_BYTES, seed=int(marker[:6], 16))}\n\nThe marker is {marker}."
    request = pb.ProcessRequest(text=text, operation=pb.OPERATION_SUMMARIZE)
    messages = grpcweb_call(traced_stack.gateway.url, "ProcessStream", {"request": json_format.MessageToDict(request)})
    final = json_format.ParseDict(messages[-1], pb.ProcessStreamResponse()).response
    chunks = final.chunks
    assert chunks.total >= 3 and chunks.cached == 0, chunks

    def complete(spans: list[ReceivedSpan]) -> bool:
        names = [s.name for s in spans]
        # The gateway exports its span when the stream ends, after the server's may have arrived.
        return (
            names.count("longdoc.map") == chunks.total
            and "longdoc.reduce" in names
            and set(names) >= SERVER_SPAN_STREAM_ANCESTRY
        )

    spans = otlp_receiver.wait_for(complete)
    [server_span] = [s for s in spans if s.name == SERVER_STREAM]
    trace = [s for s in spans if s.span.trace_id == server_span.span.trace_id]
    index = by_id(trace)
    calls = [s for s in trace if s.name.startswith("longdoc.")]
    assert len(calls) == chunks.total + chunks.reduce_calls
    for call in calls:
        assert set(ancestors(call, index)) >= SERVER_SPAN_STREAM_ANCESTRY, call.name
        assert call.attributes()["aitext.cache.hit"] == "False"
    # Every model call sits under one of those spans.
    models = [s for s in trace if s.name.startswith("chat ")]
    assert len(models) == chunks.model_calls
    assert all(ancestors(m, index)[1].startswith("longdoc.") for m in models)  # chat < invoke_agent < longdoc.*

    assert_nothing_recorded(
        spans,
        {
            "marker": marker,
            "final key": final.cache.key,
            **{f"paragraph {i}": p for i, p in enumerate(paragraphs(text))},
        },
    )
