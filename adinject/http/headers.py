"""Reading and rewriting the raw ASGI header lists of a response (and reading a request's).

ASGI headers are a list of (name, value) byte pairs; names from servers are lower-case, but an app may send
any case, so every comparison here lower-cases. Values are latin-1, as in Starlette.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import Scope

from adinject.fields import media_type_of

RawHeaders = Sequence[tuple[bytes, bytes]] | Sequence[list[bytes]]

OPT_OUT_HEADER = b"x-adinject"


def header_values(raw: Iterable[Sequence[bytes]], name: bytes) -> list[str]:
    """Every value of header `name` (lower-case bytes), in order."""
    return [value.decode("latin-1") for key, value in raw if key.lower() == name]


def media_type(values: Sequence[str]) -> str:
    """The media type of the first Content-Type line, lower-case; "" when absent or not a media type."""
    return media_type_of(values[0]) if values else ""


def opted_out(raw: Iterable[Sequence[bytes]]) -> bool:
    """The app said `X-AdInject: off` on this response."""
    return any(value.strip().lower() == "off" for value in header_values(raw, OPT_OUT_HEADER))


def without_opt_out(raw: Iterable[Sequence[bytes]]) -> list[tuple[bytes, bytes]] | None:
    """The header list without any X-AdInject line, or None when there was none (so callers need not copy)."""
    pairs = [(bytes(key), bytes(value)) for key, value in raw]
    kept = [(key, value) for key, value in pairs if key.lower() != OPT_OUT_HEADER]
    return kept if len(kept) != len(pairs) else None


def normalized(raw: Iterable[Sequence[bytes]]) -> list[tuple[bytes, bytes]]:
    """A fresh header list with lower-case names and no X-AdInject line.

    Starlette's MutableHeaders matches names byte-for-byte against lower-case keys, so a header an app sent as
    `ETag` would escape `del headers["etag"]`; lower-casing first makes every later edit see every line.
    """
    pairs = ((bytes(key).lower(), bytes(value)) for key, value in raw)
    return [(key, value) for key, value in pairs if key != OPT_OUT_HEADER]


def request_headers(scope: Scope) -> dict[str, str]:
    """The request's headers as lower-case name -> value; repeated lines joined with ", " (RFC 9110 §5.3)."""
    out: dict[str, str] = {}
    for key, value in scope.get("headers") or ():
        name = key.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[name] = f"{out[name]}, {text}" if name in out else text
    return out


def strong_etag(raw: Iterable[Sequence[bytes]]) -> str | None:
    """The response's ETag when it is a single strong validator (byte-for-byte identity), else None."""
    values = header_values(raw, b"etag")
    if len(values) != 1:
        return None
    value = values[0].strip()
    return value if value.startswith('"') and value.endswith('"') and len(value) >= 2 else None


def add_vary(headers: MutableHeaders, names: Iterable[str]) -> None:
    """Add each name to Vary unless it is already there (or Vary is `*`, which already covers everything)."""
    present = {token.strip().lower() for value in headers.getlist("vary") for token in value.split(",")}
    if "*" in present:
        return
    missing = sorted({name.lower() for name in names} - present)
    if missing:
        headers.add_vary_header(", ".join(missing))


# Digests of the app's bytes (RFC 1864, RFC 3230, RFC 9530): wrong for any other body.
DIGEST_HEADERS = ("content-md5", "digest", "content-digest", "repr-digest")

# The request headers that ask for less than the whole page: answered by the middleware on URLs the rules may
# modify (the app would answer them from its own bytes; see `without_conditionals`).
CONDITIONAL_HEADERS = frozenset({b"if-none-match", b"if-modified-since", b"range", b"if-range"})

# What a 304 carries of the 200 it stands for (RFC 9110 §15.4.5), and the bucket cookie when one was set.
_NOT_MODIFIED_HEADERS = frozenset(
    {
        b"cache-control",
        b"content-location",
        b"date",
        b"etag",
        b"expires",
        b"last-modified",
        b"vary",
        b"set-cookie",
    }
)


def mark_rewritten(
    headers: MutableHeaders, *, depends_on_request: bool, version: str = "", loaded_at: float = 0.0
) -> None:
    """Validators, ranges and digests for a body that is no longer the app's.

    Ours differ from the app's bytes and change whenever the rules do. When the output depends only on the
    page and the rules, the app's ETag (strong or weak) becomes a weak one with the rules `version` folded in
    (`W/"abc"` for the app's `"abc"` would let a client revalidate a page the old rules shaped, and the app's
    own 304 would say it is still good), and Last-Modified becomes the later of the app's and `loaded_at`,
    when the rules in force were loaded. When the output also depends on the request (device, A/B bucket),
    no validator describes it, so ETag and Last-Modified go. Byte ranges of the app's body do not address
    ours (Accept-Ranges goes), nor do its digests.
    """
    if depends_on_request:
        del headers["etag"]
        del headers["last-modified"]
    else:
        tags = headers.getlist("etag")
        opaque = _opaque(tags[0]) if len(tags) == 1 else None
        if opaque is None:
            del headers["etag"]
        else:
            headers["etag"] = f'W/"{opaque}-{_etag_safe(version)}"'
        modified = headers.getlist("last-modified")
        app_time = http_time(modified[0]) if len(modified) == 1 else None
        if app_time is None:
            del headers["last-modified"]
        else:
            headers["last-modified"] = formatdate(max(app_time, int(loaded_at)), usegmt=True)
    for name in DIGEST_HEADERS:
        del headers[name]
    del headers["accept-ranges"]


def without_conditionals(
    raw: Iterable[Sequence[bytes]],
) -> tuple[list[tuple[bytes, bytes]], dict[bytes, str]]:
    """The request's header list without `CONDITIONAL_HEADERS`, and those it had (lower-case names)."""
    kept: list[tuple[bytes, bytes]] = []
    taken: dict[bytes, str] = {}
    for key, value in raw:
        name = bytes(key).lower()
        if name in CONDITIONAL_HEADERS:
            text = bytes(value).decode("latin-1")
            taken[name] = f"{taken[name]}, {text}" if name in taken else text
        else:
            kept.append((bytes(key), bytes(value)))
    return kept, taken


def not_modified(conditions: Mapping[bytes, str], headers: MutableHeaders) -> bool:
    """Whether a GET with these conditional headers gets 304 for a 200 with these response headers.

    RFC 9110 §13.2.2: If-None-Match decides when present (weak comparison; `*` matches any current
    representation); otherwise If-Modified-Since, against a Last-Modified no later than it.
    """
    if b"if-none-match" in conditions:
        wanted = conditions[b"if-none-match"].strip()
        if wanted == "*":
            return True
        etags = headers.getlist("etag")
        ours = _opaque(etags[0]) if len(etags) == 1 else None
        return ours is not None and ours in {_opaque(tag) for tag in _split_etags(wanted)}
    if b"if-modified-since" in conditions:
        since = http_time(conditions[b"if-modified-since"])
        modified = headers.getlist("last-modified")
        at = http_time(modified[0]) if len(modified) == 1 else None
        return since is not None and at is not None and at <= since
    return False


def not_modified_start(headers: MutableHeaders) -> dict[str, Any]:
    """The 304 that stands for the 200 with these headers: its validators and caching headers, no body."""
    kept = [(key, value) for key, value in headers.raw if key.lower() in _NOT_MODIFIED_HEADERS]
    return {"type": "http.response.start", "status": 304, "headers": kept}


def _opaque(tag: str) -> str | None:
    """The opaque part of an entity tag, quotes included, without `W/`; None when it is not one."""
    value = tag.strip()
    if value.startswith("W/"):
        value = value[2:]
    if len(value) >= 2 and value.startswith('"') and value.endswith('"') and '"' not in value[1:-1]:
        return value[1:-1]
    return None


def _split_etags(value: str) -> list[str]:
    """The entity tags of an If-None-Match list (commas may not appear inside an opaque tag)."""
    return [part for part in (p.strip() for p in value.split(",")) if part]


def _etag_safe(text: str) -> str:
    """`text` with only the characters an entity tag may hold (etagc, RFC 9110 §8.8.3), others dropped."""
    return "".join(ch for ch in text if ch == "!" or "#" <= ch <= "~")


def http_time(value: str) -> int | None:
    """An HTTP date as seconds since the epoch, or None when it is not one."""
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def server_timing(duration_ms: float, units: int) -> str:
    """`adinject;dur=0.42;desc="2 units"` (Server-Timing, W3C)."""
    return f'adinject;dur={duration_ms:.2f};desc="{units} unit{"" if units == 1 else "s"}"'
