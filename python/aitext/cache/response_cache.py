"""The tiered response cache the pipeline talks to: L1 memory, L2 Redis, one model call per key at a time."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from prometheus_client import CollectorRegistry

from aitext.cache import envelope
from aitext.cache.entry_checks import check_entry
from aitext.cache.fleet_flight import FleetFlight
from aitext.cache.invalidation import Invalidations
from aitext.cache.l2 import L2
from aitext.cache.lookup import CacheOutcome, Compute, Found, Lookup
from aitext.cache.memory import MemoryLRU
from aitext.cache.metrics import CacheMetrics, publish, published
from aitext.cache.redis_entries import RedisEntries
from aitext.cache.redis_tier import RedisClient, RedisTier
from aitext.cache.singleflight import SingleFlight
from aitext.cache.text_tiers import TextTiers
from aitext.config import Settings
from aitext.operations import OPERATIONS
from aitext.tracing import span
from aitext.v1 import aitext_pb2 as pb

log = logging.getLogger(__name__)


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
        self.text_tiers = TextTiers(
            settings.cache_tier_small_chars, settings.cache_tier_medium_chars, settings.cache_tier_large_chars
        )
        self._memory_tiers = frozenset(settings.cache_memory_tiers)
        secret = settings.cache_secret
        self.mac = envelope.EntryMac(secret.get_secret_value() if secret is not None else None)
        self._ttls = {op.name: settings.ttl_seconds(op.name) for op in OPERATIONS}
        self.metrics = CacheMetrics((op.name for op in OPERATIONS), registry)
        self.memory = MemoryLRU(
            settings.cache_memory_max_bytes, settings.cache_memory_max_item_bytes, self.metrics.memory_evictions.inc
        )
        self._set_cache_health = set_cache_health
        l2 = None
        if redis is not None:
            l2 = L2.build(
                settings,
                redis,
                owns_redis=owns_redis,
                memory=self.memory,
                metrics=self.metrics,
                mac=self.mac,
                on_health=set_cache_health,
            )
        self.redis: RedisTier | None = l2.tier if l2 else None
        self._entries: RedisEntries | None = l2.entries if l2 else None
        self._invalidations: Invalidations | None = l2.invalidations if l2 else None
        self._fleet: FleetFlight | None = l2.fleet if l2 else None
        self.metrics.bind_gauges(
            entries=lambda: len(self.memory),
            used=lambda: self.memory.bytes_used,
            max_bytes=self.memory.max_bytes,
            available=lambda: 1.0 if self.redis_available else 0.0,
        )
        # One L2 lookup or model call per key at a time, shared by the identical requests arriving meanwhile.
        self._flights: SingleFlight[str, Found] = SingleFlight()

    # --- lifecycle ---

    async def start(self) -> None:
        """Connects to Redis if configured; a Redis that is down only means L2 waits for it."""
        publish(self.metrics)
        self.mac.warn_if_unkeyed(stored_in_redis=self.redis is not None)
        if self.redis is not None and self._invalidations is not None:
            await self.redis.start()
            if self._fleet is not None:
                self._fleet.subscribe()  # registered first: both channels join the one subscription at once
            await self._invalidations.subscribe(self._settings.redis_timeout_seconds)
        elif self._set_cache_health is not None:
            self._set_cache_health(True)

    async def close(self) -> None:
        await self._flights.cancel_all()
        if self._invalidations is not None:
            await self._invalidations.close()
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
        self,
        key: str,
        *,
        operation: str,
        text_len: int,
        control: pb.CacheControl,
        compute: Compute,
        tenant: str = "",
        options: Mapping[str, int] | None = None,
        count_lookups: bool = True,
        deadline: float | None = None,
    ) -> CacheOutcome:
        """The answer under `key`, from a tier or from compute().

        `tenant` labels the counters (GetCacheStats is scoped by it); the key's namespace is what
        partitions the entries. `options` are the request's effective options: an answer read from
        Redis must keep their bounds to be served (None checks only the result type's own bounds).
        `deadline` (loop time) bounds a wait for another worker computing the same key.
        """
        max_age = control.max_age_seconds if control.HasField("max_age_seconds") else None
        if not control.skip_read:
            # L1 entries are checked on the way in (computed here, or read from Redis through every
            # check below), and live in this process only: a hit needs no MAC. The hit path does
            # only what a hit needs; the rest of the request is assembled after a miss.
            with span("cache.memory", {"aitext.operation": operation}) as current:
                now = time.time()
                entry = self.memory.get(key, now)
                fresh = entry is not None and (max_age is None or now - entry.created_at <= max_age)
                current.set_attribute("aitext.cache.hit", fresh)
            if count_lookups:
                self.metrics.count_lookup(tenant, "memory", operation, fresh)
            if entry is not None and fresh:
                return CacheOutcome(
                    envelope.parse_response(entry.payload), True, "memory", max(0.0, now - entry.created_at)
                )

        ttl = control.ttl_seconds if control.HasField("ttl_seconds") else self._ttls[operation]
        request = Lookup(
            key,
            operation,
            tenant,
            options,
            text_len,
            ttl,
            admit=self.text_tiers.of(text_len) in self._memory_tiers,
            store=not control.skip_write and ttl > 0,
            max_age=max_age,
            compute=compute,
            counted=count_lookups,
            deadline=deadline,
        )
        if control.skip_read:
            return (await self._compute_and_store(request)).outcome()

        joining = key in self._flights
        if joining:
            self.metrics.singleflight_joins.inc()
        found = await self._flights.do(key, lambda: self._lookup_l2_or_compute(request))
        if joining and found.hit and request.too_old(found.created_at, time.time()):
            # The shared answer is a cached one older than this request accepts.
            found = await self._compute_and_store(request)
        return found.outcome()

    async def _lookup_l2_or_compute(self, request: Lookup) -> Found:
        found = await self._redis_lookup(request)
        if found is not None:
            return found
        if self._fleet is None or not request.store or not self.redis_available:
            # An answer that will not be stored would leave the fleet's waiters nothing to read.
            return await self._compute_and_store(request)
        recheck = replace(request, counted=False)  # the miss is counted once
        return await self._fleet.run(
            request.key,
            lambda: self._redis_lookup(recheck),
            lambda: self._compute_and_store(request),
            request.deadline,
        )

    async def _redis_lookup(self, request: Lookup) -> Found | None:
        if self._entries is None:
            return None
        stored = await self._entries.get(
            request.key,
            tenant=request.tenant,
            check=lambda found, response: check_entry(request.operation, request.options, found, response),
        )
        now = time.time()
        hit = stored is not None and not request.too_old(stored.created_at, now)
        if request.counted:
            self.metrics.count_lookup(request.tenant, "redis", request.operation, hit)
        if stored is None or not hit:
            return None
        if request.admit and stored.expires_at > now:
            self._admit(request, stored.payload, stored.created_at, stored.expires_at)
        return Found(stored.payload, True, "redis", stored.created_at)

    async def _compute_and_store(self, request: Lookup) -> Found:
        response = await request.compute()
        response.ClearField("cache")
        payload = response.SerializeToString()
        created_at = time.time()
        if request.store:
            if self._entries is not None:
                stored = envelope.Envelope(payload, created_at, request.ttl, request.text_len, response.model)
                await self._entries.put(request.key, stored)
            if request.admit:
                self._admit(request, payload, created_at, created_at + request.ttl)
        return Found(payload, False, "", created_at)

    def _admit(self, request: Lookup, payload: bytes, created_at: float, expires_at: float) -> None:
        self.memory.put(request.key, payload, operation=request.operation, created_at=created_at, expires_at=expires_at)

    # --- invalidation: this process's memory, then Redis and the other processes' memory ---
    # `namespace` limits a clear to one partition (a tenant's); None clears every partition.

    async def invalidate_operation(self, operation: str, namespace: str | None = None) -> int:
        if operation not in self._ttls:
            raise ValueError(f"unknown operation {operation!r}")
        in_memory = self.memory.delete_partition(namespace, operation)
        return in_memory if self._invalidations is None else await self._invalidations.operation(operation, namespace)

    async def invalidate_all(self, namespace: str | None = None) -> int:
        in_memory = self.memory.delete_partition(namespace)
        return in_memory if self._invalidations is None else await self._invalidations.everything(namespace)

    async def invalidate_key(self, key: str) -> int:
        in_memory = self.memory.delete(key)
        return in_memory if self._invalidations is None else await self._invalidations.key(key)

    # --- monitoring ---

    def observe_key_latency(self, text_len: int, backend: str, seconds: float) -> None:
        self.metrics.observe_key_latency(self.text_tiers.of(text_len), backend, seconds)
