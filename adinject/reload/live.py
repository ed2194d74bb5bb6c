"""`LiveRules`: a rules folder kept live, whose `current` is always a complete, valid rules object.

`LiveRules(path)` loads the folder (raising `RulesError` if it is invalid, unless told to start without
units) and, once `start()` is called, watches it from a daemon thread (watcher.py).

A change that loads is swapped in as a new immutable `Rules`; a change that does not (bad YAML, an unknown
key, a broken template, a unit that does not exist, or a load that raised anything at all) is logged with
every problem at file:line:col, counted once in the reload-failure metric, and the last good rules keep
serving. The failed state's version is remembered, so it is not loaded again until the files change: fixing
the folder is the next change, and it goes live.

A change goes live only once the files have settled and only as read: the loader waits until the files'
digest has stayed the same for `settle` seconds (`SETTLE`, 1 s; any change seen after a wait starts it
over), loads, and takes the result only if the files on disk are still the bytes it read. The pieces of one
save (an editor's truncate-then-write, a `git pull` of several files) so go live together, never one by one.
A writer that pauses for longer than `settle` is not atomic to anyone: rules/README.md shows the ways to
publish in one step. The warnings of a state that goes live (at start-up too) are logged once at WARNING.

The kill switch does not wait for loading. The watcher thread reads it on every look at the folder and
applies it at once; a load runs in a thread of its own (one at a time), so a slow load, or one that hangs,
delays neither `OFF` nor the next look.

`current` is replaced by one attribute assignment, which is atomic; readers take it once per response (the
middleware does), so every response is built from exactly one version.

Each process watches for itself: uvicorn and gunicorn workers each build their own middleware (and so their
own `LiveRules`), and a `LiveRules` created before a fork starts a fresh watcher in the child the first time
it is asked to (`ensure_watching`, called by the middleware on every request; it costs one comparison of
process ids). The child also takes fresh locks: a lock that a thread of the parent held at the fork stays
held in the child, where that thread does not exist.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path

from adinject.engine import Rules, load_rules
from adinject.language import sources
from adinject.language.problems import RulesError, unexpected
from adinject.language.schema import GPT_LIBRARY_HOSTS
from adinject.metrics import Metrics, default_metrics
from adinject.reload.inactive import Inactive
from adinject.reload.killswitch import KillSwitch
from adinject.reload.watcher import THREAD, Mode, PerProcess, file_stats, from_environment, start_watcher

__all__ = ["SETTLE", "Listener", "LiveRules"]

log = logging.getLogger("adinject")

# How long the files must stay unchanged before a change is loaded (seconds). Every save measured on a local
# disk, whether by an editor (vim, sed -i, cp, a shell redirect) or by git (checkout or pull of 3 and 30
# files), changed the folder within 5 ms from its first event to its last; a copy over a network share or an
# upload in pieces pauses far longer. One second covers those with a wide margin, and with the watcher's own
# delays a change still goes live within the two seconds the ad-ops manual promises. It cannot make a writer
# that pauses longer atomic: rules/README.md shows the atomic ways to publish.
SETTLE = 1.0
# Waits restarted by further changes before a loader gives up for this look (the next look starts over).
_SETTLE_ROUNDS = 20

Listener = Callable[["Rules | Inactive"], None]


class _Locks:
    def __init__(self) -> None:
        self.load = threading.Lock()  # one load at a time
        self.start = threading.Lock()  # one watcher thread at a time
        # Replacing `current` and telling the listeners, in the order the states happened. Reentrant: a
        # listener may look at the folder itself.
        self.publish = threading.RLock()


class LiveRules:
    """A rules folder (or file) kept live: `current` is always a complete, valid rules object.

    `watch=False` loads once and never looks again (`check()` still reloads on demand). `mode` picks the
    watcher; `ADINJECT_RELOAD=poll` forces polling and `ADINJECT_RELOAD=off` turns watching off. `settle`:
    seconds the files must stay unchanged before a change is loaded. `gpt_hosts`: every host that
    `settings.gpt_library_url` may name (the middleware passes Google's and its `gpt_library_hosts`).
    `allow_invalid=True` starts with no units when the folder is invalid (logged at ERROR, saying what that
    means with `invalid_at_start`) instead of raising, and the first valid state of the folder goes live.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        watch: bool = True,
        allow_invalid: bool = False,
        mode: Mode = "auto",
        poll_interval: float = 0.5,
        settle: float = SETTLE,
        gpt_hosts: Collection[str] = GPT_LIBRARY_HOSTS,
        metrics: Metrics | bool | None = True,
        invalid_at_start: str = "starting without units until they are fixed",
    ) -> None:
        self.path = Path(path)
        # A single rule file is watched through its folder, where its OFF file lives too.
        self.folder = self.path.parent if self.path.is_file() else self.path
        self.label = str(self.path)
        self.watch, self.mode = from_environment(watch, mode)
        self.poll_interval = poll_interval
        self.settle = settle
        self.gpt_hosts = frozenset(gpt_hosts)
        # True: the process's default metrics (made on first use, not when adinject is imported).
        self.metrics = default_metrics() if metrics is True else (metrics or None)
        self._switch = KillSwitch(self.folder)
        self._locks = PerProcess(_Locks)
        self._listeners: list[Listener] = []
        self._thread: threading.Thread | None = None
        self._thread_pid = 0  # the process `_thread` watches in; 0 when it watches nowhere
        self._reported_pid = 0  # the process that last reported `current` to the metrics
        self._stop = threading.Event()
        self._loader: threading.Thread | None = None  # the load running in the background, if any
        self.loaded_at = 0.0
        self.last_error: RulesError | None = None
        self.good: Rules | None = None
        self._load_first(allow_invalid, invalid_at_start)
        self.current: Rules | Inactive = self._effective()
        _report(self)

    def _load_first(self, allow_invalid: bool, invalid_at_start: str) -> None:
        # The version of the files as last loaded (or looked at, when they did not load): the next check
        # compares the files on disk with it. A failed load keeps this first look, taken before loading.
        self._seen = self._digest()
        self._off = self._switch.on()
        try:
            self.good = _load_rules(self.path, self.label, self.gpt_hosts)
        except RulesError as exc:
            self._failed(exc)
            if not allow_invalid:
                log.error("adinject: the rules in %s are invalid; not starting:\n%s", self.label, _lines(exc))
                raise
            log.error(
                "adinject: the rules in %s are invalid; %s:\n%s", self.label, invalid_at_start, _lines(exc)
            )
        else:
            self._seen = self.good.version
            self.loaded_at = time.time()
            log.info("adinject: rules %s loaded from %s (%s)", self._seen, self.label, _summary(self.good))
            _log_warnings(self.label, self.good)
        if self._off:
            _log_switch(self._off, self._switch.source(), self._good_version())

    def __repr__(self) -> str:
        return f"<LiveRules {self.label} current={self.current!r}>"

    @property
    def version(self) -> str:
        return self.current.version

    @property
    def off(self) -> bool:
        return self._off

    def subscribe(self, listener: Listener) -> None:
        """Call `listener(new_current)` (from the watcher thread) whenever `current` is replaced."""
        self._listeners.append(listener)

    # --- looking at the folder

    def check(self) -> bool:
        """Look at the folder now: apply the kill switch, then reload changed rules; True if `current` changed

        The kill switch is applied before anything is loaded. Waits for a load already running (the
        watcher's) and loads in the calling thread. Never raises for anything in the folder; safe to call
        from any thread.
        """
        changed = self._apply_switch()
        with self._locks.get().load:
            digest = self._digest()
            if digest != self._seen:
                self._load(digest)
        return self._publish() or changed

    def tick(self) -> None:
        """What the watcher does on each look at the folder: apply the kill switch at once, and if the files
        changed, load them in a thread of their own, unless a load is already running (that one looks again
        when it is done). Returns without waiting for any load."""
        self._apply_switch()
        loader = self._loader
        if loader is not None and loader.is_alive():
            return
        if self._digest() == self._seen:
            return
        loader = threading.Thread(
            target=_load_in_background, args=(self,), name=f"{THREAD}-load", daemon=True
        )
        self._loader = loader
        loader.start()

    def _apply_switch(self) -> bool:
        """Read the kill switch and apply it now; True if `current` changed."""
        with self._locks.get().publish:
            off = self._switch.on()
            if off == self._off:
                return False
            self._off = off
            _log_switch(self._off, self._switch.source(), self._good_version())
            return self._publish()

    def _publish(self) -> bool:
        """Make `current` what the good rules and the kill switch say; tell the listeners if it changed."""
        with self._locks.get().publish:
            current = self._effective()
            if current is self.current:
                return False
            self.current = current
            _report(self)
            # Under the lock, so that listeners see the states in the order they happened.
            for listener in list(self._listeners):
                try:
                    listener(current)
                except Exception:
                    log.exception("adinject: a rules listener failed")
        return True

    def _load(self, digest: str) -> None:
        """Load the files (`digest`: their version as last seen) once settled; keep the rules in `good`, or
        refuse them. `_seen` becomes the version tried, so a failed state is tried once; files still changing
        or changed while read are not taken (`_seen` stays, and the next look waits for them again)."""
        read = _read_settled(self, digest)
        if read is None:
            return
        outcome, self._seen = read  # the version of the bytes read: a later change shows at the next look
        if isinstance(outcome, RulesError):
            self._failed(outcome)
            _log_refused(self.label, outcome, self._good_version())
            return
        self.last_error = None
        if self.good is not None and outcome.version == self.good.version:
            return  # the same bytes again (a file touched, or changed and changed back)
        old = self._good_version()
        self.good = outcome
        self.loaded_at = time.time()
        if self.metrics is not None:
            self.metrics.reloaded(self.label)
        _log_reloaded(self.label, old, outcome)  # and its warnings

    def _effective(self) -> Rules | Inactive:
        good = self.good
        if good is not None and not self._off:
            return good
        code = "off" if self._off else "no_rules"
        # The same state gives the same object, so `current is` tells listeners whether anything changed.
        current = getattr(self, "current", None)
        if isinstance(current, Inactive) and current.code == code and current.inner is good:
            return current
        if self._off:
            return Inactive(good, code, f"the kill switch is on ({self._switch.source()})")
        return Inactive(None, code, "no valid rules have been loaded")

    def _failed(self, exc: RulesError) -> None:
        self.last_error = exc
        if self.metrics is not None:
            self.metrics.reload_failed(self.label)

    def _good_version(self) -> str:
        return self.good.version if self.good is not None else "no rules"

    def _data_files(self) -> list[Path]:
        """The data files (promotions) the last good rules read: `.json` files and files in sub-folders too,
        which no listing of the folder's rule files shows. A new one named by a rule change is covered from
        the load that reads it on."""
        good = self.good
        return [Path(name) for name in good.compiled.data_files] if good is not None else []

    def _digest(self) -> str:
        """The version of the files on disk, as the loader would compute it (a missing folder has one too)."""
        return sources.version_on_disk(self.path, self._data_files())

    def _stat(self) -> tuple[object, ...]:
        """The kill switch and the files' stats: what the polling watcher compares between rounds."""
        return (self._switch.on(), *file_stats(sources.on_disk(self.path, self._data_files())))

    # --- the watcher thread

    def start(self) -> None:
        """Start watching in a daemon thread (does nothing if already watching in this process)."""
        if not self.watch:
            return
        pid = os.getpid()
        with self._locks.get().start:
            if self._thread is not None and self._thread_pid == pid and self._thread.is_alive():
                return
            self._thread, self._stop = start_watcher(
                self, self._safe_tick, self._stat, self.folder, self.mode, self.poll_interval
            )
            self._thread_pid = pid

    def ensure_watching(self) -> None:
        """`start()` unless this process watches, and report to the metrics once per process (a worker forked
        after the load has metrics files of its own, in multiprocess mode): cheap enough for every request."""
        pid = os.getpid()
        if self._reported_pid != pid:
            _report(self)
        if self.watch and self._thread_pid != pid:
            self.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching (the rules stay as they are)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None
        self._thread_pid = 0

    close = stop

    def __enter__(self) -> LiveRules:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _safe_tick(self) -> None:
        try:
            self.tick()
        except Exception:
            log.exception("adinject: checking %s for rule changes failed", self.label)


def _report(live: LiveRules) -> None:
    """Tell the metrics what `live` serves now, from this process."""
    live._reported_pid = os.getpid()
    if live.metrics is not None:
        live.metrics.rules_live(live.label, live.current.version, live.loaded_at or None)
        live.metrics.switched_off(live.label, live.off)


def _load_in_background(live: LiveRules) -> None:
    """The loader thread `tick` starts: loads until the files are what was last loaded (or refused), so a
    change made while a load ran is picked up here, not left for a watcher event that has already passed."""
    try:
        for _ in range(100):
            with live._locks.get().load:
                digest = live._digest()
                if digest == live._seen:
                    return
                live._load(digest)
            live._publish()
    except Exception:
        log.exception("adinject: loading %s failed", live.label)


def _read_settled(live: LiveRules, digest: str) -> tuple[Rules | RulesError, str] | None:
    """The files loaded once settled (the rules, or why they are refused) and the version read; None while
    they are still changing, or when they changed while being read (what was read may be half of a save, or
    the problems of a state already gone)."""
    settled = _settled(live._digest, digest, live.settle)
    if settled is None:
        return None
    try:
        outcome: Rules | RulesError = _load_rules(live.path, live.label, live.gpt_hosts)
    except RulesError as exc:
        outcome = exc
    if isinstance(outcome, RulesError):
        return (outcome, settled) if live._digest() == settled else None
    # The loaded version with the data files this load read: a new one named by the change counts too.
    data = [Path(name) for name in outcome.compiled.data_files]
    on_disk = sources.version_on_disk(live.path, data)
    return (outcome, outcome.version) if on_disk == outcome.version else None


def _settled(digest_now: Callable[[], str], digest: str, settle: float) -> str | None:
    """The files' version once it has stayed `digest` for `settle` seconds: wait, look again, and start the
    wait over on any change (a save in several steps, a `git pull` of many files, a copy still running).
    None if the files were still changing after `_SETTLE_ROUNDS` waits: the next look tries again."""
    for _ in range(_SETTLE_ROUNDS):
        time.sleep(settle)
        again = digest_now()
        if again == digest:
            return digest
        digest = again
    return None


def _load_rules(path: Path, label: str, gpt_hosts: Collection[str]) -> Rules:
    """`load_rules`, raising nothing but `RulesError`: a load that fails for any reason is an invalid change
    (the loader reports its own surprises as problems; this is the last resort for the rest)."""
    try:
        return load_rules(path, gpt_hosts=gpt_hosts)
    except RulesError:
        raise
    except Exception as exc:
        log.debug("adinject: loading %s raised", label, exc_info=True)
        raise unexpected(label, exc) from exc


def _log_switch(off: bool, source: str, serving: str) -> None:
    if off:
        log.warning("adinject: kill switch on (%s): no units until it is removed", source)
    else:
        log.warning("adinject: kill switch off: units are back (rules %s)", serving)


def _log_refused(label: str, exc: RulesError, serving: str) -> None:
    count = len(exc.problems)
    log.error(
        "adinject: rules in %s not reloaded, %d problem%s; still serving %s:\n%s",
        label,
        count,
        "" if count == 1 else "s",
        serving,
        _lines(exc),
    )


def _log_warnings(label: str, rules: Rules) -> None:
    """A state's warnings (inline scripts in unit markup, say), once, when it goes live: ad ops read them in
    the log, as `adinject check` prints them."""
    warnings = rules.compiled.warnings
    if warnings:
        count = len(warnings)
        log.warning(
            "adinject: rules %s from %s have %d warning%s:\n%s",
            rules.version,
            label,
            count,
            "" if count == 1 else "s",
            "\n".join(f"  {problem}" for problem in warnings),
        )


def _log_reloaded(label: str, old: str, rules: Rules) -> None:
    log.info("adinject: rules reloaded from %s: %s -> %s (%s)", label, old, rules.version, _summary(rules))
    _log_warnings(label, rules)


def _lines(exc: RulesError) -> str:
    return "\n".join(f"  {problem}" for problem in exc.problems)


def _summary(rules: Rules) -> str:
    compiled = rules.compiled
    return f"{len(compiled.files)} file(s), {len(compiled.rules)} rule(s), {len(compiled.units)} unit(s)"
