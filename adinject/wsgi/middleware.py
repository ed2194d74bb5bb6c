"""AdInjectWSGIMiddleware: the same middleware for WSGI apps (Django, Flask; gunicorn sync workers, mod_wsgi,
uWSGI), natively: no round trip through an ASGI adapter.

Everything a response goes through is decided by the same exchanges as in the ASGI middleware
(adinject/http/exchange.py, inject.py, debug.py); this package is PEP 3333's protocol around them
(response.py) and the conversion of the environ and the starts (environ.py).

Start-up: WSGI has no lifespan, and WSGI apps are built when their module is imported, so invalid rules at
start-up raise `RulesError` from the constructor (the worker does not boot, with every problem in the
error and the log), unless `allow_invalid_rules_at_startup=True`, which starts without units until the
folder holds valid rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from adinject.http.base import AdInjectBase
from adinject.http.debug import DebugExchange, debug_mode, original_start
from adinject.http.exchange import Exchange, failed
from adinject.http.inject import InjectExchange
from adinject.http.kinds import Protocol
from adinject.wsgi.environ import (
    ContextView,
    request_scope,
    start_message,
    without_conditionals,
    wsgi_headers,
)
from adinject.wsgi.response import ExcInfo, Write, WSGIResponse

__all__ = ["AdInjectWSGIMiddleware"]


class AdInjectWSGIMiddleware(AdInjectBase[WSGIApplication]):
    """Insert ad slots (and other units) into the HTML article pages a WSGI app sends, per the rules.

    `AdInjectWSGIMiddleware(wsgi_app, rules="rules/", ...)` takes the options of `AdInjectMiddleware`
    (adinject/http/base.py) and behaves as it does; unit context comes from `environ["adinject.context"]`
    (Flask: `request.environ`, Django: `request.META`). Invalid rules at start-up raise `RulesError` (see the
    module docstring). An ASGI app (an `async def` one: Starlette, FastAPI, Django's ASGIHandler) raises
    TypeError: `adinject.AdInjectMiddleware` is the one for it.
    """

    __slots__ = ()

    protocol: ClassVar[Protocol] = "WSGI"
    invalid_at_start: ClassVar[str | None] = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self.live is not None:
            # Each process watches for itself; the first call in a process (or after a fork) starts it.
            self.live.ensure_watching()
        try:
            exchange, seen = self._exchange(environ)
        except Exception as exc:
            # adinject's own reading of the request failed: the app answers as if we were not here.
            failed(self, environ.get("PATH_INFO", ""), exc)
            return self.app(environ, start_response)
        if exchange is None:
            return self.app(environ, _original(start_response))
        response = WSGIResponse(self, exchange, start_response)
        return response.wrap(self.app(seen, response.start_response))

    def _exchange(self, environ: WSGIEnvironment) -> tuple[Exchange | None, WSGIEnvironment]:
        """The exchange for this request (None for `?adinject=original` with the token) and the environ the
        app is to see (without the conditional headers the exchange answers itself)."""
        scope = request_scope(environ)
        mode = debug_mode(self.debug_token, scope, self.metrics) if self.debug_token is not None else None
        if mode == "original":
            return None, environ
        # The rules are read once per request, so a reload mid-response cannot mix two versions.
        rules = self.rules
        if mode == "debug":
            exchange: Exchange = DebugExchange(self, rules)
            exchange.attach(scope)
            seen = environ
        else:
            inject = InjectExchange(self, rules)
            inject.attach(scope)
            exchange, seen = inject, without_conditionals(environ, inject.conditions)
        exchange.state = ContextView(seen)
        return exchange, seen


def _original(start_response: StartResponse) -> StartResponse:
    """`?adinject=original` with the token: the app's response as it is, but never stored by a cache."""

    def start(status: str, headers: list[tuple[str, str]], exc_info: ExcInfo = None) -> Write:
        message: Any = original_start(start_message(status, headers))
        return start_response(status, wsgi_headers(message), exc_info)

    return start
