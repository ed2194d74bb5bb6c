"""Live rules: a rules folder watched for changes, swapped in whole, that cannot take the site down.

`LiveRules(path)` loads the folder (raising `RulesError` if it is invalid, unless told to start without
units) and, once `start()` is called, watches it from a daemon thread: with watchfiles (inotify, FSEvents)
where it works, by polling file names, sizes and modification times otherwise or when
`ADINJECT_RELOAD=poll`. Whatever the trigger, a change is confirmed by the files' contents before anything
is loaded, so touching a file or an editor's swap file costs a few reads and nothing else.

A change that loads is swapped in as a new immutable `Rules`; a change that does not (bad YAML, an unknown
key, a broken template, a unit that does not exist) is logged with every problem at file:line:col and the
last good rules keep serving. Fixing the folder is the next change, and it goes live.

`current` is replaced by one attribute assignment, which is atomic; readers take it once per response (the
middleware does), so every response is built from exactly one version.

The kill switch: a file named `OFF` in the rules folder, or `ADINJECT_OFF=1` in the environment, makes
`current` a rules object that matches no URL, so every response passes through untouched. The file is
noticed and un-noticed like any other change; the environment variable is read again on every check, but
an environment only changes with a restart.

Each process watches for itself: uvicorn and gunicorn workers each build their own middleware (and so their
own `LiveRules`), and a `LiveRules` created before a fork starts a fresh watcher in the child the first time
it is asked to (`ensure_watching`, called by the middleware on every request; it costs one comparison).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from adinject.engine import Plan, Rules, load_rules
from adinject.language.loader import RULE_FILE_SUFFIXES
from adinject.language.problems import RulesError
from adinject.metrics import METRICS, Metrics
from adinject.result import ApplyResult, Skip

__all__ = ["OFF_ENV", "OFF_FILE", "Inactive", "LiveRules", "env_off"]

log = logging.getLogger("adinject")

OFF_FILE = "OFF"
OFF_ENV = "ADINJECT_OFF"
RELOAD_ENV = "ADINJECT_RELOAD"
_TRUE = frozenset({"1", "true", "yes", "on"})

Mode = Literal["auto", "watchfiles", "poll"]
Listener = Callable[["Rules | Inactive"], None]


def env_off() -> bool:
    """The kill switch's environment variable is set (ADINJECT_OFF=1, true, yes or on)."""
    return os.environ.get(OFF_ENV, "").strip().lower() in _TRUE


class Inactive:
    """Rules that place nothing: the kill switch is on, or no valid rules have been loaded yet.

    `inner` is the rules that would apply (for the debug view: "this is what readers would get"), or None.
    It matches no URL, so the middleware forwards every response at once, unbuffered.
    """

    __slots__ = ("code", "inner", "reason", "version")

    def __init__(self, inner: Rules | None, code: str, reason: str) -> None:
        self.inner = inner
        self.code = code
        self.reason = reason
        self.version = f"{code}:{inner.version if inner is not None else 'none'}"

    def __repr__(self) -> str:
        return f"<Inactive {self.version}: {self.reason}>"

    @property
    def bucket_header(self) -> str | None:
        return None

    @property
    def inactive_code(self) -> str | None:
        return self.code

    def matches_url(self, path: str) -> bool:
        return False

    def request_headers(self) -> frozenset[str]:
        return frozenset()

    def request_key(
        self, url: str, headers: Mapping[str, str], now: datetime | None = None
    ) -> tuple[str, ...]:
        return ()

    def depends_on_time(self) -> bool:
        return False

    def plan(
        self,
        body: bytes,
        *,
        url: str,
        headers: Mapping[str, str] | None = None,
        explain: bool = False,
        now: datetime | None = None,
    ) -> Plan:
        return Plan(skipped=(Skip(self.code, self.reason),), rules_version=self.version)

    def realize(
        self,
        plan: Plan,
        body: bytes,
        *,
        context: Mapping[str, Any] | None = None,
        csp: str | Sequence[str] | None = None,
    ) -> ApplyResult:
        return ApplyResult(body, skipped=list(plan.skipped))

    def apply(self, body: bytes, **_: Any) -> ApplyResult:
        return ApplyResult(body, skipped=[Skip(self.code, self.reason)])


# Forked children must not inherit a watcher that is not running there, nor a lock a parent thread held.
_pid = [os.getpid()]
_instances: weakref.WeakSet[LiveRules] = weakref.WeakSet()


def _after_fork() -> None:
    _pid[0] = os.getpid()
    for live in list(_instances):
        live._forked()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class LiveRules:
    """A rules folder (or file) kept live: `current` is always a complete, valid rules object.

    `watch=False` loads once and never looks again (`check()` still reloads on demand). `mode` picks the
    watcher; `ADINJECT_RELOAD=poll` forces polling and `ADINJECT_RELOAD=off` turns watching off.
    `allow_invalid=True` starts with no units when the folder is invalid (logged) instead of raising, and
    the first valid state of the folder goes live.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        watch: bool = True,
        allow_invalid: bool = False,
        mode: Mode = "auto",
        poll_interval: float = 0.5,
        settle: float = 0.2,
        metrics: Metrics | None = METRICS,
    ) -> None:
        self.path = Path(path)
        # A single rule file is watched through its folder, where its OFF file lives too.
        self._single = self.path.is_file()
        self.folder = self.path.parent if self._single else self.path
        self.label = str(self.path)
        env = os.environ.get(RELOAD_ENV, "").strip().lower()
        self.watch = watch and env not in ("off", "0", "false", "no")
        self.mode: Mode = "poll" if env in ("poll", "polling") else mode
        self.poll_interval = poll_interval
        self.settle = settle
        self.metrics = metrics
        self._lock = threading.Lock()  # one check at a time
        self._start_lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._thread: threading.Thread | None = None
        self._thread_pid = 0
        self._stop = threading.Event()
        self.loaded_at = 0.0
        self.last_error: RulesError | None = None
        self.good: Rules | None = None

        # Taken before loading, so a change made while the folder loads is seen by the next check. It cannot
        # cover the data files yet (only the loaded rules name them): the first check then finds the digest
        # changed, loads once more and, the version being the same, keeps the rules it has.
        self._seen = self._digest()
        self._off = self._off_now()
        try:
            self.good = load_rules(self.path)
        except RulesError as exc:
            self.last_error = exc
            if metrics is not None:
                metrics.reload_failed(self.label)
            if not allow_invalid:
                log.error("adinject: the rules in %s are invalid; not starting:\n%s", self.label, _lines(exc))
                raise
            log.error(
                "adinject: the rules in %s are invalid; starting without units until they are fixed:\n%s",
                self.label,
                _lines(exc),
            )
            self.good = None
        else:
            self.loaded_at = time.time()
            log.info(
                "adinject: rules %s loaded from %s (%s)", self.good.version, self.label, _summary(self.good)
            )
        if self._off:
            self._log_switch()
        self.current: Rules | Inactive = self._effective()
        self._report()
        _instances.add(self)

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
        """Look at the folder now: reload changed rules, apply the kill switch; True if `current` changed.

        Never raises for anything in the folder; safe to call from any thread.
        """
        with self._lock:
            digest = self._digest()
            if digest != self._seen:
                self._load(self._settled(digest))
            off = self._off_now()
            if off != self._off:
                self._off = off
                self._log_switch()
            current = self._effective()
            if current is self.current:
                return False
            self.current = current
            self._report()
        for listener in list(self._listeners):
            try:
                listener(current)
            except Exception:
                log.exception("adinject: a rules listener failed")
        return True

    def _settled(self, digest: bytes) -> bytes:
        """Wait until the files stop changing (a save in several steps, a `git checkout` of many files)."""
        for _ in range(20):
            time.sleep(0.05)
            again = self._digest()
            if again == digest:
                break
            digest = again
        return digest

    def _load(self, digest: bytes) -> None:
        for _ in range(5):
            try:
                rules = load_rules(self.path)
            except RulesError as exc:
                # An editor saving in two steps (truncate, write) shows a half-written file for a moment: if
                # the files are still changing, wait for the next state rather than report this one.
                time.sleep(self.settle)
                again = self._digest()
                if again != digest:
                    digest = again
                    continue
                self._seen = digest
                self.last_error = exc
                if self.metrics is not None:
                    self.metrics.reload_failed(self.label)
                log.error(
                    "adinject: rules in %s not reloaded, %d problem%s; still serving %s:\n%s",
                    self.label,
                    len(exc.problems),
                    "" if len(exc.problems) == 1 else "s",
                    self._good_version(),
                    _lines(exc),
                )
                return
            self._seen = digest
            self.last_error = None
            if self.good is not None and rules.version == self.good.version:
                return  # the same bytes again (a file touched, or changed and changed back)
            old = self._good_version()
            self.good = rules
            self.loaded_at = time.time()
            if self.metrics is not None:
                self.metrics.reloaded(self.label)
            log.info(
                "adinject: rules reloaded from %s: %s -> %s (%s)",
                self.label,
                old,
                rules.version,
                _summary(rules),
            )
            return

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
            return Inactive(good, code, f"the kill switch is on ({self._off_source()})")
        return Inactive(None, code, "no valid rules have been loaded")

    def _log_switch(self) -> None:
        if self._off:
            log.warning("adinject: kill switch on (%s): no units until it is removed", self._off_source())
        else:
            log.warning("adinject: kill switch off: units are back (rules %s)", self._good_version())

    def _good_version(self) -> str:
        return self.good.version if self.good is not None else "no rules"

    def _off_now(self) -> bool:
        return env_off() or (self.folder / OFF_FILE).exists()

    def _off_source(self) -> str:
        return f"{OFF_ENV} is set" if env_off() else f"{self.folder / OFF_FILE} exists"

    def _rule_files(self) -> list[Path]:
        if self._single:
            return [self.path]
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return []
        return sorted(
            Path(e.path)
            for e in entries
            if e.name.endswith(RULE_FILE_SUFFIXES) and not e.name.startswith(".")
        )

    def _data_files(self) -> list[Path]:
        """The data files (promotions) the last good rules read: `.json` files and files in sub-folders too,
        which no listing of the folder's rule files shows. A new one named by a rule change is covered from
        the load that reads it on."""
        good = self.good
        return [Path(name) for name in good.compiled.data_files] if good is not None else []

    def _watched(self) -> list[tuple[bytes, Path]]:
        """Every file the loader reads, each under a name that cannot collide with another's."""
        files = self._rule_files()
        out = [(path.name.encode(), path) for path in files]
        seen = {path.resolve() for path in files}
        for path in self._data_files():
            if path.resolve() in seen:
                continue  # a data file directly in the folder as .yaml is listed with the rule files already
            try:
                shown = path.resolve().relative_to(self.folder.resolve()).as_posix()
            except ValueError:
                shown = str(path)
            out.append((b"data:" + shown.encode(), path))
        return out

    def _digest(self) -> bytes:
        """What the loader would read: every rule and data file's name and bytes (a missing folder digests
        too)."""
        digest = hashlib.blake2b(digest_size=16)
        for name, path in self._watched():
            try:
                data = path.read_bytes()
            except OSError as exc:
                data = f"unreadable: {exc.errno}".encode()
            digest.update(b"%d:%s%d:" % (len(name), name, len(data)))
            digest.update(data)
        return digest.digest()

    def _stat(self) -> tuple[object, ...]:
        """Names, sizes, modification times and the OFF file: the cheap trigger of the polling watcher."""
        out: list[object] = [self._off_now()]
        for name, path in self._watched():
            try:
                st = path.stat()
            except OSError:
                out.append((name, None))
                continue
            out.append((name, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
        return tuple(out)

    def _report(self) -> None:
        if self.metrics is not None:
            self.metrics.rules_live(self.label, self.current.version, self.loaded_at or None)
            self.metrics.switched_off(self.label, self._off)

    # --- the watcher thread

    def start(self) -> None:
        """Start watching in a daemon thread (does nothing if already watching in this process)."""
        if not self.watch:
            return
        with self._start_lock:
            if self._thread is not None and self._thread_pid == _pid[0] and self._thread.is_alive():
                return
            stop = self._stop = threading.Event()
            # The thread holds the LiveRules weakly and stops once it is garbage: an app (or a test) that is
            # dropped does not leave a watcher behind.
            weakref.finalize(self, stop.set)
            watcher = _Watcher(weakref.ref(self), stop, self.folder, self.mode, self.poll_interval)
            self._thread = threading.Thread(target=watcher.run, name=_THREAD, daemon=True)
            self._thread_pid = _pid[0]
            self._thread.start()

    def ensure_watching(self) -> None:
        """`start()` unless this process already watches: cheap enough to call on every request."""
        if self.watch and self._thread_pid != _pid[0]:
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

    def _forked(self) -> None:
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._thread = None
        self._thread_pid = 0

    def _safe_check(self) -> None:
        try:
            self.check()
        except Exception:
            log.exception("adinject: checking %s for rule changes failed", self.label)


class _Watcher:
    """The watcher thread's loop: watchfiles events, or polling, each followed by `LiveRules.check()`."""

    def __init__(
        self, ref: weakref.ref[LiveRules], stop: threading.Event, folder: Path, mode: Mode, interval: float
    ) -> None:
        self.ref = ref
        self.stop = stop
        self.folder = folder
        self.mode = mode
        self.interval = interval

    def check(self) -> bool:
        """Check the folder; False once the LiveRules is gone (time to end the thread)."""
        live = self.ref()
        if live is None or self.stop.is_set():
            return False
        live._safe_check()
        return True

    def run(self) -> None:
        # First, whatever changed between loading and watching (or in the parent, before a fork).
        if not self.check():
            return
        if self.mode in ("auto", "watchfiles"):
            try:
                self._events()
                return
            except Exception as exc:
                if self.stop.is_set():
                    return
                log.warning(
                    "adinject: cannot watch %s with watchfiles (%s); polling every %.1f s instead",
                    self.folder,
                    exc,
                    self.interval,
                )
        self._poll()

    def _events(self) -> None:
        import watchfiles  # imported here: optional at run time, polling works without it

        _quiet_watchfiles()

        log.debug("adinject: watching %s with watchfiles", self.folder)
        # rust_timeout + yield_on_timeout: a look at the folder at least every second even without events,
        # for file systems that do not report every change (some network and container mounts), and for data
        # files in sub-folders, which this non-recursive watch does not see (recursive would wake for every
        # file under the folder, a `.git` included).
        for _changes in watchfiles.watch(
            self.folder,
            watch_filter=None,
            step=50,
            debounce=1000,
            rust_timeout=1000,
            yield_on_timeout=True,
            stop_event=self.stop,
            recursive=False,
            raise_interrupt=False,
        ):
            if not self.check():
                return

    def _poll(self) -> None:
        log.debug("adinject: polling %s every %.1f s", self.folder, self.interval)
        last = self._stat()
        rounds = 0
        while last is not None and not self.stop.wait(self.interval):
            rounds += 1
            now = self._stat()
            # Every tenth round reads the files anyway: a same-size edit within one tick of a coarse
            # modification-time clock does not show in the stat.
            if now != last or rounds % 10 == 0:
                last = now
                if not self.check():
                    return

    def _stat(self) -> tuple[object, ...] | None:
        live = self.ref()
        return None if live is None else live._stat()


class _NotOurThread(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != _THREAD


_THREAD = "adinject-rules-watcher"
_quiet = _NotOurThread()


def _quiet_watchfiles() -> None:
    # watchfiles logs "1 change detected" at INFO for every event. Ours are reported by adinject's own log
    # line when they matter; other users of watchfiles in the process (uvicorn --reload) keep their lines.
    logger = logging.getLogger("watchfiles.main")
    if _quiet not in logger.filters:
        logger.addFilter(_quiet)


def _lines(exc: RulesError) -> str:
    return "\n".join(f"  {problem}" for problem in exc.problems)


def _summary(rules: Rules) -> str:
    compiled = rules.compiled
    return f"{len(compiled.files)} file(s), {len(compiled.rules)} rule(s), {len(compiled.units)} unit(s)"
