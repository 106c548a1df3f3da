"""The real gateway in front of a real `aitext serve --workers 2` under hostile traffic (issue 14).

Every malformed request (REST, Connect, gRPC-Web, gRPC frames) is refused as the client's mistake,
answered in under a second with its body ended; `Upgrade: h2c` requests leave keyed callers
unharmed; and a worker killed with SIGKILL costs at most the calls in flight on it, while the gateway
never answers "no healthy backend". The server's own answers to malformed frames sent to it directly
are tested with the server.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import pytest
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc

from tests.fixtures.gateway import GatewayProcess, spawn_gateway
from tests.fixtures.server import ServerProcess, spawn_server
from tests.protowire import process_request

pytestmark = pytest.mark.e2e

KEY = "hostile-test-key"
KEYED_ENV = {"AITEXT_ALLOW_UNAUTHENTICATED": "false", "AITEXT_API_KEYS": KEY}
REQUEST = pb.ProcessRequest(text="A short text to summarize. It has two sentences.", operation=pb.OPERATION_SUMMARIZE)
# A well-formed ProcessRequest message (text "x"), for frames that are wrong around it.
MESSAGE = process_request(b"x", pb.OPERATION_SUMMARIZE)
NO_HEALTHY_BACKEND = "no healthy backend"


def frame(message: bytes, flags: int = 0) -> bytes:
    """One gRPC / gRPC-Web / Connect-streaming message: flags, big-endian length, bytes."""
    return struct.pack(">BI", flags, len(message)) + message


@dataclass
class Stack:
    server: ServerProcess
    gateway: GatewayProcess


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, gateway_binary: Path) -> Iterator[Stack]:
    """One keyed `aitext serve --workers 2` and the gateway in front of it, shared by the table's rows."""
    tmp = tmp_path_factory.mktemp("hostile")
    server = spawn_server(tmp, workers=2, env=KEYED_ENV)
    try:
        gateway = spawn_gateway(gateway_binary, tmp, [server.address])
        try:
            gateway.wait_until(lambda backends: all(row["healthy"] for row in backends.values()))
            yield Stack(server, gateway)
        finally:
            stop(gateway.process)
    finally:
        stop(server.process)


@dataclass(frozen=True)
class Case:
    """One malformed request. `kind` says how the answer is read: rest (HTTP status), connect
    (unary: HTTP status), connect-stream (end-of-stream message), grpc-web, grpc (sent over h2c)."""

    name: str
    kind: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


def rest(name: str, body: str | bytes, path: str = "/v1/process") -> Case:
    raw = body.encode() if isinstance(body, str) else body
    return Case(f"rest: {name}", "rest", path, raw, {"content-type": "application/json"})


def grpc_web(name: str, body: bytes, **headers: str) -> Case:
    return Case(
        f"grpc-web: {name}",
        "grpc-web",
        "/aitext.v1.TextService/Process",
        body,
        {"content-type": "application/grpc-web+proto", **headers},
    )


def native(name: str, body: bytes, **headers: str) -> Case:
    return Case(
        f"grpc: {name}",
        "grpc",
        "/aitext.v1.TextService/Process",
        body,
        {"content-type": "application/grpc", "te": "trailers", **headers},
    )


CASES = [
    rest("invalid JSON", '{"text":}'),
    rest("truncated JSON", '{"text":"a'),
    rest("null", "null"),
    rest("an array", '[{"text":"a"}]'),
    rest("trailing garbage", '{"text":"a"}xyz'),
    rest("100k-deep nesting", '{"x":' + "[" * 100_000 + "]" * 100_000 + "}"),
    rest("duplicate key", '{"text":"a","text":"b"}'),
    rest("int32 overflow in maxLength", '{"text":"a","summarizeOptions":{"maxLength":2147483648}}'),
    rest("1.5 in maxLength", '{"text":"a","summarizeOptions":{"maxLength":1.5}}'),
    rest("-1 in ttlSeconds", '{"text":"a","cacheControl":{"ttlSeconds":-1}}'),
    rest("escaped lone surrogate", r'{"text":"\ud800"}'),
    rest("raw invalid UTF-8", b'{"text":"a\xff\xfe"}'),
    rest("raw NUL byte", b'{"text":"a\x00b"}'),
    rest("unknown query parameter", '{"text":"a"}', path="/v1/process?x=1"),
    Case("rest: unknown query parameter on GET, no key", "rest", "/v1/operations?x=1", method="GET"),
    Case(
        "rest: corrupt gzip",
        "rest",
        "/v1/process",
        b"not gzip",
        {"content-type": "application/json", "content-encoding": "gzip"},
    ),
    Case(
        "connect: invalid JSON",
        "connect",
        "/aitext.v1.TextService/Process",
        b'{"text":',
        {"content-type": "application/json", "connect-protocol-version": "1"},
    ),
    Case(
        "connect: corrupt gzip",
        "connect",
        "/aitext.v1.TextService/Process",
        b"not gzip",
        {"content-type": "application/proto", "content-encoding": "gzip", "connect-protocol-version": "1"},
    ),
    Case(
        "connect-stream: empty",
        "connect-stream",
        "/aitext.v1.TextService/ProcessBatch",
        b"",
        {"content-type": "application/connect+proto"},
    ),
    Case(
        "connect-stream: truncated frame",
        "connect-stream",
        "/aitext.v1.TextService/ProcessBatch",
        frame(MESSAGE)[:7],
        {"content-type": "application/connect+proto"},
    ),
    grpc_web("empty body", b""),
    grpc_web("3-byte body", b"\x00\x00\x00"),
    grpc_web("truncated frame", frame(MESSAGE)[:7]),
    grpc_web("two messages in a unary call", frame(MESSAGE) + frame(MESSAGE)),
    grpc_web("compressed flag without grpc-encoding", frame(MESSAGE, flags=1)),
    grpc_web("corrupt gzip", frame(b"not gzip", flags=1), **{"grpc-encoding": "gzip"}),
    native("empty body", b""),
    native("3-byte body", b"\x00\x00\x00"),
    native("truncated frame", frame(MESSAGE)[:7]),
    native("two messages in a unary call", frame(MESSAGE) + frame(MESSAGE)),
    native("compressed flag without grpc-encoding", frame(MESSAGE, flags=1)),
    native("corrupt gzip", frame(b"not gzip", flags=1), **{"grpc-encoding": "gzip"}),
]


def grpc_web_status(headers: httpx.Headers, body: bytes) -> str | None:
    """grpc-status from the headers (trailers-only) or from the body's trailer frame (flag 0x80)."""
    if "grpc-status" in headers:
        return headers["grpc-status"]
    offset = 0
    while offset + 5 <= len(body):
        flags, length = struct.unpack(">BI", body[offset : offset + 5])
        payload = body[offset + 5 : offset + 5 + length]
        if flags & 0x80:
            match = re.search(rb"grpc-status:\s*(\d+)", payload, re.IGNORECASE)
            return match.group(1).decode() if match else None
        offset += 5 + length
    return None


CURL_TIME = "\ncurl-time-total: %{time_total}\n"


def curl_h2c(url: str, body: bytes, headers: dict[str, str], *extra: str) -> tuple[str, float]:
    """Sends one request over cleartext HTTP/2 with curl: its headers and trailers as text, and the
    seconds curl measured from connecting to the last byte (not counting curl's own start-up)."""
    if shutil.which("curl") is None:
        pytest.fail("curl is required to send raw HTTP/2 frames")
    command = ["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-D", "-", "--data-binary", "@-"]
    command += ["-w", CURL_TIME, *extra]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], input=body, capture_output=True, timeout=30, check=True).stdout.decode()
    head, _, seconds = out.rpartition("curl-time-total: ")
    return head, float(seconds)


def send(gateway: GatewayProcess, case: Case) -> tuple[str, float]:
    """Sends the case with a valid key: why its answer is not a refusal ("" if it is), and how long it took."""
    headers = {"x-api-key": KEY, **case.headers} if "no key" not in case.name else dict(case.headers)
    url = gateway.url + case.path
    if case.kind == "grpc":
        text, seconds = curl_h2c(url, case.body, headers)
        statuses = set(re.findall(r"^grpc-status:\s*(\d+)", text, re.M | re.I))
        return ("" if statuses == {"3"} else f"grpc-status {statuses or 'missing'}"), seconds
    started = time.monotonic()
    response = httpx.request(case.method, url, content=case.body or None, headers=headers, timeout=30)
    seconds = time.monotonic() - started
    body = response.content
    if case.kind in ("rest", "connect"):
        return ("" if 400 <= response.status_code < 500 else f"HTTP {response.status_code}: {body[:300]!r}"), seconds
    if case.kind == "grpc-web":
        status = grpc_web_status(response.headers, body)
        return ("" if status == "3" else f"grpc-status {status}: {body[:300]!r}"), seconds
    # connect-stream: the last frame (flag 0x02) is {"error": {"code": ...}}.
    ok = response.status_code == 200 and b'"code":"invalid_argument"' in body
    return ("" if ok else f"HTTP {response.status_code}: {body[:300]!r}"), seconds


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_malformed_input_is_refused_as_the_clients_mistake_in_under_a_second(stack: Stack, case: Case) -> None:
    problem, elapsed = send(stack.gateway, case)
    assert not problem, problem
    assert elapsed < 1.0, f"answered in {elapsed:.2f} s"
    # The gateway still answers a good call at once.
    good = httpx.post(
        f"{stack.gateway.url}/v1/process",
        json={"text": "Still here.", "operation": "OPERATION_SENTIMENT"},
        headers={"x-api-key": KEY},
        timeout=5,
    )
    assert good.status_code == 200, good.text


def test_malformed_input_never_counted_against_the_backend(stack: Stack) -> None:
    for case in CASES:
        send(stack.gateway, case)
    [row] = stack.gateway.backends().values()
    assert row["healthy"] and row["failures"] == 0, row
    with grpc.insecure_channel(stack.server.address) as channel:  # and the server itself answers
        assert pb_grpc.TextServiceStub(channel).Process(REQUEST, metadata=[("x-api-key", KEY)], timeout=10).summary


def test_x_api_key_with_trailing_spaces_is_the_same_key_over_http1_and_http2(stack: Stack) -> None:
    body = json.dumps({"text": "Spaces.", "operation": "OPERATION_SENTIMENT"}).encode()
    headers = {"content-type": "application/json", "x-api-key": f"{KEY}  "}
    url = f"{stack.gateway.url}/v1/process"
    over_http2, _ = curl_h2c(url, body, headers)
    connection = http.client.HTTPConnection(stack.gateway.address, timeout=10)  # sends the value as is
    connection.request("POST", "/v1/process", body=body, headers=headers)
    over_http1 = connection.getresponse().status
    connection.close()
    assert over_http1 == 200
    assert over_http2.startswith("HTTP/2 200"), over_http2


def upgrade_request(address: str) -> int:
    """What `curl --http2` sends over cleartext HTTP/1.1: a keyed REST call asking to upgrade to h2c."""
    connection = http.client.HTTPConnection(address, timeout=10)
    body = json.dumps({"text": "Upgrade me.", "operation": "OPERATION_SENTIMENT"})
    connection.request(
        "POST",
        "/v1/process",
        body=body,
        headers={
            "Connection": "Upgrade, HTTP2-Settings",
            "Upgrade": "h2c",
            "HTTP2-Settings": "AAMAAABkAARAAAAAAAIAAAAA",
            "Content-Type": "application/json",
            "x-api-key": KEY,
        },
    )
    status = connection.getresponse().status
    connection.close()
    return status


def run_for(seconds: float, per_second: float, action: Callable[[], object]) -> threading.Thread:
    """Runs action `per_second` times a second for `seconds` in a thread."""

    def loop() -> None:
        start = time.monotonic()
        for i in range(round(seconds * per_second)):
            time.sleep(max(0.0, start + i / per_second - time.monotonic()))
            action()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def test_upgrade_h2c_requests_leave_keyed_calls_unharmed(stack: Stack) -> None:
    upgrade_statuses: list[int] = []
    upgrades = run_for(10, 10, lambda: upgrade_statuses.append(upgrade_request(stack.gateway.address)))
    errors: list[str] = []
    with grpc.insecure_channel(stack.gateway.address) as channel:
        stub = pb_grpc.TextServiceStub(channel)

        def call() -> None:
            try:
                stub.Process(REQUEST, metadata=[("x-api-key", KEY)], timeout=10)
            except grpc.RpcError as error:
                errors.append(f"{error.code()}: {error.details()}")

        run_for(10, 20, call).join()
    upgrades.join()
    assert not errors, errors[:5]
    assert len(upgrade_statuses) == 100
    assert set(upgrade_statuses) == {200}  # answered over HTTP/1.1
    [row] = stack.gateway.backends().values()
    assert row["failures"] == 0, row


def worker_pids(server: ServerProcess) -> list[int]:
    deadline = time.monotonic() + 10
    while len(pids := re.findall(r"aitext worker (\d+) listening", server.log())) < 2:
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)
    return [int(pid) for pid in pids]


def test_sigkill_of_one_worker_costs_only_its_calls_in_flight(
    server_process_factory: Callable[..., ServerProcess], gateway_factory: Callable[..., GatewayProcess]
) -> None:
    # No rate limit, and calls that compute (skip_read): many calls are in flight when the worker dies.
    server = server_process_factory(workers=2, env={**KEYED_ENV, "AITEXT_RATE_LIMIT_PER_SECOND": "0"})
    gateway = gateway_factory([server.address])
    gateway.wait_until(lambda backends: all(row["healthy"] for row in backends.values()))
    victim = worker_pids(server)[0]
    request = pb.ProcessRequest(
        text=" ".join([REQUEST.text] * 40),
        operation=pb.OPERATION_SUMMARIZE,
        cache_control=pb.CacheControl(skip_read=True, skip_write=True),
    )

    callers = 8
    killed = threading.Event()
    stop_at = time.monotonic() + 5
    lock = threading.Lock()
    errors: list[str] = []
    answered_after_kill = 0

    def caller() -> None:
        nonlocal answered_after_kill
        with grpc.insecure_channel(gateway.address) as channel:
            stub = pb_grpc.TextServiceStub(channel)
            while time.monotonic() < stop_at:
                try:
                    stub.Process(request, metadata=[("x-api-key", KEY)], timeout=10)
                    with lock:
                        answered_after_kill += killed.is_set()
                except grpc.RpcError as error:
                    with lock:
                        errors.append(f"{error.code()}: {error.details()}")

    threads = [threading.Thread(target=caller, daemon=True) for _ in range(callers)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    os.kill(victim, signal.SIGKILL)
    killed.set()
    healthz: list[int] = []
    while time.monotonic() < stop_at:
        healthz.append(httpx.get(f"{gateway.url}/healthz", timeout=5).status_code)
        time.sleep(0.1)
    for thread in threads:
        thread.join()
    [row] = gateway.backends().values()
    # SIGTERM, so the supervisor stops its workers (the fixture's SIGKILL would orphan them).
    server.terminate()

    assert not [e for e in errors if NO_HEALTHY_BACKEND in e], errors[:10]
    assert len(errors) <= callers, f"{len(errors)} calls failed, more than were in flight: {errors[:10]}"
    assert answered_after_kill > 20
    assert set(healthz) == {200}
    assert row["healthy"], row
