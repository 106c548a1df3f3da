"""The TextService servicer: thin methods over validation, the pipeline and the cache."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator

import grpc

from aitext import tracing
from aitext.cache.response_cache import ResponseCache
from aitext.config import Settings
from aitext.errors import RequestError, invalid_argument, unavailable
from aitext.fleet_stats import FleetStats
from aitext.operations import BY_ENUM, OPERATIONS
from aitext.pipeline import Pipeline, Processor
from aitext.processing.unavailable import ProviderUnavailable
from aitext.security.request_id import safe_request_id
from aitext.security.tenants import current_caller
from aitext.stats import figures_of, fill_cache_stats
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc
from aitext.validation import ValidRequest, validate_batch, validate_process

log = logging.getLogger(__name__)
# One line per request: ids, sizes, outcome and latency; never the text, the question or a key.
request_log = logging.getLogger("aitext.requests")
# Request ids only correlate log lines, they guard nothing: a PRNG seeded once from os.urandom
# (each worker imports this afresh) instead of a getrandom() system call on every request,
# which releases the GIL and under load waits to get it back (7.5% of a worker's samples).
_request_ids = random.Random()


def as_request_error(exc: Exception) -> RequestError:
    """The one place where failures become client-facing statuses."""
    if isinstance(exc, RequestError):
        return exc
    if isinstance(exc, ConnectionError):  # the cache could not reach Redis for an operation that needs it
        return unavailable(f"the cache is unavailable: {exc}")
    if isinstance(exc, ProviderUnavailable):
        return unavailable(f"the model provider is unavailable: {exc}", retry_after_seconds=exc.retry_after)
    log.exception("unexpected failure", exc_info=exc)
    return RequestError(grpc.StatusCode.INTERNAL, "internal error")


REQUEST_LINE = "request_id=%s operation=%s text_len=%d outcome=%s latency_ms=%.2f"
# While a span is recorded (README, "Tracing"): the line names its trace.
TRACED_REQUEST_LINE = f"{REQUEST_LINE} trace_id=%s"


def log_request(context: grpc.aio.ServicerContext, operation: int, text_len: int, outcome: str, started: float) -> None:
    if not request_log.isEnabledFor(logging.INFO):
        return
    request_id = None
    for name, value in context.invocation_metadata() or ():
        if name == "x-request-id":
            request_id = safe_request_id(value)  # a forged id could write fake log lines
    spec = BY_ENUM.get(operation)
    args: tuple[object, ...] = (
        request_id or f"{_request_ids.getrandbits(64):016x}",
        spec.name if spec is not None else "-",
        text_len,
        outcome,
        (time.perf_counter() - started) * 1000,
    )
    line = REQUEST_LINE
    if (trace_id := tracing.trace_id()) is not None:
        line, args = TRACED_REQUEST_LINE, (*args, trace_id)
    # What request_log.info() does, minus its walk up the stack for the caller's file and line,
    # which no handler here prints: a quarter of the line's cost, paid on every request.
    request_log.handle(request_log.makeRecord(request_log.name, logging.INFO, __file__, 0, line, args, None))


async def fail(context: grpc.aio.ServicerContext, request: pb.ProcessRequest, exc: Exception, started: float) -> None:
    """Logs a Process or ProcessStream call's failure and ends the call with its status."""
    error = as_request_error(exc)
    log_request(context, request.operation, len(request.text), f"error:{error.code.name}", started)
    await error.abort(context)


def log_answer(
    context: grpc.aio.ServicerContext, valid: ValidRequest, response: pb.ProcessResponse, started: float
) -> None:
    # valid.text, not the request's: each read of a message's string field decodes it again.
    cache = response.cache
    log_request(context, valid.spec.enum, len(valid.text), f"hit:{cache.tier}" if cache.hit else "miss", started)


class TextService(pb_grpc.TextServiceServicer):
    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline,
        processor: Processor,
        cache: ResponseCache,
        fleet: FleetStats | None = None,
    ) -> None:
        self._settings = settings
        self._pipeline = pipeline
        self._processor = processor
        self._cache = cache
        # Without a fleet (in-process use), GetCacheStats answers for this worker alone.
        self._fleet = fleet or FleetStats(None, lambda: figures_of(cache), settings.stats_publish_seconds)

    async def Process(self, request: pb.ProcessRequest, context: grpc.aio.ServicerContext) -> pb.ProcessResponse:
        started = time.perf_counter()
        try:
            valid = validate_process(request, self._settings, tenant=current_caller().tenant)
            response = await self._pipeline.process(valid, timeout=context.time_remaining())
        except Exception as exc:
            await fail(context, request, exc, started)
        log_answer(context, valid, response, started)
        return response

    async def ProcessStream(
        self, request: pb.ProcessStreamRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ProcessStreamResponse]:
        # The pipeline reports each finished chunk of a long text through a queue that this
        # generator drains while the work runs; None marks the end. A short text (or a cached
        # answer) sends the final response alone.
        started = time.perf_counter()
        inner = request.request
        try:
            valid = validate_process(inner, self._settings, prefix="request.", tenant=current_caller().tenant)
        except Exception as exc:
            await fail(context, inner, exc, started)
        events: asyncio.Queue[pb.ProcessProgress | None] = asyncio.Queue()
        work = asyncio.ensure_future(
            self._pipeline.process(valid, timeout=context.time_remaining(), progress=events.put_nowait)
        )
        work.add_done_callback(lambda _: events.put_nowait(None))
        try:
            while (event := await events.get()) is not None:
                yield pb.ProcessStreamResponse(progress=event)
            response = await work
        except Exception as exc:
            await fail(context, inner, exc, started)
        finally:
            work.cancel()
        log_answer(context, valid, response, started)
        yield pb.ProcessStreamResponse(response=response)

    async def ProcessBatch(
        self, request: pb.ProcessBatchRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ProcessBatchResponse]:
        try:
            validate_batch(request, self._settings)
        except RequestError as exc:
            await exc.abort(context)
        tenant = current_caller().tenant
        limit = request.max_concurrency or self._settings.batch_concurrency
        gate = asyncio.Semaphore(min(limit, self._settings.batch_concurrency))

        async def run_item(index: int, item: pb.ProcessRequest) -> pb.ProcessBatchResponse:
            async with gate:
                try:
                    valid = validate_process(item, self._settings, prefix=f"requests[{index}].", tenant=tenant)
                    response = await self._pipeline.process(valid, timeout=context.time_remaining())
                    return pb.ProcessBatchResponse(index=index, response=response)
                except Exception as exc:
                    return pb.ProcessBatchResponse(index=index, error=as_request_error(exc).to_status_proto())

        tasks = [asyncio.ensure_future(run_item(i, item)) for i, item in enumerate(request.requests)]
        try:
            for finished in asyncio.as_completed(tasks):
                yield await finished
        finally:
            for task in tasks:
                task.cancel()

    async def ListOperations(
        self, request: pb.ListOperationsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListOperationsResponse:
        return pb.ListOperationsResponse(
            operations=[
                pb.OperationInfo(
                    operation=op.enum,
                    name=op.name,
                    description=op.description,
                    requires_question=op.requires_question,
                    options=[
                        pb.OptionInfo(
                            name=o.name,
                            default_value=o.default,
                            min_value=o.min_value,
                            max_value=o.max_value,
                            description=o.description,
                        )
                        for o in op.options
                    ],
                    default_ttl_seconds=self._cache.ttl_for(op.name),
                )
                for op in OPERATIONS
            ],
            model=self._processor.model_name,
            max_text_bytes=self._settings.max_text_bytes,
            max_batch_items=self._settings.max_batch_items,
            max_question_chars=self._settings.max_question_chars,
        )

    async def GetCacheStats(
        self, request: pb.GetCacheStatsRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetCacheStatsResponse:
        caller = current_caller()
        stats = pb.GetCacheStatsResponse(
            key_backend=self._pipeline.key_backend,
            model=self._processor.model_name,
            provider_circuit=self._processor.circuit_state,
        )
        fleet = await self._fleet.read(this_worker_only=request.this_worker_only)
        # The caller's tenant only (summed over the workers), unless the key may see the whole deployment.
        fill_cache_stats(stats, self._cache, fleet, tenant=None if caller.allows("ops") else caller.tenant.name)
        return stats

    async def InvalidateCache(
        self, request: pb.InvalidateCacheRequest, context: grpc.aio.ServicerContext
    ) -> pb.InvalidateCacheResponse:
        try:
            caller = current_caller()
            # admin clears the caller's partition; ops, every partition of the deployment.
            partition = None if caller.allows("ops") else self._pipeline.namespace_for(caller.tenant)
            target = request.WhichOneof("target")
            if target == "operation":
                spec = BY_ENUM.get(request.operation)
                if spec is None:
                    raise invalid_argument([("operation", "must be a known operation")])
                deleted = await self._cache.invalidate_operation(spec.name, partition)
            elif target == "request":
                valid = validate_process(request.request, self._settings, prefix="request.", tenant=caller.tenant)
                deleted = await self._cache.invalidate_key(self._pipeline.key_for(valid))
            elif target == "all" and request.all:
                deleted = await self._cache.invalidate_all(partition)
            else:
                raise invalid_argument([("target", "set one of operation, request or all=true")])
        except Exception as exc:
            await as_request_error(exc).abort(context)
        return pb.InvalidateCacheResponse(deleted=deleted)
