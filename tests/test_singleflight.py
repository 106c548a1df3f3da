"""SingleFlight alone: callers share one run, its errors and its cancellation."""

from __future__ import annotations

import asyncio

import pytest
from aitext.cache.singleflight import SingleFlight

pytestmark = pytest.mark.unit


class Call:
    """A run that counts its starts, waits for `release`, then returns or raises."""

    def __init__(self, result: str = "answer", error: Exception | None = None) -> None:
        self.result = result
        self.error = error
        self.starts = 0
        self.cancelled = False
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self) -> str:
        self.starts += 1
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error is not None:
            raise self.error
        return self.result


async def test_concurrent_callers_share_one_run() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    call = Call()
    waiters = [asyncio.ensure_future(flights.do("k", call)) for _ in range(5)]
    await call.started.wait()
    assert "k" in flights and len(flights) == 1
    call.release.set()
    assert await asyncio.gather(*waiters) == ["answer"] * 5
    assert call.starts == 1
    assert "k" not in flights  # done: the next caller starts afresh
    again = Call("second")
    again.release.set()
    assert await flights.do("k", again) == "second" and again.starts == 1


async def test_different_keys_run_separately() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    a, b = Call("a"), Call("b")
    a.release.set()
    b.release.set()
    assert await asyncio.gather(flights.do("a", a), flights.do("b", b)) == ["a", "b"]
    assert (a.starts, b.starts) == (1, 1)


async def test_an_error_reaches_every_caller() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    call = Call(error=ValueError("provider down"))
    waiters = [asyncio.ensure_future(flights.do("k", call)) for _ in range(3)]
    await call.started.wait()
    call.release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert [type(r) for r in results] == [ValueError] * 3
    assert all(str(r) == "provider down" for r in results)
    assert call.starts == 1 and "k" not in flights


async def test_the_last_caller_going_away_cancels_the_run() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    call = Call()
    waiters = [asyncio.ensure_future(flights.do("k", call)) for _ in range(2)]
    await call.started.wait()
    for waiter in waiters:
        waiter.cancel()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    await asyncio.sleep(0)  # the run sees its cancellation
    assert call.cancelled
    assert "k" not in flights  # a caller arriving now starts a new run
    fresh = Call("fresh")
    fresh.release.set()
    assert await flights.do("k", fresh) == "fresh"


async def test_one_caller_going_away_does_not_cancel_the_run_for_the_others() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    call = Call()
    leaving = asyncio.ensure_future(flights.do("k", call))
    staying = asyncio.ensure_future(flights.do("k", call))
    await call.started.wait()
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert not call.cancelled and "k" in flights
    call.release.set()
    assert await staying == "answer"
    assert call.starts == 1 and not call.cancelled


async def test_cancel_all_ends_every_run() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    a, b = Call(), Call()
    waiters = [asyncio.ensure_future(flights.do("a", a)), asyncio.ensure_future(flights.do("b", b))]
    await asyncio.gather(a.started.wait(), b.started.wait())
    await flights.cancel_all()
    assert a.cancelled and b.cancelled
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
