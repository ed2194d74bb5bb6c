"""What one request tells targeting, read once: device class, bucket, referrer, query, and the time.

Only facts are kept, never the raw headers: two iPhones give equal facts, and so (see `Rules.request_key`)
share one cached plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from adinject.targeting.buckets import cookie_bucket, hashed_bucket
from adinject.targeting.device import Device, device_class

# The request headers each fact is read from. The condition table (conditions.py) names these same
# constants, so the headers a rule depends on (its `Vary`) are the headers actually read.
DEVICE_HEADERS = ("user-agent", "sec-ch-ua-mobile")
REFERRER_HEADER = "referer"
COOKIE_HEADER = "cookie"


def bucket_headers(bucket_header: str | None) -> frozenset[str]:
    """The headers the visitor's bucket is read from: `bucket_header` (when set), then the cookie."""
    return frozenset({COOKIE_HEADER, *([bucket_header.lower()] if bucket_header else [])})


@dataclass(frozen=True, slots=True)
class RequestFacts:
    device: Device = "desktop"
    bucket: int | None = None  # 0-99, None when the visitor has none (no cookie, no bucket header)
    referrer_host: str | None = None  # lower-case host of the Referer, None without a usable one
    query: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value whatever the case of its name in `headers` (`name` is lower-case)."""
    value = headers.get(name)
    if value is None:
        for key, val in headers.items():
            if key.lower() == name:
                return val
    return value


def visitor_bucket(headers: Mapping[str, str], bucket_header: str | None) -> int | None:
    """The bucket from `bucket_header` when the request carries it, else from the adinject_bucket cookie."""
    if bucket_header:
        value = (header(headers, bucket_header) or "").strip()
        if value:
            return hashed_bucket(value)
    return cookie_bucket(header(headers, COOKIE_HEADER))


def referrer_host(value: str | None) -> str | None:
    if not value:
        return None
    try:
        host = urlsplit(value.strip()).hostname
    except ValueError:
        return None
    return host.rstrip(".") or None if host else None


def request_facts(
    url: str,
    headers: Mapping[str, str],
    *,
    now: datetime | None = None,
    bucket_header: str | None = None,
) -> RequestFacts:
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    query = {k: tuple(v) for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}
    return RequestFacts(
        device=device_class(*(header(headers, name) for name in DEVICE_HEADERS)),
        bucket=visitor_bucket(headers, bucket_header),
        referrer_host=referrer_host(header(headers, REFERRER_HEADER)),
        query=query,
        now=now,
    )
