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
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adinject import preview
from adinject.http import codings
from adinject.http.bucket import cache_control_with_cookie, ensure_bucket
from adinject.http.cache import PlanCache
from adinject.http.candidate import is_fragment_request, refusal
from adinject.http.debug import DebugMode, debug_mode, explainable, no_store
from adinject.http.headers import (
    add_vary,
    header_values,
    mark_rewritten,
    media_type,
    normalized,
    request_headers,
    server_timing,
    strong_etag,
    without_opt_out,
)
from adinject.http.rules_like import RulesLike
from adinject.metrics import Metrics, default_metrics
from adinject.reload import LiveRules
from adinject.result import ApplyResult

logger = logging.getLogger("adinject")

T = TypeVar("T")

# Where an app puts unit-template context: scope["state"]["adinject"] (Starlette: request.state.adinject).
STATE_KEY = "adinject"


# The engine's worker threads get their own limiter (as Starlette's gzip does) so that big pages cannot take
# all of AnyIO's default threads, which sync endpoints need. One per event loop: a RunVar.
_limiter: anyio.lowlevel.RunVar[anyio.CapacityLimiter] = anyio.lowlevel.RunVar("adinject_limiter")
THREADS = 8


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _thread_limiter() -> anyio.CapacityLimiter:
    try:
        return _limiter.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(THREADS)
        _limiter.set(limiter)
        return limiter


class AdInjectMiddleware:
    """Insert ad slots (and other units) into outgoing HTML article pages, per the rules.

    `rules` is a rules folder or file, a `LiveRules`, or an already-loaded `Rules` (or any `RulesLike`).

    A folder is watched and reloaded on change (`reload`, default True for a folder; see adinject/reload.py):
    an invalid change is logged and the last good rules keep serving. At start-up, invalid rules raise
    `RulesError` unless `allow_invalid_rules_at_startup=True`, which starts with no units instead. `rules`
    always holds the rules in use; assigning it swaps them (a reload assigns it too).

    `debug_token`: requests with `?adinject=debug` and this token (header `X-AdInject-Debug` or cookie
    `adinject_debug`) get the annotated page (adinject/http/debug.py). `metrics`: record into
    `adinject.metrics.default_metrics()` (True), into the given `Metrics`, or not at all (False). `clock`:
    the time `schedule` conditions are read at, once per request (a timezone-aware datetime; tests pass
    their own).

    Targeting: the engine sees the request's URL with its query string and its headers. When the rules split
    visitors (`percent`, A/B `variants`) and the visitor has no bucket yet, one is drawn for this request and
    kept with a `Set-Cookie` (adinject/http/bucket.py); such a response is `Cache-Control: private`.
    """

    __slots__ = (
        "app",
        "cache",
        "clock",
        "debug_token",
        "failures",
        "live",
        "max_body_bytes",
        "max_decoded_bytes",
        "metrics",
        "rules",
        "server_timing",
        "thread_threshold_bytes",
    )

    def __init__(
        self,
        app: ASGIApp,
        rules: str | os.PathLike[str] | LiveRules | RulesLike,
        *,
        max_body_bytes: int = 5_000_000,
        cache_size: int = 256,
        server_timing: bool = True,
        thread_threshold_bytes: int = 256 * 1024,
        max_decoded_bytes: int | None = None,
        reload: bool | None = None,
        allow_invalid_rules_at_startup: bool = False,
        debug_token: str | None = None,
        metrics: Metrics | bool = True,
        clock: Callable[[], datetime] = _utc_now,
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
        self.metrics: Metrics | None = default_metrics() if metrics is True else (metrics or None)
        self.live: LiveRules | None = None
        self.rules: RulesLike
        if isinstance(rules, LiveRules):
            self.live = rules
        elif isinstance(rules, str | os.PathLike):
            # A broken rules folder raises RulesError here, at startup: loud, not failed open.
            self.live = LiveRules(
                rules,
                watch=reload is not False,
                allow_invalid=allow_invalid_rules_at_startup,
                metrics=self.metrics,
            )
        else:
            if reload:
                raise ValueError("reload=True needs the rules as a folder (or a LiveRules), not loaded rules")
            self.rules = rules
            if self.metrics is not None and rules.inactive_code is None:
                self.metrics.rules_live("", rules.version)
        if self.live is not None:
            self.rules = self.live.current
            self.live.subscribe(self._swap)
        if debug_token is not None and not debug_token.strip():
            raise ValueError("debug_token must not be empty (use None for no debug view)")
        self.debug_token = debug_token
        self.clock = clock
        self.max_body_bytes = max_body_bytes
        self.max_decoded_bytes = max_body_bytes if max_decoded_bytes is None else max_decoded_bytes
        self.server_timing = server_timing
        self.thread_threshold_bytes = thread_threshold_bytes
        self.cache: PlanCache[Any] | None = PlanCache(cache_size) if cache_size else None
        # Responses sent unchanged because adinject itself raised (a hook for metrics).
        self.failures = 0

    def _swap(self, rules: RulesLike) -> None:
        self.rules = rules

    def close(self) -> None:
        """Stop watching the rules folder (the middleware keeps serving the rules it has)."""
        if self.live is not None:
            self.live.stop()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.live is not None:
            # Each process watches for itself; the first call in a process (or after a fork) starts it.
            self.live.ensure_watching()
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
        debug: DebugMode | None = None
        if self.debug_token is not None:
            debug = debug_mode(self.debug_token, scope)
            if debug == "original":
                await self.app(scope, receive, partial(_send_original, send))
                return
        debug_notes: list[str] = []
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
                    if debug is not None:
                        start = self._debug_start(message, path, debug_notes)
                    else:
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
                self._count("unchanged", "not_a_body")
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
                self._count("unchanged", "too_big_to_buffer")
                await release_held(more_body=more_body)
                chunks = []
                return
            if more_body:
                return

            phase = "done"
            raw = b"".join(chunks)
            chunks = []
            try:
                if debug is not None:
                    start_out, body_out = await self._debug_page(
                        rules, held, raw, path, method, scope, state, debug_notes
                    )
                else:
                    start_out, body_out = await self._rewrite(rules, held, raw, path, method, scope, state)
            except Exception as exc:
                self._failed(path, exc)
                start_out, body_out = held, raw
            await send(start_out)
            await send({"type": "http.response.body", "body": body_out, "more_body": False})

        await self.app(scope, receive, send_wrapper)

    def _start(self, rules: RulesLike, message: Message, path: str, scope: Scope) -> Message | None:
        """The start message to hold when the response is a candidate, else None (forward it now)."""
        reason = refusal(message, path, rules.matches_url)
        if reason is not None:
            if self.metrics is not None and reason != "media-type" and _is_html(message):
                # The kill switch (and "no valid rules yet") matches no URL: say so rather than "url".
                code = rules.inactive_code
                self.metrics.page("unchanged", code if code is not None else reason)
            return None
        if is_fragment_request(request_headers(scope)):
            self._count("unchanged", "fragment")
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
        # A `schedule` makes the output depend on the moment as a `device` rule makes it depend on the
        # request: either way no validator of the app's describes what goes out.
        depends_on_request = bool(rules.request_headers()) or rules.depends_on_time()

        if method == "HEAD" and not raw and headers.get("content-length", "").strip() != "0":
            # An app may answer HEAD with an empty body and the GET length (FileResponse does). We cannot know
            # what GET would send after insertion, so the length goes (absent is allowed; wrong is not), and
            # the validators are treated as GET's would be when modified.
            del headers["content-length"]
            mark_rewritten(headers, depends_on_request=depends_on_request)
            self._count("unchanged", "head")
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
                self._count("unchanged", "decode")
                return start, raw

        engine_headers = request_headers(scope)
        engine_headers["content-type"] = headers.get("content-type", "")
        # A visitor the rules split (percent, variants) without a bucket gets one now: this page already uses
        # it, and the cookie keeps it for the next ones.
        bucket = ensure_bucket(
            engine_headers,
            rules.request_headers(),
            secure=scope.get("scheme") == "https",
            bucket_header=rules.bucket_header,
        )
        engine_headers = bucket.headers
        if bucket.set_cookie:
            headers.append("set-cookie", bucket.set_cookie)
            # Several Cache-Control lines are one list (RFC 9110 §5.3): read them all, write one line. A
            # shared cache storing this response would hand this visitor's bucket to every reader it serves.
            headers["cache-control"] = cache_control_with_cookie(headers.getlist("cache-control"))
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
                url=_request_url(path, scope),
                headers=engine_headers,
                etag=strong_etag(start["headers"]),
                context=context,
                variant=variant,
                csp=headers.getlist("content-security-policy"),
                now=self.clock(),
            ),
        )
        if self.metrics is not None:
            self.metrics.result(result)
            self.metrics.observe(time.perf_counter() - began)
        if not result.modified:
            # The app's bytes, but a visitor who was just given a bucket must keep it.
            return ({**start, "headers": headers.raw} if bucket.set_cookie else start), raw

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
        url: str,
        headers: Mapping[str, str],
        etag: str | None,
        context: Mapping[str, Any] | None,
        variant: str,
        csp: Sequence[str],
        now: datetime,
    ) -> tuple[ApplyResult, bytes]:
        """Plan (or reuse a cached plan), realize, encode again: the engine's part, inline or in a thread.

        `path` is the URL path, `url` the path with the query string, `csp` the response's
        Content-Security-Policy values (for the GPT scripts' nonce: per response, never cached).
        """
        cache = self.cache
        plan: Any = None
        key = None
        if cache is not None:
            key = cache.key(
                page,
                version=rules.version,
                # The path, not the URL: the query matters only through `query:` conditions, and those are
                # in the request key; `?utm_source=...` links must not each get a plan of their own.
                path=path,
                content_type=headers.get("content-type", ""),
                # What the request decides, not the raw header values: two phones with different
                # User-Agents, or two visitors in the same half of a test, share one plan.
                header_values=rules.request_key(url, headers, now),
                etag=etag,
            )
            plan = cache.get(key)
        if plan is None:
            plan = rules.plan(page, url=url, headers=headers, now=now)
            if cache is not None and key is not None:
                cache.put(key, plan)
        result = rules.realize(plan, page, context=context, csp=csp)
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
        self._count("failed_open")
        logger.error("adinject failed on %s; the original response was sent", path, exc_info=exc)

    def _count(self, outcome: str, reason: str = "") -> None:
        if self.metrics is not None:
            self.metrics.page(outcome, reason)

    # --- the debug view (adinject/http/debug.py): only for requests that carry the debug token

    def _debug_start(self, message: Message, path: str, notes: list[str]) -> Message | None:
        """Hold any HTML page we can read, whatever the rules say of its URL; the panel says the rest."""
        reason = refusal(message, path, lambda _: True)
        if reason not in (None, "opted-out", "no-transform"):
            return None  # not an HTML page, not a 200, or a body we cannot read: nothing to annotate
        if reason == "opted-out":
            notes.append("The app sent X-AdInject: off: readers get this page without units.")
        elif reason == "no-transform":
            notes.append("The response is Cache-Control: no-transform: readers get it without units.")
        # no-store from the start: whatever goes out for this request (even the app's page, should annotating
        # fail) must not be cached under this URL.
        headers = MutableHeaders(raw=normalized(message.get("headers") or ()))
        no_store(headers)
        return {**message, "headers": headers.raw}

    async def _debug_page(
        self,
        rules: RulesLike,
        start: Message,
        raw: bytes,
        path: str,
        method: str,
        scope: Scope,
        state: Any,
        notes: list[str],
    ) -> tuple[Message, bytes]:
        headers = MutableHeaders(raw=list(start["headers"]))
        del headers["accept-ranges"]
        coding = codings.content_coding(headers.getlist("content-encoding"))
        if method == "HEAD" or coding is None:
            return {**start, "headers": headers.raw}, raw
        variant = ""
        page = raw
        if coding:
            try:
                page, variant = await self._run(
                    len(raw), partial(codings.decode, coding, raw, self.max_decoded_bytes)
                )
            except codings.DecodeError:
                return {**start, "headers": headers.raw}, raw
        engine, more = explainable(rules, self.live)
        engine_headers = request_headers(scope)
        engine_headers["content-type"] = headers.get("content-type", "")
        context = state.get(STATE_KEY) if isinstance(state, Mapping) else None
        annotated = await self._run(
            len(page),
            partial(
                preview.annotate,
                engine,
                page,
                url=_request_url(path, scope),
                headers=engine_headers,
                context=context if isinstance(context, Mapping) else None,
                notes=[*more, *notes],
                now=self.clock(),
                csp=headers.getlist("content-security-policy"),
            ),
        )
        out = codings.encode(variant, annotated.body) if variant else annotated.body
        del headers["transfer-encoding"]
        headers["content-length"] = str(len(out))
        self._count("debug")
        return {**start, "headers": headers.raw}, out


def _request_url(path: str, scope: Scope) -> str:
    """The path with the query string, as the engine reads it (`query:` conditions)."""
    query_string: bytes = scope.get("query_string", b"")
    return path + ("?" + query_string.decode("latin-1") if query_string else "")


def _is_html(message: Message) -> bool:
    return media_type(header_values(message.get("headers") or (), b"content-type")) == "text/html"


async def _send_original(send: Send, message: Message) -> None:
    """`?adinject=original` with the token: the app's response as it is, but never stored by a cache."""
    if message["type"] == "http.response.start":
        headers = MutableHeaders(raw=normalized(message.get("headers") or ()))
        no_store(headers)
        message = {**message, "headers": headers.raw}
    await send(message)


def _strip_opt_out_or_same(message: Message) -> Message:
    """The start without X-AdInject if that can be done, else the message as the app sent it (fail open)."""
    try:
        stripped = without_opt_out(message.get("headers") or ())
    except Exception:
        return message
    return message if stripped is None else {**message, "headers": stripped}
