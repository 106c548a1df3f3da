"""Client-facing errors: one exception type, mapped to a gRPC status with details in one place."""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


class RequestError(Exception):
    """A request the service refuses, with the status code and details to send."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        violations: Iterable[tuple[str, str]] = (),
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.violations = list(violations)
        self.retry_after_seconds = retry_after_seconds

    def to_status_proto(self) -> status_pb2.Status:
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        if self.violations:
            bad_request = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=field, description=description)
                    for field, description in self.violations
                ]
            )
            status.details.add().Pack(bad_request)
        if self.retry_after_seconds is not None:
            delay = duration_pb2.Duration()
            delay.FromNanoseconds(int(self.retry_after_seconds * 1e9))
            status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        return status

    async def abort(self, context: grpc.aio.ServicerContext) -> None:
        """Ends the call with this error's status and details (never returns)."""
        status = rpc_status.to_status(self.to_status_proto())
        await context.abort(status.code, status.details, status.trailing_metadata)


def field_violations(status: status_pb2.Status) -> dict[str, str]:
    """The google.rpc.BadRequest field violations a status carries: field -> description."""
    found: dict[str, str] = {}
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            found.update((v.field, v.description) for v in bad_request.field_violations)
    return found


def retry_delay_seconds(status: status_pb2.Status) -> float | None:
    """The google.rpc.RetryInfo delay a status carries, if any."""
    for detail in status.details:
        retry_info = error_details_pb2.RetryInfo()
        if detail.Unpack(retry_info):
            nanoseconds: int = retry_info.retry_delay.ToNanoseconds()
            return nanoseconds / 1e9
    return None


def invalid_argument(violations: list[tuple[str, str]]) -> RequestError:
    summary = "; ".join(f"{field}: {description}" for field, description in violations)
    return RequestError(grpc.StatusCode.INVALID_ARGUMENT, f"invalid request: {summary}", violations=violations)


def unavailable(message: str, *, retry_after_seconds: float | None = None) -> RequestError:
    return RequestError(grpc.StatusCode.UNAVAILABLE, message, retry_after_seconds=retry_after_seconds)


__all__ = ["RequestError", "field_violations", "invalid_argument", "retry_delay_seconds", "unavailable"]
