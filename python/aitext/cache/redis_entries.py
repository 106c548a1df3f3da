"""Answers as Redis holds them: one lz4 envelope each; an entry that does not decode is deleted."""

from __future__ import annotations

import logging

from aitext.cache import envelope
from aitext.cache.metrics import CacheMetrics
from aitext.cache.redis_tier import RedisTier, Unavailable

log = logging.getLogger(__name__)


class RedisEntries:
    def __init__(self, redis: RedisTier, metrics: CacheMetrics, *, max_payload: int, compress_min: int) -> None:
        self._redis = redis
        self._metrics = metrics
        self._max_payload = max_payload
        self._compress_min = compress_min

    async def get(self, key: str) -> envelope.Envelope | None:
        """The stored answer; None when there is none, it does not decode, or Redis is down."""
        try:
            data = await self._redis.get(key)
        except Unavailable:
            return None
        if data is None:
            return None
        try:
            stored = envelope.decode(data, max_payload_bytes=self._max_payload)
            envelope.parse_response(stored.payload)
        except envelope.EnvelopeError as exc:
            self._metrics.decode_failures.inc()
            log.warning("cache entry %s does not decode (%s); deleting it", key, exc)
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
        data, _ = envelope.encode(stored, compress_min_bytes=self._compress_min)
        try:
            await self._redis.set(key, data, stored.ttl_seconds)
        except Unavailable:
            return
        self._metrics.payload_bytes.inc(len(stored.payload))
        self._metrics.stored_bytes.inc(len(data))
