"""The watcher thread: it tells a `LiveRules` when to look at its folder.

With watchfiles (inotify, FSEvents) where it works, by polling file names, sizes and modification times
otherwise or when `ADINJECT_RELOAD=poll`. Either way the thread only says "look now": `LiveRules.tick()`
applies the kill switch, and confirms a change by the files' contents before anything is loaded (in a thread
of its own: this one never waits for a load), so touching a file or an editor's swap file costs a few reads
and nothing else.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Generic, Literal, TypeVar

__all__ = ["RELOAD_ENV", "THREAD", "Mode", "PerProcess", "file_stats", "from_environment", "start_watcher"]

log = logging.getLogger("adinject")

RELOAD_ENV = "ADINJECT_RELOAD"
THREAD = "adinject-rules-watcher"

Mode = Literal["auto", "watchfiles", "poll"]

T = TypeVar("T")


def from_environment(watch: bool, mode: Mode) -> tuple[bool, Mode]:
    """`watch` and `mode` as `ADINJECT_RELOAD` leaves them: `off` turns watching off, `poll` forces polls."""
    env = os.environ.get(RELOAD_ENV, "").strip().lower()
    return watch and env not in ("off", "0", "false", "no"), "poll" if env in ("poll", "polling") else mode


def file_stats(files: Iterable[tuple[str, Path]]) -> tuple[object, ...]:
    """Names, sizes and modification times: the cheap trigger of the polling watcher."""
    out: list[object] = []
    for name, path in files:
        try:
            st = path.stat()
        except OSError:
            out.append((name, None))
            continue
        out.append((name, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    return tuple(out)


def start_watcher(
    owner: object,
    check: Callable[[], None],
    stat: Callable[[], object],
    folder: Path,
    mode: Mode,
    interval: float,
) -> tuple[threading.Thread, threading.Event]:
    """Start a daemon thread that watches `folder` and calls `check()` when it may have changed.

    `check` and `stat` are methods of `owner` (the `LiveRules`); the thread holds them weakly and stops once
    `owner` is garbage, so an app (or a test) that is dropped does not leave a watcher behind. Setting the
    returned event stops it too.
    """
    stop = threading.Event()
    weakref.finalize(owner, stop.set)
    watcher = _Watcher(weakref.WeakMethod(check), weakref.WeakMethod(stat), stop, folder, mode, interval)
    thread = threading.Thread(target=watcher.run, name=THREAD, daemon=True)
    thread.start()
    return thread, stop


class PerProcess(Generic[T]):
    """A value that belongs to one process: a process forked from it makes its own the first time it asks.

    For locks: one that a thread of the parent held at the fork (the watcher, in the middle of a check) stays
    held in the child, where that thread does not exist. Asking costs one comparison of process ids.
    """

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._pid = os.getpid()
        self._value = make()
        self._made: dict[int, T] = {}

    def get(self) -> T:
        pid = os.getpid()
        if self._pid != pid:
            # Threads of a new child may get here at once: setdefault is atomic, so they all take one value.
            self._value = self._made.setdefault(pid, self._make())
            self._pid = pid
        return self._value


class _Watcher:
    """The watcher thread's loop: watchfiles events, or polling, each followed by `LiveRules.tick()`."""

    def __init__(
        self,
        check: weakref.WeakMethod[Callable[[], None]],
        stat: weakref.WeakMethod[Callable[[], object]],
        stop: threading.Event,
        folder: Path,
        mode: Mode,
        interval: float,
    ) -> None:
        self._check = check
        self._stat = stat
        self.stop = stop
        self.folder = folder
        self.mode = mode
        self.interval = interval

    def check(self) -> bool:
        """Check the folder; False once the LiveRules is gone (time to end the thread)."""
        check = self._check()
        if check is None or self.stop.is_set():
            return False
        check()
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

        while not self.stop.is_set():
            # inotify watches a folder, not a path: once another folder is renamed into its place (a
            # deploy's `mv rules.new rules`, a symbolic link switched to a new release) the events come from
            # the old one. Watch again whenever the path names another folder.
            identity = _identity(self.folder)
            if identity is None:  # between the two renames of a swap, or gone: look again shortly
                log.debug("adinject: %s does not exist; looking again in %.1f s", self.folder, self.interval)
                if self.stop.wait(self.interval) or not self.check():
                    return
                continue
            log.debug("adinject: watching %s with watchfiles", self.folder)
            # rust_timeout + yield_on_timeout: a look at the folder at least every second even without
            # events, for file systems that do not report every change (some network and container mounts),
            # and for data files in sub-folders, which this non-recursive watch does not see (recursive would
            # wake for every file under the folder, a `.git` included).
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
                if _identity(self.folder) != identity:
                    break
            else:
                return  # stopped

    def _poll(self) -> None:
        log.debug("adinject: polling %s every %.1f s", self.folder, self.interval)
        last = self._stats()
        rounds = 0
        while last is not None and not self.stop.wait(self.interval):
            rounds += 1
            now = self._stats()
            # Every tenth round reads the files anyway: a same-size edit within one tick of a coarse
            # modification-time clock does not show in the stat.
            if now != last or rounds % 10 == 0:
                last = now
                if not self.check():
                    return

    def _stats(self) -> object | None:
        stat = self._stat()
        return None if stat is None else stat()


def _identity(folder: Path) -> tuple[int, int] | None:
    """Which folder the path names now (device and inode, through symbolic links); None if none."""
    try:
        st = folder.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


class _NotOurThread(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != THREAD


_quiet = _NotOurThread()


def _quiet_watchfiles() -> None:
    # watchfiles logs "1 change detected" at INFO for every event. Ours are reported by adinject's own log
    # line when they matter; other users of watchfiles in the process (uvicorn --reload) keep their lines.
    logger = logging.getLogger("watchfiles.main")
    if _quiet not in logger.filters:
        logger.addFilter(_quiet)
