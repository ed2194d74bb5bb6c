"""The outermost layer of the proxy: turns an `UpstreamFailure` into what the client can still be told.

It sits above the middleware, which may hold an HTML response's start until its body is complete: whether
anything went out is known only here. Nothing sent yet: a short page with the failure's status (502, 503,
504, 501). A response already under way: it is cut (the connection closes without the body's end), so the
client sees a broken transfer rather than a truncated page it would take for whole.
"""

from __future__ import annotations

import html
import logging
from http import HTTPStatus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adinject.proxy.forwarding import UpstreamFailure

logger = logging.getLogger("adinject.proxy")


def error_page(status: int, reason: str) -> tuple[Message, Message]:
    """The start and body of the short page for `status`."""
    title = f"{status} {HTTPStatus(status).phrase}"
    body = (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>\n'
        f"<body><h1>{title}</h1>\n<p>{html.escape(reason)}.</p></body></html>\n"
    ).encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ],
    }
    return start, {"type": "http.response.body", "body": body, "more_body": False}


class UpstreamGuard:
    """Answer (or cut) on `UpstreamFailure` from the app below (see the module docstring)."""

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except UpstreamFailure as failure:
            path = scope.get("path", "")
            if started:
                # The server closes a connection whose response did not end: the client sees it broken.
                logger.warning("adinject proxy: %s: %s; the response was cut", path, failure.reason)
                return
            logger.warning("adinject proxy: %s: %s; answered %d", path, failure.reason, failure.status)
            for message in error_page(failure.status, failure.reason):
                await send(message)
