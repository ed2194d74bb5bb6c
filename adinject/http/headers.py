"""Reading and rewriting the raw ASGI header lists of a response (and reading a request's).

ASGI headers are a list of (name, value) byte pairs; names from servers are lower-case, but an app may send
any case, so every comparison here lower-cases. Values are latin-1, as in Starlette.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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


def mark_rewritten(headers: MutableHeaders, *, depends_on_request: bool) -> None:
    """Validators and ranges for a body that is no longer the app's bytes.

    A strong ETag promises byte-identical bodies; ours differ from the app's, so it becomes weak (the app's
    If-None-Match handling still matches it by weak comparison). When the output also depends on the request
    (device, A/B bucket), no validator of the app's describes it, so ETag and Last-Modified go. Byte ranges of
    the app's body do not address ours: Accept-Ranges goes.
    """
    if depends_on_request:
        del headers["etag"]
        del headers["last-modified"]
    else:
        tags = headers.getlist("etag")
        if len(tags) == 1 and tags[0].strip().startswith('"'):
            headers["etag"] = "W/" + tags[0].strip()
    del headers["accept-ranges"]


def server_timing(duration_ms: float, units: int) -> str:
    """`adinject;dur=0.42;desc="2 units"` (Server-Timing, W3C)."""
    return f'adinject;dur={duration_ms:.2f};desc="{units} unit{"" if units == 1 else "s"}"'
