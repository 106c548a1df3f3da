"""Which calls a worker takes on, and when: nothing is held for a call that has not earned it.

grpc's own `maximum_concurrent_rpcs` counts a call from its headers, so streams that never send
a request (or never a valid key) held every slot. Here, instead:

1. the key is checked on the headers, and a call without one ends at once (security.interceptor,
   which runs before this interceptor and never lets such a call reach it);
2. the request message must arrive within `request_timeout_seconds` of the headers, and a unary
   call must carry exactly one message (grpc would silently ignore a second one);
3. only then does a call take a slot: TextService calls from the worker's `max_concurrent_rpcs`,
   Health/Watch streams from their own `max_health_watches`. Past a limit the call is refused
   at once with RESOURCE_EXHAUSTED and RetryInfo, never queued. Health/Check and reflection
   take no slot: they are cheap, and a balancer's health check must not be refused for load.

To read the request itself, every unary-request method is served as a stream-request one
(grpc.aio reads a unary request before calling the handler, with no bound on the wait).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc
from google.protobuf.message import DecodeError
from prometheus_client import Counter, Gauge

from aitext.config import Settings
from aitext.errors import RequestError

WORK_PREFIX = "/aitext.v1.TextService/"
WATCH_METHOD = "/grpc.health.v1.Health/Watch"

# How long an admitted call usually holds its slot, before any call has finished.
INITIAL_HOLD_SECONDS = 1.0
RETRY_AFTER_BOUNDS = (0.1, 5.0)

REFUSED = Counter(
    "aitext_calls_refused_total",
    "Calls ended before the service ran them, by reason (busy, watch_limit, request_timeout, "
    "no_request, extra_message, undecodable).",
    ["reason"],
)
IN_PROGRESS = Gauge("aitext_calls_in_progress", "Admitted calls holding a slot, by gate (work, watch).", ["gate"])


class Gate:
    """A count of slots in use with a hard limit: past it, callers are turned away, not queued."""

    def __init__(self, name: str, limit: int, *, what: str) -> None:
        self.name = name
        self.limit = limit
        self.in_use = 0
        self._what = what
        self._typical_hold = INITIAL_HOLD_SECONDS
        self._gauge = IN_PROGRESS.labels(name)

    def try_enter(self) -> bool:
        if self.in_use >= self.limit:
            return False
        self.in_use += 1
        self._gauge.inc()
        return True

    def leave(self, held_seconds: float) -> None:
        self.in_use -= 1
        self._gauge.dec()
        self._typical_hold += 0.1 * (held_seconds - self._typical_hold)

    def refusal(self) -> RequestError:
        # About one admitted call's duration: by then the calls that filled the worker have ended.
        low, high = RETRY_AFTER_BOUNDS
        delay = min(max(self._typical_hold, low), high)
        return RequestError(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"this worker is at its limit of {self.limit} {self._what}; retry in {delay:.1f} s",
            retry_after_seconds=delay,
        )


# grpc ships no type information (mypy sees it as Any), so these name what the values are.
Context: TypeAlias = grpc.aio.ServicerContext
Handler: TypeAlias = grpc.RpcMethodHandler
Behaviour: TypeAlias = Callable[..., Any]  # (request, context)


class AdmissionInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    def __init__(self, settings: Settings) -> None:
        self.work = Gate("work", settings.max_concurrent_rpcs, what="concurrent calls")
        self.watches = Gate("watch", settings.max_health_watches, what="Health/Watch streams")
        self._request_timeout = settings.request_timeout_seconds
        # One wrapped handler per method, built on its first call.
        self._guarded: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        if handler is None:
            return None
        method: str = details.method
        known = self._guarded.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        guarded = self._guard(method, handler)
        self._guarded[method] = (handler, guarded)
        return guarded

    def _guard(self, method: str, handler: Handler) -> Handler:
        if handler.request_streaming:
            return handler  # reflection: a bidirectional stream, nothing to admit per message
        gate = self.work if method.startswith(WORK_PREFIX) else self.watches if method == WATCH_METHOD else None
        if handler.response_streaming:
            behaviour = handler.unary_stream
            if behaviour is None or not (
                inspect.isasyncgenfunction(behaviour) or inspect.iscoroutinefunction(behaviour)
            ):
                return handler
            return grpc.stream_stream_rpc_method_handler(
                self._streaming(behaviour, gate),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        unary_behaviour = handler.unary_unary
        if unary_behaviour is None or not inspect.iscoroutinefunction(unary_behaviour):
            return handler
        return grpc.stream_unary_rpc_method_handler(
            self._unary(unary_behaviour, gate),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _unary(
        self, behaviour: Behaviour, gate: Gate | None
    ) -> Callable[[AsyncIterator[Any], Context], Awaitable[Any]]:
        async def unary(_requests: AsyncIterator[Any], context: Context) -> Any:
            request = await self._read_request(context)
            if gate is None:
                return await behaviour(request, context)
            await self._enter(gate, context)
            started = time.monotonic()
            try:
                return await behaviour(request, context)
            finally:
                gate.leave(time.monotonic() - started)

        return unary

    def _streaming(
        self, behaviour: Behaviour, gate: Gate | None
    ) -> Callable[[AsyncIterator[Any], Context], Awaitable[None]]:
        generator = inspect.isasyncgenfunction(behaviour)

        async def streaming(_requests: AsyncIterator[Any], context: Context) -> None:
            request = await self._read_request(context)
            if gate is not None:
                await self._enter(gate, context)
            started = time.monotonic()
            try:
                if generator:
                    async for response in behaviour(request, context):
                        await context.write(response)
                else:
                    await behaviour(request, context)  # writes through the context itself
            finally:
                if gate is not None:
                    gate.leave(time.monotonic() - started)

        return streaming

    async def _enter(self, gate: Gate, context: Context) -> None:
        if not gate.try_enter():
            REFUSED.labels("busy" if gate is self.work else "watch_limit").inc()
            await gate.refusal().abort(context)

    async def _read_request(self, context: Context) -> Any:
        """The call's one request message, read within the request timeout; aborts the call otherwise."""
        error: tuple[str, RequestError] | None = None
        try:
            async with asyncio.timeout(self._request_timeout):
                request = await context.read()
                # Clients half-close with their message, so for them the second read ends at once.
                extra = grpc.aio.EOF if request is grpc.aio.EOF else await context.read()
        except TimeoutError:
            error = (
                "request_timeout",
                RequestError(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"no complete request message within {self._request_timeout:g} s of the call's headers",
                ),
            )
        except DecodeError:
            error = "undecodable", _invalid("the request is not a valid protobuf message")
        else:
            if request is grpc.aio.EOF:
                error = "no_request", _invalid("the call ended without a complete request message")
            elif extra is not grpc.aio.EOF:
                error = "extra_message", _invalid("a unary call carries exactly one request message; this had more")
        if error is not None:
            REFUSED.labels(error[0]).inc()
            await error[1].abort(context)
        return request


def _invalid(message: str) -> RequestError:
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, message)
