"""The UI's one gRPC client: address choice, API key, calls, and errors a person can act on.

Every page goes through `connect()`; nothing else in the UI imports grpc.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import grpc
from aitext.errors import field_violations, retry_delay_seconds
from aitext.v1 import aitext_pb2 as pb
from aitext.v1 import aitext_pb2_grpc as pb_grpc
from google.rpc import status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

# The gateway's default listen address; the server's default port is the fallback.
DEFAULT_SERVICE_ADDRESS = "localhost:8080"
DEFAULT_FALLBACK_ADDRESS = "localhost:50051"
CACHE_HEALTH_NAME = "aitext.cache"
# How long a choice between the service and the fallback address is kept before probing again.
ADDRESS_RECHECK_SECONDS = 15.0

_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    # grpc's default reconnect backoff grows to two minutes: a UI started before the service
    # would keep saying "unreachable" long after the service came up.
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.min_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 3000),
]
_channels: dict[str, grpc.Channel] = {}
_channels_lock = threading.Lock()
_chosen: dict[tuple[str, str], tuple[str, float]] = {}


def _channel(address: str) -> grpc.Channel:
    with _channels_lock:
        if address not in _channels:
            _channels[address] = grpc.insecure_channel(address, options=_CHANNEL_OPTIONS)
        return _channels[address]


def _reachable(address: str, timeout: float) -> bool:
    try:
        grpc.channel_ready_future(_channel(address)).result(timeout=timeout)
        return True
    except grpc.FutureTimeoutError:
        return False


@dataclass(frozen=True)
class Settings:
    """The UI's environment: AITEXT_UI_SERVICE_ADDRESS, AITEXT_UI_FALLBACK_ADDRESS, AITEXT_UI_API_KEY, ..."""

    service_address: str
    fallback_address: str
    api_key: str
    timeout_seconds: float
    batch_timeout_seconds: float

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            service_address=env.get("AITEXT_UI_SERVICE_ADDRESS") or DEFAULT_SERVICE_ADDRESS,
            # Set to "" to never fall back.
            fallback_address=env.get("AITEXT_UI_FALLBACK_ADDRESS", DEFAULT_FALLBACK_ADDRESS),
            api_key=env.get("AITEXT_UI_API_KEY", ""),
            # Long: a long text is long work, shown by a progress bar; the server bounds each model call.
            timeout_seconds=float(env.get("AITEXT_UI_TIMEOUT_SECONDS", "600")),
            batch_timeout_seconds=float(env.get("AITEXT_UI_BATCH_TIMEOUT_SECONDS", "600")),
        )


def choose_address(settings: Settings, probe_timeout: float = 0.5) -> str:
    """The service address, or the fallback when the service address cannot be reached and the fallback can."""
    primary, fallback = settings.service_address, settings.fallback_address
    if not fallback or fallback == primary:
        return primary
    now = time.monotonic()
    cached = _chosen.get((primary, fallback))
    if cached and now - cached[1] < ADDRESS_RECHECK_SECONDS:
        return cached[0]
    if _reachable(primary, probe_timeout):
        chosen = primary
    else:
        chosen = fallback if _reachable(fallback, probe_timeout) else primary
    _chosen[(primary, fallback)] = (chosen, now)
    return chosen


@dataclass
class ServiceError(Exception):
    """A failed call, described for a person: what happened and what to do."""

    code: grpc.StatusCode
    message: str
    address: str
    # Field path (as the service names it, e.g. "question") -> what is wrong with it.
    field_violations: dict[str, str] = field(default_factory=dict)
    retry_after_seconds: float | None = None

    def __str__(self) -> str:
        return self.headline

    @property
    def kind(self) -> str:
        if self.code == grpc.StatusCode.UNAVAILABLE and not self.message.startswith("the model provider"):
            return "unreachable"
        return {
            grpc.StatusCode.UNAVAILABLE: "provider_unavailable",
            grpc.StatusCode.DEADLINE_EXCEEDED: "timeout",
            grpc.StatusCode.UNAUTHENTICATED: "unauthenticated",
            grpc.StatusCode.PERMISSION_DENIED: "permission_denied",
            grpc.StatusCode.RESOURCE_EXHAUSTED: "rate_limited",
            grpc.StatusCode.INVALID_ARGUMENT: "invalid_argument",
        }.get(self.code, "other")

    @property
    def headline(self) -> str:
        kind = self.kind
        if kind == "unreachable":
            return (
                f"Service unreachable at {self.address}. Start it (`make run`) or point the UI at it with "
                f"AITEXT_UI_SERVICE_ADDRESS. ({self.message})"
            )
        if kind == "provider_unavailable":
            return f"The model provider is unavailable; try again later. ({self.message})"
        if kind == "timeout":
            return f"The service at {self.address} did not answer in time. ({self.message})"
        if kind == "unauthenticated":
            return f"Not authenticated: set AITEXT_UI_API_KEY to a valid API key and restart the UI. ({self.message})"
        if kind == "permission_denied":
            return f"Permission denied: this needs an admin API key in AITEXT_UI_API_KEY. ({self.message})"
        if kind == "rate_limited":
            wait = f"retry in {self.retry_after_seconds:.0f} s" if self.retry_after_seconds else "retry shortly"
            return f"Rate limited: {wait}. ({self.message})"
        if kind == "invalid_argument":
            if self.field_violations:
                return "Invalid request: " + "; ".join(f"{f}: {d}" for f, d in self.field_violations.items())
            return f"Invalid request: {self.message}"
        return f"{self.code.name}: {self.message}"

    def violation_for(self, *fields: str) -> str | None:
        """The violation of a field, matched exactly or as the last part of a dotted path
        ("max_length" matches "summarize_options.max_length")."""
        for name, description in self.field_violations.items():
            last = name.rsplit(".", 1)[-1]
            if name in fields or last in fields:
                return description
        return None

    @classmethod
    def from_status(cls, status: status_pb2.Status, address: str) -> ServiceError:
        code = next((c for c in grpc.StatusCode if c.value[0] == status.code), grpc.StatusCode.UNKNOWN)
        return cls(code, status.message, address, field_violations(status), retry_delay_seconds(status))

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError, address: str) -> ServiceError:
        try:
            status = rpc_status.from_call(error)
        except ValueError:  # details inconsistent with the code/message: keep the plain status
            status = None
        if status is not None:
            return cls.from_status(status, address)
        return cls(error.code(), error.details() or "", address)


class Client:
    """Calls TextService and grpc.health.v1 at one address, with the API key as bearer metadata."""

    def __init__(self, address: str, settings: Settings) -> None:
        self.address = address
        self.settings = settings
        channel = _channel(address)
        self._stub = pb_grpc.TextServiceStub(channel)
        self._health = health_pb2_grpc.HealthStub(channel)
        self._metadata = (("authorization", f"Bearer {settings.api_key}"),) if settings.api_key else ()

    def _call(self, method, request, timeout: float):
        try:
            return method(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise ServiceError.from_rpc_error(error, self.address) from None

    def list_operations(self) -> pb.ListOperationsResponse:
        return self._call(self._stub.ListOperations, pb.ListOperationsRequest(), 5)

    def process_with_progress(
        self, request: pb.ProcessRequest, on_progress: Callable[[pb.ProcessProgress], None]
    ) -> pb.ProcessResponse:
        """Process through ProcessStream: on_progress gets each progress event (one per finished
        chunk of a text over the model's input budget, none for a short text), then the final
        response is returned."""
        stream = self._call(
            self._stub.ProcessStream, pb.ProcessStreamRequest(request=request), self.settings.timeout_seconds
        )
        response: pb.ProcessResponse | None = None
        try:
            for event in stream:
                if event.HasField("progress"):
                    on_progress(event.progress)
                elif event.HasField("response"):
                    response = event.response
        except grpc.RpcError as error:
            raise ServiceError.from_rpc_error(error, self.address) from None
        finally:
            stream.cancel()
        if response is None:
            raise ServiceError(grpc.StatusCode.INTERNAL, "ProcessStream ended without a response", self.address)
        return response

    def process_batch(self, requests: Iterable[pb.ProcessRequest]) -> Iterator[pb.ProcessBatchResponse]:
        """Yields results as the service streams them (completion order, each with its index)."""
        stream = self._call(
            self._stub.ProcessBatch,
            pb.ProcessBatchRequest(requests=list(requests)),
            self.settings.batch_timeout_seconds,
        )
        try:
            yield from stream
        except grpc.RpcError as error:
            raise ServiceError.from_rpc_error(error, self.address) from None
        finally:
            stream.cancel()

    def cache_stats(self) -> pb.GetCacheStatsResponse:
        return self._call(self._stub.GetCacheStats, pb.GetCacheStatsRequest(), 10)

    def invalidate(self, *, operation: int | None = None, everything: bool = False) -> int:
        request = pb.InvalidateCacheRequest(all=True) if everything else pb.InvalidateCacheRequest(operation=operation)
        return self._call(self._stub.InvalidateCache, request, 30).deleted

    def health(self, service: str = "") -> tuple[str, ServiceError | None]:
        """(SERVING / NOT_SERVING / SERVICE_UNKNOWN / UNREACHABLE / a status code name, the failure if any)."""
        try:
            response = self._health.Check(health_pb2.HealthCheckRequest(service=service), timeout=3)
        except grpc.RpcError as error:
            failed = ServiceError.from_rpc_error(error, self.address)
            return ("UNREACHABLE" if failed.kind in ("unreachable", "timeout") else failed.code.name), failed
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status), None


def connect(settings: Settings | None = None) -> Client:
    settings = settings or Settings.from_env()
    return Client(choose_address(settings), settings)


def options_field(operation_name: str) -> str | None:
    """The ProcessRequest oneof field carrying an operation's options ("summarize" -> "summarize_options")."""
    fields = pb.ProcessRequest.DESCRIPTOR.oneofs_by_name["options"].fields
    return next((f.name for f in fields if f.name == f"{operation_name}_options"), None)


def build_request(
    operation: pb.OperationInfo, text: str, question: str = "", options: dict[str, int] | None = None
) -> pb.ProcessRequest:
    request = pb.ProcessRequest(text=text, operation=operation.operation, question=question)
    field_name = options_field(operation.name)
    if field_name and options:
        getattr(request, field_name).SetInParent()
        for name, value in options.items():
            setattr(getattr(request, field_name), name, int(value))
    return request


__all__ = [
    "CACHE_HEALTH_NAME",
    "Client",
    "ServiceError",
    "Settings",
    "build_request",
    "choose_address",
    "connect",
    "options_field",
]
