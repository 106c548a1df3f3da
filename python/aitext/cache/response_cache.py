"""The tiered response cache the pipeline talks to: L1 memory, L2 Redis, one model call per key at a time."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

from prometheus_client import CollectorRegistry

from aitext.cache import envelope
from aitext.cache.fleet_flight import FleetFlight
from aitext.cache.invalidation import Invalidations
from aitext.cache.keys import KEY_VERSION
from aitext.cache.memory import MemoryLRU
from aitext.cache.metrics import CacheMetrics, publish, published
from aitext.cache.redis_entries import RedisEntries
from aitext.cache.redis_tier import RedisClient, RedisTier, connect
from aitext.cache.singleflight import SingleFlight
from aitext.cache.text_tiers import TextTiers
from aitext.config import Settings
from aitext.operations import BY_NAME, OPERATIONS
from aitext.tracing import span
from aitext.v1 import aitext_pb2 as pb

log = logging.getLogger(__name__)

Compute = Callable[[], Awaitable[pb.ProcessResponse]]

# How far in the future a stored created_at may be and still be served: clocks of hosts sharing
# a Redis disagree by milliseconds under NTP; an entry dated later than this is not from one of them.
CLOCK_SKEW_SECONDS = 60.0


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


@dataclass(frozen=True, slots=True)
class _Request:
    """One get_or_compute call, as the steps of the request path need it."""

    key: str
    operation: str
    tenant: str  # labels its counters
    options: Mapping[str, int] | None  # the request's effective options: the bounds a stored answer must keep
    text_len: int
    ttl: int
    admit: bool  # to the memory tier (its text-size tier is one L1 keeps)
    store: bool  # the answer, once computed
    max_age: float | None
    compute: Compute
    # Whole answers count in the per-tier lookups; a long text's chunk entries count on their own.
    counted: bool
    deadline: float | None  # the request's, in loop time: how long it may wait for another worker's answer

    def too_old(self, created_at: float, now: float) -> bool:
        return self.max_age is not None and now - created_at > self.max_age


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
        self.memory = MemoryLRU(settings.cache_memory_max_bytes, settings.cache_memory_max_item_bytes)
        self.metrics = CacheMetrics((op.name for op in OPERATIONS), registry)
        self._set_cache_health = set_cache_health
        self.redis: RedisTier | None = None
        self._entries: RedisEntries | None = None
        self._invalidations: Invalidations | None = None
        self._fleet: FleetFlight | None = None
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
            self._entries = RedisEntries(
                self.redis,
                self.metrics,
                self.mac,
                max_payload=settings.max_message_bytes,
                compress_min=settings.cache_compress_min_bytes,
            )
            self._invalidations = Invalidations(settings.cache_namespace, self.redis, self.memory)
            self._fleet = FleetFlight(self.redis, settings.cache_namespace, settings.cache_lease_seconds)
        self.metrics.bind_gauges(
            entries=lambda: len(self.memory),
            used=lambda: self.memory.bytes_used,
            max_bytes=self.memory.max_bytes,
            available=lambda: 1.0 if self.redis_available else 0.0,
        )
        self._evictions_seen = 0
        # One L2 lookup or model call per key at a time, shared by the identical requests arriving meanwhile.
        self._flights: SingleFlight[str, _Found] = SingleFlight()

    # --- lifecycle ---

    async def start(self) -> None:
        """Connects to Redis if configured; a Redis that is down only means L2 waits for it."""
        publish(self.metrics)
        if not self.mac.keyed:
            log.warning(
                "AITEXT_CACHE_SECRET is not set: %s",
                "Redis entries carry an unkeyed MAC, so anyone who can write to this Redis can plant answers "
                "that the service will serve; set the same secret on every worker and replica"
                if self.redis is not None
                else "no Redis is configured, so nothing is stored outside this process yet; set it before adding Redis",
            )
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
        request = _Request(
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
            return self._outcome(await self._compute_and_store(request))

        joining = key in self._flights
        if joining:
            self.metrics.singleflight_joins.inc()
        found = await self._flights.do(key, lambda: self._lookup_l2_or_compute(request))
        if joining and found.hit and request.too_old(found.created_at, time.time()):
            # The shared answer is a cached one older than this request accepts.
            found = await self._compute_and_store(request)
        return self._outcome(found)

    async def _lookup_l2_or_compute(self, request: _Request) -> _Found:
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

    async def _redis_lookup(self, request: _Request) -> _Found | None:
        if self._entries is None:
            return None
        stored = await self._entries.get(
            request.key, tenant=request.tenant, check=lambda found, response: _check(request, found, response)
        )
        now = time.time()
        hit = stored is not None and not request.too_old(stored.created_at, now)
        if request.counted:
            self.metrics.count_lookup(request.tenant, "redis", request.operation, hit)
        if stored is None or not hit:
            return None
        if request.admit and stored.expires_at > now:
            self._admit(request, stored.payload, stored.created_at, stored.expires_at)
        return _Found(stored.payload, True, "redis", stored.created_at)

    async def _compute_and_store(self, request: _Request) -> _Found:
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
        return _Found(payload, False, "", created_at)

    def _admit(self, request: _Request, payload: bytes, created_at: float, expires_at: float) -> None:
        self.memory.put(request.key, payload, operation=request.operation, created_at=created_at, expires_at=expires_at)
        evictions = self.memory.evictions
        if evictions != self._evictions_seen:
            self.metrics.memory_evictions.inc(evictions - self._evictions_seen)
            self._evictions_seen = evictions

    def _outcome(self, found: _Found) -> CacheOutcome:
        age = max(0.0, time.time() - found.created_at) if found.hit else 0.0
        return CacheOutcome(envelope.parse_response(found.payload), found.hit, found.tier, age)

    # --- invalidation: this process's memory, then Redis and the other processes' memory ---
    # `namespace` limits a clear to one partition (a tenant's); None clears every partition.

    async def invalidate_operation(self, operation: str, namespace: str | None = None) -> int:
        if operation not in self._ttls:
            raise ValueError(f"unknown operation {operation!r}")
        if namespace is None:
            in_memory = self.memory.delete_operation(operation)
        else:
            in_memory = self.memory.delete_prefix(f"{namespace}:{KEY_VERSION}:{operation}:")
        return in_memory if self._invalidations is None else await self._invalidations.operation(operation, namespace)

    async def invalidate_all(self, namespace: str | None = None) -> int:
        in_memory = self.memory.clear() if namespace is None else self.memory.delete_prefix(f"{namespace}:")
        return in_memory if self._invalidations is None else await self._invalidations.everything(namespace)

    async def invalidate_key(self, key: str) -> int:
        in_memory = self.memory.delete(key)
        return in_memory if self._invalidations is None else await self._invalidations.key(key)

    # --- monitoring ---

    def observe_key_latency(self, text_len: int, backend: str, seconds: float) -> None:
        self.metrics.observe_key_latency(self.text_tiers.of(text_len), backend, seconds)


def _check(request: _Request, stored: envelope.Envelope, response: pb.ProcessResponse) -> None:
    """Whether an authentic stored answer fits this request; EnvelopeError with the reason if not.

    The MAC proves who wrote an entry, not that the writer was right: these hold even against a
    leaked secret, a bug, or an answer stored before a bound was tightened.
    """
    spec = BY_NAME[request.operation]
    if response.operation != spec.enum:
        raise envelope.EnvelopeError(
            f"holds a {pb.Operation.Name(response.operation)} answer, not {spec.name}", reason="operation"
        )
    try:
        result = spec.result_type.read(response)
        if request.options is not None and result.checked(request.options) != result:
            raise ValueError("outside the request's bounds")
    except ValueError as exc:  # pydantic's ValidationError and OutputRejected are ValueErrors
        raise envelope.EnvelopeError(f"the answer breaks its bounds: {exc}", reason="bounds") from None
    if not math.isfinite(stored.created_at) or stored.created_at > time.time() + CLOCK_SKEW_SECONDS:
        raise envelope.EnvelopeError(f"created_at {stored.created_at} is not a past time", reason="created_at")


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
