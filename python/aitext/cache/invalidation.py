"""Invalidation beyond this process: delete in Redis, then tell the processes sharing it to drop their copies.

Each process keeps answers in its own memory tier (L1). After deleting in
Redis, the invalidating process announces what it deleted. Each announcement on `{namespace}:invalidations` is "<token> <message>", the
message one of "all", "op:<operation>" (both across every partition),
"prefix:<key prefix>" (one partition, or one operation in it) or "key:<cache key>". The token is
fresh for each announcement and also SET under `{namespace}.invalidation-token`
(outside "{namespace}:*", so invalidate-all keeps it): a process whose
subscription was interrupted compares tokens to learn whether it missed one,
and if so clears its whole memory tier.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable

from aitext.cache.keys import KEY_VERSION
from aitext.cache.memory import MemoryLRU
from aitext.cache.redis_tier import RedisTier, Unavailable

log = logging.getLogger(__name__)


class Invalidations:
    def __init__(self, namespace: str, redis: RedisTier, memory: MemoryLRU) -> None:
        self._namespace = namespace
        self._redis = redis
        self._memory = memory
        self._channel = f"{namespace}:invalidations"
        self._token_key = f"{namespace}.invalidation-token"
        self._last_token: bytes | None = None
        self._gap_check: asyncio.Task[None] | None = None

    async def subscribe(self, timeout: float) -> None:
        """Subscribes; Redis must have been started. A Redis that is down subscribes when it comes up."""
        self._redis.subscribe(self._channel, self._on_announcement, self._on_subscription_gap)
        if self._redis.available:
            # So an invalidation published right after start() is not missed.
            try:
                await asyncio.wait_for(self._redis.subscribed.wait(), timeout)
                self._last_token = await self._redis.get(self._token_key)
            except (TimeoutError, Unavailable):
                pass

    async def close(self) -> None:
        if self._gap_check is not None:
            self._gap_check.cancel()
            await asyncio.gather(self._gap_check, return_exceptions=True)

    async def operation(self, operation: str, partition: str | None = None) -> int:
        """One operation's entries in one partition (a namespace), or in all of them (None)."""
        if partition is not None:
            prefix = f"{partition}:{KEY_VERSION}:{operation}:"
            return await self._delete(self._redis.delete_matching(_glob_escape(prefix) + "*"), f"prefix:{prefix}")
        # Keys are "{namespace}:v1:{op}:{hex}" with namespaces "{base}", "{base}:shared" and
        # "{base}:t:{tenant}": tenant names hold no ':', so "v1:{op}:" occurs only where it belongs.
        pattern = f"{_glob_escape(self._namespace)}:*{KEY_VERSION}:{_glob_escape(operation)}:*"
        return await self._delete(self._redis.delete_matching(pattern), f"op:{operation}")

    async def everything(self, partition: str | None = None) -> int:
        """Every entry of one partition, or (None) everything under the deployment's namespace."""
        if partition is not None:
            prefix = f"{partition}:"
            return await self._delete(self._redis.delete_matching(_glob_escape(prefix) + "*"), f"prefix:{prefix}")
        # Cache entries of every partition (and of the un-partitioned keys before tenants), not the
        # other keys under the namespace: rate-limit buckets ("{base}:ratelimit:...") stay.
        pattern = f"{_glob_escape(self._namespace)}:*{KEY_VERSION}:*"
        return await self._delete(self._redis.delete_matching(pattern), "all")

    async def key(self, key: str) -> int:
        return await self._delete(self._redis.delete(key), f"key:{key}")

    async def _delete(self, deletion: Awaitable[int], message: str) -> int:
        """Redis entries deleted; ConnectionError when Redis is down (the invalidation did not happen)."""
        try:
            deleted = await deletion
        except Unavailable as exc:
            raise ConnectionError(f"redis unavailable, cache not invalidated: {exc}") from exc
        await self._broadcast(message)
        return deleted

    async def _broadcast(self, message: str) -> None:
        # Called after the Redis delete, so no other process re-promotes an entry that is about to go.
        token = uuid.uuid4().hex
        try:
            await self._redis.set(self._token_key, token.encode(), None)
            await self._redis.publish(self._channel, f"{token} {message}")
        except Unavailable:
            log.warning("invalidation %r not broadcast; other processes' memory tiers keep it until TTL", message)

    def _on_announcement(self, announcement: str) -> None:
        token, _, message = announcement.partition(" ")
        self._last_token = token.encode()
        kind, _, target = message.partition(":")
        if kind == "all":
            self._memory.clear()
        elif kind == "op":
            self._memory.delete_operation(target)
        elif kind == "prefix":
            self._memory.delete_prefix(target)
        elif kind == "key":
            self._memory.delete(target)

    def _on_subscription_gap(self) -> None:
        if self._gap_check is None or self._gap_check.done():
            self._gap_check = asyncio.get_running_loop().create_task(self._check_missed())

    async def _check_missed(self) -> None:
        try:
            token = await self._redis.get(self._token_key)
        except Unavailable:
            token = b"unknown"
        # None: nobody invalidated since Redis (re)started, and invalidations fail while it is down.
        if token is not None and token != self._last_token:
            dropped = self._memory.clear()
            log.info("missed an invalidation while unsubscribed; dropped %d memory entries", dropped)
        self._last_token = token


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
