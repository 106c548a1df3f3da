"""The Redis side of the response cache, assembled in one place: the tier, its entries, the
invalidation protocol and the fleet-wide lease, all over one client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aitext.cache.envelope import EntryMac
from aitext.cache.fleet_flight import FleetFlight
from aitext.cache.invalidation import Invalidations
from aitext.cache.memory import MemoryLRU
from aitext.cache.metrics import CacheMetrics
from aitext.cache.redis_entries import RedisEntries
from aitext.cache.redis_tier import RedisClient, RedisTier
from aitext.config import Settings


@dataclass(frozen=True, slots=True)
class L2:
    tier: RedisTier
    entries: RedisEntries
    invalidations: Invalidations
    fleet: FleetFlight

    @classmethod
    def build(
        cls,
        settings: Settings,
        redis: RedisClient,
        *,
        owns_redis: bool,
        memory: MemoryLRU,
        metrics: CacheMetrics,
        mac: EntryMac,
        on_health: Callable[[bool], None] | None,
    ) -> L2:
        tier = RedisTier(
            redis,
            backoff_initial=settings.redis_backoff_initial_seconds,
            backoff_max=settings.redis_backoff_max_seconds,
            probe_interval=settings.redis_probe_interval_seconds,
            recovery_probes=settings.redis_recovery_probes,
            on_health=on_health,
            on_error=metrics.redis_errors.inc,
            owns_client=owns_redis,
        )
        entries = RedisEntries(
            tier, metrics, mac, max_payload=settings.max_message_bytes, compress_min=settings.cache_compress_min_bytes
        )
        return cls(
            tier,
            entries,
            Invalidations(settings.cache_namespace, tier, memory),
            FleetFlight(tier, settings.cache_namespace, settings.cache_lease_seconds),
        )
