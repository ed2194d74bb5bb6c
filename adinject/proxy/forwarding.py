"""The forwarding endpoint: one request to the origin over httpx's pooled keep-alive client, streamed.

The pool is httpx's `AsyncHTTPTransport`, the transport an `AsyncClient` sends through, used without the
client layer on top: that layer keeps a cookie jar (it would store every Set-Cookie the origin sends to any
visitor, for the life of the process), follows redirects and runs auth flows, none of which a proxy may do,
and it costs time on every request.

Request bodies go to the origin as they arrive (never gathered); responses come back chunk by chunk as the
origin sends them, undecoded (`aiter_raw`: a compressed body stays compressed, and the middleware above
decodes the HTML it takes). While the exchange runs, a watcher waits for the client to go away and then
cancels it, which closes the origin connection instead of reading a response nobody will get.

Failures are raised as `UpstreamFailure` and answered by `guard.py` above the middleware: a page with the
status when nothing went out yet (502 refused or broken, 504 slow, 503 no free origin connection), the
stream cut when a response was already under way.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
from starlette.types import Message, Receive, Scope, Send

from adinject.proxy.config import ProxyConfig
from adinject.proxy.headers import TrustedClients, end_to_end, to_origin

logger = logging.getLogger("adinject.proxy")

# The origin's unit context as a response header (JSON object), for origins that cannot write it into the
# page; taken off before the response goes on. Capped: headers of this size already strain most servers.
CONTEXT_HEADER = b"x-adinject-context"
MAX_CONTEXT_HEADER_BYTES = 8 * 1024
STATE_KEY = "adinject"  # where the middleware reads unit context: scope["state"]["adinject"]
# Handled here (uvicorn answers the client's 100-continue itself), so not asked of the origin again.
_REQUEST_ONLY = frozenset({b"expect"})


class UpstreamFailure(Exception):
    """The origin did not answer usefully: `status` for the client when nothing has gone out yet."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ClientGone(Exception):
    """The client went away while its request body was being read."""


def origin_context(value: bytes, path: str) -> Mapping[str, Any] | None:
    """The JSON object in an `X-AdInject-Context` value, or None (over the cap, not JSON, not an object)."""
    if len(value) > MAX_CONTEXT_HEADER_BYTES:
        logger.warning("adinject proxy: X-AdInject-Context on %s is over %d bytes: ignored", path, len(value))
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        logger.warning("adinject proxy: X-AdInject-Context on %s is not valid JSON: ignored", path)
        return None
    if not isinstance(parsed, dict):
        logger.warning("adinject proxy: X-AdInject-Context on %s is not a JSON object: ignored", path)
        return None
    return parsed


class Forwarder:
    """The ASGI endpoint that forwards to `config.upstream`; `session()` (the app's lifespan) owns its
    client. One per process: each worker has its own pool."""

    def __init__(self, config: ProxyConfig) -> None:
        self.upstream = httpx.URL(config.upstream)
        self.prefix = self.upstream.raw_path.rstrip(b"/")
        self.trusted = TrustedClients(config.forwarded_allow_ips)
        self.host: bytes | None = self.upstream.netloc if config.rewrite_host else None
        self.timeout = httpx.Timeout(
            connect=config.connect_timeout,
            read=config.read_timeout,
            write=config.write_timeout,
            pool=config.pool_timeout,
        ).as_dict()
        self.limits = httpx.Limits(
            max_connections=config.max_connections, max_keepalive_connections=config.max_connections
        )
        self.client: httpx.AsyncHTTPTransport | None = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        # A transport reads no HTTP_PROXY from the environment: the origin is never rerouted.
        async with httpx.AsyncHTTPTransport(limits=self.limits) as client:
            self.client = client
            try:
                yield
            finally:
                self.client = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # Not proxied (uvicorn runs with ws="none", so upgrades normally arrive as http, below).
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            return
        if self.client is None:
            raise UpstreamFailure(503, "the proxy is not started (its lifespan did not run)")
        if any(name == b"upgrade" for name, _ in scope["headers"]):
            raise UpstreamFailure(501, "protocol upgrades (WebSocket) are not proxied")
        body_read = anyio.Event()
        request = self._request(scope, receive, body_read)
        # The watcher is a bare asyncio task (uvicorn runs on asyncio), cancelled without waiting for it: a
        # task group costs ~0.2 ms a request, mostly the loop turn it spends waiting for the cancelled child.
        # It cancels through the scope, which does nothing once the exchange is over.
        with anyio.CancelScope() as exchange:
            watcher = asyncio.get_running_loop().create_task(_cancel_when_gone(receive, body_read, exchange))
            try:
                await self._exchange(self.client, request, scope, send)
            except ClientGone:
                pass
            finally:
                watcher.cancel()

    def _request(self, scope: Scope, receive: Receive, body_read: anyio.Event) -> httpx.Request:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        query: bytes = scope.get("query_string", b"")
        # From parts: about half the time of `copy_with`, which parses the whole URL again.
        url = httpx.URL(
            scheme=self.upstream.scheme,
            host=self.upstream.host,
            port=self.upstream.port,
            raw_path=self.prefix + raw_path + (b"?" + query if query else b""),
        )
        client = scope.get("client")
        headers = to_origin(
            [(name, value) for name, value in scope["headers"] if name not in _REQUEST_ONLY],
            client=client[0] if client else None,
            scheme=scope.get("scheme", "http"),
            trusted=self.trusted,
            host=self.host,
        )
        content: AsyncIterator[bytes] | None = None
        if _has_body(scope["headers"]):
            content = _request_body(receive, body_read)
        else:
            body_read.set()
        method: str = scope["method"]
        # Built here, not with AsyncClient.build_request: that would add httpx's own Accept, Accept-Encoding
        # and User-Agent to requests whose client sent none (and the origin would compress for a client that
        # cannot decode).
        return httpx.Request(
            method, url, headers=headers, content=content, extensions={"timeout": self.timeout}
        )

    async def _exchange(
        self, client: httpx.AsyncHTTPTransport, request: httpx.Request, scope: Scope, send: Send
    ) -> None:
        try:
            response = await client.handle_async_request(request)
        except httpx.PoolTimeout:
            raise UpstreamFailure(503, "no free connection to the origin in time") from None
        except httpx.TimeoutException as exc:
            raise UpstreamFailure(504, f"the origin did not answer in time ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise UpstreamFailure(502, f"the origin could not be reached ({type(exc).__name__})") from None
        try:
            await send(self._start(response, scope))
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx.TransportError as exc:
            # Answered only when nothing went out yet (the middleware held the page); else the stream is cut.
            status = 504 if isinstance(exc, httpx.TimeoutException) else 502
            raise UpstreamFailure(
                status, f"the origin's response stalled or broke ({type(exc).__name__})"
            ) from None
        finally:
            # Before the last body message: the connection goes back to the pool even if we are cancelled
            # right after it (the watcher sees the response complete and cancels).
            await response.aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _start(self, response: httpx.Response, scope: Scope) -> Message:
        headers = [(name.lower(), value) for name, value in response.headers.raw]
        kept = end_to_end(headers, drop=frozenset({CONTEXT_HEADER}))
        if len(kept) < len(headers):
            for name, value in headers:
                if name == CONTEXT_HEADER:
                    context = origin_context(value, scope.get("path", ""))
                    state = scope.get("state")
                    if context is not None and isinstance(state, dict):
                        state[STATE_KEY] = context
        return {"type": "http.response.start", "status": response.status_code, "headers": kept}


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the request has a body to forward (RFC 9112 §6.3: a length above 0, or chunked)."""
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"0", b"")):
            return True
    return False


async def _request_body(receive: Receive, body_read: anyio.Event) -> AsyncIterator[bytes]:
    """The client's body as it arrives; `body_read` is set once it is all read (or the client left)."""
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk: bytes = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return
    finally:
        body_read.set()


async def _cancel_when_gone(receive: Receive, body_read: anyio.Event, scope: anyio.CancelScope) -> None:
    """Once the body is read, the next message can only be the client's disconnect: cancel the exchange."""
    await body_read.wait()
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()
