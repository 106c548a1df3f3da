"""The grpc.aio server: create_server() builds it, serve() runs it until SIGTERM."""

from __future__ import annotations

import asyncio
import atexit
import gc
import logging
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import grpc
import prometheus_client
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from aitext import offload, tracing
from aitext.admission import AdmissionInterceptor
from aitext.cache import ResponseCache, build_cache
from aitext.config import Settings
from aitext.fleet_stats import FleetStats, make_run_directory, store_for
from aitext.lifeline import end_with_parent
from aitext.pipeline import Pipeline
from aitext.processing.processor import build_processor
from aitext.reflection import enable_server_reflection
from aitext.security.setup import build_access, server_credentials
from aitext.service import TextService
from aitext.stats import figures_of
from aitext.v1 import aitext_pb2 as pb
from aitext.validation import undecodable
from aitext.wire import UndecodableRequest, lenient_parser

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TextService"].full_name
CACHE_HEALTH_NAME = "aitext.cache"


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: HealthServicer
    cache: ResponseCache
    admission: AdmissionInterceptor
    fleet: FleetStats

    async def stop(self, grace: float | None) -> None:
        """Health goes NOT_SERVING first, so balancers stop sending before in-flight calls drain."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        await self.fleet.stop()
        await self.cache.close()
        await offload.shutdown()


def _refusing_undecodable(behaviour: Callable[..., Any], streaming: bool) -> Callable[..., Any]:
    """Wraps a servicer method so a request that failed to parse ends as INVALID_ARGUMENT."""
    if streaming:

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            if isinstance(request, UndecodableRequest):
                await undecodable(request.field, request.reason).abort(context)
            async for response in behaviour(request, context):
                yield response

        return stream

    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, UndecodableRequest):
            await undecodable(request.field, request.reason).abort(context)
        return await behaviour(request, context)

    return unary


def _method_handlers(servicer: TextService) -> dict[str, grpc.RpcMethodHandler]:
    # Like the generated add_TextServiceServicer_to_server, but with a request parser
    # that reports invalid UTF-8 as INVALID_ARGUMENT instead of grpc's INTERNAL.
    service = pb.DESCRIPTOR.services_by_name["TextService"]
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for method in service.methods:
        request_class = getattr(pb, method.input_type.name)
        response_class = getattr(pb, method.output_type.name)
        factory = (
            grpc.unary_stream_rpc_method_handler if method.server_streaming else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = factory(
            _refusing_undecodable(getattr(servicer, method.name), method.server_streaming),
            request_deserializer=lenient_parser(request_class),
            response_serializer=response_class.SerializeToString,
        )
    return handlers


WORKER_HEADER = "aitext-worker"


class WorkerHealthServicer(HealthServicer):  # type: ignore[misc]  # grpc_health is untyped
    """grpc.health.v1 that names this worker in each Check answer's `aitext-worker` header:
    "<serve run>/<index>/<workers>". The gateway moves its connections until they are spread evenly
    over the workers that share the port (gateway/spread.go)."""

    def __init__(self, worker: str) -> None:
        super().__init__()
        self._worker = ((WORKER_HEADER, worker),)

    async def Check(self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.send_initial_metadata(self._worker)
        return await super().Check(request, context)


async def create_server(settings: Settings, address: str | None = None, worker: str | None = None) -> RunningServer:
    """Builds and starts a server; binds `address` (default host:port from settings; port 0 picks one).
    `worker` ("<serve run>/<index>/<workers>") is sent in health checks' answers (WorkerHealthServicer)."""
    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", 1),
        # Keepalive, agreed with the gateway, Envoy and the Go client (README, "Keepalive"): accept a
        # client's ping every 10 s, calls or none (grpc's default, one per 5 min, dropped the
        # gateway's connections mid-call), and ping idle peers every 60 s to find dead ones. The
        # name is GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS's; a wrong one is ignored.
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_ping_strikes", 2),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_concurrent_streams", settings.max_streams_per_connection),
    ]
    access = build_access(settings)
    credentials = server_credentials(settings)
    # No maximum_concurrent_rpcs: grpc counts a call from its headers, so silent streams without a
    # key would hold every slot. The admission interceptor counts calls from their request instead,
    # after the access interceptor has checked the key (aitext.admission).
    admission = AdmissionInterceptor(settings)
    interceptors: tuple[grpc.aio.ServerInterceptor, ...] = (access, admission)
    if tracing.active():
        interceptors = (tracing.TracingInterceptor(), *interceptors)
    server = grpc.aio.server(options=options, interceptors=interceptors)
    offload.configure(settings.offload_processes, settings.offload_min_chars)

    health = HealthServicer() if worker is None else WorkerHealthServicer(worker)
    for name in ("", SERVICE_NAME, CACHE_HEALTH_NAME):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()

    def set_cache_health(ok: bool) -> None:
        """Called by the cache when Redis goes away or comes back; the service stays SERVING."""
        status = health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING
        task = loop.create_task(health.set(CACHE_HEALTH_NAME, status))
        pending.add(task)
        task.add_done_callback(pending.discard)

    processor = build_processor(settings)
    cache = build_cache(settings, set_cache_health=set_cache_health)
    await cache.start()
    fleet = FleetStats(
        store_for(cache.redis, settings.cache_namespace, settings.stats_dir),
        lambda: figures_of(cache),
        settings.stats_publish_seconds,
    )
    servicer = TextService(settings, Pipeline(settings, processor, cache), processor, cache, fleet)

    handlers = _method_handlers(servicer)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    enable_server_reflection((SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name), server)

    address = address or f"{settings.host}:{settings.port}"
    port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    await server.start()
    fleet.start()
    return RunningServer(server, port, health, cache, admission, fleet)


def _start_metrics(settings: Settings, worker_index: int) -> None:
    if not settings.metrics_port:
        return
    port = settings.metrics_port + worker_index  # one /metrics per worker process
    host = (settings.metrics_host or settings.host).strip("[]")  # "[::]" is how grpc spells "::"
    try:
        prometheus_client.start_http_server(port, addr=host)
    except OSError as exc:
        log.error("metrics address %s:%d unavailable (%s); serving without /metrics", host, port, exc)


async def _serve_one(
    settings: Settings, worker: WorkerName, ready_file: Path | None, ready: ProcessEvent | None = None
) -> None:
    tracing.configure()  # in the worker: the exporter's thread does not survive a fork
    running = await create_server(settings, worker=str(worker))
    _start_metrics(settings, worker.index)
    # The ~100k objects of the imports and start-up live as long as the process: moved out of the
    # collector's reach, a full collection walks only what requests allocate instead of pausing
    # every call on this worker for ~40 ms.
    gc.freeze()
    log.info("aitext worker %d listening on %s:%d (model %s)", os.getpid(), settings.host, running.port, settings.model)
    if ready_file is not None:
        ready_file.write_text(f"{running.port}\n")  # noqa: ASYNC240 -- a few bytes, once, before serving
    if ready is not None:
        ready.set()
    # Not in create_server: in-process test servers would each start a process they rarely use.
    warming = asyncio.get_running_loop().create_task(offload.warm())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    warming.cancel()
    log.info("aitext worker %d draining for up to %.1fs", os.getpid(), settings.grace_seconds)
    await running.stop(settings.grace_seconds)
    tracing.shutdown()


@dataclass(frozen=True)
class WorkerName:
    """Which worker of which `aitext serve` run this is: `run` is random per run, so workers of
    different hosts or runs behind one address never share a name."""

    run: str
    index: int
    workers: int

    def __str__(self) -> str:
        return f"{self.run}/{self.index}/{self.workers}"


def _worker_main(settings_data: dict[str, Any], worker: WorkerName, ready: ProcessEvent, supervisor_pid: int) -> None:
    # SIGTERM when the supervisor dies, however it dies: the worker drains and exits rather than
    # serve on beside a restarted supervisor's workers. (The kernel sends it when the supervisor's
    # thread that started this process exits: the main thread, which starts every worker.)
    end_with_parent(supervisor_pid, signal.SIGTERM)
    configure_logging()
    asyncio.run(_serve_one(Settings(**settings_data), worker, None, ready))


def serve(settings: Settings, ready_file: Path | None = None) -> None:
    """Runs until SIGTERM/SIGINT: in this process for one worker, else as a supervisor of N."""
    if settings.workers == 1:
        asyncio.run(_serve_one(settings, WorkerName(secrets.token_hex(6), 0, 1), ready_file))
    else:
        _supervise(settings, ready_file)


def _reserve_port(host: str) -> socket.socket:
    """Holds a free port with SO_REUSEPORT so every worker can bind the same one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host.strip("[]"), 0))
    return sock


def _supervise(settings: Settings, ready_file: Path | None) -> None:
    holder = _reserve_port(settings.host) if settings.port == 0 else None
    if holder is not None:
        settings = settings.model_copy(update={"port": holder.getsockname()[1]})
    # Without Redis, the workers share their stats snapshots through a directory of this run's.
    run_dir = (
        make_run_directory() if not (settings.stats_dir or settings.redis_url or settings.redis_cluster_nodes) else None
    )
    if run_dir is not None:
        settings = settings.model_copy(update={"stats_dir": str(run_dir)})
        atexit.register(shutil.rmtree, run_dir, True)  # also when start-up fails
    context = multiprocessing.get_context("spawn")
    data = settings.model_dump()
    run = secrets.token_hex(6)

    def start(index: int) -> tuple[BaseProcess, ProcessEvent]:
        ready = context.Event()
        process = context.Process(
            target=_worker_main,
            args=(data, WorkerName(run, index, settings.workers), ready, os.getpid()),
            name=f"aitext-worker-{index}",
        )
        process.start()
        return process, ready

    workers = [start(i) for i in range(settings.workers)]
    for process, ready in workers:
        while not ready.wait(0.2):
            if not process.is_alive():
                raise SystemExit(f"worker {process.name} exited during start-up (code {process.exitcode})")
    if holder is not None:
        holder.close()
    log.info("aitext: %d workers listening on port %d", settings.workers, settings.port)
    if ready_file is not None:
        ready_file.write_text(f"{settings.port}\n")

    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for process, _ in workers:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while not stopping:
        for index, (process, _) in enumerate(workers):
            process.join(timeout=0.5 / len(workers))
            if not stopping and not process.is_alive():
                # A crashed worker is replaced; the others keep serving on the shared port.
                level = logging.WARNING if process.exitcode == 0 else logging.ERROR
                log.log(level, "worker %s exited with %s; restarting it", process.name, process.exitcode)
                workers[index] = start(index)
    for process, _ in workers:
        process.join(settings.grace_seconds + 5)
        if process.is_alive():
            process.kill()


class BatchedStreamHandler(logging.StreamHandler[TextIO]):
    """Writes its records to the stream in batches: every `interval` seconds, when 64 KiB are
    pending, and at once for a warning or worse (with everything before it, in order).

    One write per record is a system call per request, and each releases the GIL: getting it
    back from grpc's poller thread while other processes keep the cores busy cost up to a
    third of a worker's cache-hit throughput under ghz (docs/benchmarks.md).
    """

    def __init__(self, stream: TextIO | None = None, interval: float = 0.2, max_pending_bytes: int = 1 << 16) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._max_pending_bytes = max_pending_bytes
        threading.Thread(target=self._flush_every, args=(interval,), name="log-flush", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:  # called with the handler's lock held
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self._pending.append(line)
        self._pending_bytes += len(line)
        if record.levelno >= logging.WARNING or self._pending_bytes >= self._max_pending_bytes:
            self._write_pending()

    def flush(self) -> None:
        self.acquire()
        try:
            self._write_pending()
        finally:
            self.release()

    def _write_pending(self) -> None:
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        self.stream.write(text)
        self.stream.flush()

    def _flush_every(self, interval: float) -> None:
        while True:
            time.sleep(interval)
            try:
                self.flush()
            except Exception:  # a closed or broken stream: nothing a log flusher can do about it
                pass


def configure_logging() -> None:
    # The format shows neither thread nor process id: do not collect them for every record.
    logging.logThreads = False
    logging.logProcesses = False
    logging.basicConfig(
        handlers=[BatchedStreamHandler(sys.stderr)],
        level=os.environ.get("AITEXT_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
    )
