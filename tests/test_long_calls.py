"""A call as long as its deadline allows, over every hop: a model that takes 150 s answers
through the gateway (gRPC, gRPC-Web, REST) and directly, while other calls share the connections.

Before the keepalive settings agreed (README, "Keepalive"), the gateway's HTTP/2 pings every
15 s broke the server's ping policy (one ping per 5 minutes on a connection without data, two
strikes), so the server dropped the connection at +60 s: `UNAVAILABLE: Too many pings` over gRPC,
an empty answer over REST. A sent message resets the strikes, so the other calls are made at
the start and in the last stretch only, leaving a silent window longer than any ping policy
could forgive: 120 s, where a client pinging every 30 s is dropped under the old policy.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import grpc
import httpx
import pytest
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc

from tests.fixtures.fake_provider import CANNED, MODEL, FakeProvider
from tests.fixtures.gateway import GRPCWEB_CLIENT, GatewayProcess
from tests.fixtures.server import ServerProcess

pytestmark = pytest.mark.e2e

MODEL_SECONDS = 150.0
DEADLINE_SECONDS = MODEL_SECONDS + 60
SILENT_SECONDS = 125.0  # no other call on the connections from about +5 s to here
# What README's keepalive section asks of gRPC clients: a ping after 30 s without frames.
CLIENT_KEEPALIVE = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]
QUICK = pb.ProcessRequest(text="The parcel came a week late and the box was crushed.", operation=pb.OPERATION_SENTIMENT)
QUICK_JSON = {"text": QUICK.text, "operation": "OPERATION_SENTIMENT"}
SUMMARY = CANNED["submit_summary"]["summary"]


def long_request(path: str) -> pb.ProcessRequest:
    """A summarize request of its own per path, so each misses the cache and waits for the model."""
    text = f"A long report sent {path}. It goes on for pages about the harbour, the ships and the weather."
    return pb.ProcessRequest(text=text, operation=pb.OPERATION_SUMMARIZE)


def grpcweb(base_url: str, request: dict, timeout: float) -> dict:
    """One gRPC-Web call with the deadline in grpc-timeout (the fixture's client, with a longer wait)."""
    done = subprocess.run(
        ["node", str(GRPCWEB_CLIENT / "call.mjs"), base_url, "Process", f"grpc-timeout:{int(timeout)}S"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        check=True,
    )
    [message] = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return message


def test_a_150_s_call_answers_over_every_hop_while_other_calls_keep_working(
    fake_provider: FakeProvider,
    server_process_factory: Callable[..., ServerProcess],
    gateway_factory: Callable[..., GatewayProcess],
    grpcweb_call: Callable[..., list[dict]],
) -> None:
    server = server_process_factory(
        env={
            "AITEXT_MODEL": f"openai:{MODEL}",
            "AITEXT_OPENAI_BASE_URL": fake_provider.base_url,
            "AITEXT_OPENAI_API_KEY": "test-key",
            "AITEXT_PROVIDER_TIMEOUT_SECONDS": str(DEADLINE_SECONDS),
            "AITEXT_PROVIDER_RETRIES": "0",
        }
    )
    gateway = gateway_factory([server.address])
    direct = grpc.insecure_channel(server.address, options=CLIENT_KEEPALIVE)
    through_gateway = grpc.insecure_channel(gateway.address, options=CLIENT_KEEPALIVE)
    rest = httpx.Client(base_url=gateway.url, timeout=DEADLINE_SECONDS)
    stubs = {"direct": pb_grpc.TextServiceStub(direct), "gateway": pb_grpc.TextServiceStub(through_gateway)}

    def quick_calls_answer() -> None:
        """A cached Process on each protocol and connection, answered at once."""
        for name, stub in stubs.items():
            reply = stub.Process(QUICK, timeout=10)
            assert reply.cache.hit, name
        [web] = grpcweb_call(gateway.url, "Process", QUICK_JSON)
        assert web["cache"]["hit"], web
        answer = rest.post("/v1/process", json=QUICK_JSON, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["cache"]["hit"]

    stubs["direct"].Process(QUICK, timeout=30)  # cached from here on: it never waits for the model
    fake_provider.latency_seconds = MODEL_SECONDS

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        calls: dict[str, Future[str]] = {
            "direct gRPC": pool.submit(
                lambda: stubs["direct"].Process(long_request("direct"), timeout=DEADLINE_SECONDS).summary
            ),
            "gateway gRPC": pool.submit(
                lambda: stubs["gateway"].Process(long_request("over gRPC"), timeout=DEADLINE_SECONDS).summary
            ),
            "gateway gRPC-Web": pool.submit(
                lambda: grpcweb(
                    gateway.url,
                    {"text": long_request("over gRPC-Web").text, "operation": "OPERATION_SUMMARIZE"},
                    DEADLINE_SECONDS,
                )["summary"]
            ),
            "gateway REST": pool.submit(
                lambda: rest.post(
                    "/v1/process",
                    json={"text": long_request("over REST").text, "operation": "OPERATION_SUMMARIZE"},
                ).json()["summary"]
            ),
        }
        while fake_provider.attempts < 5:  # the four long calls reached the model
            assert time.monotonic() - started < 60, f"the long calls did not reach the model: {calls}"
            time.sleep(0.2)
        quick_calls_answer()
        rounds_late = 0
        time.sleep(max(0.0, SILENT_SECONDS - (time.monotonic() - started)))
        while not all(call.done() for call in calls.values()):
            quick_calls_answer()
            rounds_late += 1
            time.sleep(5)
        answers = {name: call.exception() or call.result() for name, call in calls.items()}
    elapsed = time.monotonic() - started

    assert answers == dict.fromkeys(calls, SUMMARY), gateway.log()[-3000:]
    assert elapsed >= MODEL_SECONDS  # the calls did wait for the model
    assert rounds_late >= 2  # other calls went on the same connections late in the long ones
    assert fake_provider.attempts == 5  # one warm-up, four long calls: nothing was retried
    assert all(row["failures"] == 0 for row in gateway.backends().values()), gateway.backends()
    direct.close()
    through_gateway.close()
    rest.close()
