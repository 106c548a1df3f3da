"""Faults against real processes: a supervisor killed outright, Redis dying under an idle worker."""

from __future__ import annotations

import asyncio
import signal
import time

import grpc
import psutil
import pytest
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.fixtures.redis import RedisProcess

pytestmark = pytest.mark.integration

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# Long enough that the worker computes it in its offload pool, so the pool's processes exist too.
LONG_TEXT = " ".join(f"Sentence number {i} talks about bridges, rivers and the towns beside them." for i in range(200))


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_workers_and_their_pools_exit_when_the_supervisor_is_killed(server_process_factory):
    served = server_process_factory(workers=2)
    supervisor = psutil.Process(served.process.pid)
    with grpc.insecure_channel(served.address) as channel:
        stub = pb_grpc.TextServiceStub(channel)
        stub.Process(pb.ProcessRequest(text=LONG_TEXT, operation=pb.OPERATION_SUMMARIZE), timeout=60)
    descendants = supervisor.children(recursive=True)
    workers = [p for p in supervisor.children() if "multiprocessing.spawn" in " ".join(p.cmdline())]
    assert len(workers) >= 2, [p.cmdline() for p in descendants]
    pool = [p for p in descendants if p.ppid() in {w.pid for w in workers}]
    assert pool, "the long text should have started an offload pool in the worker that took it"

    supervisor.send_signal(signal.SIGKILL)
    served.process.wait(10)
    deadline = time.monotonic() + 2
    while any(_alive(p) for p in descendants) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [(p.pid, p.cmdline()) for p in descendants if _alive(p)]
    assert not survivors, f"still running 2 s after the supervisor died: {survivors}"


async def _watch(address: str, updates: list[tuple[float, int]], stop: asyncio.Event) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service="aitext.cache"))
        reader = asyncio.ensure_future(_read_updates(call, updates))
        await stop.wait()
        call.cancel()
        await asyncio.gather(reader, return_exceptions=True)


async def _read_updates(call, updates: list[tuple[float, int]]) -> None:
    async for update in call:
        updates.append((time.monotonic(), update.status))


async def _until(condition, seconds: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"{what} not within {seconds} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_an_idle_worker_reports_redis_down_within_2_s_and_up_once(
    server_process_factory, own_redis: RedisProcess
):
    served = server_process_factory(env={"AITEXT_REDIS_URL": own_redis.url})
    updates: list[tuple[float, int]] = []
    stop = asyncio.Event()
    watcher = asyncio.ensure_future(_watch(served.address, updates, stop))
    try:
        await _until(lambda: [s for _, s in updates] == [SERVING], 10, "the first SERVING")

        own_redis.kill()  # no request reaches this worker: only its own probing can notice
        killed = time.monotonic()
        await _until(lambda: len(updates) == 2, 5, "a health change after Redis died")
        assert updates[1][1] == NOT_SERVING
        assert updates[1][0] - killed < 2, f"NOT_SERVING after {updates[1][0] - killed:.2f} s"

        own_redis.start()
        await _until(lambda: len(updates) == 3, 10, "SERVING after Redis came back")
        await asyncio.sleep(5)  # a flapping reconnection would show here
        assert [s for _, s in updates] == [SERVING, NOT_SERVING, SERVING]
    finally:
        stop.set()
        await watcher
    log = served.log()
    assert log.count("L2 back in use") == 1, log
