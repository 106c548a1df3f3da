"""Which provider errors are worth retrying, and the circuit breaker in front of a provider."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelRequestTimeout,
    ModelUnavailableError,
)

State = Literal["closed", "open", "half_open"]

# Request timeout, conflict, too early, rate limited; every 5xx.
_TRANSIENT_STATUS = frozenset({408, 409, 425, 429})


def is_transient(error: BaseException) -> bool:
    """True for failures another attempt may not meet: timeouts, dropped connections, 429 and 5xx."""
    if isinstance(error, TimeoutError | ModelRequestTimeout | ModelConnectionError | ModelUnavailableError):
        return True
    if isinstance(error, ModelHTTPError):
        return error.status_code in _TRANSIENT_STATUS or error.status_code >= 500
    # A ModelAPIError without an HTTP status is a transport failure below the SDK.
    return type(error) is ModelAPIError


class CircuitBreaker:
    """Closed, open after `failure_threshold` consecutive transient failures, half-open after `reset_seconds`.

    While open, calls are refused without touching the provider. Once the
    reset time has passed, one call at a time is let through as a probe: its
    success closes the breaker, its failure opens it again for another period.
    """

    def __init__(
        self, failure_threshold: int, reset_seconds: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if failure_threshold < 1 or reset_seconds <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_seconds > 0")
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self.times_opened = 0

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_seconds:
            return "half_open"
        return "open"

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_after(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when it would now)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.reset_seconds - (self._clock() - self._opened_at))

    def try_acquire(self) -> Permit | None:
        """Permission to call the provider now, or None to fail fast; in half-open the permit is the probe."""
        state = self.state
        if state == "closed":
            return Permit(probe=False)
        if state == "open" or self._probing:
            return None
        self._probing = True
        return Permit(probe=True)

    def record_success(self, permit: Permit) -> None:
        self._failures = 0
        self._opened_at = None
        if permit.probe:
            self._probing = False

    def record_failure(self, permit: Permit) -> None:
        """A transient failure: counts towards opening; a failed probe re-opens at once."""
        self._failures += 1
        if permit.probe:
            self._probing = False
            self._open()
        elif self._opened_at is None and self._failures >= self.failure_threshold:
            self._open()

    def release(self, permit: Permit) -> None:
        """The call ended with neither verdict (cancelled, or a non-transient error)."""
        if permit.probe:
            self._probing = False

    def _open(self) -> None:
        self._opened_at = self._clock()
        self.times_opened += 1


@dataclass(frozen=True, slots=True)
class Permit:
    probe: bool
