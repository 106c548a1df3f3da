"""Single-flight across every worker and replica that shares a Redis: one model call per missed key.

The protocol, for a key that missed L1 and Redis (cache/singleflight.py already lets one call
per key and process get this far):

1. SET `{key}:lease` "<host>:<pid>:<nonce>" NX PX lease. Whoever creates it is the holder: it
   looks the entry up once more (an answer stored between its miss and its lease), computes,
   stores the answer, then deletes the lease (only if still its own: a Lua compare-and-delete)
   and publishes the key on `{namespace}:flights`. While it computes it renews the lease every
   lease/3 (compare-and-PEXPIRE), so a lease outlives its holder by at most `lease` seconds.
2. Everyone else waits: woken by the announcement on the shared pub/sub connection (the one the
   invalidations use), or by a poll with exponential backoff, it re-reads the entry and returns
   it, or finds the lease gone and tries step 1 itself: that is how a waiter takes over from a
   holder that died (or failed, or stored nothing).
3. A waiter whose request's deadline runs out fails with UNAVAILABLE; it never waits past it.

Redis down or the circuit open: the caller computes at once, coalescing only within its process.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aitext.cache.redis_tier import RedisTier, Unavailable
from aitext.errors import unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

# Only the holder renews or deletes: a lease that expired and was taken over is someone else's.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

POLL_INITIAL_SECONDS = 0.05
POLL_MAX_SECONDS = 1.0


def lease_key(key: str) -> str:
    return f"{key}:lease"


class FleetFlight:
    def __init__(self, redis: RedisTier, namespace: str, lease_seconds: float) -> None:
        self._redis = redis
        self._channel = f"{namespace}:flights"
        self._lease_ms = max(1, round(lease_seconds * 1000))
        self._holder = f"{socket.gethostname()}:{os.getpid()}"
        self._waiting: dict[str, set[asyncio.Event]] = {}

    def subscribe(self) -> None:
        """Listens for finished flights on the cache's pub/sub connection (call after Redis started)."""
        self._redis.subscribe(self._channel, self._on_done, self._wake_all)

    async def run(
        self,
        key: str,
        lookup: Callable[[], Awaitable[T | None]],
        compute: Callable[[], Awaitable[T]],
        deadline: float | None,
    ) -> T:
        """The entry under `key` (lookup), computed by this worker or by the one holding the lease.

        `deadline` is the request's, in loop time: a wait that reaches it raises UNAVAILABLE.
        """
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()
        self._waiting.setdefault(key, set()).add(woken)
        try:
            delay = POLL_INITIAL_SECONDS
            while True:
                woken.clear()  # before the checks, so an announcement during them is not lost
                token = f"{self._holder}:{uuid.uuid4().hex[:12]}".encode()
                try:
                    acquired = await self._redis.set_if_absent(lease_key(key), token, self._lease_ms)
                except Unavailable:
                    return await compute()
                if acquired:
                    found = await lookup()  # stored by a holder that released between our miss and our lease
                    if found is not None:
                        await self._release(key, token, announce=False)
                        return found
                    return await self._hold(key, token, compute)
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    raise unavailable("another worker is computing this answer and it was not ready by the deadline")
                try:
                    await asyncio.wait_for(woken.wait(), delay if remaining is None else min(delay, remaining))
                except TimeoutError:
                    delay = min(delay * 2, POLL_MAX_SECONDS)
                found = await lookup()
                if found is not None:
                    return found
                if not self._redis.available:
                    return await compute()
        finally:
            waiting = self._waiting.get(key)
            if waiting is not None:
                waiting.discard(woken)
                if not waiting:
                    del self._waiting[key]

    async def _hold(self, key: str, token: bytes, compute: Callable[[], Awaitable[T]]) -> T:
        renewing = asyncio.get_running_loop().create_task(self._renew(key, token))
        try:
            return await compute()
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
            # Shielded: a caller that went away still frees the key for the others at once.
            await asyncio.shield(self._release(key, token, announce=True))

    async def _renew(self, key: str, token: bytes) -> None:
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            try:
                if not await self._redis.script(_RENEW, lease_key(key), token, self._lease_ms):
                    log.warning("lost the lease on a cache key while computing it; another worker may compute it too")
                    return
            except Unavailable:
                return  # the waiters compute for themselves once Redis is down

    async def _release(self, key: str, token: bytes, *, announce: bool) -> None:
        try:
            await self._redis.script(_RELEASE, lease_key(key), token)
            if announce:
                await self._redis.publish(self._channel, key)
        except Unavailable:
            pass  # the lease expires by itself; waiters poll

    def _on_done(self, key: str) -> None:
        for woken in self._waiting.get(key, ()):
            woken.set()

    def _wake_all(self) -> None:
        # The subscription was interrupted: announcements may have been missed.
        for waiting in self._waiting.values():
            for woken in waiting:
                woken.set()
