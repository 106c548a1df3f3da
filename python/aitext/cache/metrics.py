"""Prometheus metrics of the response cache, also the source of GetCacheStats.

Each ResponseCache owns a CacheMetrics in its own CollectorRegistry, so several
caches in one process (tests) never collide. `publish()` makes one of them the
cache that the process-wide default registry (the side-port /metrics server)
exposes. Every series is a counter, a gauge or a fixed-bucket histogram over
bounded label sets: memory does not grow with traffic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

TIERS = ("memory", "redis")
TEXT_TIERS = ("small", "medium", "large", "xlarge")
KEY_BACKENDS = ("rust", "python")
OTHER = "other"

# 0.5 µs .. ~4 s in steps of sqrt(2): percentiles read back from these are within ~20 %.
KEY_LATENCY_BUCKETS = tuple(0.5e-6 * 2 ** (i / 2) for i in range(46))


class CacheMetrics:
    def __init__(self, operations: Iterable[str], registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.operations = frozenset(operations)
        r = self.registry
        self.lookups = Counter(
            "aitext_cache_lookups",
            "Cache lookups by tier, operation and result (hit or miss).",
            ["tier", "operation", "result"],
            registry=r,
        )
        self.decode_failures = Counter(
            "aitext_cache_decode_failures",
            "Stored values that failed to decode (deleted, counted as misses).",
            registry=r,
        )
        self.singleflight_joins = Counter(
            "aitext_cache_singleflight_joins", "Requests that waited for an identical in-flight miss.", registry=r
        )
        self.payload_bytes = Counter(
            "aitext_cache_payload_bytes", "Uncompressed bytes of the answers written to Redis.", registry=r
        )
        self.stored_bytes = Counter(
            "aitext_cache_stored_bytes", "Bytes written to Redis (envelope and payload, after lz4).", registry=r
        )
        self.redis_errors = Counter(
            "aitext_cache_redis_errors", "Redis commands that failed (the request went on without L2).", registry=r
        )
        self.memory_evictions = Counter(
            "aitext_cache_memory_evictions", "L1 entries evicted to stay within the byte budget.", registry=r
        )
        self.chunk_lookups = Counter(
            "aitext_cache_chunk_lookups",
            "Lookups of a long text's chunk results (map results) by result (hit or miss).",
            ["result"],
            registry=r,
        )
        self.model_calls_saved = Counter(
            "aitext_cache_model_calls_saved", "Map calls not made because the chunk's result was cached.", registry=r
        )
        self.memory_entries = Gauge("aitext_cache_memory_entries", "Entries in the L1 cache.", registry=r)
        self.memory_bytes = Gauge("aitext_cache_memory_bytes", "Bytes accounted to the L1 cache.", registry=r)
        self.memory_max_bytes = Gauge("aitext_cache_memory_max_bytes", "Byte budget of the L1 cache.", registry=r)
        self.redis_available = Gauge(
            "aitext_cache_redis_available", "1 when Redis answers, 0 when it is down or not configured.", registry=r
        )
        self.key_latency = Histogram(
            "aitext_cache_key_seconds",
            "Cache-key generation time by text-size tier and key backend.",
            ["text_tier", "backend"],
            buckets=KEY_LATENCY_BUCKETS,
            registry=r,
        )
        # labels() takes a lock and builds a tuple key on every call: the request path reuses the
        # children instead (bounded: the label values are mapped onto fixed sets first).
        self._lookup_children: dict[tuple[str, str, bool], Counter] = {}
        self._latency_children: dict[tuple[str, str], Histogram] = {}

    def operation_label(self, operation: str) -> str:
        return operation if operation in self.operations else OTHER

    def count_lookup(self, tier: str, operation: str, hit: bool) -> None:
        labels = (tier, self.operation_label(operation), hit)
        child = self._lookup_children.get(labels)
        if child is None:
            child = self._lookup_children[labels] = self.lookups.labels(labels[0], labels[1], "hit" if hit else "miss")
        child.inc()

    def count_chunk(self, hit: bool) -> None:
        self.chunk_lookups.labels("hit" if hit else "miss").inc()
        if hit:
            self.model_calls_saved.inc()

    def chunk_counts(self) -> tuple[int, int]:
        """(hits, misses) of chunk lookups."""
        counts = {s.labels["result"]: s.value for s in _samples(self.chunk_lookups, "_total")}
        return int(counts.get("hit", 0)), int(counts.get("miss", 0))

    def observe_key_latency(self, text_tier: str, backend: str, seconds: float) -> None:
        labels = (text_tier, backend if backend in KEY_BACKENDS else OTHER)
        child = self._latency_children.get(labels)
        if child is None:
            child = self._latency_children[labels] = self.key_latency.labels(*labels)
        child.observe(seconds)

    def bind_gauges(
        self,
        *,
        entries: Callable[[], float],
        used: Callable[[], float],
        max_bytes: float,
        available: Callable[[], float],
    ) -> None:
        self.memory_entries.set_function(entries)
        self.memory_bytes.set_function(used)
        self.memory_max_bytes.set(max_bytes)
        self.redis_available.set_function(available)

    # --- reading back (GetCacheStats) ---

    def lookup_counts(self) -> dict[tuple[str, str, str], float]:
        """(tier, operation, result) -> count, for every series that has been touched."""
        return {
            (s.labels["tier"], s.labels["operation"], s.labels["result"]): s.value
            for s in _samples(self.lookups, "_total")
        }

    @staticmethod
    def total(counter: Counter) -> float:
        return sum(s.value for s in _samples(counter, "_total"))

    def key_latency_buckets(self) -> dict[tuple[str, str], list[tuple[float, float]]]:
        """(text_tier, backend) -> cumulative [(upper bound, count)], +Inf last."""
        out: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for s in _samples(self.key_latency, "_bucket"):
            bound = float(s.labels["le"])
            out.setdefault((s.labels["text_tier"], s.labels["backend"]), []).append((bound, s.value))
        for buckets in out.values():
            buckets.sort()
        return out


def quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """Linear interpolation inside the bucket holding the q-quantile, like PromQL's histogram_quantile."""
    if not buckets or buckets[-1][1] == 0:
        return 0.0
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def _samples(metric: Counter | Histogram, suffix: str) -> Iterator[Sample]:
    for family in metric.collect():
        for sample in family.samples:
            if sample.name.endswith(suffix):
                yield sample


class _PublishedCache:
    """Registered once in the default registry; exposes whichever cache was published last."""

    def __init__(self) -> None:
        self.current: CacheMetrics | None = None

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        current = self.current
        if current is not None:
            yield from current.registry.collect()


_published = _PublishedCache()
_publish_lock = threading.Lock()
_registered = False


def publish(metrics: CacheMetrics | None) -> None:
    """Makes `metrics` the cache seen by prometheus_client's default registry (None: none)."""
    global _registered
    with _publish_lock:
        if not _registered:
            prometheus_client.REGISTRY.register(_published)
            _registered = True
        _published.current = metrics


def published() -> CacheMetrics | None:
    return _published.current
