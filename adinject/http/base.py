"""What every adinject middleware shares, ASGI or WSGI: the options, the rules in use, the caches and metrics.

`AdInjectBase` takes and checks the options, loads (and watches) the rules, and holds what every request
reads: the plan cache, the rendered-markup cache, the planning budget, the metrics and the failure count.
The middleware classes (http/middleware.py for ASGI, adinject/wsgi/ for WSGI) add the protocol; the
per-request decisions are the exchanges' (exchange.py, inject.py, debug.py), the same for both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from adinject.engine import RenderCache
from adinject.http.cache import PlanCache
from adinject.http.debug import warn_if_weak
from adinject.http.kinds import Protocol, refuse_other_kind
from adinject.http.rules_like import RulesLike
from adinject.http.steps import PlanningBudget
from adinject.language.problems import RulesError
from adinject.language.schema import GPT_LIBRARY_HOSTS
from adinject.metrics import Metrics, default_metrics
from adinject.reload import LiveRules

RulesSource = str | os.PathLike[str] | LiveRules | RulesLike
AppT = TypeVar("AppT")

# Rules given loaded are rules if they have these (RulesLike has the full list); anything else (a number, a
# dict) is a programming error, raised at once rather than failed open on every request.
_RULES_METHODS = ("matches_url", "plan", "realize")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AdInjectBase(Generic[AppT]):
    """Insert ad slots (and other units) into outgoing HTML article pages, per the rules (around `app`).

    `rules` is a rules folder or file, a `LiveRules`, or an already-loaded `Rules` (or any `RulesLike`).

    A folder is watched and reloaded on change (`reload`, default True for a folder; see adinject/reload/):
    an invalid change is logged and the last good rules keep serving. Invalid rules at start-up are what
    the subclass's `invalid_at_start` says: recorded in `startup_error` (ASGI: the lifespan start-up fails)
    or, when it is None, raised (WSGI: the app is not built), unless `allow_invalid_rules_at_startup=True`,
    which starts with no units and puts the first valid state of the folder live. Wrong arguments (a type,
    a negative size, an app clearly of the other protocol: http/kinds.py) raise.
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

    # The protocol of the app wrapped: an app clearly of the other one is refused at construction.
    protocol: ClassVar[Protocol]
    # What invalid rules at start-up mean, for the log (ASGI); None: they raise from the constructor (WSGI).
    invalid_at_start: ClassVar[str | None] = None

    def __init__(
        self,
        app: AppT,
        rules: RulesSource,
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
        refuse_other_kind(app, self.protocol)
        self.app: AppT = app
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
        rules: RulesSource,
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
            raises = self.invalid_at_start is None and not allow_invalid
            self.live = LiveRules(
                rules,
                watch=reload is not False,
                allow_invalid=not raises,
                gpt_hosts=gpt_hosts,
                metrics=self.metrics,
                invalid_at_start=(
                    "starting without units until they are fixed"
                    if allow_invalid or self.invalid_at_start is None
                    else self.invalid_at_start
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


def _not_negative(**sizes: int | None) -> None:
    for name, value in sizes.items():
        if value is not None and value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")


def _gpt_hosts(extra: Collection[str]) -> frozenset[str]:
    """Google's GPT hosts and the ones the developers allow (never a rule file's choice)."""
    if isinstance(extra, str):
        raise TypeError("gpt_library_hosts must be a collection of host names, not one string")
    return frozenset(GPT_LIBRARY_HOSTS | {host.lower() for host in extra})
