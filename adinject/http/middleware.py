"""AdInjectMiddleware: a pure ASGI middleware that runs the engine on outgoing article pages.

The shape follows Starlette's GZipMiddleware: the middleware holds the options and what every request shares
(the rules in use, the plan cache, the metrics), and hands each http request to a responder made for it
(responder.py), which holds that response's state: `InjectResponder` (inject.py) for ordinary requests,
`DebugResponder` (debug.py) for `?adinject=debug` with the token. Nothing about one request is kept on
`self`, so one middleware instance serves concurrent requests.

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

import os
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from functools import partial
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from adinject.engine import RenderCache
from adinject.http.cache import PlanCache
from adinject.http.debug import DebugResponder, debug_mode, send_original, warn_if_weak
from adinject.http.inject import InjectResponder
from adinject.http.rules_like import RulesLike
from adinject.http.steps import PlanningBudget
from adinject.language.problems import RulesError
from adinject.language.schema import GPT_LIBRARY_HOSTS
from adinject.metrics import Metrics, default_metrics
from adinject.reload import LiveRules

__all__ = ["AdInjectMiddleware", "RulesLike"]


# Rules given loaded are rules if they have these (RulesLike has the full list); anything else (a number, a
# dict) is a programming error, raised at once rather than failed open on every request.
_RULES_METHODS = ("matches_url", "plan", "realize")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AdInjectMiddleware:
    """Insert ad slots (and other units) into outgoing HTML article pages, per the rules.

    `rules` is a rules folder or file, a `LiveRules`, or an already-loaded `Rules` (or any `RulesLike`).

    A folder is watched and reloaded on change (`reload`, default True for a folder; see adinject/reload/):
    an invalid change is logged and the last good rules keep serving. Invalid rules at start-up are logged
    and recorded in `startup_error`, not raised: the server's lifespan start-up then fails with the problems
    (see the module docstring), unless `allow_invalid_rules_at_startup=True`, which starts with no units
    and puts the first valid state of the folder live. Wrong arguments (a type, a negative size) raise.
    `rules` always holds the rules in use; assigning it swaps them (a reload assigns it too).

    `debug_token`: requests with `?adinject=debug` and this token (header `X-AdInject-Debug` or cookie
    `adinject_debug`) get the annotated page (adinject/http/debug.py). `metrics`: record into
    `adinject.metrics.default_metrics()` (True), into the given `Metrics`, or not at all (False). `clock`:
    the time `schedule` conditions are read at, once per request (a timezone-aware datetime; tests pass
    their own). `gpt_library_hosts`: hosts that `settings.gpt_library_url` may name besides Google's (a
    folder's rules only; rules given loaded were checked by whoever loaded them).

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
        "planning_budget",
        "render_cache",
        "rules",
        "server_timing",
        "startup_error",
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
        planning_budget_bytes: int = 8 * 1024 * 1024,
        cache_bytes: int = 64_000_000,
        max_decoded_bytes: int | None = None,
        reload: bool | None = None,
        allow_invalid_rules_at_startup: bool = False,
        gpt_library_hosts: Collection[str] = (),
        debug_token: str | None = None,
        metrics: Metrics | bool = True,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        _not_negative(
            max_body_bytes=max_body_bytes,
            cache_size=cache_size,
            thread_threshold_bytes=thread_threshold_bytes,
            planning_budget_bytes=planning_budget_bytes,
            cache_bytes=cache_bytes,
            max_decoded_bytes=max_decoded_bytes,
        )
        self.app = app
        self.metrics: Metrics | None = default_metrics() if metrics is True else (metrics or None)
        self.live: LiveRules | None = None
        self.rules: RulesLike
        # Invalid rules at start-up that must stop the app: the lifespan start-up fails while they last.
        self.startup_error: RulesError | None = None
        self._take_rules(
            rules,
            reload=reload,
            allow_invalid=allow_invalid_rules_at_startup,
            gpt_hosts=_gpt_hosts(gpt_library_hosts),
        )
        if debug_token is not None and not debug_token.strip():
            raise ValueError("debug_token must not be empty (use None for no debug view)")
        self.debug_token = debug_token
        warn_if_weak(debug_token)
        self.clock = clock
        self.max_body_bytes = max_body_bytes
        self.max_decoded_bytes = max_body_bytes if max_decoded_bytes is None else max_decoded_bytes
        self.server_timing = server_timing
        self.thread_threshold_bytes = thread_threshold_bytes
        self.cache: PlanCache[Any] | None = (
            PlanCache(cache_size, max_bytes=cache_bytes) if cache_size and cache_bytes else None
        )
        # Bytes of page planned in worker threads at once, shared by the process (steps.PlanningBudget).
        self.planning_budget = PlanningBudget.shared(planning_budget_bytes) if planning_budget_bytes else None
        # Rendered markup the engine may reuse (units that read only `slot`, pages whose units read nothing
        # of the response), kept across rule reloads: its keys carry the rules version.
        self.render_cache = RenderCache()
        # Responses sent unchanged because adinject itself raised (a hook for metrics).
        self.failures = 0

    def _take_rules(
        self,
        rules: str | os.PathLike[str] | LiveRules | RulesLike,
        *,
        reload: bool | None,
        allow_invalid: bool,
        gpt_hosts: frozenset[str],
    ) -> None:
        if isinstance(rules, LiveRules):
            self.live = rules
        elif isinstance(rules, str | os.PathLike):
            # A broken rules folder is recorded here and fails the lifespan start-up (see __call__): raising
            # here would not stop an app that builds its middleware lazily (Starlette), only break it.
            self.live = LiveRules(
                rules,
                watch=reload is not False,
                allow_invalid=True,
                gpt_hosts=gpt_hosts,
                metrics=self.metrics,
                invalid_at_start=(
                    "starting without units until they are fixed"
                    if allow_invalid
                    else "start-up fails where the server runs the ASGI lifespan; without one (daphne, "
                    "uvicorn --lifespan off), no units until they are fixed"
                ),
            )
            if not allow_invalid and self.live.good is None:
                self.startup_error = self.live.last_error
        elif not all(callable(getattr(rules, name, None)) for name in _RULES_METHODS):
            raise TypeError(
                "rules must be a rules folder or file (a path), a LiveRules or loaded Rules, "
                f"not {type(rules).__name__}"
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

    def _swap(self, rules: RulesLike) -> None:
        self.rules = rules

    def close(self) -> None:
        """Stop watching the rules folder (the middleware keeps serving the rules it has)."""
        if self.live is not None:
            self.live.stop()

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
        responder = DebugResponder(self, rules) if mode == "debug" else InjectResponder(self, rules)
        await responder(scope, receive, send)


def _not_negative(**sizes: int | None) -> None:
    for name, value in sizes.items():
        if value is not None and value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")


def _gpt_hosts(extra: Collection[str]) -> frozenset[str]:
    """Google's GPT hosts and the ones the developers allow (never a rule file's choice)."""
    if isinstance(extra, str):
        raise TypeError("gpt_library_hosts must be a collection of host names, not one string")
    return frozenset(GPT_LIBRARY_HOSTS | {host.lower() for host in extra})
