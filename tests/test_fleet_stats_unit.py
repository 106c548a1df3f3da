"""Snapshots of cache figures: they survive JSON, add up bucket by bucket, and expire on disk."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from aitext.cache.metrics import CacheMetrics, quantile
from aitext.fleet_stats import DirectorySnapshots, Figures, Snapshot

pytestmark = pytest.mark.unit


def _figures(latencies: list[float], tenant: str, lookups: int) -> Figures:
    metrics = CacheMetrics(["sentiment"])
    for _ in range(lookups):
        metrics.count_lookup(tenant, "memory", "sentiment", hit=False)
    for seconds in latencies:
        metrics.observe_key_latency("small", "rust", seconds)
    metrics.count_decode_failure(tenant, "mac")
    return Figures.of(metrics, memory_entries=3, memory_bytes=300, memory_max_bytes=1000)


def test_a_snapshot_survives_json_with_its_infinite_bucket() -> None:
    figures = _figures([1e-6, 2e-5], "alpha", 2)
    back = Snapshot.decode(Snapshot("h", 7, figures).encode(), 0.5)
    assert back is not None
    assert (back.worker_id, back.age_seconds, back.figures) == ("h:7", 0.5, figures)
    assert back.figures.key_latency[("small", "rust")][-1] == (float("inf"), 2.0)


def test_snapshots_of_another_format_are_ignored() -> None:
    assert Snapshot.decode(b'{"v": 99}', 0) is None
    assert Snapshot.decode(b"not json", 0) is None


def test_merging_adds_buckets_and_the_percentile_comes_from_the_sum() -> None:
    # One worker fast, one slow: the fleet's p50 lies between, which averaging p50s would not give in general.
    fast, slow = _figures([1e-6] * 90, "alpha", 5), _figures([1e-3] * 10, "beta", 2)
    total = Figures()
    total.add(fast)
    total.add(slow)
    buckets = total.key_latency[("small", "rust")]
    assert buckets[-1][1] == 100
    assert quantile(buckets, 0.5) < 2e-6 and quantile(buckets, 0.95) > 5e-4
    assert total.lookup_counts("alpha") == {("memory", "sentiment", "miss"): 5}
    assert total.lookup_counts(None) == {("memory", "sentiment", "miss"): 7}
    assert total.decode_failure_counts(None) == {"mac": 2}
    assert (total.memory_entries, total.memory_bytes, total.memory_max_bytes) == (6, 600, 2000)


def test_a_directory_store_skips_its_own_and_drops_stale_files(tmp_path: Path) -> None:
    store = DirectorySnapshots(tmp_path)
    figures = _figures([], "alpha", 1)
    for pid in (1, 2, 3):
        asyncio.run(store.put(Snapshot("h", pid, figures), 6))
    old = time.time() - 60
    os.utime(tmp_path / "h:3.json", (old, old))  # its worker stopped publishing a minute ago
    others = asyncio.run(store.others("h:1", 6))
    assert [s.worker_id for s in others] == ["h:2"]
    assert not (tmp_path / "h:3.json").exists()
    assert not list(tmp_path.glob(".*.tmp")), "a write leaves no partial file behind"
