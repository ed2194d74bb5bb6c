"""AdInjectMiddleware: a pure ASGI middleware that runs the engine on outgoing article pages.

The shape follows Starlette's GZipMiddleware and starlette-compress: the decision "may we rewrite this
response" is taken once, at `http.response.start`, by a pure function (candidate.py); anything else is
forwarded at once. A candidate's start is held while its body is buffered (up to a cap), then the engine runs
on the whole page and one start plus one body go out. All per-request state lives in the closure of
`__call__`, never on `self`, so one middleware instance serves concurrent requests.

Fail open: any exception in adinject's own work sends the original response; exceptions from the app are not
adinject's and propagate exactly as they would without it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Protocol, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adinject.engine import load_rules
from adinject.http import codings
from adinject.http.cache import PlanCache
from adinject.http.candidate import is_fragment_request, refusal
from adinject.http.headers import (
    add_vary,
    mark_rewritten,
    normalized,
    request_headers,
    server_timing,
    strong_etag,
    without_opt_out,
)
from adinject.result import ApplyResult

logger = logging.getLogger("adinject")

T = TypeVar("T")

# Where an app puts unit-template context: scope["state"]["adinject"] (Starlette: request.state.adinject).
STATE_KEY = "adinject"


class RulesLike(Protocol):
    """What the middleware needs of `adinject.engine.Rules` (any object with these members will do)."""

    @property
    def version(self) -> str: ...

    def matches_url(self, path: str) -> bool: ...

    def request_headers(self) -> frozenset[str]: ...

    def plan(self, body: bytes, *, url: str, headers: Mapping[str, str]) -> Any: ...

    def realize(self, plan: Any, body: bytes, *, context: Mapping[str, Any] | None = None) -> ApplyResult: ...


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


class AdInjectMiddleware:
    """Insert ad slots (and other units) into outgoing HTML article pages, per the rules.

    `rules` is a rules folder/file (loaded with `adinject.engine.load_rules`) or an already-loaded `Rules`.
    """

    __slots__ = (
        "app",
        "cache",
        "failures",
        "max_body_bytes",
        "max_decoded_bytes",
        "rules",
        "server_timing",
        "thread_threshold_bytes",
    )

    def __init__(
        self,
        app: ASGIApp,
        rules: str | os.PathLike[str] | RulesLike,
        *,
        max_body_bytes: int = 5_000_000,
        cache_size: int = 256,
        server_timing: bool = True,
        thread_threshold_bytes: int = 256 * 1024,
        max_decoded_bytes: int | None = None,
    ) -> None:
        for name, value in (
            ("max_body_bytes", max_body_bytes),
            ("cache_size", cache_size),
            ("thread_threshold_bytes", thread_threshold_bytes),
            ("max_decoded_bytes", max_decoded_bytes),
        ):
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
        self.app = app
        if isinstance(rules, str | os.PathLike):
            # A broken rules folder raises RulesError here, at startup: loud, not failed open.
            self.rules: RulesLike = load_rules(rules)
        else:
            self.rules = rules
        self.max_body_bytes = max_body_bytes
        self.max_decoded_bytes = max_body_bytes if max_decoded_bytes is None else max_decoded_bytes
        self.server_timing = server_timing
        self.thread_threshold_bytes = thread_threshold_bytes
        self.cache: PlanCache[Any] | None = PlanCache(cache_size) if cache_size else None
        # Responses sent unchanged because adinject itself raised (a hook for metrics).
        self.failures = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        if "state" not in scope:
            # Starlette's request.state writes into scope["state"], creating it in whatever scope dict the
            # endpoint sees; a middleware between us and it may copy the scope. Creating the dict here (in a
            # copy of the scope, per the ASGI spec) means every copy downstream shares this one dict, so what
            # the endpoint sets is visible to us. uvicorn already puts one in every scope.
            scope = {**scope, "state": {}}
        state = scope["state"]

        # Read once per request, so a rules reload mid-response cannot mix two versions.
        rules = self.rules
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET")
        phase = "waiting"  # -> "holding" (a candidate's start) -> "done" (forward whatever comes next)
        held: Message = {}
        chunks: list[bytes] = []
        size = 0

        async def release_held(more_body: bool) -> None:
            """Send the held start and anything buffered, unchanged (but without X-AdInject, plus Vary)."""
            await send(held)
            if chunks:
                await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": more_body})

        async def send_wrapper(message: Message) -> None:
            nonlocal phase, held, chunks, size
            kind = message["type"]

            if phase == "waiting" and kind == "http.response.start":
                try:
                    start = self._start(rules, message, path, scope)
                except Exception as exc:
                    self._failed(path, exc)
                    phase = "done"
                    await send(_strip_opt_out_or_same(message))
                    return
                if start is None:
                    phase = "done"
                    await send(_strip_opt_out_or_same(message))
                    return
                held, phase = start, "holding"
                return

            if phase != "holding":
                # Early hints before the start, trailers, pathsend, anything after we decided: as it comes.
                await send(message)
                return

            if kind != "http.response.body":
                # pathsend / zerocopysend / anything else while we hold the start: not a body we can rewrite.
                phase = "done"
                await release_held(more_body=True)
                chunks = []
                await send(message)
                return

            body: bytes = message.get("body", b"")
            more_body: bool = message.get("more_body", False)
            chunks.append(body)
            size += len(body)
            if size > self.max_body_bytes:
                # Too big to buffer: what is held goes out, then the rest streams by unchanged.
                phase = "done"
                await release_held(more_body=more_body)
                chunks = []
                return
            if more_body:
                return

            phase = "done"
            raw = b"".join(chunks)
            chunks = []
            try:
                start_out, body_out = await self._rewrite(rules, held, raw, path, method, scope, state)
            except Exception as exc:
                self._failed(path, exc)
                start_out, body_out = held, raw
            await send(start_out)
            await send({"type": "http.response.body", "body": body_out, "more_body": False})

        await self.app(scope, receive, send_wrapper)

    def _start(self, rules: RulesLike, message: Message, path: str, scope: Scope) -> Message | None:
        """The start message to hold when the response is a candidate, else None (forward it now)."""
        if refusal(message, path, rules.matches_url) is not None:
            return None
        if is_fragment_request(request_headers(scope)):
            return None
        start = {**message, "headers": normalized(message.get("headers") or ())}
        # The output depends on these request headers whether or not this page gets modified, so a shared
        # cache must key on them for every candidate (django-mobile #52: mobile pages served to desktops).
        add_vary(MutableHeaders(raw=start["headers"]), rules.request_headers())
        return start

    async def _rewrite(
        self,
        rules: RulesLike,
        start: Message,
        raw: bytes,
        path: str,
        method: str,
        scope: Scope,
        state: Any,
    ) -> tuple[Message, bytes]:
        """The start and body to send for a complete candidate body (`start` and `raw` when unmodified)."""
        began = time.perf_counter()
        headers = MutableHeaders(raw=list(start["headers"]))
        depends_on_request = bool(rules.request_headers())

        if method == "HEAD" and not raw and headers.get("content-length", "").strip() != "0":
            # An app may answer HEAD with an empty body and the GET length (FileResponse does). We cannot know
            # what GET would send after insertion, so the length goes (absent is allowed; wrong is not), and
            # the validators are treated as GET's would be when modified.
            del headers["content-length"]
            mark_rewritten(headers, depends_on_request=depends_on_request)
            return {**start, "headers": headers.raw}, raw

        coding = codings.content_coding(headers.getlist("content-encoding"))
        variant = ""
        page = raw
        if coding:
            try:
                page, variant = await self._run(
                    len(raw), partial(codings.decode, coding, raw, self.max_decoded_bytes)
                )
            except codings.DecodeError as exc:
                # Over the cap, or not valid in its coding: the app's bytes go out as they are.
                logger.debug("adinject: not rewriting %s: %s body: %s", path, coding, exc)
                return start, raw

        engine_headers = request_headers(scope)
        engine_headers["content-type"] = headers.get("content-type", "")
        context = state.get(STATE_KEY) if isinstance(state, Mapping) else None
        if context is not None and not isinstance(context, Mapping):
            logger.warning("adinject: ignoring scope['state']['adinject'] on %s: not a mapping", path)
            context = None
        result, out = await self._run(
            len(page),
            partial(
                self._apply,
                rules,
                page,
                path=path,
                headers=engine_headers,
                etag=strong_etag(start["headers"]),
                context=context,
                variant=variant,
            ),
        )
        if not result.modified:
            return start, raw

        depends_on_request = depends_on_request or bool(result.reads)
        add_vary(headers, result.reads)
        mark_rewritten(headers, depends_on_request=depends_on_request)
        # One whole body goes out, so its exact length is known; framing is then the server's job.
        del headers["transfer-encoding"]
        headers["content-length"] = str(len(out))
        if self.server_timing:
            elapsed_ms = (time.perf_counter() - began) * 1000
            headers.append("server-timing", server_timing(elapsed_ms, len(result.insertions)))
        return {**start, "headers": headers.raw}, out

    def _apply(
        self,
        rules: RulesLike,
        page: bytes,
        *,
        path: str,
        headers: Mapping[str, str],
        etag: str | None,
        context: Mapping[str, Any] | None,
        variant: str,
    ) -> tuple[ApplyResult, bytes]:
        """Plan (or reuse a cached plan), realize, encode again: the engine's part, inline or in a thread."""
        cache = self.cache
        plan: Any = None
        key = None
        if cache is not None:
            names = sorted(rules.request_headers())
            key = cache.key(
                page,
                version=rules.version,
                path=path,
                content_type=headers.get("content-type", ""),
                header_values=[headers.get(name) for name in names],
                etag=etag,
            )
            plan = cache.get(key)
        if plan is None:
            plan = rules.plan(page, url=path, headers=headers)
            if cache is not None and key is not None:
                cache.put(key, plan)
        result = rules.realize(plan, page, context=context)
        if not result.modified:
            return result, page
        return result, codings.encode(variant, result.body) if variant else result.body

    async def _run(self, size: int, func: Callable[[], T]) -> T:
        """Run `func` inline for small inputs, in a worker thread above `thread_threshold_bytes`.

        Small pages take well under a millisecond; a thread hop would cost more than it saves. Big pages would
        block the event loop for every other request.
        """
        if size > self.thread_threshold_bytes:
            return await anyio.to_thread.run_sync(func, limiter=_thread_limiter())
        return func()

    def _failed(self, path: str, exc: BaseException) -> None:
        self.failures += 1
        logger.error("adinject failed on %s; the original response was sent", path, exc_info=exc)


def _strip_opt_out_or_same(message: Message) -> Message:
    """The start without X-AdInject if that can be done, else the message as the app sent it (fail open)."""
    try:
        stripped = without_opt_out(message.get("headers") or ())
    except Exception:
        return message
    return message if stripped is None else {**message, "headers": stripped}
