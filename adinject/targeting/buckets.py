"""Sticky visitor buckets, for `percent` and for A/B `variants`.

Every visitor has a bucket 0-99: the value of the first-party cookie `adinject_bucket` (the middleware draws
one at random and sets it on the first visit), or, when the rules name a `bucket_header` (a logged-in user id,
say) and the request carries it, a hash of that header's value. The same visitor keeps the same bucket.

A rule's `percent: 30` does not take buckets 0-29 for every experiment: each experiment (a rule's name, a
unit's name, or an `experiment:` they name) reads the bucket through its own fixed permutation of 0-99. So
two 50% tests are independent (a visitor in one is in the other half the time, not always), while rules that
name the same experiment see the same visitors. Being a permutation, it keeps shares exact: `percent: 30`
is exactly 30 of the 100 buckets, and variants weighted 1:3 get exactly 25 and 75 of them.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence

BUCKETS = 100
BUCKET_COOKIE = "adinject_bucket"


def cookie_bucket(cookie_header: str | None) -> int | None:
    """The bucket in a Cookie header's `adinject_bucket`, or None when it is missing or not 0-99."""
    if not cookie_header:
        return None
    for pair in cookie_header.split(";"):
        name, sep, value = pair.partition("=")
        if sep and name.strip() == BUCKET_COOKIE:
            text = value.strip().strip('"')
            # Only what the middleware writes: one or two ASCII digits (int() would take "+1", " 1", "١").
            if 1 <= len(text) <= 2 and text.isascii() and text.isdigit():
                return int(text)
            return None
    return None


def hashed_bucket(value: str) -> int:
    """A bucket from any text (a user id): stable across processes, versions and machines."""
    digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


@functools.lru_cache(maxsize=1024)
def _permutation(experiment: str) -> tuple[int, ...]:
    def rank(bucket: int) -> bytes:
        return hashlib.blake2b(f"{experiment}\x00{bucket}".encode(), digest_size=16).digest()

    order = sorted(range(BUCKETS), key=rank)
    position = [0] * BUCKETS
    for index, bucket in enumerate(order):
        position[bucket] = index
    return tuple(position)


def experiment_bucket(bucket: int, experiment: str) -> int:
    """The visitor's bucket as `experiment` sees it: a fixed permutation of 0-99 per experiment name."""
    return _permutation(experiment)[bucket]


def in_percent(bucket: int | None, percent: int, experiment: str) -> bool:
    """Whether a visitor is in `percent`% of `experiment`. Without a bucket, only 100% holds."""
    if percent >= BUCKETS:
        return True
    if percent <= 0 or bucket is None:
        return False
    return experiment_bucket(bucket, experiment) < percent


def choose_variant(weights: Sequence[tuple[str, int]], bucket: int | None, experiment: str) -> str:
    """The variant (by name) a visitor sees; weights are relative. Without a bucket: the first weighted one.

    The 100 buckets are shared out in the order the variants are listed, each variant taking a run as long as
    its share of the total weight (rounded at run ends), so the split over all buckets is as exact as 100
    allows.
    """
    live = [(name, weight) for name, weight in weights if weight > 0]
    if not live:
        raise ValueError("no variant has a weight above 0")
    if bucket is None:
        return live[0][0]
    position = experiment_bucket(bucket, experiment)
    total = sum(weight for _, weight in live)
    cumulative = 0
    for name, weight in live:
        cumulative += weight
        # position < 100 * cumulative / total, in integers
        if position * total < cumulative * BUCKETS:
            return name
    return live[-1][0]
