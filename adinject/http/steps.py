"""The steps every exchange takes with a complete candidate body, written once, for ASGI and WSGI alike.

Undo the content coding (capped, in a worker thread when big), build the request headers the engine reads
(the request's, plus the response's Content-Type), read the app's unit context from
`scope["state"]["adinject"]`, redo the coding, and frame one whole body (exact Content-Length, no
Transfer-Encoding). Each exchange decides what to do when a step fails.

Sans I/O: a transform is a generator that yields the slow work it needs done (`Offload`: run this, in a
worker thread when big; `Budgeted`: the same within the planning budget) and gets the result sent back in
(or the exception thrown in). `run_async` drives it on an event loop (ASGI: worker threads, async waits),
`run_sync` in the calling thread (WSGI: the request already has a thread of its own).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, Literal, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
from starlette.datastructures import MutableHeaders
from starlette.types import Scope

from adinject.http import codings

logger = logging.getLogger("adinject")

T = TypeVar("T")

# Where an app puts unit-template context: scope["state"]["adinject"] (Starlette: request.state.adinject).
STATE_KEY = "adinject"

# The engine's worker threads get their own limiter (as Starlette's gzip does) so that big pages cannot take
# all of AnyIO's default threads, which sync endpoints need. One per event loop: a RunVar.
_limiter: anyio.lowlevel.RunVar[anyio.CapacityLimiter] = anyio.lowlevel.RunVar("adinject_limiter")
THREADS = 8


def _thread_limiter() -> anyio.CapacityLimiter:
    try:
        return _limiter.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(THREADS)
        _limiter.set(limiter)
        return limiter


async def offload(size: int, threshold: int, func: Callable[[], T]) -> T:
    """Run `func` inline for inputs up to `threshold` bytes, in a worker thread above it.

    Small pages take well under a millisecond; a thread hop would cost more than it saves. Big pages would
    block the event loop for every other request.
    """
    if size > threshold:
        return await anyio.to_thread.run_sync(func, limiter=_thread_limiter())
    return func()


class PlanningBudget:
    """How many bytes of page may be planned at once in this process, with a bounded wait for room.

    Planning a page costs a multiple of its size (the parse tree, the decoded text, offsets): about 150 times
    for a 4 MB page of a million unclosed `<p>`, so eight such pages at once (the worker-thread limit) took
    4.7 GB. A page is charged its size while it is planned; one that would take the total past `limit`
    waits up to `wait_seconds` for room, and is refused (the caller sends it unchanged) if none comes. A
    page larger than the whole budget is planned alone: it is admitted when nothing else is in planning.

    Process-wide and thread-safe (a lock around a counter), and waiting polls with `sleep` every
    `poll_seconds`, so one budget serves every event loop and thread of the process; `clock` and `sleep`
    are the test's to replace.
    """

    __slots__ = ("_clock", "_in_use", "_lock", "_sleep", "limit", "poll_seconds", "wait_seconds")

    def __init__(
        self,
        limit: int,
        *,
        wait_seconds: float = 2.0,
        poll_seconds: float = 0.005,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError(f"the planning budget must be at least 1 byte, got {limit}")
        self.limit = limit
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self._clock = clock
        self._sleep = sleep
        self._in_use = 0
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, limit: int) -> PlanningBudget:
        """The process's budget of `limit` bytes: every middleware given the same limit shares one, so an app
        that builds several (mounted sub-apps, one per request) still has one budget in the process."""
        with _shared_lock:
            budget = _shared.get(limit)
            if budget is None:
                budget = _shared[limit] = cls(limit)
            return budget

    @property
    def in_use(self) -> int:
        """Bytes of page being planned now."""
        return self._in_use

    def try_take(self, size: int) -> bool:
        """Charge `size` bytes if they fit or nothing else is in planning; else False (nothing charged)."""
        with self._lock:
            if self._in_use and self._in_use + size > self.limit:
                return False
            self._in_use += size
            return True

    async def take(self, size: int) -> bool:
        """Charge `size` bytes, waiting up to `wait_seconds` for room; False (nothing charged) if none."""
        if self.try_take(size):
            return True
        deadline = self._clock() + self.wait_seconds
        while (left := deadline - self._clock()) > 0:
            await self._sleep(min(self.poll_seconds, left))
            if self.try_take(size):
                return True
        return False

    def take_blocking(self, size: int, sleep: Callable[[float], object] = time.sleep) -> bool:
        """`take` for a thread of its own (WSGI): the wait blocks this thread only."""
        deadline = self._clock() + self.wait_seconds
        while not self.try_take(size):
            left = deadline - self._clock()
            if left <= 0:
                return False
            sleep(min(self.poll_seconds, left))
        return True

    def give(self, size: int) -> None:
        """Give back what `take` charged, once the page's planning is over."""
        with self._lock:
            self._in_use -= size


_shared: dict[int, PlanningBudget] = {}
_shared_lock = threading.Lock()


Admission = Literal["now", "waited", "busy"]


async def planned(
    budget: PlanningBudget | None, size: int, threshold: int, func: Callable[[], T]
) -> tuple[Admission, T | None]:
    """`offload(size, threshold, func)` within the planning budget, and how the page got in: at once ("now",
    with the result), after waiting for room ("waited", with the result), or not at all ("busy", None: no
    room came in time and the page was not planned).

    Pages up to `threshold` bytes run inline on the event loop, one at a time per loop, so their memory is
    already bounded (by `threshold`); only pages for worker threads, which run side by side, are charged.
    """
    if budget is None or size <= threshold:
        return "now", await offload(size, threshold, func)
    admission: Admission = "now"
    if not budget.try_take(size):
        if not await budget.take(size):
            return "busy", None
        admission = "waited"
    try:
        return admission, await offload(size, threshold, func)
    finally:
        budget.give(size)


def planned_blocking(
    budget: PlanningBudget | None, size: int, threshold: int, func: Callable[[], T]
) -> tuple[Admission, T | None]:
    """`planned` in the calling thread (WSGI): the same admission, the wait blocking this thread only."""
    if budget is None or size <= threshold:
        return "now", func()
    admission: Admission = "now"
    if not budget.try_take(size):
        if not budget.take_blocking(size):
            return "busy", None
        admission = "waited"
    try:
        return admission, func()
    finally:
        budget.give(size)


@dataclass(frozen=True, slots=True)
class Offload(Generic[T]):
    """Work a transform yields: `func()`, in a worker thread when `size` is over `threshold` (ASGI)."""

    size: int
    threshold: int
    func: Callable[[], T]

    async def run_async(self) -> T:
        return await offload(self.size, self.threshold, self.func)

    def run_sync(self) -> T:
        return self.func()


@dataclass(frozen=True, slots=True)
class Budgeted(Generic[T]):
    """Work a transform yields: `func()` within the planning budget; the answer is `planned`'s."""

    budget: PlanningBudget | None
    size: int
    threshold: int
    func: Callable[[], T]

    async def run_async(self) -> tuple[Admission, T | None]:
        return await planned(self.budget, self.size, self.threshold, self.func)

    def run_sync(self) -> tuple[Admission, T | None]:
        return planned_blocking(self.budget, self.size, self.threshold, self.func)


Job = Offload[Any] | Budgeted[Any]
# A sans-I/O computation: yields jobs, is sent their results, returns a T.
Steps = Generator[Job, Any, T]


@dataclass(frozen=True, slots=True)
class _Done(Generic[T]):
    value: T


def _advance(steps: Steps[T], value: Any, error: Exception | None) -> Job | _Done[T]:
    """Send the last job's result into `steps` (or throw its exception): the next job, or what it returned."""
    try:
        return steps.throw(error) if error is not None else steps.send(value)
    except StopIteration as stop:
        return _Done(stop.value)


async def run_async(steps: Steps[T]) -> T:
    """Drive `steps` on the event loop: each job awaited (big ones in worker threads)."""
    value: Any = None
    error: Exception | None = None
    while not isinstance(step := _advance(steps, value, error), _Done):
        try:
            value, error = await step.run_async(), None
        except Exception as exc:
            value, error = None, exc
    return step.value


def run_sync(steps: Steps[T]) -> T:
    """Drive `steps` in the calling thread: each job run here."""
    value: Any = None
    error: Exception | None = None
    while not isinstance(step := _advance(steps, value, error), _Done):
        try:
            value, error = step.run_sync(), None
        except Exception as exc:
            value, error = None, exc
    return step.value


def decode(coding: str, raw: bytes, *, limit: int, threshold: int) -> Steps[tuple[bytes, str]]:
    """The body without its content coding, and the coding `encode` redoes it with ("" when not encoded).

    Raises `codings.DecodeError` past `limit` decoded bytes or for a body not valid in its coding.
    """
    if not coding:
        return raw, ""
    decoded: tuple[bytes, str] = yield Offload(
        len(raw), threshold, partial(codings.decode, coding, raw, limit)
    )
    return decoded


def encode(coding: str, body: bytes) -> bytes:
    """`body` in the coding `decode` took off (as it is when there was none)."""
    return codings.encode(coding, body) if coding else body


def engine_headers(request: Mapping[str, str], response: MutableHeaders) -> dict[str, str]:
    """What the engine reads of the request: its headers, lower-case, plus the response's Content-Type (whose
    charset says how the page's bytes are read)."""
    headers = dict(request)
    headers["content-type"] = response.get("content-type", "")
    return headers


def request_url(scope: Scope) -> str:
    """The path with the query string, as the engine reads it (`query:` conditions)."""
    path: str = scope.get("path", "")
    query_string: bytes = scope.get("query_string", b"")
    return path + ("?" + query_string.decode("latin-1") if query_string else "")


def app_context(state: Any, path: str, *, warn: bool) -> Mapping[str, Any] | None:
    """The mapping the app left in `scope["state"]["adinject"]` for unit templates, or None.

    `state` is the request's `scope["state"]`, read when the body is complete (the endpoint sets it while it
    responds). Anything but a mapping is ignored, with a warning when `warn`.
    """
    context = state.get(STATE_KEY) if isinstance(state, Mapping) else None
    if context is None or isinstance(context, Mapping):
        return context
    if warn:
        logger.warning("adinject: ignoring scope['state']['adinject'] on %s: not a mapping", path)
    return None


def set_length(headers: MutableHeaders, body: bytes) -> None:
    """Frame `body` as the one body message: its exact Content-Length, and no Transfer-Encoding (framing is
    then the server's job)."""
    del headers["transfer-encoding"]
    headers["content-length"] = str(len(body))
