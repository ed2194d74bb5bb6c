"""The forwarding endpoint: one request to the origin over aiohttp's pooled keep-alive client, streamed.

The client is aiohttp's `ClientSession`, whose HTTP parser is in C: on this work the whole forward (server
and client) costs about a quarter of the CPU that httpx's pure-Python stack did (benchmarks/README.md), and
with uvicorn on uvloop and httptools a bare forward fits in the 1 ms the proxy may add. The session keeps
no cookies (a jar would store every Set-Cookie the origin sends to any visitor), follows no redirects,
reads no proxy settings from the environment, adds no headers of its own and decodes nothing.

Request bodies go to the origin as they arrive (never gathered); responses come back chunk by chunk as the
origin sends them, undecoded (a compressed body stays compressed, and the middleware above decodes the
HTML it takes). While the exchange runs, a watcher waits for the client to go away and then cancels it,
which closes the origin connection instead of reading a response nobody will get.

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

import aiohttp
import anyio
from starlette.types import Message, Receive, Scope, Send
from yarl import URL

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
# What aiohttp would add to a request whose client sent none (the origin would then compress for a client
# that cannot decode, or read a body as a type nobody said).
_NO_AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


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
        upstream = URL(config.upstream)
        self.base = str(upstream.origin()) + upstream.raw_path.rstrip("/")
        self.trusted = TrustedClients(config.forwarded_allow_ips)
        self.host: bytes | None = (
            (upstream.host_port_subcomponent or "").encode() if config.rewrite_host else None
        )
        # aiohttp has no write timeout: `_Upload` keeps it for request bodies.
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=config.connect_timeout, sock_read=config.read_timeout
        )
        self.write_timeout = config.write_timeout
        self.max_connections = config.max_connections
        self.pool_timeout = config.pool_timeout
        self.slots = asyncio.Semaphore(config.max_connections)
        self.client: aiohttp.ClientSession | None = None

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        # The limit is kept by `slots`, which tells a wait for a free connection (503) from a slow connect
        # (504): aiohttp raises the same error for both. The connector's own limit is the same number.
        self.slots = asyncio.Semaphore(self.max_connections)
        connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=0)
        async with aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
            skip_auto_headers=_NO_AUTO_HEADERS,
            timeout=self.timeout,
            # The default 8190 would refuse a response carrying a context header at its cap.
            max_field_size=2 * MAX_CONTEXT_HEADER_BYTES,
            max_line_size=2 * MAX_CONTEXT_HEADER_BYTES,
            requote_redirect_url=False,
        ) as client:
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
        # The watcher is a bare asyncio task (uvicorn runs on asyncio), cancelled without waiting for it: a
        # task group costs ~0.2 ms a request, mostly the loop turn it spends waiting for the cancelled child.
        # It cancels through the scope, which does nothing once the exchange is over.
        with anyio.CancelScope() as exchange:
            upload = _Upload(exchange, self.write_timeout)
            watcher = asyncio.get_running_loop().create_task(_cancel_when_gone(receive, upload))
            try:
                await self._exchange(self.client, scope, receive, send, upload)
            except ClientGone:
                pass
            finally:
                watcher.cancel()
        if upload.stalled:
            raise UpstreamFailure(504, "the origin stopped reading the request body")

    def _request(self, scope: Scope, receive: Receive, upload: _Upload) -> dict[str, Any]:
        """The arguments of the origin request for `ClientSession.request`."""
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        query: bytes = scope.get("query_string", b"")
        target = (raw_path + (b"?" + query if query else b"")).decode("latin-1")
        client = scope.get("client")
        headers = to_origin(
            [(name, value) for name, value in scope["headers"] if name not in _REQUEST_ONLY],
            client=client[0] if client else None,
            scheme=scope.get("scheme", "http"),
            trusted=self.trusted,
            host=self.host,
        )
        body: AsyncIterator[bytes] | None = None
        if _has_body(scope["headers"]):
            body = _request_body(receive, upload)
        else:
            upload.read.set()
        return {
            "method": scope["method"],
            # encoded: the path and query go out as the client wrote them, never re-quoted.
            "url": URL(self.base + target, encoded=True),
            "headers": [(name.decode("latin-1"), value.decode("latin-1")) for name, value in headers],
            "data": body,
            "allow_redirects": False,
        }

    async def _exchange(
        self,
        client: aiohttp.ClientSession,
        scope: Scope,
        receive: Receive,
        send: Send,
        upload: _Upload,
    ) -> None:
        if self.slots.locked():
            try:
                async with asyncio.timeout(self.pool_timeout):
                    await self.slots.acquire()
            except TimeoutError:
                raise UpstreamFailure(503, "no free connection to the origin in time") from None
        else:
            await self.slots.acquire()
        try:
            await self._forward(client, self._request(scope, receive, upload), scope, send)
        finally:
            self.slots.release()

    async def _forward(
        self, client: aiohttp.ClientSession, request: dict[str, Any], scope: Scope, send: Send
    ) -> None:
        try:
            response = await client.request(**request)
        except aiohttp.ClientError as exc:
            raise _failure(
                exc, "the origin did not answer in time", "the origin could not be reached"
            ) from None
        try:
            await send(self._start(response, scope))
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except aiohttp.ClientError as exc:
            # Answered only when nothing went out yet (the middleware held the page); else the stream is cut.
            raise _failure(exc, *(["the origin's response stalled or broke"] * 2)) from None
        finally:
            # Before the last body message: the connection goes back to the pool (or is closed, when its
            # response was not read to the end) even if we are cancelled right after it.
            response.release()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def _start(self, response: aiohttp.ClientResponse, scope: Scope) -> Message:
        headers = [(name.lower(), value) for name, value in response.raw_headers]
        kept = end_to_end(headers, drop=frozenset({CONTEXT_HEADER}))
        if len(kept) < len(headers):
            for name, value in headers:
                if name == CONTEXT_HEADER:
                    context = origin_context(value, scope.get("path", ""))
                    state = scope.get("state")
                    if context is not None and isinstance(state, dict):
                        state[STATE_KEY] = context
        return {"type": "http.response.start", "status": response.status, "headers": kept}


def _failure(exc: aiohttp.ClientError, slow: str, broken: str) -> Exception:
    """The `UpstreamFailure` for an aiohttp error (504 for a time-out, else 502); `ClientGone` when the
    error is the client's body ending early (aiohttp reports what its body writer met as its own error)."""
    if isinstance(exc.__cause__, ClientGone):
        return ClientGone()
    if isinstance(exc, aiohttp.ServerTimeoutError) or isinstance(exc.__cause__, TimeoutError):
        return UpstreamFailure(504, f"{slow} ({type(exc).__name__})")
    return UpstreamFailure(502, f"{broken} ({type(exc).__name__})")


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the request has a body to forward (RFC 9112 §6.3: a length above 0, or chunked)."""
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"0", b"")):
            return True
    return False


class _Upload:
    """What the exchange, its request body and the watcher share: whether the body is all read, and the
    write timeout. aiohttp's body writer asks for the next chunk once the last one is written, so a chunk
    not taken back within the timeout is a write to the origin that blocks: the exchange is then cancelled
    (cancelling only the writer would leave the request waiting: aiohttp closes the origin connection
    gracefully, which waits for the unsent data) and answered 504."""

    __slots__ = ("exchange", "read", "stalled", "write_timeout")

    def __init__(self, exchange: anyio.CancelScope, write_timeout: float) -> None:
        self.exchange = exchange
        self.read = anyio.Event()
        self.stalled = False
        self.write_timeout = write_timeout

    def stall(self) -> None:
        self.stalled = True
        self.exchange.cancel()


async def _request_body(receive: Receive, upload: _Upload) -> AsyncIterator[bytes]:
    """The client's body as it arrives; `upload.read` is set once it is all read (or the client left)."""
    loop = asyncio.get_running_loop()
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk: bytes = message.get("body", b"")
            if chunk:
                timer = loop.call_later(upload.write_timeout, upload.stall)
                try:
                    yield chunk
                finally:
                    timer.cancel()
            if not message.get("more_body", False):
                return
    finally:
        upload.read.set()


async def _cancel_when_gone(receive: Receive, upload: _Upload) -> None:
    """Once the body is read, the next message can only be the client's disconnect: cancel the exchange."""
    await upload.read.wait()
    while (await receive())["type"] != "http.disconnect":
        pass
    upload.exchange.cancel()
