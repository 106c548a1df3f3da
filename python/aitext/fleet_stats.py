"""Fleet-wide cache stats: each worker publishes a snapshot of its counters; GetCacheStats sums them.

A snapshot is a small JSON document of raw counter values (per tenant where GetCacheStats scopes by
tenant) and cumulative histogram buckets, not a GetCacheStatsResponse: the response holds derived
figures (ratios, percentiles) that do not add up across workers, while raw counts and bucket counts
do. It expires after `EXPIRY_PERIODS` publishing periods, so a dead worker drops out of the totals.

Where snapshots live:
- With Redis: one key per worker, `{namespace}.stats:{host}:{pid}`, SET with PX, and the worker's id
  in the set `{namespace}.stats-workers` so readers need no SCAN over the cache's keys. Both sit
  outside `{namespace}:*`, where every invalidation pattern looks, so clearing the cache keeps them.
- Without Redis: one file per worker in a directory the supervisor shares with its workers, written
  atomically (write, then rename); files older than the expiry are ignored and removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import Counter
from prometheus_client.samples import Sample

from aitext.cache.metrics import CacheMetrics
from aitext.cache.redis_tier import REDIS_FAILURES, RedisTier, Unavailable

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
EXPIRY_PERIODS = 3


@dataclass
class Figures:
    """The summable figures of one worker, or of several merged."""

    lookups: dict[tuple[str, str, str, str], float] = field(default_factory=dict)  # (tenant, tier, op, result)
    decode_failures: dict[tuple[str, str], float] = field(default_factory=dict)  # (tenant, reason)
    memory_entries: int = 0
    memory_bytes: int = 0
    memory_max_bytes: int = 0
    payload_bytes: float = 0.0
    stored_bytes: float = 0.0
    singleflight_joins: float = 0.0
    chunk_hits: int = 0
    chunk_misses: int = 0
    model_calls_saved: float = 0.0
    # (text_tier, backend) -> cumulative [(upper bound, count)], +Inf last: buckets add up, percentiles do not.
    key_latency: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=dict)

    @classmethod
    def of(cls, metrics: CacheMetrics, memory_entries: int, memory_bytes: int, memory_max_bytes: int) -> Figures:
        lookups: dict[tuple[str, str, str, str], float] = {}
        for s in _totals(metrics.lookups):
            key = (s.labels["tenant"], s.labels["tier"], s.labels["operation"], s.labels["result"])
            lookups[key] = lookups.get(key, 0.0) + s.value
        failures: dict[tuple[str, str], float] = {}
        for s in _totals(metrics.decode_failures):
            key2 = (s.labels["tenant"], s.labels["reason"])
            failures[key2] = failures.get(key2, 0.0) + s.value
        chunk_hits, chunk_misses = metrics.chunk_counts()
        return cls(
            lookups=lookups,
            decode_failures=failures,
            memory_entries=memory_entries,
            memory_bytes=memory_bytes,
            memory_max_bytes=memory_max_bytes,
            payload_bytes=metrics.total(metrics.payload_bytes),
            stored_bytes=metrics.total(metrics.stored_bytes),
            singleflight_joins=metrics.total(metrics.singleflight_joins),
            chunk_hits=chunk_hits,
            chunk_misses=chunk_misses,
            model_calls_saved=metrics.total(metrics.model_calls_saved),
            key_latency=metrics.key_latency_buckets(),
        )

    def add(self, other: Figures) -> None:
        for k, v in other.lookups.items():
            self.lookups[k] = self.lookups.get(k, 0.0) + v
        for k2, v in other.decode_failures.items():
            self.decode_failures[k2] = self.decode_failures.get(k2, 0.0) + v
        self.memory_entries += other.memory_entries
        self.memory_bytes += other.memory_bytes
        self.memory_max_bytes += other.memory_max_bytes
        self.payload_bytes += other.payload_bytes
        self.stored_bytes += other.stored_bytes
        self.singleflight_joins += other.singleflight_joins
        self.chunk_hits += other.chunk_hits
        self.chunk_misses += other.chunk_misses
        self.model_calls_saved += other.model_calls_saved
        for labels, buckets in other.key_latency.items():
            mine = dict(self.key_latency.get(labels, []))
            for bound, count in buckets:
                mine[bound] = mine.get(bound, 0.0) + count
            self.key_latency[labels] = sorted(mine.items())

    def lookup_counts(self, tenant: str | None) -> dict[tuple[str, str, str], float]:
        """(tier, operation, result) -> count, of one tenant or (None) of all."""
        counts: dict[tuple[str, str, str], float] = {}
        for (t, tier, op, result), v in self.lookups.items():
            if tenant is None or t == tenant:
                counts[(tier, op, result)] = counts.get((tier, op, result), 0.0) + v
        return counts

    def decode_failure_counts(self, tenant: str | None) -> dict[str, float]:
        counts: dict[str, float] = {}
        for (t, reason), v in self.decode_failures.items():
            if tenant is None or t == tenant:
                counts[reason] = counts.get(reason, 0.0) + v
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "lookups": [[*k, v] for k, v in self.lookups.items()],
            "decode_failures": [[*k, v] for k, v in self.decode_failures.items()],
            "memory_entries": self.memory_entries,
            "memory_bytes": self.memory_bytes,
            "memory_max_bytes": self.memory_max_bytes,
            "payload_bytes": self.payload_bytes,
            "stored_bytes": self.stored_bytes,
            "singleflight_joins": self.singleflight_joins,
            "chunk_hits": self.chunk_hits,
            "chunk_misses": self.chunk_misses,
            "model_calls_saved": self.model_calls_saved,
            # Bounds as strings: JSON has no infinity ("inf" parses back with float()).
            "key_latency": [
                [t, b, [[repr(le), c] for le, c in buckets]] for (t, b), buckets in self.key_latency.items()
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Figures:
        return cls(
            lookups={(str(t), str(tier), str(op), str(r)): float(v) for t, tier, op, r, v in data["lookups"]},
            decode_failures={(str(t), str(reason)): float(v) for t, reason, v in data["decode_failures"]},
            memory_entries=int(data["memory_entries"]),
            memory_bytes=int(data["memory_bytes"]),
            memory_max_bytes=int(data["memory_max_bytes"]),
            payload_bytes=float(data["payload_bytes"]),
            stored_bytes=float(data["stored_bytes"]),
            singleflight_joins=float(data["singleflight_joins"]),
            chunk_hits=int(data["chunk_hits"]),
            chunk_misses=int(data["chunk_misses"]),
            model_calls_saved=float(data["model_calls_saved"]),
            key_latency={
                (str(t), str(b)): [(float(le), float(c)) for le, c in buckets] for t, b, buckets in data["key_latency"]
            },
        )


def _totals(counter: Counter) -> Iterator[Sample]:
    for family in counter.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                yield sample


@dataclass
class Snapshot:
    host: str
    pid: int
    figures: Figures
    age_seconds: float = 0.0

    @property
    def worker_id(self) -> str:
        return f"{self.host}:{self.pid}"

    def encode(self) -> bytes:
        doc = {"v": FORMAT_VERSION, "host": self.host, "pid": self.pid, "figures": self.figures.to_json()}
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes, age_seconds: float) -> Snapshot | None:
        """None for a snapshot this version cannot read (another version's, or damaged)."""
        try:
            doc = json.loads(raw)
            if doc.get("v") != FORMAT_VERSION:
                return None
            return cls(str(doc["host"]), int(doc["pid"]), Figures.from_json(doc["figures"]), age_seconds)
        except (ValueError, KeyError, TypeError):
            return None


class SnapshotStore(Protocol):
    scope: str  # "deployment" or "host": what the snapshots of this store cover

    async def put(self, snapshot: Snapshot, expiry: float) -> None: ...
    async def others(self, own_id: str, expiry: float) -> list[Snapshot]: ...
    async def remove(self, worker_id: str) -> None: ...


class RedisSnapshots:
    scope = "deployment"

    def __init__(self, redis: RedisTier, namespace: str) -> None:
        self._redis = redis
        self._prefix = f"{namespace}.stats:"
        self._index = f"{namespace}.stats-workers"

    async def put(self, snapshot: Snapshot, expiry: float) -> None:
        if not self._redis.available:  # the tier's prober says when it is back; no timeouts meanwhile
            return
        client = self._redis.client
        await client.set(self._prefix + snapshot.worker_id, snapshot.encode(), px=int(expiry * 1000))
        await client.sadd(self._index, snapshot.worker_id)

    async def others(self, own_id: str, expiry: float) -> list[Snapshot]:
        if not self._redis.available:
            raise Unavailable("redis is down")
        client = self._redis.client
        # The client returns bytes (no decode_responses); str() covers a client that decodes.
        names = [m.decode() if isinstance(m, bytes) else m for m in await client.smembers(self._index)]
        ids = sorted(n for n in names if n != own_id)
        out: list[Snapshot] = []
        gone: list[str] = []
        for worker_id in ids:  # one replica holds a few workers: a round trip each is fine for a stats call
            key = self._prefix + worker_id
            raw = await client.get(key)
            ttl_ms = int(await client.pttl(key))
            if raw is None or ttl_ms < 0:
                gone.append(worker_id)
                continue
            # Age from the key's remaining time, not from clocks: replicas' clocks may disagree.
            data = raw.encode() if isinstance(raw, str) else raw
            snapshot = Snapshot.decode(data, max(0.0, expiry - ttl_ms / 1000))
            if snapshot is not None:
                out.append(snapshot)
        if gone:
            await client.srem(self._index, *gone)
        return out

    async def remove(self, worker_id: str) -> None:
        await self._redis.client.delete(self._prefix + worker_id)
        await self._redis.client.srem(self._index, worker_id)


class DirectorySnapshots:
    scope = "host"

    def __init__(self, directory: Path) -> None:
        self._dir = directory

    async def put(self, snapshot: Snapshot, expiry: float) -> None:
        await asyncio.to_thread(self._write, snapshot)

    def _write(self, snapshot: Snapshot) -> None:
        final = self._dir / f"{snapshot.worker_id}.json"
        partial = self._dir / f".{snapshot.worker_id}.json.tmp"
        partial.write_bytes(snapshot.encode())
        os.replace(partial, final)  # readers see the old snapshot or the new one, never half of one

    async def others(self, own_id: str, expiry: float) -> list[Snapshot]:
        return await asyncio.to_thread(self._read, own_id, expiry)

    def _read(self, own_id: str, expiry: float) -> list[Snapshot]:
        out: list[Snapshot] = []
        now = time.time()
        for path in sorted(self._dir.glob("*.json")):
            if path.stem == own_id:
                continue
            try:
                age = now - path.stat().st_mtime
                if age > expiry:
                    path.unlink(missing_ok=True)  # its worker is gone
                    continue
                snapshot = Snapshot.decode(path.read_bytes(), max(0.0, age))
            except FileNotFoundError:
                continue
            if snapshot is not None:
                out.append(snapshot)
        return out

    async def remove(self, worker_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self._dir / f"{worker_id}.json").unlink()


def make_run_directory() -> Path:
    """A fresh directory for one `aitext serve`'s snapshots: in /dev/shm when there is one (no disk writes)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="aitext-stats-", dir=base))


@dataclass
class Fleet:
    """What GetCacheStats sums: this worker's fresh figures first, then the others' latest snapshots."""

    snapshots: list[Snapshot]
    scope: str
    expiry_seconds: float

    def total(self) -> Figures:
        total = Figures()
        for snapshot in self.snapshots:
            total.add(snapshot.figures)
        return total


class FleetStats:
    """Publishes this worker's snapshot every `period` seconds and reads the fleet's."""

    def __init__(self, store: SnapshotStore | None, take: Callable[[], Figures], period: float) -> None:
        self._store = store
        self._take = take  # () -> Figures, this worker's figures now
        self.period = period
        self.expiry = EXPIRY_PERIODS * period
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._task: asyncio.Task[None] | None = None

    @property
    def worker_id(self) -> str:
        return f"{self.host}:{self.pid}"

    def own(self) -> Snapshot:
        return Snapshot(self.host, self.pid, self._take())

    def start(self) -> None:
        if self._store is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._publish_loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._store is not None:
            # A clean exit leaves at once instead of lingering until its snapshot expires.
            with contextlib.suppress(*REDIS_FAILURES, OSError):
                await self._store.remove(self.worker_id)

    async def _publish_loop(self) -> None:
        assert self._store is not None
        while True:
            try:
                await self._store.put(self.own(), self.expiry)
            except (*REDIS_FAILURES, OSError) as exc:
                log.debug("stats snapshot not published (%s)", exc)
            await asyncio.sleep(self.period)

    async def read(self, this_worker_only: bool) -> Fleet:
        own = self.own()
        if this_worker_only or self._store is None:
            return Fleet([own], "worker", self.expiry)
        try:
            others = await self._store.others(self.worker_id, self.expiry)
        except (*REDIS_FAILURES, Unavailable, OSError) as exc:
            log.warning("fleet stats unavailable (%s); answering with this worker's", exc)
            return Fleet([own], "worker", self.expiry)
        return Fleet([own, *others], self._store.scope, self.expiry)


def store_for(redis: RedisTier | None, namespace: str, directory: str | None) -> SnapshotStore | None:
    """Redis when the cache uses it (replicas share it), else the supervisor's directory, else none (one worker)."""
    if redis is not None:
        return RedisSnapshots(redis, namespace)
    if directory:
        return DirectorySnapshots(Path(directory))
    return None
