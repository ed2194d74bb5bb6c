"""One thread-safe LRU map bounded in entries and in weight, for every cache adinject keeps.

The plan cache, the rendered-markup cache and the checked-fragment cache each hold values whose size
varies by orders of magnitude (a plan of a 5 MB page, a 100 KB unit title), so a bound on entries alone does
not bound memory: each entry is kept with its weight, and the least recently used go first until both bounds
hold. A value heavier than the whole weight bound is not kept at all. Every access takes a lock (the engine
runs in worker threads for large pages); the critical sections are a few dict operations.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class WeightedLRU(Generic[V]):
    __slots__ = ("_entries", "_lock", "hits", "max_weight", "maxsize", "misses", "weight")

    def __init__(self, maxsize: int, max_weight: int) -> None:
        self.maxsize = maxsize
        self.max_weight = max_weight
        self.weight = 0  # the sum of the kept entries' weights
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: Hashable, value: V, weight: int) -> None:
        """Keep `value` under `key`, replacing what was there; one heavier than `max_weight` is not kept."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.weight -= old[1]
            if weight > self.max_weight:
                return
            self._entries[key] = (value, weight)
            self.weight += weight
            while len(self._entries) > self.maxsize or self.weight > self.max_weight:
                _, (_, gone) = self._entries.popitem(last=False)
                self.weight -= gone

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.weight = 0

    def keys(self) -> list[Hashable]:
        """The keys kept, least recently used first (a copy)."""
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries


class ByteBoundedCache(Generic[V]):
    """What the plan cache and the render cache show of their bounds and fill: a `WeightedLRU` whose
    weights are bytes, kept in `_lru` by the subclass."""

    __slots__ = ("_lru",)
    _lru: WeightedLRU[V]

    @property
    def maxsize(self) -> int:
        return self._lru.maxsize

    @property
    def max_bytes(self) -> int:
        return self._lru.max_weight

    @property
    def bytes(self) -> int:
        return self._lru.weight

    def __len__(self) -> int:
        return len(self._lru)


CACHED_KEY_CHARS = 256
"""The longest string read from a page (a class attribute) that a per-value cache keeps: pages repeat such
values, so caching their verdicts saves work, but a page may carry attributes of any length, and a cache of
thousands of entries must not hold megabytes of them. Longer values are judged afresh each time."""
