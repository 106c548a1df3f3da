"""Answers as Redis holds them: one MAC'd lz4 envelope each; an entry that fails any check is deleted."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aitext.cache import envelope
from aitext.cache.metrics import CacheMetrics
from aitext.cache.redis_tier import RedisTier, Unavailable
from aitext.tracing import span
from aitext.v1 import aitext_pb2 as pb

log = logging.getLogger(__name__)

# The request's own checks of a stored answer; raises EnvelopeError with the reason it is not served.
Check = Callable[[envelope.Envelope, pb.ProcessResponse], None]


class RedisEntries:
    def __init__(
        self, redis: RedisTier, metrics: CacheMetrics, mac: envelope.EntryMac, *, max_payload: int, compress_min: int
    ) -> None:
        self._redis = redis
        self._metrics = metrics
        self._mac = mac
        self._max_payload = max_payload
        self._compress_min = compress_min

    async def get(self, key: str, *, tenant: str, check: Check) -> envelope.Envelope | None:
        """The stored answer; None when there is none, it fails a check, or Redis is down."""
        with span("cache.redis.get") as current:  # never the key
            stored = await self._get(key, tenant, check)
            current.set_attribute("aitext.cache.hit", stored is not None)
            return stored

    async def _get(self, key: str, tenant: str, check: Check) -> envelope.Envelope | None:
        try:
            data = await self._redis.get(key)
        except Unavailable:
            return None
        if data is None:
            return None
        try:
            stored = envelope.decode(data, key=key, mac=self._mac, max_payload_bytes=self._max_payload)
            check(stored, envelope.parse_response(stored.payload))
        except envelope.EnvelopeError as exc:
            # A miss: the caller computes the answer again and its write replaces this value.
            self._metrics.count_decode_failure(tenant, exc.reason)
            log.warning("cache entry %s not served (%s: %s); deleting it", key, exc.reason, exc)
            try:
                await self._redis.delete(key)
            except Unavailable:
                pass
            return None
        return stored

    async def put(self, key: str, stored: envelope.Envelope) -> None:
        """Stores the answer when Redis is up; a Redis that is down only means this answer is not shared."""
        if not self._redis.available:
            return
        data, _ = envelope.encode(stored, key=key, mac=self._mac, compress_min_bytes=self._compress_min)
        with span("cache.redis.set", {"aitext.stored_bytes": len(data)}):
            try:
                await self._redis.set(key, data, stored.ttl_seconds)
            except Unavailable:
                return
        self._metrics.payload_bytes.inc(len(stored.payload))
        self._metrics.stored_bytes.inc(len(data))
