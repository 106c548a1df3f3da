"""The GetCacheStats response, read from the cache's metrics and tiers."""

from __future__ import annotations

from aitext.cache.metrics import TEXT_TIERS, TIERS, quantile
from aitext.cache.response_cache import ResponseCache
from aitext.operations import OPERATIONS
from aitext.v1 import aitext_pb2 as pb


def fill_cache_stats(out: pb.GetCacheStatsResponse, cache: ResponseCache) -> None:
    """Sets the cache's fields of a GetCacheStatsResponse: lookups by tier and operation, sizes, key latency."""
    metrics = cache.metrics
    counts = metrics.lookup_counts()
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
    # Every read looks in memory first, so memory lookups are all lookups.
    lookups = sum(v for (t, _, _), v in counts.items() if t == "memory")
    hits = sum(v for (_, _, r), v in counts.items() if r == "hit")
    out.hit_ratio = hits / lookups if lookups else 0.0
    out.memory_entries = len(cache.memory)
    out.memory_bytes = cache.memory.bytes_used
    out.memory_max_bytes = cache.memory.max_bytes
    out.redis_mode = cache.redis_mode
    out.redis_available = cache.redis_available
    payload = metrics.total(metrics.payload_bytes)
    out.compression_ratio = metrics.total(metrics.stored_bytes) / payload if payload else 1.0
    out.decode_failures = int(metrics.total(metrics.decode_failures))
    out.singleflight_joins = int(metrics.total(metrics.singleflight_joins))
    out.chunk_hits, out.chunk_misses = metrics.chunk_counts()
    out.model_calls_saved = int(metrics.total(metrics.model_calls_saved))
    latency = metrics.key_latency_buckets()
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
