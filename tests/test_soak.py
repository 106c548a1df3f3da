"""A bounded soak: mixed traffic while Redis dies and returns twice and a worker restarts."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter

import grpc
import pytest
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc

pytestmark = pytest.mark.e2e

TOTAL = 900
# Process is idempotent, so the clients retry what a restarting worker never ran. grpc core ends the
# calls it had queued but not yet handed to a handler when shutdown began as CANCELLED instead of
# UNAVAILABLE (grpc/grpc#41785), so both codes are retried. Nothing else is.
RETRY_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{"service": "aitext.v1.TextService"}],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE", "CANCELLED"],
                },
            }
        ]
    }
)
CLIENTS = 4
TOPICS = ["harbour", "orchard", "glacier", "library", "railway", "vineyard", "observatory", "bakery"]
MOODS = ["was a delight and the staff were wonderful", "was a disappointment and the service was rude"]


def request_number(n: int) -> pb.ProcessRequest:
    """A deterministic mix: 80 distinct requests over 5 operations, so hits and misses both happen."""
    topic, mood = TOPICS[n % len(TOPICS)], MOODS[(n // len(TOPICS)) % 2]
    text = (
        f"The {topic} tour {mood}. We arrived at the {topic} early in the morning. "
        f"Our guide explained how the {topic} was built a century ago. Would we return? Perhaps next year."
    )
    operation = [
        pb.OPERATION_SUMMARIZE,
        pb.OPERATION_SENTIMENT,
        pb.OPERATION_KEY_POINTS,
        pb.OPERATION_QUESTIONS,
        pb.OPERATION_QA,
    ][n % 5]
    return pb.ProcessRequest(
        text=text,
        operation=operation,
        question=f"When did we arrive at the {topic}?" if operation == pb.OPERATION_QA else "",
    )


def worker_pids(supervisor_pid: int) -> list[int]:
    children = subprocess.run(
        ["pgrep", "-P", str(supervisor_pid), "-f", "multiprocessing.spawn"], capture_output=True, text=True
    )
    return [int(pid) for pid in children.stdout.split()]


@pytest.mark.slow
def test_soak_with_redis_restarts_and_a_worker_restart(server_process_factory, own_redis):
    served = server_process_factory(
        workers=2,
        # Rate limits are tested elsewhere; here they would only refuse the soak's own traffic.
        env={"AITEXT_REDIS_URL": own_redis.url, "AITEXT_GRACE_SECONDS": "15", "AITEXT_RATE_LIMIT_PER_SECOND": "0"},
    )
    sent = Counter()
    answers: dict[bytes, list[bytes]] = {}
    failures: list[str] = []
    progress = [0]
    lock = threading.Lock()

    def client(offset: int) -> None:
        with grpc.insecure_channel(served.address, options=[("grpc.service_config", RETRY_CONFIG)]) as channel:
            stub = pb_grpc.TextServiceStub(channel)
            for n in range(offset, TOTAL, CLIENTS):
                request = request_number(n)
                identity = request.SerializeToString()
                with lock:
                    sent[identity] += 1
                try:
                    response = stub.Process(request, timeout=30)
                except grpc.RpcError as error:
                    with lock:
                        failures.append(f"request {n}: {error.code().name} {error.details()}")
                else:
                    result = getattr(response, response.WhichOneof("result"))
                    payload = result.SerializeToString() if hasattr(result, "SerializeToString") else result.encode()
                    with lock:
                        answers.setdefault(identity, []).append(payload)
                with lock:
                    progress[0] += 1

    def wait_for(fraction: float) -> None:
        deadline = time.monotonic() + 120
        while progress[0] < TOTAL * fraction and time.monotonic() < deadline:
            time.sleep(0.01)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()

    wait_for(0.15)
    own_redis.kill()
    wait_for(0.30)
    own_redis.start()
    wait_for(0.45)
    workers_before = worker_pids(served.process.pid)
    assert len(workers_before) == 2, workers_before
    subprocess.run(["kill", "-TERM", str(workers_before[0])], check=True)  # drained, then replaced by the supervisor
    wait_for(0.60)
    own_redis.kill()
    wait_for(0.75)
    own_redis.start()

    for thread in threads:
        thread.join(180)
    assert not failures, failures[:10]
    answered = sum(len(v) for v in answers.values())
    assert sum(sent.values()) == TOTAL == answered
    # Every copy of the same request got the same answer, whichever tier or worker served it.
    assert len(answers) == 80
    for identity, payloads in answers.items():
        assert len(set(payloads)) == 1, f"{pb.ProcessRequest.FromString(identity)} got different answers"

    # The drained worker exits once its last call is done (within the grace period); the supervisor replaces it.
    deadline = time.monotonic() + 30
    while True:
        workers_after = worker_pids(served.process.pid)
        if len(workers_after) == 2 and workers_before[0] not in workers_after:
            break
        assert time.monotonic() < deadline, (workers_before, workers_after)
        time.sleep(0.1)
    assert served.terminate() == 0
