"""The debug view: the annotated page (adinject/preview.py) for a request that carries the debug token.

`?adinject=debug` gets the annotated page and `?adinject=original` the app's page untouched (what
`adinject preview --from` needs, since the page a live site sends already has its units). Both only with the
token, in the `X-AdInject-Debug` header or the `adinject_debug` cookie; without it the parameter does
nothing at all, so it cannot be used to switch ads off or to read the rules. Both answers are
`Cache-Control: no-store`: a shared cache must never hand them to readers.

`DebugExchange` answers `?adinject=debug` (the annotated page), `original_start` `?adinject=original`
(`send_original` for ASGI).
"""

from __future__ import annotations

import hmac
import logging
from functools import partial
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl

from starlette.datastructures import MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import Message, Scope, Send

from adinject import preview
from adinject.engine import Rules
from adinject.http import codings, steps
from adinject.http.candidate import refusal
from adinject.http.exchange import Exchange
from adinject.http.headers import DIGEST_HEADERS, normalized, request_headers
from adinject.http.rules_like import RulesLike
from adinject.http.steps import Steps
from adinject.metrics import Metrics
from adinject.reload import Inactive, LiveRules

if TYPE_CHECKING:
    from adinject.http.base import AdInjectBase

DebugMode = Literal["debug", "original"]

PARAM = "adinject"
HEADER = "x-adinject-debug"
COOKIE = "adinject_debug"
_NEEDLE = PARAM.encode() + b"="
# Shorter tokens are logged as weak: the token is all that keeps the rules and the unit-free pages private.
MIN_TOKEN_LENGTH = 16

logger = logging.getLogger("adinject")


def warn_if_weak(token: str | None) -> None:
    """Log once (the middleware calls this when it is made) that a short debug token is easy to guess."""
    if token is not None and len(token.strip()) < MIN_TOKEN_LENGTH:
        logger.warning(
            "adinject: debug_token is %d characters, under %d: anyone who guesses it sees the debug view "
            "(the rules at work) and pages without units; use a long random one (secrets.token_urlsafe())",
            len(token.strip()),
            MIN_TOKEN_LENGTH,
        )


def debug_mode(token: str | None, scope: Scope, metrics: Metrics | None = None) -> DebugMode | None:
    """The mode the request asks for, if it carries `token`; None otherwise (and always without a token).

    Cheap for ordinary requests: one substring test on the query string. A request that asks for a mode
    without the token (none given, or a wrong one) is counted in `metrics` (`adinject_debug_refused`).
    """
    query_string: bytes = scope.get("query_string", b"")
    if not token or _NEEDLE not in query_string:
        return None
    wanted = None
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key == PARAM:
            wanted = value
    if wanted not in ("debug", "original"):
        return None
    headers = request_headers(scope)
    given = headers.get(HEADER)
    if given is None and "cookie" in headers:
        given = cookie_parser(headers["cookie"]).get(COOKIE)
    # Constant-time comparison: the token must not leak one character at a time through response timing.
    if given is None or not hmac.compare_digest(given.strip().encode(), token.encode()):
        if metrics is not None:
            metrics.debug_refused("missing" if given is None else "wrong")
        return None
    return "debug" if wanted == "debug" else "original"


def no_store(headers: MutableHeaders) -> None:
    """Headers for a debug answer: never stored, never validated against the app's page."""
    headers["cache-control"] = "no-store"
    del headers["etag"]
    del headers["last-modified"]
    del headers["expires"]


def explainable(rules: RulesLike, live: LiveRules | None) -> tuple[Rules | None, list[str]]:
    """The rules to draw the page with, and notes on why readers get something else.

    Drawing needs the engine's own `Rules` (`preview.annotate` plans with `explain=True`); inactive rules
    (`inactive_code` set) draw with the rules they stand in for, when they are adinject's `Inactive`.
    """
    notes: list[str] = []
    code = rules.inactive_code
    drawn = rules.inner if isinstance(rules, Inactive) else rules
    engine = drawn if isinstance(drawn, Rules) else None
    if code == "off":
        reason = rules.reason if isinstance(rules, Inactive) else "the kill switch is on"
        notes.append(f"Readers get this page without units: {reason}. Shown is what the rules would do.")
    elif code is not None:
        notes.append("No valid rules are loaded: readers get this page without units.")
    elif engine is None:
        notes.append(f"The debug view needs adinject's own rules, not a {type(rules).__name__}.")
    if live is not None and live.last_error is not None:
        problems = live.last_error.problems
        notes.append(
            f"The latest change to the rules was refused ({len(problems)} problem"
            f"{'' if len(problems) == 1 else 's'}); the rules shown are the last good ones:"
        )
        notes.extend(str(p) for p in problems[:20])
    return engine, notes


class DebugExchange(Exchange):
    """The annotated page for a request with the debug token: any HTML page we can read, whatever the rules
    say of its URL (the panel says the rest), and `no-store` on whatever goes out."""

    __slots__ = ("notes",)

    def __init__(self, owner: AdInjectBase[Any], rules: RulesLike) -> None:
        super().__init__(owner, rules)
        self.notes: list[str] = []  # why readers get something else, found at the start

    def start(self, message: Message) -> Message | None:
        reason = refusal(message, self.path, lambda _: True)
        if reason not in (None, "opted-out", "no-transform"):
            return None  # not an HTML page, not a 200, or a body we cannot read: nothing to annotate
        if reason == "opted-out":
            self.notes.append("The app sent X-AdInject: off: readers get this page without units.")
        elif reason == "no-transform":
            self.notes.append("The response is Cache-Control: no-transform: readers get it without units.")
        # no-store from the start: whatever goes out for this request (even the app's page, should annotating
        # fail) must not be cached under this URL.
        headers = MutableHeaders(raw=normalized(message.get("headers") or ()))
        no_store(headers)
        return {**message, "headers": headers.raw}

    def transform(self, start: Message, body: bytes) -> Steps[tuple[Message, bytes]]:
        """The annotated page; the app's bytes (under the no-store start) for HEAD or an undecodable body."""
        headers = MutableHeaders(raw=list(start["headers"]))
        del headers["accept-ranges"]
        coding = codings.content_coding(headers.getlist("content-encoding"))
        if self.method == "HEAD" or coding is None:
            return {**start, "headers": headers.raw}, body
        owner = self.owner
        try:
            page, sent_coding = yield from steps.decode(
                coding, body, limit=owner.max_decoded_bytes, threshold=owner.thread_threshold_bytes
            )
        except codings.DecodeError:
            return {**start, "headers": headers.raw}, body
        engine, more = explainable(self.rules, owner.live)
        draw = partial(
            preview.annotate,
            engine,
            page,
            url=steps.request_url(self.scope),
            headers=steps.engine_headers(self.request_headers(), headers),
            context=steps.app_context(self.state, self.path, warn=False),
            notes=[*more, *self.notes],
            now=owner.clock(),
            csp=headers.getlist("content-security-policy"),
        )
        annotated: preview.Annotated = yield steps.Offload(len(page), owner.thread_threshold_bytes, draw)
        out = steps.encode(sent_coding, annotated.body)
        steps.set_length(headers, out)
        for name in DIGEST_HEADERS:
            del headers[name]
        self.count("debug")
        return {**start, "headers": headers.raw}, out


def original_start(message: Message) -> Message:
    """The start for `?adinject=original` with the token: the app's, but never stored by a cache."""
    headers = MutableHeaders(raw=normalized(message.get("headers") or ()))
    no_store(headers)
    return {**message, "headers": headers.raw}


async def send_original(send: Send, message: Message) -> None:
    """`?adinject=original` with the token: the app's response as it is, but never stored by a cache."""
    await send(original_start(message) if message["type"] == "http.response.start" else message)
