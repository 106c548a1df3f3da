"""The GetCacheStats response, summed over the fleet's snapshots (aitext.fleet_stats)."""

from __future__ import annotations

import os
import socket

from aitext.cache.metrics import TEXT_TIERS, TIERS, quantile
from aitext.cache.response_cache import ResponseCache
from aitext.fleet_stats import Figures, Fleet, Snapshot
from aitext.operations import OPERATIONS
from aitext.v1 import aitext_pb2 as pb


def figures_of(cache: ResponseCache) -> Figures:
    """This worker's figures now."""
    return Figures.of(cache.metrics, len(cache.memory), cache.memory.bytes_used, cache.memory.max_bytes)


def fill_cache_stats(
    out: pb.GetCacheStatsResponse, cache: ResponseCache, fleet: Fleet | None = None, tenant: str | None = None
) -> None:
    """Sets the cache's fields of a GetCacheStatsResponse: lookups by tier and operation, sizes, key latency.

    The counts are the sums over `fleet`'s workers (its first is the answering one; None: this
    worker alone, as `cache` counts now); `cache` gives the answering worker's configuration and health (redis_mode, redis_available).
    With `tenant`, only what that tenant's own requests did: its lookups and decode failures. The
    fields about workers as a whole would show other tenants' activity, so they stay unset;
    the configuration and health fields (memory_max_bytes, redis_mode, redis_available) are shown.
    """
    if fleet is None:
        fleet = Fleet([Snapshot(socket.gethostname(), os.getpid(), figures_of(cache))], "worker", 0.0)
    figures = fleet.total()
    counts = figures.lookup_counts(tenant)
    operations = sorted(op.name for op in OPERATIONS)
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
    lookups, hits = _lookups_and_hits(counts)
    out.hit_ratio = hits / lookups if lookups else 0.0
    out.memory_max_bytes = figures.memory_max_bytes
    out.redis_mode = cache.redis_mode
    out.redis_available = cache.redis_available
    failures = figures.decode_failure_counts(tenant)
    out.decode_failures = int(sum(failures.values()))
    for reason, count in failures.items():
        out.decode_failures_by_reason[reason] = int(count)
    out.scope = fleet.scope
    out.snapshot_expiry_seconds = fleet.expiry_seconds
    for index, snapshot in enumerate(fleet.snapshots):
        worker_lookups, worker_hits = _lookups_and_hits(snapshot.figures.lookup_counts(tenant))
        worker = out.workers.add(
            worker_id=snapshot.worker_id,
            host=snapshot.host,
            pid=snapshot.pid,
            age_seconds=snapshot.age_seconds,
            answering=index == 0,
            lookups=int(worker_lookups),
            hits=int(worker_hits),
            hit_ratio=worker_hits / worker_lookups if worker_lookups else 0.0,
        )
        if tenant is None:
            worker.memory_entries = snapshot.figures.memory_entries
            worker.memory_bytes = snapshot.figures.memory_bytes
    if tenant is not None:
        out.tenant = tenant
        return
    out.memory_entries = figures.memory_entries
    out.memory_bytes = figures.memory_bytes
    out.compression_ratio = figures.stored_bytes / figures.payload_bytes if figures.payload_bytes else 1.0
    out.singleflight_joins = int(figures.singleflight_joins)
    out.chunk_hits, out.chunk_misses = figures.chunk_hits, figures.chunk_misses
    out.model_calls_saved = int(figures.model_calls_saved)
    latency = figures.key_latency
    for text_tier in TEXT_TIERS:
        for backend in sorted(b for (t, b) in latency if t == text_tier):
            # The workers' bucket counts were added up; percentiles are read from the sum.
            buckets = latency[(text_tier, backend)]
            out.key_latency.add(
                text_tier=text_tier,
                backend=backend,
                count=int(buckets[-1][1]),
                p50_us=quantile(buckets, 0.50) * 1e6,
                p95_us=quantile(buckets, 0.95) * 1e6,
                p99_us=quantile(buckets, 0.99) * 1e6,
            )


def _lookups_and_hits(counts: dict[tuple[str, str, str], float]) -> tuple[float, float]:
    # Every read looks in memory first, so memory lookups are all lookups.
    lookups = sum(v for (t, _, _), v in counts.items() if t == "memory")
    hits = sum(v for (_, _, r), v in counts.items() if r == "hit")
    return lookups, hits
