"""The steps every responder takes with a complete candidate body, written once.

Undo the content coding (capped, in a worker thread when big), build the request headers the engine reads
(the request's, plus the response's Content-Type), read the app's unit context from
`scope["state"]["adinject"]`, redo the coding, and frame one whole body (exact Content-Length, no
Transfer-Encoding). Each responder decides what to do when a step fails.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
from starlette.datastructures import MutableHeaders
from starlette.types import Scope

from adinject.http import codings

logger = logging.getLogger("adinject")

T = TypeVar("T")

# Where an app puts unit-template context: scope["state"]["adinject"] (Starlette: request.state.adinject).
STATE_KEY = "adinject"

# The engine's worker threads get their own limiter (as Starlette's gzip does) so that big pages cannot take
# all of AnyIO's default threads, which sync endpoints need. One per event loop: a RunVar.
_limiter: anyio.lowlevel.RunVar[anyio.CapacityLimiter] = anyio.lowlevel.RunVar("adinject_limiter")
THREADS = 8


def _thread_limiter() -> anyio.CapacityLimiter:
    try:
        return _limiter.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(THREADS)
        _limiter.set(limiter)
        return limiter


async def offload(size: int, threshold: int, func: Callable[[], T]) -> T:
    """Run `func` inline for inputs up to `threshold` bytes, in a worker thread above it.

    Small pages take well under a millisecond; a thread hop would cost more than it saves. Big pages would
    block the event loop for every other request.
    """
    if size > threshold:
        return await anyio.to_thread.run_sync(func, limiter=_thread_limiter())
    return func()


async def decode(coding: str, raw: bytes, *, limit: int, threshold: int) -> tuple[bytes, str]:
    """The body without its content coding, and the coding `encode` redoes it with ("" when not encoded).

    Raises `codings.DecodeError` past `limit` decoded bytes or for a body not valid in its coding.
    """
    if not coding:
        return raw, ""
    return await offload(len(raw), threshold, partial(codings.decode, coding, raw, limit))


def encode(coding: str, body: bytes) -> bytes:
    """`body` in the coding `decode` took off (as it is when there was none)."""
    return codings.encode(coding, body) if coding else body


def engine_headers(request: Mapping[str, str], response: MutableHeaders) -> dict[str, str]:
    """What the engine reads of the request: its headers, lower-case, plus the response's Content-Type (whose
    charset says how the page's bytes are read)."""
    headers = dict(request)
    headers["content-type"] = response.get("content-type", "")
    return headers


def request_url(scope: Scope) -> str:
    """The path with the query string, as the engine reads it (`query:` conditions)."""
    path: str = scope.get("path", "")
    query_string: bytes = scope.get("query_string", b"")
    return path + ("?" + query_string.decode("latin-1") if query_string else "")


def app_context(state: Any, path: str, *, warn: bool) -> Mapping[str, Any] | None:
    """The mapping the app left in `scope["state"]["adinject"]` for unit templates, or None.

    `state` is the request's `scope["state"]`, read when the body is complete (the endpoint sets it while it
    responds). Anything but a mapping is ignored, with a warning when `warn`.
    """
    context = state.get(STATE_KEY) if isinstance(state, Mapping) else None
    if context is None or isinstance(context, Mapping):
        return context
    if warn:
        logger.warning("adinject: ignoring scope['state']['adinject'] on %s: not a mapping", path)
    return None


def set_length(headers: MutableHeaders, body: bytes) -> None:
    """Frame `body` as the one body message: its exact Content-Length, and no Transfer-Encoding (framing is
    then the server's job)."""
    del headers["transfer-encoding"]
    headers["content-length"] = str(len(body))
