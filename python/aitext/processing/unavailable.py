"""The one exception the servicer has to know about."""

from __future__ import annotations

from typing import Literal

Reason = Literal["circuit_open", "timeout", "retries_exhausted", "rejected", "invalid_output"]


class ProviderUnavailable(Exception):
    """The model could not produce a validated answer; the servicer maps it to UNAVAILABLE.

    `reason` says why, for logs and metrics: the breaker is open, the deadline
    ran out, transient errors outlasted the retries, the provider refused the
    request (authentication, context length), or its output failed validation.
    """

    def __init__(self, message: str, *, reason: Reason, attempts: int = 0, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        # Provider calls made for this request (0 when the breaker refused it).
        self.attempts = attempts
        # When the breaker is open: seconds until it lets a probe through.
        self.retry_after = retry_after
