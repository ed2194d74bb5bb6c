"""Prometheus metrics: what adinject did to the pages it saw, how long it took, and which rules are live.

Everything lives in a dedicated `CollectorRegistry` (not prometheus-client's global one), so mounting
`metrics_app()` exposes adinject's numbers and nothing an application registered for itself, and an
application's own `/metrics` does not change shape because adinject was installed.

Label values are bounded on purpose: `outcome` and `reason` come from fixed sets of short codes (the
middleware's refusal reasons and the engine's `Skip.code`), `rule` and `unit` are names from the rule files,
and `folder` is the rules folder of each middleware. No label ever carries a URL, a page title or a message.

Several worker processes: every process counts for itself. With `PROMETHEUS_MULTIPROC_DIR` set (before the
workers start, as prometheus-client's multiprocess mode requires), `metrics_app()` serves the sum over all
workers instead of whichever worker happened to answer the scrape. The live-state gauges (rules version, load
time, kill switch) are "livemax": one series per folder (and version) over the workers that run, the old
version set to 0 in a worker that reloaded (prometheus-client cannot remove a series in that mode) and left
out of the scrape, and the files of workers that are gone forgotten at each scrape (`mark_process_dead`).
Each metric's help text says how workers add up.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app, make_wsgi_app
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from adinject.result import ApplyResult

__all__ = [
    "METRICS",
    "REGISTRY",
    "FleetCollector",
    "Metrics",
    "MetricsApp",
    "default_metrics",
    "forget_dead_workers",
    "metrics_app",
    "metrics_wsgi_app",
    "multiprocess_dir",
]

# Seconds adinject adds to a page: most pages take well under a millisecond once planned, a cold plan of a big
# page a few milliseconds; the top buckets catch pathological pages.
BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

# How a metric adds up over worker processes, for its help text.
_PER_REQUEST = " Counted by the worker process that served the request; summed over workers."
_PER_WORKER = " Counted by every worker process for itself: one change adds one per worker."

_CODE = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def _code(value: str) -> str:
    # Codes are fixed strings in our own code; this only guards the label set against a future mistake.
    return value if _CODE.fullmatch(value) else "other"


class Metrics:
    """adinject's metrics in one registry. The middleware records into `default_metrics()` unless given
    another (or `metrics=False`)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._page_metrics(self.registry)
        self._unit_metrics(self.registry)
        self._rules_metrics(self.registry)
        self._versions: dict[str, str] = {}
        # Label children, looked up once: labels() takes a lock and builds a key on every call.
        self._children: dict[tuple[Any, ...], Any] = {}

    def _page_metrics(self, r: CollectorRegistry) -> None:
        self.pages = Counter(
            "adinject_pages",
            "HTML responses seen, by outcome (modified, unchanged, failed_open, debug) and why unchanged."
            + _PER_REQUEST,
            ["outcome", "reason"],
            registry=r,
        )

    def _unit_metrics(self, r: CollectorRegistry) -> None:
        self.units_inserted = Counter(
            "adinject_units_inserted",
            "Units inserted into pages." + _PER_REQUEST,
            ["rule", "unit"],
            registry=r,
        )
        self.variants_shown = Counter(
            "adinject_variants_shown",
            "Units with A/B variants inserted into pages, by the variant shown." + _PER_REQUEST,
            ["unit", "variant"],
            registry=r,
        )
        self.units_skipped = Counter(
            "adinject_units_skipped",
            "Units a rule wanted that did not land, by reason (the engine's Skip code)." + _PER_REQUEST,
            ["rule", "unit", "reason"],
            registry=r,
        )
        self.units_capped = Counter(
            "adinject_units_capped",
            "Units a rule's max, max_units or max_units_per_page left out (not wanted: the cap was reached),"
            " by which cap (max, rule_max, page_max)." + _PER_REQUEST,
            ["rule", "unit", "reason"],
            registry=r,
        )
        self.rules_skipped = Counter(
            "adinject_rules_skipped",
            "Rules that matched a page's URL but placed nothing there as a whole (no container, too short)."
            + _PER_REQUEST,
            ["rule", "reason"],
            registry=r,
        )
        self.debug_refusals = Counter(
            "adinject_debug_refused",
            "Requests asking for the debug view (?adinject=debug or original) without the right token, by"
            " reason (missing, wrong): someone may be guessing it." + _PER_REQUEST,
            ["reason"],
            registry=r,
        )
        self.planning_waits = Counter(
            "adinject_planning_waits",
            "Pages that waited for room in the planning budget (bytes of page planned at once), by how the"
            " wait ended: planned, or busy (no room in time; the page was sent unchanged)." + _PER_REQUEST,
            ["result"],
            registry=r,
        )
        self.processing = Histogram(
            "adinject_processing_seconds",
            "Time adinject spent on a candidate page (decode, plan or cache hit, render, splice, encode)."
            + _PER_REQUEST,
            buckets=BUCKETS,
            registry=r,
        )

    def _rules_metrics(self, r: CollectorRegistry) -> None:
        self.rules_info = Gauge(
            "adinject_rules_info",
            "The rules version being served (1 for the live version) per rules folder. Over worker processes:"
            " 1 for every version some running worker serves (two only while workers are mid-reload).",
            ["folder", "version"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.rules_loaded = Gauge(
            "adinject_rules_loaded_timestamp_seconds",
            "Unix time the live rules version was loaded. Over worker processes: the latest load of a running"
            " worker.",
            ["folder"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.reloads = Counter(
            "adinject_rules_reloads",
            "Rule changes that went live." + _PER_WORKER,
            ["folder"],
            registry=r,
        )
        self.reload_failures = Counter(
            "adinject_rules_reload_failures",
            "Rule changes refused because the folder was invalid (the last good rules kept serving)."
            + _PER_WORKER,
            ["folder"],
            registry=r,
        )
        self.kill_switch = Gauge(
            "adinject_kill_switch",
            "1 while the kill switch (an OFF file or ADINJECT_OFF) has every unit off. Over worker processes:"
            " 1 while it is on in any running worker.",
            ["folder"],
            registry=r,
            multiprocess_mode="livemax",
        )

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # --- pages

    def page(self, outcome: str, reason: str = "") -> None:
        self._child(self.pages, outcome, _code(reason) if reason else "").inc()

    def debug_refused(self, reason: str) -> None:
        """A request asked for the debug view without the right token (`missing` or `wrong`)."""
        self._child(self.debug_refusals, _code(reason)).inc()

    def planning_waited(self, result: str) -> None:
        """A page waited for room in the planning budget: then `planned`, or `busy` (sent unchanged)."""
        self._child(self.planning_waits, _code(result)).inc()

    def observe(self, seconds: float) -> None:
        self.processing.observe(seconds)

    def result(self, result: ApplyResult) -> None:
        """Count a page the engine ran on: its outcome, the units that landed and those that did not.

        Counted in local dicts first, then one `inc(n)` per label set: a page with six ads of one rule costs
        one increment (and one lock) instead of six.
        """
        inserted: dict[tuple[str, str], int] = {}
        shown: dict[tuple[str, str], int] = {}
        for ins in result.insertions:
            if ins.anchor == "head":
                continue  # the GPT scripts in <head> wire the units; they are not a unit themselves
            pair = (ins.rule, ins.unit)
            inserted[pair] = inserted.get(pair, 0) + 1
            if ins.variant:
                pair = (ins.unit, ins.variant)
                shown[pair] = shown.get(pair, 0) + 1
        rules: dict[tuple[str, str], int] = {}
        units: dict[tuple[str, str, str], int] = {}
        capped: dict[tuple[str, str, str], int] = {}
        for skip in result.skipped:
            if skip.rule is None:
                continue  # the page's own reason: counted by `page` below
            if skip.unit is None:
                whole = (skip.rule, _code(skip.code))
                rules[whole] = rules.get(whole, 0) + 1
            else:
                one = (skip.rule, skip.unit, _code(skip.code))
                into = capped if skip.capped else units
                into[one] = into.get(one, 0) + 1
        for labels, n in inserted.items():
            self._child(self.units_inserted, *labels).inc(n)
        for labels, n in shown.items():
            self._child(self.variants_shown, *labels).inc(n)
        for labels, n in rules.items():
            self._child(self.rules_skipped, *labels).inc(n)
        for three, n in units.items():
            self._child(self.units_skipped, *three).inc(n)
        for three, n in capped.items():
            self._child(self.units_capped, *three).inc(n)
        if result.modified:
            self.page("modified")
        else:
            self.page("unchanged", unchanged_reason(result))

    # --- rules

    def rules_live(self, folder: str, version: str, loaded_at: float | None = None) -> None:
        old = self._versions.get(folder)
        if old is not None and old != version:
            # Only the live version has a series: a dashboard shows one line per folder, not a history.
            # Multiprocess mode cannot remove a series (its files keep every key): the old one goes to 0,
            # and `metrics_app()` leaves the zeros out of the scrape.
            if multiprocess_dir() is not None:
                self.rules_info.labels(folder, old).set(0)
            else:
                with contextlib.suppress(KeyError):
                    self.rules_info.remove(folder, old)
        self._versions[folder] = version
        self.rules_info.labels(folder, version).set(1)
        self.rules_loaded.labels(folder).set(time.time() if loaded_at is None else loaded_at)

    def reloaded(self, folder: str) -> None:
        self.reloads.labels(folder).inc()

    def reload_failed(self, folder: str) -> None:
        self.reload_failures.labels(folder).inc()

    def switched_off(self, folder: str, off: bool) -> None:
        self.kill_switch.labels(folder).set(1 if off else 0)


def unchanged_reason(result: ApplyResult) -> str:
    """Why the engine left a page alone, as one code: the page's own reason, else the first rule's, else
    "no_units" (rules ran and wanted units, but none could be placed)."""
    page_level = next((s.code for s in result.skipped if s.rule is None), None)
    if page_level is not None:
        return page_level
    if result.skipped and all(s.unit is None for s in result.skipped):
        return result.skipped[0].code  # every matching rule stopped before placing (no container, too short)
    return "no_units"


_default: Metrics | None = None
_default_lock = threading.Lock()


def default_metrics() -> Metrics:
    """The process's own `Metrics`: what the middleware records into by default and `metrics_app()` serves.

    Made on first use (once, even when several threads ask at the same moment) rather than when this module
    is imported.
    """
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Metrics()
    return _default


if TYPE_CHECKING:
    # What `__getattr__` below gives, for type checkers.
    METRICS: Metrics
    REGISTRY: CollectorRegistry


def __getattr__(name: str) -> Any:
    """`METRICS` and `REGISTRY`: the default's names from when it was made at import, still importable."""
    if name == "METRICS":
        return default_metrics()
    if name == "REGISTRY":
        return default_metrics().registry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def multiprocess_dir() -> str | None:
    """prometheus-client's multiprocess folder, when that mode is on (`PROMETHEUS_MULTIPROC_DIR` is set)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def metrics_app(registry: CollectorRegistry | None = None) -> MetricsApp:
    """An ASGI app serving adinject's metrics in the Prometheus text format, on whatever path reaches it:

    `Route("/metrics", adinject.metrics_app())` (Starlette), `app.add_route("/metrics", ...)` (FastAPI), or
    route to it from any ASGI framework. (`app.mount("/metrics", ...)` answers `/metrics/`: Starlette
    redirects `/metrics` there before the app sees the request.)
    """
    return MetricsApp(_scraped(registry))


def metrics_wsgi_app(registry: CollectorRegistry | None = None) -> Callable[..., Any]:
    """The same metrics as a WSGI app, for sites served by `AdInjectWSGIMiddleware` (a Flask route, Django
    URL or werkzeug `DispatcherMiddleware` mount to it): the sum over workers in multiprocess mode too."""
    app: Callable[..., Any] = make_wsgi_app(_scraped(registry))
    return app


def _scraped(registry: CollectorRegistry | None) -> CollectorRegistry:
    if registry is not None:
        return registry
    path = multiprocess_dir()
    if path is None:
        return default_metrics().registry
    # Every worker writes its values to files in that folder; serve their sum, not this worker's.
    fleet = CollectorRegistry()
    fleet.register(FleetCollector(path))
    return fleet


class MetricsApp:
    """The metrics as an ASGI app. An object rather than a function, so that Starlette's `Route` treats it
    as an ASGI app (a plain function there is taken for a request handler)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._app: Callable[..., Any] = make_asgi_app(registry)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._app(scope, receive, send)


class FleetCollector(MultiProcessCollector):
    """prometheus-client's multiprocess collector, over the workers that still run.

    Servers with an exit hook call `mark_process_dead` themselves (gunicorn's `child_exit`, README); for the
    others (uvicorn --workers restarts a dead worker and says nothing) each scrape forgets the live-state
    files of processes that are gone. Counters of dead workers stay in the sum: they did count those pages.
    A rules version set to 0 (no longer live in the worker that wrote it) is left out.
    """

    def __init__(self, path: str) -> None:
        super().__init__(None, path)  # type: ignore[no-untyped-call]
        self.path = path

    def collect(self) -> Any:
        forget_dead_workers(self.path)
        for metric in super().collect():  # type: ignore[no-untyped-call]
            if metric.name == "adinject_rules_info":
                metric.samples = [s for s in metric.samples if s.value != 0]
            yield metric


def forget_dead_workers(path: str) -> list[int]:
    """`mark_process_dead` for every process whose live-state gauges are in `path` and that no longer runs;
    the process ids forgotten. Only "live" gauges are removed: counters keep what dead workers counted."""
    pids: set[int] = set()
    for name in glob.glob(os.path.join(glob.escape(path), "gauge_live*_*.db")):
        digits = os.path.basename(name)[: -len(".db")].rpartition("_")[2]
        if digits.isdigit():
            pids.add(int(digits))
    dead = sorted(pid for pid in pids if not _running(pid))
    for pid in dead:
        # Two workers answering scrapes at once may both remove the files: a scrape never fails for that.
        with contextlib.suppress(OSError):
            mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
    return dead


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (exited, waiting for its parent to reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: it exists
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # The state follows the command name, which is in parentheses and may hold anything.
            return stat.read().rpartition(b")")[2].split()[0:1] != [b"Z"]
    except OSError:
        return True  # no /proc (macOS): os.kill said it exists
