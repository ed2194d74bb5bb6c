"""Byte ranges for the responses adinject leaves alone on URLs whose Range it took off the request.

On a URL the rules may modify, the app never sees `Range` (inject.py): a range of the original page joined to
a modified prefix is a corrupted page. But the same URLs may serve files the rules never touch (a video, a
PDF under `/news/**`), whose clients seek with ranges. For those the app answers 200 with the whole file, and
this module cuts the range the client asked for out of that stream, as the app would have: one range, from
a 200 with a Content-Length, when If-Range (if any) still matches. Anything else gets the whole 200, which
RFC 9110 §14.2 always allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

import anyio.to_thread
from starlette.datastructures import MutableHeaders
from starlette.types import Message, Send

from adinject.http.headers import http_time


@dataclass(frozen=True, slots=True)
class Window:
    """Bytes `first` to `last` (inclusive) of a body of `total` bytes; `first > last` when unsatisfiable."""

    first: int
    last: int
    total: int

    @property
    def satisfiable(self) -> bool:
        return self.first <= self.last

    def piece(self, position: int, chunk: bytes) -> bytes:
        """The part of `chunk`, which starts at byte `position` of the body, that lies in the window."""
        return chunk[max(self.first - position, 0) : max(self.last + 1 - position, 0)]


def parse_range(value: str, total: int) -> Window | None:
    """The one byte range `value` asks of a body of `total` bytes (RFC 9110 §14.1.2), an unsatisfiable
    Window, or None when the header is not a single byte range (then the whole body goes)."""
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    start_text, dash, end_text = spec.strip().partition("-")
    start_text, end_text = start_text.strip(), end_text.strip()
    if (
        not dash
        or not (start_text.isdigit() or start_text == "")
        or not (end_text.isdigit() or end_text == "")
    ):
        return None
    if start_text == "":
        if end_text == "":
            return None
        suffix = int(end_text)
        if suffix == 0:
            return Window(1, 0, total)
        return Window(max(total - suffix, 0), total - 1, total)
    first = int(start_text)
    if end_text and int(end_text) < first:
        return None  # an invalid range-spec: the field is ignored
    if first >= total:
        return Window(1, 0, total)
    last = int(end_text) if end_text else total - 1
    return Window(first, min(last, total - 1), total)


def if_range_holds(value: str | None, headers: MutableHeaders) -> bool:
    """Whether If-Range (absent: yes) still names this representation: a strong ETag equal to the response's,
    or exactly its Last-Modified date."""
    if value is None:
        return True
    value = value.strip()
    if value.startswith('"'):
        etags = headers.getlist("etag")
        return len(etags) == 1 and etags[0].strip() == value
    if value.startswith("W/"):
        return False  # a weak tag never matches for If-Range
    modified = headers.getlist("last-modified")
    at = http_time(modified[0]) if len(modified) == 1 else None
    return at is not None and at == http_time(value)


def window_for(conditions: Mapping[bytes, str], start: Message) -> tuple[Window, Message] | None:
    """For a 200 the app sent to a request whose Range we took: the window to cut and the start to send
    (206, or 416 when unsatisfiable); None to send the whole 200 as it is."""
    wanted = conditions.get(b"range")
    if wanted is None or start.get("status") != 200 or start.get("trailers", False):
        return None
    raw: list[tuple[bytes, bytes]] = [(bytes(k), bytes(v)) for k, v in start.get("headers") or ()]
    headers = MutableHeaders(raw=raw)
    length = headers.get("content-length", "").strip()
    if not length.isdigit() or not if_range_holds(conditions.get(b"if-range"), headers):
        return None
    window = parse_range(wanted, int(length))
    if window is None:
        return None
    if not window.satisfiable:
        out = MutableHeaders()
        out["content-range"] = f"bytes */{window.total}"
        out["content-length"] = "0"
        return window, {"type": "http.response.start", "status": 416, "headers": out.raw}
    headers["content-range"] = f"bytes {window.first}-{window.last}/{window.total}"
    headers["content-length"] = str(window.last - window.first + 1)
    return window, {**start, "status": 206, "headers": headers.raw}


_FILE_CHUNK = 64 * 1024


async def send_file_window(send: Send, path: str, window: Window) -> None:
    """Send bytes `window.first`..`window.last` of the file at `path` as body messages, a chunk at a time
    (read in a worker thread: a range of a large file must neither block the loop nor sit in memory)."""
    position, remaining = window.first, window.last - window.first + 1
    with open(path, "rb") as file:
        while remaining > 0:
            size = min(_FILE_CHUNK, remaining)
            data = await anyio.to_thread.run_sync(_read_at, file, position, size)
            if not data:
                break  # the file shrank: end the body where it ends
            position += len(data)
            remaining -= len(data)
            await send({"type": "http.response.body", "body": data, "more_body": remaining > 0})
    if remaining > 0:
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _read_at(file: BinaryIO, position: int, size: int) -> bytes:
    file.seek(position)
    return file.read(size)
