"""Giving a visitor a sticky bucket: the `adinject_bucket` cookie, as pure functions the middleware calls.

When the rules of a page's URL split visitors (`percent`, unit `variants`), `Rules.request_headers(path)`
includes `cookie`. A visitor who has no valid `adinject_bucket` cookie gets a random bucket 0-99 for this
request (the engine sees it as if the cookie had been sent, so this page already uses it) and a `Set-Cookie`
that keeps it: first party, `Path=/` so every article agrees, a year long, `SameSite=Lax` (sent on top-level
navigation from other sites, which is how readers arrive), `Secure` on HTTPS. It is not `HttpOnly`: nothing
secret is in it, and a page script may want to read the bucket for its own analytics.

A response that sets the cookie must not be stored by a shared cache, or every reader the cache serves would
get the same bucket: `cache_control_with_cookie` makes it `private`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from adinject.fields import cache_control
from adinject.targeting.buckets import BUCKET_COOKIE, BUCKETS
from adinject.targeting.facts import visitor_bucket

MAX_AGE = 31_536_000  # one year, in seconds


@dataclass(frozen=True, slots=True)
class BucketAssignment:
    headers: dict[str, str]  # the request headers for the engine, with the bucket cookie when one was drawn
    set_cookie: str | None  # the Set-Cookie value for the response, or None when the visitor has a bucket
    bucket: int | None  # the visitor's bucket as targeting reads it; None when the rules split no one


def _draw() -> int:
    return secrets.randbelow(BUCKETS)


def ensure_bucket(
    headers: Mapping[str, str],
    reads: Collection[str],
    *,
    secure: bool = False,
    draw: Callable[[], int] = _draw,
    bucket_header: str | None = None,
) -> BucketAssignment:
    """`headers` (lower-case names, as the middleware builds them) with a bucket for this visitor.

    `reads` is `rules.request_headers(path)` for the page's URL path: without `cookie` in it nothing is drawn
    or set. A visitor who has a bucket as targeting reads it (`visitor_bucket`: the `bucket_header` when the
    request carries it, else a valid cookie) keeps it, with no cookie to set; a visitor named by the bucket
    header is not made private either. `draw` returns 0-99 (tests pass their own).
    """
    out = dict(headers)
    if "cookie" not in reads:
        return BucketAssignment(out, None, None)
    have = visitor_bucket(out, bucket_header.lower() if bucket_header else None)
    if have is not None:
        return BucketAssignment(out, None, have)
    bucket = draw()
    if not 0 <= bucket < BUCKETS:
        raise ValueError(f"draw() returned {bucket}, not 0-{BUCKETS - 1}")
    pair = f"{BUCKET_COOKIE}={bucket}"
    # An invalid adinject_bucket the visitor sent must not shadow the new one: the new pair goes first, and
    # cookie_bucket reads the first.
    out["cookie"] = f"{pair}; {out['cookie']}" if out.get("cookie") else pair
    return BucketAssignment(out, set_cookie(bucket, secure=secure), bucket)


def set_cookie(bucket: int, *, secure: bool = False) -> str:
    return f"{BUCKET_COOKIE}={bucket}; Path=/; Max-Age={MAX_AGE}; SameSite=Lax" + (
        "; Secure" if secure else ""
    )


def cache_control_with_cookie(value: str | Iterable[str] | None) -> str:
    """The Cache-Control for a response that sets the bucket cookie: never stored by a shared cache.

    `value` is the response's Cache-Control: one line, all its lines (one list, RFC 9110 §5.3), or None.
    """
    directives = cache_control([value] if isinstance(value, str) else value or ())
    if {name for name, _ in directives} & {"private", "no-store"}:
        return ", ".join(text for _, text in directives)
    # `public` and `s-maxage` speak to shared caches, which must not store this response at all.
    kept = [text for name, text in directives if name not in ("public", "s-maxage")]
    return ", ".join(["private", *kept])
