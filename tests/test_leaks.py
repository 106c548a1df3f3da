"""Small leaks: forged request ids in the log, /metrics listening wider than the service."""

from __future__ import annotations

import logging
import socket
import urllib.request

import grpc
import pytest
from aitext.security.request_id import MAX_REQUEST_ID_CHARS, safe_request_id
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc

from tests.fixtures.redis import free_port

pytestmark = pytest.mark.integration

TEXT = "The committee approved the new bridge. Construction starts in May and ends next year."
# What grpc lets a client send as a header value (printable ASCII and spaces)...
SENDABLE_FORGERIES = [
    "abc operation=summarize text_len=1 outcome=hit:memory latency_ms=0.01",  # fake fields after a space
    'abc" injected="1',
    "x" * 7000,  # a 7 KB line
]
# ... and what other transports (the gateway's HTTP/1.1) might pass on.
FORGED = [*SENDABLE_FORGERIES, "tab\there", "line\nbreak", "ünïcode"]


@pytest.mark.parametrize("value", ["req-42", "7f9c2ba4-e88f-4b1c-9c5e-0a1b2c3d4e5f", "svc/orders:1234", "a" * 128])
def test_ordinary_request_ids_are_kept(value: str) -> None:
    assert safe_request_id(value) == value


@pytest.mark.parametrize("value", [*FORGED, "", "a" * (MAX_REQUEST_ID_CHARS + 1)])
def test_unsafe_request_ids_are_refused(value: str) -> None:
    assert safe_request_id(value) is None


async def test_a_forged_request_id_cannot_write_log_fields(start_server, caplog) -> None:
    server = await start_server()
    caplog.set_level(logging.INFO, logger="aitext.requests")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.TextServiceStub(channel)
        for value in [*SENDABLE_FORGERIES, "req-42"]:
            request = pb.ProcessRequest(text=TEXT, operation=pb.OPERATION_SENTIMENT)
            await stub.Process(request, metadata=(("x-request-id", value),))
    lines = [r.getMessage() for r in caplog.records if r.name == "aitext.requests"]
    assert len(lines) == len(SENDABLE_FORGERIES) + 1
    ids = [line.split()[0].removeprefix("request_id=") for line in lines]
    assert ids[-1] == "req-42"
    for line, request_id in zip(lines[:-1], ids[:-1]):
        # Replaced by a fresh 16-hex id; the line has exactly the fields the service writes.
        assert len(request_id) == 16 and int(request_id, 16) >= 0, line
        assert [field.split("=")[0] for field in line.split()] == [
            "request_id",
            "operation",
            "text_len",
            "outcome",
            "latency_ms",
        ]
        assert len(line) < 200


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("metrics_host", [None, "127.0.0.2"])
def test_metrics_listen_on_the_configured_host_only(server_process_factory, metrics_host: str | None) -> None:
    port = free_port()
    env = {"AITEXT_HOST": "127.0.0.1", "AITEXT_METRICS_PORT": str(port)}
    if metrics_host is not None:
        env["AITEXT_METRICS_HOST"] = metrics_host
    server_process_factory(env=env)
    expected = metrics_host or "127.0.0.1"
    # Every 127.x address reaches loopback: a listener on 0.0.0.0 would accept on all of them.
    other = "127.0.0.3"
    with urllib.request.urlopen(f"http://{expected}:{port}/metrics", timeout=5) as response:
        assert b"aitext_calls_refused_total" in response.read()
    assert not _accepts(other, port)
    if metrics_host is not None:
        assert not _accepts("127.0.0.1", port)
