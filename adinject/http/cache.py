"""An LRU of engine plans, so a page served again skips parsing and placement.

Planning (parse + placement) is the expensive part of the engine; realizing a plan (rendering units, splicing)
is cheap and runs per request, so per-request context (the app's values, the response's CSP nonce) still
reaches the units. A plan is valid for one exact page, one rules version, one URL path, one response
Content-Type (its charset decides how the bytes are read) and one request key (`Rules.decide(...).key`: what
the request decided, such as which targeted rules hold and which A/B variants are shown, rather than the raw
header values, so visitors the rules cannot tell apart share a plan); the key is made of exactly those. The
page is represented by the app's strong ETag when it has one (a strong ETag promises byte identity) and
otherwise by an xxh3-128 digest of the body. The body length is always in the key as well: a cheap guard that
turns an app reusing a strong ETag for different bodies into a cache miss rather than a plan applied to bytes
it was not made for.
"""

from __future__ import annotations

import secrets
from collections.abc import Hashable, Iterable
from typing import TypeVar

import xxhash

from adinject.lru import ByteBoundedCache, WeightedLRU

P = TypeVar("P")

CacheKey = Hashable


class PlanCache(ByteBoundedCache[P]):
    """A thread-safe LRU mapping keys (from `key`) to plans, bounded in entries and in bytes.

    `maxsize` bounds the number of plans, `max_bytes` the sum of their sizes as `put` is told them (the
    middleware counts a plan as the length of the page it was made for: the page's strings a plan keeps,
    its head, meta and skip reasons, grow with the page, and 256 plans of 5 MB pages would otherwise be
    kept whatever their weight). The least recently used go first; a plan bigger than `max_bytes` is not
    kept at all.

    The engine may run in worker threads (large pages), so every access takes a lock; the critical sections
    are a few dict operations, never the engine itself. Two threads that miss on the same key both plan; the
    second `put` wins, which is harmless because equal keys give equal plans.
    """

    __slots__ = ("_seed",)

    def __init__(self, maxsize: int, *, max_bytes: int = 64_000_000) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1 (use no cache to turn caching off)")
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1 (use no cache to turn caching off)")
        self._lru = WeightedLRU(maxsize, max_bytes)
        # A per-process seed: page bytes may carry user-written text, and xxh3 is not collision-resistant
        # against someone who knows the seed; a secret seed keeps a crafted collision from picking another
        # page's plan.
        self._seed = secrets.randbits(64)

    def key(
        self,
        body: bytes,
        *,
        version: str,
        path: str,
        content_type: str = "",
        header_values: Iterable[str | None] = (),
        etag: str | None = None,
    ) -> CacheKey:
        """The key for planning `body` at `path` under rules `version` for this request.

        `etag` must be a strong ETag of exactly these bytes (or None); `header_values` is what the request
        contributes to the plan, in a stable order: the middleware passes `Rules.decide(...).key`.
        """
        page: tuple[str, str | bytes] = (
            ("etag", etag) if etag is not None else ("xxh3", xxhash.xxh3_128_digest(body, seed=self._seed))
        )
        return (page, len(body), version, path, content_type, tuple(header_values))

    def get(self, key: CacheKey) -> P | None:
        return self._lru.get(key)

    def put(self, key: CacheKey, plan: P, size: int = 0) -> None:
        """Keep `plan` under `key`, counted as `size` bytes; one over `max_bytes` alone is not kept."""
        self._lru.put(key, plan, size)

    def clear(self) -> None:
        self._lru.clear()

    @property
    def hits(self) -> int:
        return self._lru.hits

    @property
    def misses(self) -> int:
        return self._lru.misses

    def __contains__(self, key: object) -> bool:
        return key in self._lru
