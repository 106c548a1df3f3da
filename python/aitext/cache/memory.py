"""L1: an in-process LRU bounded in bytes, not entries."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from aitext.cache.keys import KEY_VERSION

# What an entry costs beyond the characters of its key and the bytes of its answer, so the budget
# bounds the process's memory and a flood of tiny answers is still bounded: the str and bytes
# headers (49 + 33), the entry object with its two floats and int, the OrderedDict's slot and
# node (245 by tracemalloc) and the allocators' rounding. Measured by bench/load/memory.py: a
# worker's RSS grows 841 B per cached ~430 B answer with its 86-character key.
ENTRY_OVERHEAD_BYTES = 400


@dataclass(frozen=True, slots=True)
class MemoryEntry:
    payload: bytes  # serialized ProcessResponse
    operation: str
    created_at: float
    expires_at: float
    size: int


class MemoryLRU:
    def __init__(self, max_bytes: int, max_item_bytes: int, on_evict: Callable[[], None] | None = None) -> None:
        self.max_bytes = max_bytes
        self.max_item_bytes = min(max_item_bytes, max_bytes)
        self._entries: OrderedDict[str, MemoryEntry] = OrderedDict()
        self._bytes = 0
        self.evictions = 0
        self._on_evict = on_evict  # told of each entry evicted for room (a metric counts them)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[str]:
        """The keys, least recently used first; a snapshot, so the caller may change the cache meanwhile."""
        return iter(self.keys())

    @property
    def bytes_used(self) -> int:
        return self._bytes

    @staticmethod
    def entry_size(key: str, payload: bytes) -> int:
        return len(key) + len(payload) + ENTRY_OVERHEAD_BYTES

    def get(self, key: str, now: float) -> MemoryEntry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= now:
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: str, payload: bytes, *, operation: str, created_at: float, expires_at: float) -> bool:
        """Stores the entry unless it is over the per-item cap; evicts least recently used entries to fit."""
        self._remove(key)
        size = self.entry_size(key, payload)
        if size > self.max_item_bytes:
            return False
        while self._bytes + size > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size
            self.evictions += 1
            if self._on_evict is not None:
                self._on_evict()
        self._entries[key] = MemoryEntry(payload, operation, created_at, expires_at, size)
        self._bytes += size
        return True

    def delete(self, key: str) -> int:
        return 1 if self._remove(key) else 0

    def delete_operation(self, operation: str) -> int:
        doomed = [key for key, entry in self._entries.items() if entry.operation == operation]
        for key in doomed:
            self._remove(key)
        return len(doomed)

    def delete_prefix(self, prefix: str) -> int:
        """Entries whose key starts with `prefix`: one partition, or one operation in it."""
        doomed = [key for key in self._entries if key.startswith(prefix)]
        for key in doomed:
            self._remove(key)
        return len(doomed)

    def delete_partition(self, namespace: str | None, operation: str | None = None) -> int:
        """One operation's entries (or all) in one partition (a namespace), or in every partition (None)."""
        if namespace is None:
            return self.clear() if operation is None else self.delete_operation(operation)
        return self.delete_prefix(f"{namespace}:{KEY_VERSION}:{operation}:" if operation else f"{namespace}:")

    def clear(self) -> int:
        count = len(self._entries)
        self._entries.clear()
        self._bytes = 0
        return count

    def keys(self) -> list[str]:
        """Least recently used first."""
        return list(self._entries)

    def _remove(self, key: str) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self._bytes -= entry.size
        return True
