"""The origin the proxy tests put `adinject proxy` in front of: a plain ASGI app run by uvicorn in a process of
its own, with one path per behaviour a proxy must handle (echo, big download, upload, stalls, validators).

`/-/log` returns what the origin saw that a test cannot see from the client (a request that was abandoned).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

CHUNK = 64 * 1024
ARTICLE = (
    '<!doctype html>\n<html><head><meta charset="utf-8"><title>Story</title>{head}</head>\n<body>\n'
    "<article>\n<p>First paragraph of the story, long enough.</p>\n<p>Second paragraph of the story.</p>\n"
    "<p>Third paragraph of the story.</p>\n</article>\n</body></html>\n"
)
ETAG = b'"origin-v1"'
log: list[str] = []


def article(head: str = "") -> bytes:
    return ARTICLE.format(head=head).encode()


def payload(size: int) -> bytes:
    """`size` bytes that are not all alike (so a reordered or dropped chunk shows)."""
    block = hashlib.sha256(b"adinject").digest() * (CHUNK // 32)
    return (block * (size // CHUNK + 1))[:size]


async def start(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def body(send: Send, data: bytes = b"", more: bool = False) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})


async def whole(
    send: Send, status: int, content_type: bytes, data: bytes, *extra: tuple[bytes, bytes]
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(data)).encode()), *extra]
    await start(send, status, headers)
    await body(send, data)


async def read_body(receive: Receive) -> tuple[int, str]:
    """The request body's length and SHA-256, read as it streams (never held whole)."""
    digest, size = hashlib.sha256(), 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        digest.update(message.get("body", b""))
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return size, digest.hexdigest()


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    size, digest = await read_body(receive)
    seen = {
        "method": scope["method"],
        "raw_path": scope["raw_path"].decode("latin-1"),
        "query": scope["query_string"].decode("latin-1"),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
        "size": size,
        "sha256": digest,
    }
    await whole(send, 200, b"application/json", json.dumps(seen).encode())


async def big(send: Send, query: dict[str, str]) -> None:
    size = int(query.get("bytes", str(50 * 1024 * 1024)))
    block = payload(CHUNK)
    await start(
        send, 200, [(b"content-type", b"application/octet-stream"), (b"content-length", str(size).encode())]
    )
    sent = 0
    while sent < size:
        piece = block[: min(CHUNK, size - sent)]
        sent += len(piece)
        await body(send, piece, more=sent < size)


async def wait_or_gone(receive: Receive, seconds: float, name: str) -> bool:
    """Sleep `seconds` unless the client goes first (then log `name` as gone): True if it went."""
    try:
        async with asyncio.timeout(seconds):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return False
    log.append(f"gone {name}")
    return True


async def slow(receive: Receive, send: Send, query: dict[str, str]) -> None:
    if await wait_or_gone(receive, float(query.get("s", "5")), "slow"):
        return
    await whole(send, 200, b"text/plain", b"late\n")


async def stall(receive: Receive, send: Send, query: dict[str, str]) -> None:
    content_type = query.get("type", "application/octet-stream").encode()
    await start(send, 200, [(b"content-type", content_type)])
    await body(send, b"<!doctype html><html><body><article><p>begun", more=True)
    await wait_or_gone(receive, float(query.get("s", "5")), "stall")


release = asyncio.Event()


async def drip(receive: Receive, send: Send) -> None:
    """A first chunk, then the rest only once `/-/release` was asked for (or after 10 s): a proxy that
    buffers the body never shows the first chunk to a client waiting for it before asking."""
    release.clear()
    await start(send, 200, [(b"content-type", b"text/plain")])
    await body(send, b"first\n", more=True)
    try:
        async with asyncio.timeout(10):
            await release.wait()
        await body(send, b"second\n")
    except TimeoutError:
        await body(send, b"never released\n")


async def hop(send: Send) -> None:
    await whole(
        send,
        200,
        b"text/plain",
        b"hop\n",
        (b"connection", b"x-origin-private"),
        (b"x-origin-private", b"1"),
        (b"keep-alive", b"timeout=5"),
        (b"proxy-authenticate", b"Basic realm=x"),
        (b"x-end-to-end", b"kept"),
    )


async def redirect(send: Send) -> None:
    await whole(
        send,
        302,
        b"text/plain",
        b"moved\n",
        (b"location", b"/elsewhere?x=1"),
        (b"set-cookie", b"a=1; Path=/; HttpOnly"),
        (b"set-cookie", b"b=2; Path=/; Secure"),
    )


async def conditional(scope: Scope, send: Send, content_type: bytes, data: bytes) -> None:
    """Validators as an origin has them: 304 on a matching If-None-Match, 206 for one `bytes=a-b` range."""
    headers = dict(scope["headers"])
    if headers.get(b"if-none-match") == ETAG:
        await start(send, 304, [(b"etag", ETAG)])
        await body(send)
        return
    extra = [(b"etag", ETAG), (b"accept-ranges", b"bytes")]
    wanted = headers.get(b"range", b"")
    if wanted.startswith(b"bytes=") and scope["method"] == "GET":
        first, _, last = wanted[6:].partition(b"-")
        a, b = int(first), min(int(last), len(data) - 1)
        extra.append((b"content-range", f"bytes {a}-{b}/{len(data)}".encode()))
        await whole(send, 206, content_type, data[a : b + 1], *extra)
        return
    if scope["method"] == "HEAD":
        await start(
            send, 200, [(b"content-type", content_type), (b"content-length", str(len(data)).encode()), *extra]
        )
        await body(send)
        return
    await whole(send, 200, content_type, data, *extra)


async def news(scope: Scope, send: Send, query: dict[str, str]) -> None:
    """The article page; `?ctx=header|page|both` carries unit context; `?gzip=1` compresses when asked."""
    head = ""
    extra: list[tuple[bytes, bytes]] = []
    if query.get("ctx") in ("page", "both"):
        head = '<script type="application/json" id="adinject-context">{"section": "Page", "source": "page"}</script>'
    if query.get("ctx") in ("header", "both"):
        extra.append((b"x-adinject-context", b'{"section": "Header"}'))
    if query.get("ctx") == "big-header":
        extra.append((b"x-adinject-context", b'{"section": "%s"}' % (b"x" * 9000)))
    data = article(head)
    accepts = dict(scope["headers"]).get(b"accept-encoding", b"")
    if query.get("gzip") and b"gzip" in accepts:
        extra += [(b"content-encoding", b"gzip"), (b"vary", b"accept-encoding")]
        data = gzip.compress(data)
    if extra:
        await whole(send, 200, b"text/html; charset=utf-8", data, *extra)
        return
    await conditional(scope, send, b"text/html; charset=utf-8", data)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    path: str = scope["path"]
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    if path == "/news/broken":
        # A length promised and not kept: uvicorn closes the connection when the app returns.
        await start(send, 200, [(b"content-type", b"text/html"), (b"content-length", b"100000")])
        await body(send, article()[:100], more=True)
    elif path == "/news/stall":
        await stall(receive, send, {**query, "type": "text/html; charset=utf-8"})
    elif path.startswith("/news/"):
        await news(scope, send, query)
    elif path == "/-/release":
        release.set()
        await whole(send, 200, b"text/plain", b"released\n")
    elif path == "/-/log":
        await whole(send, 200, b"application/json", json.dumps(log).encode())
    elif path == "/big":
        await big(send, query)
    elif path == "/slow":
        await slow(receive, send, query)
    elif path == "/stall":
        await stall(receive, send, query)
    elif path == "/drip":
        await drip(receive, send)
    elif path == "/deaf":
        # Never reads the request body: once the buffers between are full, the proxy's writes block.
        await asyncio.sleep(float(query.get("s", "5")))
        await whole(send, 200, b"text/plain", b"late\n")
    elif path == "/hop":
        await hop(send)
    elif path == "/redirect":
        await redirect(send)
    elif path == "/file":
        await conditional(scope, send, b"application/pdf", payload(1000))
    else:
        await echo(scope, receive, send)
