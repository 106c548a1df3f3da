"""The tiered response cache the pipeline talks to: L1 memory, L2 Redis, single-flight."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from aitext.cache import envelope
from aitext.cache.memory import MemoryLRU
from aitext.cache.metrics import TEXT_TIERS, TIERS, CacheMetrics, publish, published, quantile
from aitext.cache.redis_tier import RedisClient, RedisTier, Unavailable, connect
from aitext.config import Settings
from aitext.operations import OPERATIONS
from aitext.v1 import aitext_pb2 as pb

log = logging.getLogger(__name__)

Compute = Callable[[], Awaitable[pb.ProcessResponse]]


@dataclass(slots=True)
class CacheOutcome:
    response: pb.ProcessResponse
    hit: bool
    tier: str  # "memory" | "redis" | "" on a miss
    age_seconds: float


@dataclass(frozen=True, slots=True)
class _Found:
    """What a single-flight resolves to; every waiter parses its own ProcessResponse from it."""

    payload: bytes
    hit: bool
    tier: str
    created_at: float


@dataclass(slots=True)
class _Flight:
    """One model call (or L2 lookup) shared by the concurrent identical requests waiting on it."""

    task: asyncio.Task[_Found]
    waiters: int = 0


@dataclass(frozen=True, slots=True)
class TextTiers:
    small: int
    medium: int
    large: int

    def __post_init__(self) -> None:
        if not self.small <= self.medium <= self.large:
            raise ValueError("text tier thresholds must satisfy small <= medium <= large")

    def of(self, text_len: int) -> str:
        if text_len < self.small:
            return "small"
        if text_len < self.medium:
            return "medium"
        if text_len < self.large:
            return "large"
        return "xlarge"


class ResponseCache:
    def __init__(
        self,
        settings: Settings,
        *,
        redis: RedisClient | None = None,
        owns_redis: bool = False,
        set_cache_health: Callable[[bool], None] | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._settings = settings
        self._namespace = settings.cache_namespace
        self.text_tiers = TextTiers(
            settings.cache_tier_small_chars, settings.cache_tier_medium_chars, settings.cache_tier_large_chars
        )
        self._memory_tiers = frozenset(settings.cache_memory_tiers)
        self._ttls = {op.name: getattr(settings, f"cache_ttl_{op.name}_seconds") for op in OPERATIONS}
        self._compress_min = settings.cache_compress_min_bytes
        self._max_payload = settings.max_message_bytes
        self.memory = MemoryLRU(settings.cache_memory_max_bytes, settings.cache_memory_max_item_bytes)
        self.metrics = CacheMetrics((op.name for op in OPERATIONS), registry)
        self._set_cache_health = set_cache_health
        self.redis: RedisTier | None = None
        if redis is not None:
            self.redis = RedisTier(
                redis,
                backoff_initial=settings.redis_backoff_initial_seconds,
                backoff_max=settings.redis_backoff_max_seconds,
                probe_interval=settings.redis_probe_interval_seconds,
                recovery_probes=settings.redis_recovery_probes,
                on_health=set_cache_health,
                on_error=self.metrics.redis_errors.inc,
                owns_client=owns_redis,
            )
        self.metrics.bind_gauges(
            entries=lambda: len(self.memory),
            used=lambda: self.memory.bytes_used,
            max_bytes=self.memory.max_bytes,
            available=lambda: 1.0 if self.redis_available else 0.0,
        )
        self._evictions_seen = 0
        # Processes sharing Redis announce invalidations on this channel, so each clears its own L1.
        # Each announcement carries a fresh token, also SET under the token key: a process whose
        # subscription was interrupted compares tokens to learn whether it missed one.
        self._invalidation_channel = f"{self._namespace}:invalidations"
        self._token_key = f"{self._namespace}.invalidation-token"  # outside "{namespace}:*"
        self._last_token: bytes | None = None
        self._gap_check: asyncio.Task[None] | None = None
        self._flights: dict[str, _Flight] = {}

    # --- lifecycle ---

    async def start(self) -> None:
        """Connects to Redis if configured; a Redis that is down only means L2 waits for it."""
        publish(self.metrics)
        if self.redis is not None:
            await self.redis.start()
            self.redis.subscribe(self._invalidation_channel, self._on_invalidation, self._on_subscription_gap)
            if self.redis.available:
                # So an invalidation published right after start() is not missed.
                try:
                    await asyncio.wait_for(self.redis.subscribed.wait(), self._settings.redis_timeout_seconds)
                    self._last_token = await self.redis.get(self._token_key)
                except (TimeoutError, Unavailable):
                    pass
        elif self._set_cache_health is not None:
            self._set_cache_health(True)

    async def close(self) -> None:
        flights = [flight.task for flight in self._flights.values()]
        if self._gap_check is not None:
            flights.append(self._gap_check)
        for task in flights:
            task.cancel()
        await asyncio.gather(*flights, return_exceptions=True)
        if self.redis is not None:
            await self.redis.close()
        if published() is self.metrics:
            publish(None)

    @property
    def redis_mode(self) -> str:
        return self.redis.mode if self.redis is not None else "none"

    @property
    def redis_available(self) -> bool:
        return self.redis is not None and self.redis.available

    def ttl_for(self, operation: str) -> int:
        return self._ttls[operation]

    # --- the request path ---

    async def get_or_compute(
        self, key: str, *, operation: str, text_len: int, control: pb.CacheControl, compute: Compute
    ) -> CacheOutcome:
        max_age = control.max_age_seconds if control.HasField("max_age_seconds") else None
        ttl = control.ttl_seconds if control.HasField("ttl_seconds") else self._ttls[operation]
        store = not control.skip_write and ttl > 0
        admit = self.text_tiers.of(text_len) in self._memory_tiers
        if control.skip_read:
            found = await self._compute_and_store(key, operation, text_len, ttl, admit, store, compute)
            return self._outcome(found)

        now = time.time()
        entry = self.memory.get(key, now)
        fresh = entry is not None and (max_age is None or now - entry.created_at <= max_age)
        self.metrics.count_lookup("memory", operation, fresh)
        if fresh:
            return CacheOutcome(
                envelope.parse_response(entry.payload), True, "memory", max(0.0, now - entry.created_at)
            )

        flight = self._flights.get(key)
        if flight is not None:
            self.metrics.singleflight_joins.inc()
            found = await self._wait(key, flight)
            if not found.hit or max_age is None or time.time() - found.created_at <= max_age:
                return self._outcome(found)
            # The shared answer is a cached one older than this request accepts.
            found = await self._compute_and_store(key, operation, text_len, ttl, admit, store, compute)
            return self._outcome(found)

        task = asyncio.get_running_loop().create_task(
            self._lookup_l2_or_compute(key, operation, text_len, ttl, admit, store, max_age, compute)
        )
        flight = self._flights[key] = _Flight(task)
        task.add_done_callback(lambda done: self._flight_done(key, done))
        return self._outcome(await self._wait(key, flight))

    async def _wait(self, key: str, flight: _Flight) -> _Found:
        # Shielded: one caller going away does not cancel the answer the others wait for;
        # when the last one goes, the call is cancelled rather than paid for with nobody waiting.
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task)
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.task.done():
                if self._flights.get(key) is flight:
                    del self._flights[key]  # a request arriving now starts afresh
                flight.task.cancel()

    def _flight_done(self, key: str, task: asyncio.Task[_Found]) -> None:
        flight = self._flights.get(key)
        if flight is not None and flight.task is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # retrieved here so an error nobody awaited is not logged as "never retrieved"

    async def _lookup_l2_or_compute(
        self,
        key: str,
        operation: str,
        text_len: int,
        ttl: int,
        admit: bool,
        store: bool,
        max_age: float | None,
        compute: Compute,
    ) -> _Found:
        found = await self._redis_lookup(key, operation, admit, max_age)
        if found is not None:
            return found
        return await self._compute_and_store(key, operation, text_len, ttl, admit, store, compute)

    async def _redis_lookup(self, key: str, operation: str, admit: bool, max_age: float | None) -> _Found | None:
        if self.redis is None:
            return None
        try:
            data = await self.redis.get(key)
        except Unavailable:
            return None
        stored = None
        if data is not None:
            try:
                stored = envelope.decode(data, max_payload_bytes=self._max_payload)
                envelope.parse_response(stored.payload)
            except envelope.EnvelopeError as exc:
                stored = None
                self.metrics.decode_failures.inc()
                log.warning("cache entry %s does not decode (%s); deleting it", key, exc)
                try:
                    await self.redis.delete(key)
                except Unavailable:
                    pass
        now = time.time()
        hit = stored is not None and (max_age is None or now - stored.created_at <= max_age)
        self.metrics.count_lookup("redis", operation, hit)
        if not hit:
            return None
        if admit and stored.expires_at > now:
            self.memory.put(
                key, stored.payload, operation=operation, created_at=stored.created_at, expires_at=stored.expires_at
            )
            self._sync_evictions()
        return _Found(stored.payload, True, "redis", stored.created_at)

    async def _compute_and_store(
        self, key: str, operation: str, text_len: int, ttl: int, admit: bool, store: bool, compute: Compute
    ) -> _Found:
        response = await compute()
        response.ClearField("cache")
        payload = response.SerializeToString()
        created_at = time.time()
        if store:
            if self.redis is not None and self.redis.available:
                data, _ = envelope.encode(
                    envelope.Envelope(payload, created_at, ttl, text_len, response.model),
                    compress_min_bytes=self._compress_min,
                )
                try:
                    await self.redis.set(key, data, ttl)
                except Unavailable:
                    pass
                else:
                    self.metrics.payload_bytes.inc(len(payload))
                    self.metrics.stored_bytes.inc(len(data))
            if admit:
                self.memory.put(key, payload, operation=operation, created_at=created_at, expires_at=created_at + ttl)
                self._sync_evictions()
        return _Found(payload, False, "", created_at)

    def _outcome(self, found: _Found) -> CacheOutcome:
        age = max(0.0, time.time() - found.created_at) if found.hit else 0.0
        return CacheOutcome(envelope.parse_response(found.payload), found.hit, found.tier, age)

    def _sync_evictions(self) -> None:
        evictions = self.memory.evictions
        if evictions != self._evictions_seen:
            self.metrics.memory_evictions.inc(evictions - self._evictions_seen)
            self._evictions_seen = evictions

    # --- invalidation ---

    async def invalidate_operation(self, operation: str) -> int:
        if operation not in self._ttls:
            raise ValueError(f"unknown operation {operation!r}")
        return await self._invalidate(f"{_glob_escape(self._namespace)}:v1:{_glob_escape(operation)}:*", operation)

    async def invalidate_all(self) -> int:
        return await self._invalidate(f"{_glob_escape(self._namespace)}:*", None)

    async def invalidate_key(self, key: str) -> int:
        in_memory = self.memory.delete(key)
        if self.redis is None:
            return in_memory
        try:
            deleted = await self.redis.delete(key)
        except Unavailable as exc:
            raise ConnectionError(f"redis unavailable, cache entry not invalidated: {exc}") from exc
        await self._broadcast(f"key:{key}")
        return deleted

    async def _invalidate(self, pattern: str, operation: str | None) -> int:
        in_memory = self.memory.clear() if operation is None else self.memory.delete_operation(operation)
        if self.redis is None:
            return in_memory
        try:
            deleted = await self.redis.delete_matching(pattern)
        except Unavailable as exc:
            raise ConnectionError(f"redis unavailable, cache not invalidated: {exc}") from exc
        await self._broadcast("all" if operation is None else f"op:{operation}")
        return deleted

    async def _broadcast(self, message: str) -> None:
        # After the Redis delete, so no other process re-promotes an entry that is about to go.
        token = uuid.uuid4().hex
        try:
            await self.redis.set(self._token_key, token.encode(), None)
            await self.redis.publish(self._invalidation_channel, f"{token} {message}")
        except Unavailable:
            log.warning("invalidation %r not broadcast; other processes' memory tiers keep it until TTL", message)

    def _on_invalidation(self, announcement: str) -> None:
        token, _, message = announcement.partition(" ")
        self._last_token = token.encode()
        kind, _, target = message.partition(":")
        if kind == "all":
            self.memory.clear()
        elif kind == "op":
            self.memory.delete_operation(target)
        elif kind == "key":
            self.memory.delete(target)

    def _on_subscription_gap(self) -> None:
        if self._gap_check is None or self._gap_check.done():
            self._gap_check = asyncio.get_running_loop().create_task(self._check_missed_invalidations())

    async def _check_missed_invalidations(self) -> None:
        try:
            token = await self.redis.get(self._token_key)
        except Unavailable:
            token = b"unknown"
        # None: nobody invalidated since Redis (re)started, and invalidations fail while it is down.
        if token is not None and token != self._last_token:
            dropped = self.memory.clear()
            log.info("missed an invalidation while unsubscribed; dropped %d memory entries", dropped)
        self._last_token = token

    # --- monitoring ---

    def observe_key_latency(self, text_len: int, backend: str, seconds: float) -> None:
        self.metrics.observe_key_latency(self.text_tiers.of(text_len), backend, seconds)

    def fill_stats(self, out: pb.GetCacheStatsResponse) -> None:
        counts = self.metrics.lookup_counts()
        operations = sorted(self._ttls)
        for tier in TIERS:
            hits = sum(v for (t, _, r), v in counts.items() if t == tier and r == "hit")
            misses = sum(v for (t, _, r), v in counts.items() if t == tier and r == "miss")
            out.counts.add(tier=tier, operation="", hits=int(hits), misses=int(misses))
            for op in operations:
                out.counts.add(
                    tier=tier,
                    operation=op,
                    hits=int(counts.get((tier, op, "hit"), 0)),
                    misses=int(counts.get((tier, op, "miss"), 0)),
                )
        # Every read looks in memory first, so memory lookups are all lookups.
        lookups = sum(v for (t, _, _), v in counts.items() if t == "memory")
        hits = sum(v for (_, _, r), v in counts.items() if r == "hit")
        out.hit_ratio = hits / lookups if lookups else 0.0
        out.memory_entries = len(self.memory)
        out.memory_bytes = self.memory.bytes_used
        out.memory_max_bytes = self.memory.max_bytes
        out.redis_mode = self.redis_mode
        out.redis_available = self.redis_available
        payload = self.metrics.total(self.metrics.payload_bytes)
        out.compression_ratio = self.metrics.total(self.metrics.stored_bytes) / payload if payload else 1.0
        out.decode_failures = int(self.metrics.total(self.metrics.decode_failures))
        out.singleflight_joins = int(self.metrics.total(self.metrics.singleflight_joins))
        latency = self.metrics.key_latency_buckets()
        for text_tier in TEXT_TIERS:
            for backend in sorted(b for (t, b) in latency if t == text_tier):
                buckets = latency[(text_tier, backend)]
                out.key_latency.add(
                    text_tier=text_tier,
                    backend=backend,
                    count=int(buckets[-1][1]),
                    p50_us=quantile(buckets, 0.50) * 1e6,
                    p95_us=quantile(buckets, 0.95) * 1e6,
                    p99_us=quantile(buckets, 0.99) * 1e6,
                )


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def build_cache(
    settings: Settings,
    *,
    set_cache_health: Callable[[bool], None] | None = None,
    registry: CollectorRegistry | None = None,
) -> ResponseCache:
    """The cache described by settings: memory only, Redis, or Redis Cluster. No I/O until start()."""
    connected = connect(settings)
    client = connected[0] if connected is not None else None
    return ResponseCache(settings, redis=client, owns_redis=True, set_cache_health=set_cache_health, registry=registry)
