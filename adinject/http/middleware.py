"""AdInjectMiddleware: a pure ASGI middleware that runs the engine on outgoing article pages.

The shape follows Starlette's GZipMiddleware: the middleware holds the options and what every request shares
(the rules in use, the plan cache, the metrics: `AdInjectBase`, base.py, shared with the WSGI middleware),
and hands each http request to a responder made for it (responder.py), which holds that response's state
and asks an exchange what to do: `InjectExchange` (inject.py) for ordinary requests, `DebugExchange`
(debug.py) for `?adinject=debug` with the token. Nothing about one request is kept on `self`, so one
middleware instance serves concurrent requests.

Fail open: any exception in adinject's own work sends the original response; exceptions from the app are not
adinject's and propagate exactly as they would without it.

Start-up: invalid rules never make the constructor raise (Starlette builds its middleware lazily, on the
first ASGI call, where an exception turns every response into a 500). The constructor records them, and the
middleware answers the ASGI lifespan's `lifespan.startup` itself with `lifespan.startup.failed` listing the
problems, without calling the app, so the server exits whether or not the app speaks lifespan. With valid
rules (or `allow_invalid_rules_at_startup=True`) the lifespan is the app's, passed through untouched. Where
there is no lifespan (daphne, uvicorn `--lifespan off`), responses pass through unchanged until the rules
are fixed.
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

from starlette.types import ASGIApp, Receive, Scope, Send

from adinject.http.base import AdInjectBase
from adinject.http.debug import DebugExchange, debug_mode, send_original
from adinject.http.inject import InjectExchange
from adinject.http.kinds import Protocol
from adinject.http.responder import ExchangeResponder
from adinject.http.rules_like import RulesLike
from adinject.language.problems import RulesError

__all__ = ["AdInjectMiddleware", "RulesLike"]


class AdInjectMiddleware(AdInjectBase[ASGIApp]):
    """Insert ad slots (and other units) into the HTML article pages an ASGI app sends, per the rules.

    The options are `AdInjectBase`'s (adinject/http/base.py). Invalid rules at start-up are logged and
    recorded in `startup_error`, not raised: the server's lifespan start-up then fails with the problems
    (see the module docstring), unless `allow_invalid_rules_at_startup=True`. A WSGI app (Flask, Django's
    WSGIHandler) raises TypeError: `adinject.AdInjectWSGIMiddleware` is the one for it.
    """

    __slots__ = ()

    protocol: ClassVar[Protocol] = "ASGI"
    invalid_at_start: ClassVar[str | None] = (
        "start-up fails where the server runs the ASGI lifespan; without one (daphne, "
        "uvicorn --lifespan off), no units until they are fixed"
    )

    def _startup_problems(self) -> RulesError | None:
        """The invalid rules that must stop the app now: those of start-up, unless valid rules have loaded."""
        if self.startup_error is None or self.live is None:
            return None
        if self.live.good is not None:
            return None
        return self.live.last_error or self.startup_error

    async def _fail_startup(self, error: RulesError, receive: Receive, send: Send) -> None:
        """Answer the lifespan ourselves: the app is not started with invalid rules, whatever it speaks."""
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        label = self.live.label if self.live is not None else "the rules"
        problems = "\n".join(f"  {problem}" for problem in error.problems)
        await send(
            {
                "type": "lifespan.startup.failed",
                "message": f"adinject: the rules in {label} are invalid; not starting "
                f"(allow_invalid_rules_at_startup=True starts without units):\n{problems}",
            }
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.live is not None:
            # Each process watches for itself; the first call in a process (or after a fork) starts it.
            self.live.ensure_watching()
        if scope["type"] == "lifespan":
            error = self._startup_problems()
            if error is not None:
                await self._fail_startup(error, receive, send)
                return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "state" not in scope:
            # Starlette's request.state writes into scope["state"], creating it in whatever scope dict the
            # endpoint sees; a middleware between us and it may copy the scope. Creating the dict here (in a
            # copy of the scope, per the ASGI spec) means every copy downstream shares this one dict, so what
            # the endpoint sets is visible to us. uvicorn already puts one in every scope.
            scope = {**scope, "state": {}}
        mode = debug_mode(self.debug_token, scope, self.metrics) if self.debug_token is not None else None
        if mode == "original":
            await self.app(scope, receive, partial(send_original, send))
            return
        # The rules are read once per request, so a reload mid-response cannot mix two versions.
        rules = self.rules
        exchange = DebugExchange(self, rules) if mode == "debug" else InjectExchange(self, rules)
        responder = ExchangeResponder(self, exchange)
        await responder(scope, receive, send)
