"""OpenTelemetry tracing: off unless the standard OTEL_* variables ask for an OTLP exporter.

`configure()` runs once per worker, after the fork (a batch processor's thread does not survive
one). The spans the code opens through `span()` cost next to nothing while tracing is off.

Span attributes never carry the request's text, its question or a cache key (a key identifies
content): only operations, sizes, tiers, hits and outcomes. pydantic-ai's own model spans are
told to leave out prompts and outputs (`include_content=False`).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import grpc
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

tracer = trace.get_tracer("aitext")

DEFAULT_SERVICE_NAME = "aitext"

# Health checks arrive every second from every gateway lane and probe: a trace each would bury the calls.
UNTRACED_PREFIXES = ("/grpc.health.v1.Health/",)

_provider: Any = None  # the SDK's TracerProvider once configure() has installed one


# What span() gives while tracing is off: reusable, and a tenth of the cost of a no-op span (~1 µs
# against ~11), which a cached answer's path would pay twice per request.
_NO_SPAN: AbstractContextManager[trace.Span] = nullcontext(trace.INVALID_SPAN)


def span(name: str, attributes: Mapping[str, str | int | bool] | None = None) -> AbstractContextManager[trace.Span]:
    """A child span of the current one, made current for the block; nothing while tracing is off."""
    if _provider is None:
        return _NO_SPAN
    return tracer.start_as_current_span(name, attributes=attributes)


def requested() -> bool:
    """Whether OTEL_* asks for traces: an OTLP endpoint, unless disabled or another exporter is named."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "")
    if exporter not in ("", "otlp"):
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure() -> bool:
    """Installs the OTLP/HTTP exporter when requested; True when traces are on in this process."""
    global _provider
    if _provider is not None:
        return True
    if not requested():
        return False
    # Imported here: a service that never traces does not load the SDK.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (read by Resource.create) win over the default.
    resource = Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}).merge(Resource.create())
    if resource.attributes.get(SERVICE_NAME) == "unknown_service":
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    provider = TracerProvider(resource=resource)
    # The endpoint, headers and OTEL_BSP_* schedule come from the environment.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    Agent.instrument_all(InstrumentationSettings(tracer_provider=provider, include_content=False))
    _provider = provider
    return True


def active() -> bool:
    """Whether configure() has turned traces on in this process."""
    return _provider is not None


def shutdown() -> None:
    """Sends what is still batched; called as a worker stops."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


class TracingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """One SERVER span per RPC, a child of the caller's `traceparent` when it sends one.

    Outermost of the interceptors, so that the access and admission checks run inside the span.
    The span wraps the handler's behaviour, which runs for the whole call, whatever its shape:
    the admission interceptor turns unary methods into stream_unary ones that read their request.
    Ours rather than opentelemetry-instrumentation-grpc's (a beta package) because it is this small,
    skips health checks, and records no exception messages.
    """

    def __init__(self) -> None:
        self._traced: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        method: str = details.method
        if handler is None or method.startswith(UNTRACED_PREFIXES):
            return handler
        known = self._traced.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        traced = _traced_handler(method, handler)
        self._traced[method] = (handler, traced)
        return traced


_HANDLER_KINDS = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler),
    ("unary_stream", grpc.unary_stream_rpc_method_handler),
    ("stream_unary", grpc.stream_unary_rpc_method_handler),
    ("stream_stream", grpc.stream_stream_rpc_method_handler),
)


def _traced_handler(method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    name = method.lstrip("/")
    service, _, rpc = name.rpartition("/")
    attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": rpc}

    def start(context: grpc.aio.ServicerContext) -> trace.Span:
        carrier = {key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)}
        return tracer.start_span(name, propagate.extract(carrier), SpanKind.SERVER, attributes)

    for kind, make in _HANDLER_KINDS:
        behaviour = getattr(handler, kind)
        if behaviour is None:
            continue
        if inspect.isasyncgenfunction(behaviour):

            async def generator(request: Any, context: grpc.aio.ServicerContext, inner: Any = behaviour) -> Any:
                with _in_span(start(context)) as span:
                    try:
                        async for message in inner(request, context):
                            yield message
                    except BaseException:
                        _set_status(span, context, failed=True)
                        raise
                    _set_status(span, context, failed=False)

            return make(generator, handler.request_deserializer, handler.response_serializer)
        if inspect.iscoroutinefunction(behaviour):

            async def call(request: Any, context: grpc.aio.ServicerContext, inner: Any = behaviour) -> Any:
                with _in_span(start(context)) as span:
                    try:
                        response = await inner(request, context)
                    except BaseException:
                        _set_status(span, context, failed=True)
                        raise
                    _set_status(span, context, failed=False)
                    return response

            return make(call, handler.request_deserializer, handler.response_serializer)
    return handler  # a synchronous behaviour: none is served here


def _in_span(span: trace.Span) -> AbstractContextManager[trace.Span]:
    # An exception's message may quote what it failed on: only the status code is recorded.
    return trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False)


def _set_status(span: trace.Span, context: grpc.aio.ServicerContext, *, failed: bool) -> None:
    # An abort has set the code; a behaviour that returned without one answered OK.
    code = context.code()
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code != grpc.StatusCode.OK:
        span.set_status(Status(StatusCode.ERROR, code.name))


def trace_id() -> str | None:
    """The current span's trace id in hex, for the request log line; None outside a recorded span."""
    if _provider is None:
        return None
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
