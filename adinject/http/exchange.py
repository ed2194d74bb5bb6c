"""One request's decisions, without I/O: what the ASGI responder and the WSGI response both ask.

An exchange is made per request with the rules it reads (taken once, so that a reload mid-response cannot mix
two versions) and the middleware that owns it (options, caches, metrics). The protocol layer around it (the
ASGI `ExchangeResponder` in responder.py, the WSGI response in adinject/wsgi/) feeds it ASGI-shaped data
(a request `scope`, a start message with an int status and a list of byte-pair headers) and does what it
says:

* `attach(scope)`: the scope the app is to see (an exchange may take headers off the request).
* `start(message)`: at the response's start, None to pass the response through (unless `answer` is set: a
  start to send in the app's place, with `window`, the part of the app's body that follows it), or the
  start to hold while the body is buffered.
* `transform(start, body)`: a sans-I/O computation (steps.Steps) giving the start and body to send for
  the held start and the complete body; the protocol layer drives it (steps.run_async or run_sync).

`count` and `failed` record outcomes. An exception from `start` or `transform` is adinject's own: the
protocol layer calls `failed` and sends the app's response as it came.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from starlette.types import Message, Scope

from adinject.http.headers import request_headers, without_opt_out
from adinject.http.ranges import Window
from adinject.http.rules_like import RulesLike
from adinject.http.steps import Steps

if TYPE_CHECKING:
    from adinject.http.base import AdInjectBase

logger = logging.getLogger("adinject")


class Exchange:
    """The per-request decisions shared by ASGI and WSGI (see the module docstring); subclasses decide."""

    __slots__ = ("_request", "answer", "owner", "rules", "scope", "state", "window")

    def __init__(self, owner: AdInjectBase[Any], rules: RulesLike) -> None:
        self.owner = owner
        self.rules = rules
        self.scope: Scope = {}
        # Where the app leaves unit context: scope["state"] (ASGI), a view of the environ (WSGI).
        self.state: object = None
        self._request: dict[str, str] | None = None
        # A start to send instead of the app's, with no body, when `start` sets it (and returns None); with
        # `window` too, the bytes of the app's body in it follow (a range of a response left alone).
        self.answer: Message | None = None
        self.window: Window | None = None

    def attach(self, scope: Scope) -> Scope:
        """Take the request: the scope the app is to see (this one; subclasses may take headers off)."""
        self.scope = scope
        self.state = scope.get("state")
        return scope

    def request_headers(self) -> dict[str, str]:
        """The request's headers, lower-case names (read once per request; callers must not change it)."""
        if self._request is None:
            self._request = request_headers(self.scope)
        return self._request

    @property
    def path(self) -> str:
        path: str = self.scope.get("path", "")
        return path

    @property
    def method(self) -> str:
        method: str = self.scope.get("method", "GET")
        return method

    def start(self, message: Message) -> Message | None:
        """The start to hold (the app's, or edited) when this response is one to rewrite; None to forward."""
        raise NotImplementedError

    def transform(self, start: Message, body: bytes) -> Steps[tuple[Message, bytes]]:
        """The start and body to send for the held start and the complete body."""
        raise NotImplementedError

    def count(self, outcome: str, reason: str = "") -> None:
        count(self.owner, outcome, reason)

    def failed(self, exc: BaseException) -> None:
        """adinject's own work raised: the original response goes out (the caller sends it)."""
        failed(self.owner, self.path, exc)


def count(owner: AdInjectBase[Any], outcome: str, reason: str = "") -> None:
    """One page's outcome in the owner's metrics (if it has any)."""
    metrics = owner.metrics
    if metrics is not None:
        metrics.page(outcome, reason)


def failed(owner: AdInjectBase[Any], path: str, exc: BaseException) -> None:
    """adinject's own work raised on `path`: counted and logged; the caller sends the original response."""
    owner.failures += 1
    count(owner, "failed_open")
    logger.error("adinject failed on %s; the original response was sent", path, exc_info=exc)


def passed_start(message: Message) -> Message:
    """The start of a response passed through: without X-AdInject if that can be done, else the message as
    the app sent it (fail open)."""
    try:
        stripped = without_opt_out(message.get("headers") or ())
    except Exception:
        return message
    return message if stripped is None else {**message, "headers": stripped}
