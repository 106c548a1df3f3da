"""Single-flight: concurrent calls for one key share one run (after golang/groupcache's singleflight)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclass(slots=True)
class _Flight(Generic[T]):
    """One run shared by the concurrent callers waiting on it."""

    task: asyncio.Task[T]
    waiters: int = 0


class SingleFlight(Generic[K, T]):
    """`await do(key, fn)`: the first caller for a key starts `fn()`, callers arriving while it runs share it.

    Every caller gets the run's result or its exception. Waiting is shielded:
    one caller going away does not cancel the run the others wait for; when
    the last one goes, the run is cancelled rather than paid for with nobody
    waiting.
    """

    def __init__(self) -> None:
        self._flights: dict[K, _Flight[T]] = {}

    def __contains__(self, key: K) -> bool:
        """Whether a run for `key` is under way (a `do` now would join it)."""
        return key in self._flights

    def __len__(self) -> int:
        return len(self._flights)

    async def do(self, key: K, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        flight = self._flights.get(key)
        if flight is None:
            task = asyncio.get_running_loop().create_task(fn())
            flight = self._flights[key] = _Flight(task)
            task.add_done_callback(partial(self._done, key))
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task)
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                if self._flights.get(key) is flight:
                    del self._flights[key]  # a call arriving now starts afresh
                flight.task.cancel()

    def _done(self, key: K, task: asyncio.Task[T]) -> None:
        flight = self._flights.get(key)
        if flight is not None and flight.task is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # retrieved here so an error nobody awaited is not logged as "never retrieved"

    async def cancel_all(self) -> None:
        """Cancels every run under way and waits for them to end (on shutdown)."""
        tasks = [flight.task for flight in self._flights.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
