"""Server reflection as the standard tools use it: grpcurl and ghz against a running `aitext serve`."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from aitext.reflection import add_v1_descriptor
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from tests.fixtures.server import ServerProcess, spawn_server

pytestmark = pytest.mark.integration


def go_tool(name: str, module: str) -> str:
    """A Go tool from PATH or GOBIN; missing, the test fails (scripts/install-system-deps.sh installs it)."""
    for candidate in (shutil.which(name), Path.home() / "go/bin" / name):
        if candidate and Path(candidate).exists():
            return str(candidate)
    pytest.fail(f"{name} is not installed: run scripts/install-system-deps.sh (go install {module})")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = spawn_server(tmp_path_factory.mktemp("reflection"))
    yield server
    server.terminate()


def grpcurl(served: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    tool = go_tool("grpcurl", "github.com/fullstorydev/grpcurl/cmd/grpcurl")
    return subprocess.run(
        [tool, "-plaintext", served.address, *args], capture_output=True, text=True, timeout=30, check=False
    )


def test_grpcurl_lists_both_reflection_versions(served: ServerProcess) -> None:
    listed = grpcurl(served, "list")
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) == {
        "aitext.v1.TextService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    # Tools such as grpcui describe every listed service, the reflection services too.
    for service in ("grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"):
        described = grpcurl(served, "describe", service)
        assert described.returncode == 0, described.stderr
        assert "rpc ServerReflectionInfo" in described.stdout


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        (
            "aitext.v1.TextService.Process",
            "rpc Process ( .aitext.v1.ProcessRequest ) returns ( .aitext.v1.ProcessResponse )",
        ),
        ("aitext.v1.TextService.ProcessStream", "returns ( stream .aitext.v1.ProcessStreamResponse )"),
        ("grpc.health.v1.Health.Check", "rpc Check ( .grpc.health.v1.HealthCheckRequest )"),
        ("aitext.v1.ProcessRequest.text", "string text = 1;"),
        ("aitext.v1.OPERATION_SUMMARIZE", "OPERATION_SUMMARIZE = 1;"),
    ],
)
def test_grpcurl_describes_methods_and_members(served: ServerProcess, symbol: str, expected: str) -> None:
    described = grpcurl(served, "describe", symbol)
    assert described.returncode == 0, described.stderr
    assert expected in described.stdout


def test_grpcurl_reports_an_unknown_method_as_not_found(served: ServerProcess) -> None:
    described = grpcurl(served, "describe", "aitext.v1.TextService.Nope")
    assert described.returncode != 0
    assert "Symbol not found: aitext.v1.TextService.Nope" in described.stderr


def test_ghz_calls_process_by_reflection(served: ServerProcess) -> None:
    tool = go_tool("ghz", "github.com/bojand/ghz/cmd/ghz")
    request = {"text": "The delivery was late and the box was crushed.", "operation": "OPERATION_SENTIMENT"}
    call = ["--call", "aitext.v1.TextService/Process", "-d", json.dumps(request), "-n", "20", "-c", "2"]
    run = subprocess.run(
        [tool, "--insecure", *call, "--format", "json", served.address],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["count"] == 20
    assert report["statusCodeDistribution"] == {"OK": 20}, report.get("errorDistribution")


def test_v1_answers_with_its_own_messages(served: ServerProcess) -> None:
    """A client built from grpc/reflection/v1/reflection.proto's descriptor gets v1 answers."""
    pool = descriptor_pool.Default()
    add_v1_descriptor(pool)

    request_class = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("grpc.reflection.v1.ServerReflectionRequest")
    )
    response_class = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("grpc.reflection.v1.ServerReflectionResponse")
    )
    requests = [
        request_class(list_services=""),
        request_class(file_containing_symbol="aitext.v1.TextService.Process"),
        request_class(file_containing_symbol="aitext.v1.Nope"),
    ]
    with grpc.insecure_channel(served.address) as channel:
        info = channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_class.FromString,
        )
        listed, found, missing = list(info(iter(requests), timeout=10))
    assert "grpc.reflection.v1.ServerReflection" in [s.name for s in listed.list_services_response.service]
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(b) for b in found.file_descriptor_response.file_descriptor_proto
    ]
    assert files[0].name == "aitext/v1/aitext.proto"
    assert "google/api/annotations.proto" in {f.name for f in files}  # with its dependencies
    assert found.original_request.file_containing_symbol == "aitext.v1.TextService.Process"
    assert missing.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
