"""The exchange for ordinary requests: run the engine on a candidate page and send what it makes.

Holds a response only when candidate.py says it may be rewritten (and the request is not an htmx / Turbo
fragment), with Vary already naming the request headers the rules of its URL read. On the complete body: undo
the content coding, give a visitor the rules split a bucket, plan (or reuse a cached plan) and realize, redo
the coding, and mark the validators and length of a body that is no longer the app's. On URLs the rules may
modify, conditional and range requests are answered here, against what goes out, not by the app.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Scope

from adinject.http import codings, steps
from adinject.http.bucket import BucketAssignment, cache_control_with_cookie, ensure_bucket
from adinject.http.candidate import is_fragment_request, refusal
from adinject.http.exchange import Exchange
from adinject.http.headers import (
    add_vary,
    header_values,
    mark_rewritten,
    media_type,
    normalized,
    not_modified,
    not_modified_start,
    server_timing,
    strong_etag,
    without_conditionals,
    without_opt_out,
)
from adinject.http.ranges import window_for
from adinject.http.rules_like import RulesLike
from adinject.http.steps import Steps
from adinject.result import ApplyResult

if TYPE_CHECKING:
    from adinject.http.base import AdInjectBase

logger = logging.getLogger("adinject")


class InjectExchange(Exchange):
    """Insert the rules' units into one candidate page (see the module docstring)."""

    __slots__ = ("_conditions", "_reads")

    def __init__(self, owner: AdInjectBase[Any], rules: RulesLike) -> None:
        super().__init__(owner, rules)
        # The request headers the rules of this URL read, found at the start (a candidate's only).
        self._reads: frozenset[str] = frozenset()
        # The conditional and range headers taken off the request (URLs the rules may modify only).
        self._conditions: dict[bytes, str] = {}

    @property
    def conditions(self) -> dict[bytes, str]:
        """The conditional and range headers taken off the request (lower-case names; empty when none)."""
        return self._conditions

    def attach(self, scope: Scope) -> Scope:
        """On a URL the rules may modify, the app does not see If-None-Match, If-Modified-Since, Range or
        If-Range: it would answer them from its own bytes and validators (a 304 for a page other rules shaped,
        a range of the unmodified page a client then joins to a modified one). It answers 200 with the whole
        page; the responder then answers the conditions against what goes out, and ignores the range (RFC
        9110 §14.2 lets a server send the whole representation)."""
        try:
            if scope.get("method", "GET") in ("GET", "HEAD"):
                kept, taken = without_conditionals(scope.get("headers") or ())
                # Most requests have none of these: the URL globs are matched only for those that do.
                if taken and self.rules.matches_url(scope.get("path", "")):
                    self._conditions = taken
                    scope = {**scope, "headers": kept}
        except Exception:
            # Fail open: the app sees the request as it came (the start hook meets this fault and says so).
            self._conditions = {}
        return super().attach(scope)

    def start(self, message: Message) -> Message | None:
        rules = self.rules
        reason = refusal(message, self.path, rules.matches_url)
        if reason is not None:
            if self.owner.metrics is not None and reason != "media-type" and _is_html(message):
                # The kill switch (and "no valid rules yet") matches no URL: say so rather than "url".
                code = rules.inactive_code
                self.count("unchanged", code if code is not None else reason)
            self._answer_for_app(message)
            return None
        if is_fragment_request(self.request_headers()):
            self.count("unchanged", "fragment")
            self._answer_for_app(message)
            return None
        # What the rules of this URL read, not what any rule reads: a page that no device or A/B rule applies
        # to must not vary on the device or the cookie (every visitor would get a cache entry of their own).
        self._reads = rules.request_headers(self.path)
        if not self._reads:
            # Held as the app sent it (less X-AdInject), so an unmodified page goes out byte for byte.
            stripped = without_opt_out(message.get("headers") or ())
            return message if stripped is None else {**message, "headers": stripped}
        start = {**message, "headers": normalized(message.get("headers") or ())}
        # The output depends on these request headers whether or not this page gets modified, so a shared
        # cache must key on them for every such page (django-mobile #52: mobile pages served to desktops).
        add_vary(MutableHeaders(raw=start["headers"]), self._reads)
        return start

    def _answer_for_app(self, message: Message) -> None:
        """A response we leave alone, to a request we took conditions off: answer them as the app would have,
        from its own validators (a 304 in its place when they match) and its own bytes (a range of them)."""
        if self._conditions and message.get("status") == 200 and not message.get("trailers", False):
            headers = MutableHeaders(raw=normalized(message.get("headers") or ()))
            if not_modified(self._conditions, headers):
                self.answer = not_modified_start(headers)
            elif self._may_cut():
                # Not a page we modify (a video or a PDF under the rules' URLs): its range, cut from the
                # whole response the app sent, as the app would have answered the Range we took.
                cut = window_for(self._conditions, message)
                if cut is not None:
                    self.window, self.answer = cut

    def _may_cut(self) -> bool:
        # Range is defined for GET only (RFC 9110 §14.2).
        return self.method == "GET"

    def transform(self, start: Message, body: bytes) -> Steps[tuple[Message, bytes]]:
        """The start and body to send for a complete candidate body, or the 304 that stands for them when the
        request's conditions (taken off before the app saw them) match what would go out."""
        start, body = yield from self._transform(start, body)
        if self._conditions and start.get("status") == 200:
            headers = MutableHeaders(raw=normalized(start["headers"]))
            if not_modified(self._conditions, headers):
                return not_modified_start(headers), b""
        return start, body

    def _transform(self, start: Message, body: bytes) -> Steps[tuple[Message, bytes]]:
        """The start and body to send for a complete candidate body (`start` and `body` when unmodified)."""
        began = time.perf_counter()
        headers = MutableHeaders(raw=normalized(start["headers"]))
        head = self.method == "HEAD"
        if head and not body and headers.get("content-length", "").strip() != "0":
            return self._head_without_body(start, headers)
        owner = self.owner
        coding = codings.content_coding(headers.getlist("content-encoding")) or ""
        try:
            page, sent_coding = yield from steps.decode(
                coding, body, limit=owner.max_decoded_bytes, threshold=owner.thread_threshold_bytes
            )
        except codings.DecodeError as exc:
            # Over the cap, or not valid in its coding: the app's bytes go out as they are.
            logger.debug("adinject: not rewriting %s: %s body: %s", self.path, coding, exc)
            self.count("unchanged", "decode")
            return start, body
        bucket = self._bucket(headers)
        run = partial(
            self._apply,
            page,
            headers=bucket.headers,
            etag=strong_etag(start["headers"]),
            context=steps.app_context(self.state, self.path, warn=True),
            sent_coding=sent_coding,
            csp=headers.getlist("content-security-policy"),
            now=owner.clock(),
        )
        admission, made = yield steps.Budgeted(
            owner.planning_budget, len(page), owner.thread_threshold_bytes, run
        )
        if admission != "now" and owner.metrics is not None:
            owner.metrics.planning_waited("planned" if made is not None else "busy")
        if made is None:
            # Too many bytes of page already in planning, and no room came in time: left alone, not queued.
            logger.debug("adinject: not rewriting %s: the planning budget stayed full", self.path)
            self.count("unchanged", "busy")
            return ({**start, "headers": headers.raw} if bucket.set_cookie else start), body
        result, out = made
        if owner.metrics is not None:
            owner.metrics.result(result)
            owner.metrics.observe(time.perf_counter() - began)
        if not result.modified:
            # The app's bytes, but a visitor who was just given a bucket must keep it.
            return ({**start, "headers": headers.raw} if bucket.set_cookie else start), body
        return self._modified(start, headers, result, out, began)

    def _depends_on_request(self) -> bool:
        # A `schedule` makes the output depend on the moment as a `device` rule makes it depend on the
        # request: either way no validator of the app's describes what goes out.
        return bool(self._reads) or self.rules.depends_on_time(self.path)

    def _mark_rewritten(self, headers: MutableHeaders, *, depends_on_request: bool) -> None:
        # The rules version and load time go into the validators: a page other rules shaped is another page.
        rules = self.rules
        mark_rewritten(
            headers, depends_on_request=depends_on_request, version=rules.version, loaded_at=rules.loaded_at
        )

    def _head_without_body(self, start: Message, headers: MutableHeaders) -> tuple[Message, bytes]:
        """An app may answer HEAD with an empty body and the GET length (FileResponse does). We cannot know
        what GET would send after insertion, so the length goes (absent is allowed; wrong is not), and the
        validators are treated as GET's would be when modified."""
        del headers["content-length"]
        self._mark_rewritten(headers, depends_on_request=self._depends_on_request())
        self.count("unchanged", "head")
        return {**start, "headers": headers.raw}, b""

    def _bucket(self, headers: MutableHeaders) -> BucketAssignment:
        """The engine's request headers, with a bucket for a visitor the rules split (percent, variants) who
        has none yet: this page already uses it, and the cookie set on `headers` keeps it for the next."""
        bucket = ensure_bucket(
            steps.engine_headers(self.request_headers(), headers),
            self._reads,
            secure=self.scope.get("scheme") == "https",
            bucket_header=self.rules.bucket_header,
        )
        if bucket.set_cookie:
            headers.append("set-cookie", bucket.set_cookie)
            # Several Cache-Control lines are one list (RFC 9110 §5.3): read them all, write one line. A
            # shared cache storing this response would hand this visitor's bucket to every reader it serves.
            headers["cache-control"] = cache_control_with_cookie(headers.getlist("cache-control"))
        return bucket

    def _modified(
        self, start: Message, headers: MutableHeaders, result: ApplyResult, out: bytes, began: float
    ) -> tuple[Message, bytes]:
        add_vary(headers, result.reads)
        self._mark_rewritten(headers, depends_on_request=self._depends_on_request() or bool(result.reads))
        steps.set_length(headers, out)
        if self.owner.server_timing:
            elapsed_ms = (time.perf_counter() - began) * 1000
            headers.append("server-timing", server_timing(elapsed_ms, len(result.insertions)))
        return {**start, "headers": headers.raw}, out

    def _apply(
        self,
        page: bytes,
        *,
        headers: Mapping[str, str],
        etag: str | None,
        context: Mapping[str, Any] | None,
        sent_coding: str,
        csp: Sequence[str],
        now: datetime,
    ) -> tuple[ApplyResult, bytes]:
        """Plan (or reuse a cached plan), realize, encode again: the engine's part, inline or in a thread.

        `csp` is the response's Content-Security-Policy values (for the GPT scripts' nonce: per response,
        never cached).
        """
        rules, cache = self.rules, self.owner.cache
        url = steps.request_url(self.scope)
        plan: Any = None
        key = None
        outcome = None
        if cache is not None:
            # Decided once: its key finds the plan, and a miss plans with it rather than deciding again.
            outcome = rules.decide(url, headers, now)
            key = cache.key(
                page,
                version=rules.version,
                # The path, not the URL: the query matters only through `query:` conditions, and those are
                # in the request key; `?utm_source=...` links must not each get a plan of their own.
                path=self.path,
                content_type=headers.get("content-type", ""),
                # What the request decides, not the raw header values: two phones with different
                # User-Agents, or two visitors in the same half of a test, share one plan.
                header_values=outcome.key,
                etag=etag,
            )
            plan = cache.get(key)
        if plan is None:
            plan = rules.plan(page, url=url, headers=headers, now=now, outcome=outcome)
            if cache is not None and key is not None:
                cache.put(key, plan, len(page))
        result = rules.realize(plan, page, context=context, csp=csp, render_cache=self.owner.render_cache)
        if not result.modified:
            return result, page
        return result, steps.encode(sent_coding, result.body)


def _is_html(message: Message) -> bool:
    return media_type(header_values(message.get("headers") or (), b"content-type")) == "text/html"
