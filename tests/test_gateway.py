"""The Go gateway in front of real `aitext serve` processes: one result over gRPC, gRPC-Web and
REST, the same UNAUTHENTICATED mapping on each without an API key, traffic that survives a
backend being killed and comes back to it when it returns, and connections spread over the workers.
"""

from __future__ import annotations

import json
import time

import grpc
import httpx
import psutil
import pytest
from aitext.config import Settings
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

pytestmark = pytest.mark.e2e

TEXT = (
    "The gateway forwards every call to one of the servers. It speaks gRPC, gRPC-Web and REST. "
    "Browsers use gRPC-Web, scripts use REST, and services use gRPC. All three reach the same servicer."
)
# skip_read: every path computes afresh, so the cache info is the same (a miss) on all three.
REQUEST = pb.ProcessRequest(
    text=TEXT,
    operation=pb.OPERATION_KEY_POINTS,
    key_points_options=pb.KeyPointsOptions(max_points=3),
    cache_control=pb.CacheControl(skip_read=True),
)


def comparable(response: pb.ProcessResponse) -> pb.ProcessResponse:
    response.ClearField("processing_time_ms")
    return response


def parse(message: dict, cls=pb.ProcessResponse):
    return json_format.ParseDict(message, cls())


def wait_all_healthy(gateway) -> None:
    gateway.wait_until(lambda backends: all(row["healthy"] for row in backends.values()))


def test_process_gives_the_same_result_over_grpc_grpcweb_and_rest(
    server_process_factory, gateway_factory, grpcweb_call
):
    servers = [server_process_factory(), server_process_factory()]
    gateway = gateway_factory([s.address for s in servers])
    wait_all_healthy(gateway)

    with grpc.insecure_channel(gateway.address) as channel:
        native = pb_grpc.TextServiceStub(channel).Process(REQUEST, timeout=30)
    [web] = grpcweb_call(gateway.url, "Process", json_format.MessageToDict(REQUEST))
    rest = httpx.post(f"{gateway.url}/v1/process", json=json_format.MessageToDict(REQUEST), timeout=30)
    assert rest.status_code == 200, rest.text

    assert native.key_points.points, native
    assert comparable(parse(web)) == comparable(native)
    assert comparable(parse(rest.json())) == comparable(native)


@pytest.mark.skipif("allow_unauthenticated" not in Settings.model_fields, reason="the server has no API keys yet")
def test_missing_api_key_is_unauthenticated_on_every_path(server_process_factory, gateway_factory, grpcweb_call):
    key = "gateway-test-key"
    server = server_process_factory(env={"AITEXT_ALLOW_UNAUTHENTICATED": "false", "AITEXT_API_KEYS": key})
    gateway = gateway_factory([server.address])
    wait_all_healthy(gateway)
    request = json_format.MessageToDict(REQUEST)

    with grpc.insecure_channel(gateway.address) as channel:
        stub = pb_grpc.TextServiceStub(channel)
        with pytest.raises(grpc.RpcError) as missing:
            stub.Process(REQUEST, timeout=30)
        assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert stub.Process(REQUEST, timeout=30, metadata=[("x-api-key", key)]).key_points.points

    [web_missing] = grpcweb_call(gateway.url, "Process", request)
    assert web_missing["error"]["code"] == "Unauthenticated"
    [web_ok] = grpcweb_call(gateway.url, "Process", request, {"authorization": f"Bearer {key}"})
    assert web_ok["keyPoints"]["points"]

    rest_missing = httpx.post(f"{gateway.url}/v1/process", json=request, timeout=30)
    assert rest_missing.status_code == 401
    assert rest_missing.json()["code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]
    rest_ok = httpx.post(f"{gateway.url}/v1/process", json=request, headers={"x-api-key": key}, timeout=30)
    assert rest_ok.status_code == 200, rest_ok.text


def test_process_batch_streams_the_same_items_over_grpc_grpcweb_and_rest(
    server_process_factory, gateway_factory, grpcweb_call
):
    gateway = gateway_factory([server_process_factory().address])
    wait_all_healthy(gateway)
    batch = pb.ProcessBatchRequest(
        requests=[REQUEST, pb.ProcessRequest(text=" ", operation=pb.OPERATION_SUMMARIZE), REQUEST]
    )

    def by_index(items: list[pb.ProcessBatchResponse]) -> dict[int, pb.ProcessBatchResponse]:
        for item in items:
            if item.HasField("response"):
                comparable(item.response)
        return {item.index: item for item in items}

    with grpc.insecure_channel(gateway.address) as channel:
        native = by_index(list(pb_grpc.TextServiceStub(channel).ProcessBatch(batch, timeout=30)))
    web = by_index(
        [
            parse(m, pb.ProcessBatchResponse)
            for m in grpcweb_call(gateway.url, "ProcessBatch", json_format.MessageToDict(batch))
        ]
    )
    with httpx.stream(
        "POST", f"{gateway.url}/v1/process:batch", json=json_format.MessageToDict(batch), timeout=30
    ) as rest:
        assert rest.status_code == 200
        lines = [json.loads(line) for line in rest.iter_lines() if line]
    rest_items = by_index([parse(line["result"], pb.ProcessBatchResponse) for line in lines])

    assert sorted(native) == [0, 1, 2]
    assert native[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert web == native
    assert rest_items == native


def test_killed_backend_is_skipped_and_gets_traffic_again_when_it_returns(server_process_factory, gateway_factory):
    a, b = server_process_factory(), server_process_factory()
    gateway = gateway_factory([a.address, b.address], "--health-interval", "250ms")
    wait_all_healthy(gateway)
    request = pb.ProcessRequest(text="Small text.", operation=pb.OPERATION_SENTIMENT)

    with grpc.insecure_channel(gateway.address) as channel:
        stub = pb_grpc.TextServiceStub(channel)
        failures_before_noticed: list[grpc.StatusCode] = []
        noticed: dict[str, dict] | None = None
        after_noticed = 0
        deadline = time.monotonic() + 60
        # A bounded loop: a is killed at call 10; the loop ends 30 calls after the gateway marked it down.
        for call in range(1000):
            assert time.monotonic() < deadline, gateway.backends()
            if call == 10:
                a.process.kill()
                a.process.wait()
            try:
                stub.Process(request, timeout=10)
            except grpc.RpcError as error:
                assert noticed is None, f"a call failed after the gateway marked the backend down: {error}"
                failures_before_noticed.append(error.code())
            if noticed is None and call >= 10 and not gateway.backends()[a.address]["healthy"]:
                noticed = gateway.backends()
            elif noticed is not None:
                after_noticed += 1
                if after_noticed == 30:
                    break
        survivor_only = gateway.backends()
        assert noticed is not None
        assert survivor_only[a.address]["requests"] == noticed[a.address]["requests"]
        assert survivor_only[b.address]["requests"] >= noticed[b.address]["requests"] + 30
        # Failures before the health check noticed are allowed; the pool retries refused connections.
        assert all(code == grpc.StatusCode.UNAVAILABLE for code in failures_before_noticed)

        # a returns on the same port: the health check re-adds it and round-robin sends it half the calls.
        server_process_factory(port=a.port)
        gateway.wait_until(lambda backends: backends[a.address]["healthy"])
        back = gateway.backends()
        for _ in range(20):
            stub.Process(request, timeout=10)
        end = gateway.backends()
    assert end[a.address]["requests"] - back[a.address]["requests"] == 10
    assert end[b.address]["requests"] - back[b.address]["requests"] == 10


def test_connections_are_spread_evenly_over_the_workers_of_a_port(server_process_factory, gateway_factory):
    """Each worker names itself in its health checks' answers; the gateway moves its connections
    until the kernel has put as many on each worker as on the others (gateway/spread.go)."""
    server = server_process_factory(workers=2)
    names = set()
    for _ in range(50):  # a new channel each time, so that the kernel hashes each onto a worker
        with grpc.insecure_channel(server.address) as channel:
            _, call = health_pb2_grpc.HealthStub(channel).Check.with_call(health_pb2.HealthCheckRequest(), timeout=5)
        names.add(dict(call.initial_metadata())["aitext-worker"])
        if len(names) == 2:
            break
    runs = {name.split("/")[0] for name in names}
    assert len(runs) == 1 and {name.split("/", 1)[1] for name in names} == {"0/2", "1/2"}, names

    gateway = gateway_factory([server.address], "--conns-per-backend", "4", "--health-interval", "100ms")
    gateway.wait_until(
        lambda backends: sorted(backends[server.address].get("connections_per_worker", {}).values()) == [2, 2]
    )

    # The kernel agrees: each worker (a child listening on the port) holds two of the four connections
    # (once the connections the gateway moved away from, and this test's health calls, have closed).
    def held() -> list[int]:
        counts = []
        for child in psutil.Process(server.process.pid).children():
            on_port = [c for c in child.net_connections("tcp") if c.laddr.port == server.port]
            if any(c.status == psutil.CONN_LISTEN for c in on_port):
                counts.append(sum(c.status == psutil.CONN_ESTABLISHED for c in on_port))
        return sorted(counts)

    deadline = time.monotonic() + 10
    while held() != [2, 2] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert held() == [2, 2], (held(), gateway.backends())
