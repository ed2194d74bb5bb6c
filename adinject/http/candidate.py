"""Is this response one adinject may rewrite? One pure function of the start message and the request path.

The decision is made at `http.response.start`, before any body arrives, so that everything else goes out at
once, unbuffered. Each refusal has a short reason (for debug logs and tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from starlette.types import Message

from adinject.fields import cache_control
from adinject.http import codings
from adinject.http.headers import header_values, media_type, opted_out


def refusal(start: Message, path: str, matches_url: Callable[[str], bool]) -> str | None:
    """None when the response is a candidate for rewriting, else why not.

    Cheapest checks first; `matches_url` (the rules' URL globs) last.
    """
    if start.get("status") != 200:
        # 1xx, 204 and 304 must not carry a body; 206 is a byte range of something else; errors are not pages.
        return "status"
    if start.get("trailers", False):
        # Trailers come after the body and forbid a Content-Length we would need to set (ASGI trailers
        # extension).
        return "trailers"
    raw = start.get("headers") or ()
    # text/event-stream is refused here too: it is not text/html, and it must never be buffered.
    if media_type(header_values(raw, b"content-type")) != "text/html":
        return "media-type"
    if header_values(raw, b"content-range"):
        return "content-range"
    if "no-transform" in cache_directives(header_values(raw, b"cache-control")):
        # RFC 9110 §7.7: an intermediary must not transform such a response.
        return "no-transform"
    if opted_out(raw):
        return "opted-out"
    if codings.content_coding(header_values(raw, b"content-encoding")) is None:
        return "content-encoding"
    if not matches_url(path):
        return "url"
    return None


def cache_directives(values: Iterable[str]) -> frozenset[str]:
    """Directive names of Cache-Control header lines: split on commas, never substring-matched."""
    return frozenset(name for name, _ in cache_control(values))


def is_fragment_request(request_headers: Mapping[str, str]) -> bool:
    """True for htmx / Turbo Frame requests, whose HTML is a piece of a page rather than a page.

    A boosted htmx request (`HX-Boosted`) fetches a whole page and is not a fragment.
    """
    if request_headers.get("turbo-frame", "").strip():
        return True
    return (
        request_headers.get("hx-request", "").strip().lower() == "true"
        and request_headers.get("hx-boosted", "").strip().lower() != "true"
    )
