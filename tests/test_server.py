"""The server as its users meet it: health, reflection, operations, shutdown, workers, CLI."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import grpc
import pytest
from aitext.operations import OPERATIONS
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.fixtures.server import AITEXT

pytestmark = pytest.mark.integration

ARTICLE = (
    "Lake Baikal in Siberia is the deepest lake on Earth, reaching 1,642 metres. "
    "It holds about a fifth of the world's unfrozen fresh water. "
    "The lake is home to the nerpa, a freshwater seal found nowhere else.\n\n"
    "Scientists study its sediments to reconstruct twenty-five million years of climate. "
    "In winter the surface freezes so thick that trucks drive across it."
)


def grpcurl() -> str:
    for candidate in (shutil.which("grpcurl"), Path.home() / "go/bin/grpcurl"):
        if candidate and Path(candidate).exists():
            return str(candidate)
    pytest.fail("grpcurl is not installed: go install github.com/fullstorydev/grpcurl/cmd/grpcurl@latest")


async def test_health_reports_serving_for_the_service_and_the_cache(server):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "aitext.v1.TextService", "aitext.cache"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, service


def test_grpcurl_lists_services_through_reflection(server_process_factory):
    served = server_process_factory()
    listed = subprocess.run(
        [grpcurl(), "-plaintext", served.address, "list"], capture_output=True, text=True, timeout=30
    )
    assert listed.returncode == 0, listed.stderr
    services = set(listed.stdout.split())
    assert {"aitext.v1.TextService", "grpc.health.v1.Health"} <= services
    assert services & {"grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection"}

    described = subprocess.run(
        [
            grpcurl(),
            "-plaintext",
            "-d",
            json.dumps({"text": ARTICLE, "operation": "OPERATION_SENTIMENT"}),
            served.address,
            "aitext.v1.TextService/Process",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert described.returncode == 0, described.stderr
    assert "sentiment" in json.loads(described.stdout)


async def test_list_operations_describes_every_operation(stub):
    listed = await stub.ListOperations(pb.ListOperationsRequest())
    assert [op.name for op in listed.operations] == [op.name for op in OPERATIONS]
    summarize = listed.operations[0]
    assert summarize.options[0].name == "max_length"
    assert (summarize.options[0].min_value, summarize.options[0].max_value) == (10, 1000)
    assert [op.requires_question for op in listed.operations] == [False, False, False, False, True]
    assert listed.model == "local"
    assert listed.max_text_bytes > 1024 * 1024


def test_cli_process_against_a_running_server(server_process_factory):
    served = server_process_factory()
    summary = subprocess.run(
        [str(AITEXT), "process", "--address", served.address, "--operation", "summarize", "--max-length", "30"],
        input=ARTICLE,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout.strip(), summary.stderr
    assert summary.stdout.strip().split()[0] in ARTICLE

    answer = subprocess.run(
        [
            str(AITEXT),
            "process",
            "--address",
            served.address,
            "-o",
            "qa",
            "--question",
            "How deep is Lake Baikal?",
            "--json",
            "--text",
            ARTICLE,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 0, answer.stderr
    response = json.loads(answer.stdout)
    assert "1,642" in response["answer"]
    assert response["model"] == "local"

    bad = subprocess.run(
        [str(AITEXT), "process", "--address", served.address, "-o", "qa", "--text", ARTICLE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "INVALID_ARGUMENT" in bad.stderr and "question" in bad.stderr


def test_sigterm_lets_in_flight_calls_finish_then_exits(server_process_factory):
    served = server_process_factory(env={"AITEXT_GRACE_SECONDS": "20"})
    big = " ".join([ARTICLE] * 4000)  # long enough that the calls are in flight when SIGTERM lands
    results: list[object] = []

    def call() -> None:
        with grpc.insecure_channel(served.address) as channel:
            stub = pb_grpc.TextServiceStub(channel)
            try:
                results.append(stub.Process(pb.ProcessRequest(text=big, operation=pb.OPERATION_KEY_POINTS), timeout=60))
            except grpc.RpcError as error:
                results.append(error)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    _wait_for_in_flight(served)
    served.process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(60)
    assert served.process.wait(30) == 0
    assert all(isinstance(r, pb.ProcessResponse) for r in results), results

    with grpc.insecure_channel(served.address) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            pb_grpc.TextServiceStub(channel).ListOperations(pb.ListOperationsRequest(), timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def _wait_for_in_flight(served) -> None:
    # The server logs nothing per request at INFO, so wait on the process's CPU: it starts working on the calls.
    import time

    deadline = time.monotonic() + 10
    start = _cpu_ticks(served.process.pid)
    while time.monotonic() < deadline and _cpu_ticks(served.process.pid) - start < 20:
        time.sleep(0.02)


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_two_workers_share_one_port(server_process_factory):
    served = server_process_factory(workers=2)
    for _ in range(20):
        with grpc.insecure_channel(served.address) as channel:
            reply = pb_grpc.TextServiceStub(channel).ListOperations(pb.ListOperationsRequest(), timeout=10)
            assert reply.model == "local"
    listeners = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{served.port}"], capture_output=True, text=True, check=True
    ).stdout
    listening_pids = {part.split("=")[1] for part in listeners.replace(",", " ").split() if part.startswith("pid=")}
    assert len(listening_pids) == 2, listeners
    assert served.terminate() == 0
