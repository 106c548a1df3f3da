"""The circuit breaker's state machine and which provider errors count as transient."""

from __future__ import annotations

import pytest
from aitext.processing.resilience import CircuitBreaker, is_transient
from pydantic_ai.exceptions import ModelAPIError, ModelHTTPError, UnexpectedModelBehavior

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_only() -> None:
    clock = Clock()
    breaker = CircuitBreaker(3, 10.0, clock=clock)
    for _ in range(2):
        breaker.record_failure(breaker.try_acquire())
    breaker.record_success(breaker.try_acquire())  # a success resets the count
    for _ in range(2):
        breaker.record_failure(breaker.try_acquire())
    assert breaker.state == "closed"
    breaker.record_failure(breaker.try_acquire())
    assert breaker.state == "open"
    assert breaker.try_acquire() is None
    assert breaker.retry_after() == 10.0
    assert breaker.times_opened == 1


def test_half_open_admits_a_single_probe() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 5.0, clock=clock)
    breaker.record_failure(breaker.try_acquire())
    clock.now += 4.9
    assert breaker.state == "open" and breaker.try_acquire() is None
    clock.now += 0.1
    assert breaker.state == "half_open"
    probe = breaker.try_acquire()
    assert probe is not None and probe.probe
    assert breaker.try_acquire() is None  # a second caller while the probe is out
    breaker.record_success(probe)
    assert breaker.state == "closed"
    assert breaker.try_acquire() is not None


def test_failed_probe_reopens_for_a_full_period() -> None:
    clock = Clock()
    breaker = CircuitBreaker(2, 5.0, clock=clock)
    for _ in range(2):
        breaker.record_failure(breaker.try_acquire())
    clock.now += 6
    breaker.record_failure(breaker.try_acquire())
    assert breaker.state == "open"
    assert breaker.retry_after() == 5.0
    assert breaker.times_opened == 2


def test_released_probe_frees_the_slot() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 1.0, clock=clock)
    breaker.record_failure(breaker.try_acquire())
    clock.now += 1
    probe = breaker.try_acquire()
    assert probe is not None
    breaker.release(probe)  # cancelled, or refused for a reason that says nothing about health
    assert breaker.state == "half_open"
    assert breaker.try_acquire() is not None


def test_invalid_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(0, 1.0)
    with pytest.raises(ValueError):
        CircuitBreaker(1, 0)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (TimeoutError(), True),
        (ModelHTTPError(500, "m"), True),
        (ModelHTTPError(503, "m"), True),
        (ModelHTTPError(429, "m"), True),
        (ModelHTTPError(408, "m"), True),
        (ModelHTTPError(400, "m"), False),
        (ModelHTTPError(401, "m"), False),
        (ModelHTTPError(404, "m"), False),
        (ModelAPIError("m", "connection reset"), True),
        (UnexpectedModelBehavior("bad output"), False),
        (ValueError("bug"), False),
    ],
)
def test_transient_errors(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient
