"""Budgets for unit templates: how much a template may compute, make and print while one unit renders.

Ad ops write unit templates, and a template runs inside every page the site serves. A typo or a joke
(`{{ 9 ** 8000000 }}`, `{{ "x" * 2000000000 }}`, `{{ lipsum(100000) }}`, two nested `range` loops) must not
hold the server for seconds or put megabytes into an article. So every unit renders under a `Meter`:

* **Deterministic budgets decide.** Each is a count of what the template did, never a time, so whether a
  unit lands never depends on how busy the server is:

  * one value the template makes (a text, a list, a mapping, with everything inside it) is at most
    `MAX_VALUE` characters and items; a number at most `MAX_NUMBER_BITS` bits (about 4,300 digits, the
    most Python prints). Sizes are worked out *before* the work where they can be (`**`, `*`, `+`, `%`,
    `center`, `replace`, `lipsum`, `range`, format widths ...), so a refused value is never built;
  * one render takes at most `MAX_STEPS` steps: loop iterations, macro calls, function calls and the
    items of every `range`;
  * one render does at most `MAX_WORK` characters of work in all: every value made, printed, or read
    through by a filter or a text's method (a number counts as its digits), and the template's own text
    once per loop iteration or macro call;
  * a unit's markup is at most `MAX_UNIT_BYTES`; the units of one page together `MAX_PAGE_UNIT_BYTES`
    (the engine checks these two).

* **A clock is the backstop** for what slips through (one slow call into C code, say): the units of one
  page may use `PAGE_SECONDS` of the thread's CPU time (not wall time, so a busy server, waiting for the
  GIL, does not trip it). The meter reads the clock every `CLOCK_EVERY` steps, whenever `CLOCK_CHARS` or
  more characters of work are charged at once, and when the render ends, however it ends: a unit that is
  past the deadline then raises `OutOfTime` (even if it also went over a counted budget, or failed), and
  the engine switches it off until the rules change, rather than paying for it again on every page.

Outside a render (Jinja folding constants while it compiles a template) there is no meter, and only the
per-value limits hold: a refused constant is then simply not folded, and is refused again when it renders.
"""

from __future__ import annotations

import contextlib
import math
import re
import string
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

MAX_VALUE = 65_536  # characters and items in one value a template makes
MAX_NUMBER_BITS = 14_300  # about 4,300 decimal digits: Python prints no larger number
MAX_STEPS = 5_000  # loop iterations, calls and range items per unit render
MAX_WORK = 1_000_000  # characters made and printed per unit render
MAX_UNIT_BYTES = 65_536  # one unit's markup, encoded
MAX_PAGE_UNIT_BYTES = 262_144  # every unit of one page, encoded
PAGE_SECONDS = 0.1  # CPU time of the thread for all the units of one page (the backstop)
CLOCK_EVERY = 64  # steps between two looks at the clock
CLOCK_CHARS = 4_096  # a value at least this large makes the meter look at the clock


class BudgetExceeded(Exception):
    """A unit template went over one of its budgets; the message says which, in ad ops' words.

    `lineno`: the template's line, when the raiser knows it better than the traceback does (the output cap
    is checked outside the template's code)."""

    def __init__(self, message: str, lineno: int | None = None) -> None:
        super().__init__(message)
        self.lineno = lineno


class OutOfTime(BudgetExceeded):
    """The backstop: the page's units used up their time."""


def thread_clock() -> float:
    return time.thread_time()


class Meter:
    """What one unit render has used so far; `deadline` is on `clock` (None: no time limit)."""

    __slots__ = ("_weights", "clock", "deadline", "steps", "work")

    def __init__(self, *, deadline: float | None = None, clock: Callable[[], float] | None = None) -> None:
        self.steps = 0
        self.work = 0
        self.deadline = deadline
        self.clock = clock
        # Weights of containers already measured, with the container itself so that its id stays its own
        # for the whole render.
        self._weights: dict[int, tuple[object, int]] = {}

    def step(self, count: int = 1, chars: int = 0) -> None:
        before = self.steps
        self.steps += count
        if self.steps > MAX_STEPS:
            raise BudgetExceeded(
                f"the template took more than {MAX_STEPS:,} steps (loop iterations, calls, range items)"
            )
        if chars:
            self.charge(chars)
        if self.deadline is not None and before // CLOCK_EVERY != self.steps // CLOCK_EVERY:
            self.check_time()

    def charge(self, chars: int) -> None:
        self.work += chars
        if self.work > MAX_WORK:
            raise BudgetExceeded(f"the template made more than {MAX_WORK:,} characters in all")
        if chars >= CLOCK_CHARS:
            self.check_time()

    def over_time(self) -> bool:
        return self.deadline is not None and (self.clock or thread_clock)() > self.deadline

    def check_time(self) -> None:
        if self.over_time():
            raise OutOfTime(f"the page's units took more than {PAGE_SECONDS * 1000:g} ms")


_current: ContextVar[Meter | None] = ContextVar("adinject_template_meter", default=None)


def current() -> Meter | None:
    return _current.get()


@contextlib.contextmanager
def metered(meter: Meter) -> Iterator[Meter]:
    """Run templates under `meter` (in this thread or task only)."""
    token = _current.set(meter)
    try:
        yield meter
    finally:
        _current.reset(token)


def step(count: int = 1, chars: int = 0) -> None:
    meter = _current.get()
    if meter is not None:
        meter.step(count, chars)


# --- sizes


def _too_big(what: str) -> BudgetExceeded:
    return BudgetExceeded(f"{what} would be over {MAX_VALUE:,} characters or items")


def weight(value: object, limit: int = MAX_VALUE) -> int:
    """The size of `value`: characters of a text, and for a list, tuple or mapping its items plus the
    weight of each. Stops counting once over `limit` (so a value shared a million times inside a list
    costs no more than `limit` to weigh)."""
    if isinstance(value, str | bytes):
        return len(value)
    if not isinstance(value, list | tuple | dict | set | frozenset):
        return 0
    meter = _current.get()
    if meter is not None:
        known = meter._weights.get(id(value))
        if known is not None:
            return known[1]
    total = len(value)
    items = value.items() if isinstance(value, dict) else value
    for item in items:
        if total > limit:
            break
        total += weight(item, limit - total)
    if meter is not None and total <= limit:
        meter._weights[id(value)] = (value, total)
    return total


def check_int(value: object) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_NUMBER_BITS:
        raise BudgetExceeded(f"a number would have more than {MAX_NUMBER_BITS:,} bits (about 4,300 digits)")


def made(value: Any) -> Any:
    """`value`, once it is known to be within the per-value limits (charged to the render's work; a number
    as the digits it prints as)."""
    check_int(value)
    size = value.bit_length() * 3 // 10 if isinstance(value, int) else weight(value)
    if size > MAX_VALUE:
        raise _too_big("a value")
    read(size)
    return value


def read(size: int) -> None:
    """Charge `size` characters of work (a value made, or one a filter or a method reads through)."""
    meter = _current.get()
    if meter is not None and size:
        meter.charge(size)


def _length(value: object) -> int | None:
    """The length of a text or a list-like, for the sizes of `*` and `+`."""
    if isinstance(value, str | bytes | list | tuple):
        return weight(value, MAX_VALUE * 2)
    return None


def check_binop(operator: str, left: object, right: object) -> None:
    """Refuse `left operator right` when its result would be over a limit, before working it out."""
    if operator == "**":
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and abs(left) > 1
            and right * math.log2(abs(left)) > MAX_NUMBER_BITS
        ):
            raise BudgetExceeded(
                f"{left} ** {right} would have more than {MAX_NUMBER_BITS:,} bits (about 4,300 digits)"
            )
    elif operator == "*":
        for seq, times in ((left, right), (right, left)):
            size = _length(seq)
            if size is not None and isinstance(times, int) and size * times > MAX_VALUE:
                raise _too_big("a repetition (*)")
        if (
            isinstance(left, int)
            and isinstance(right, int)
            and left.bit_length() + right.bit_length() > MAX_NUMBER_BITS + 1
        ):
            raise BudgetExceeded(
                f"a product would have more than {MAX_NUMBER_BITS:,} bits (about 4,300 digits)"
            )
    elif operator == "+":
        a, b = _length(left), _length(right)
        if a is not None and b is not None and a + b > MAX_VALUE:
            raise _too_big("a concatenation (+)")
    elif operator == "%" and isinstance(left, str):
        check_percent_format(left)


# A printf-style conversion: flags, width, precision.
_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def check_percent_format(text: str) -> None:
    """Refuse a `%` format whose widths would make a value over the limit (`"%09999999d" % 1`)."""
    for match in _PERCENT.finditer(text):
        for number in match.groups():
            if number == "*":
                raise BudgetExceeded("a format width given as * is not allowed in a template")
            if number is not None and int(number) > MAX_VALUE:
                raise _too_big(f"a format width ({number})")


_DIGITS = re.compile(r"\d+")


def check_format_spec(text: str) -> None:
    """Refuse a `str.format` text whose field widths would make a value over the limit."""
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return  # format() will raise the error itself
    for _, name, spec, _ in fields:
        if name is None or not spec:
            continue
        if "{" in spec:
            raise BudgetExceeded("a format width given by a value is not allowed in a template")
        for number in _DIGITS.findall(spec):
            if int(number) > MAX_VALUE:
                raise _too_big(f"a format width ({number})")


# --- the filters and functions whose results grow with an argument, checked before they run


def _as_int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _check_width(width: object, lines: int = 1) -> None:
    if isinstance(width, int) and width * lines > MAX_VALUE:
        raise _too_big(f"a width ({width})")
    if isinstance(width, str) and len(width) * lines > MAX_VALUE:
        raise _too_big("an indentation")


def check_filter(name: str, args: Mapping[str, Any]) -> None:
    """Refuse a filter call whose result would be over the limit (`args` are the bound arguments)."""
    if name == "center":
        _check_width(args.get("width"))
    elif name == "indent":
        text = str(args.get("s", ""))
        _check_width(args.get("width"), text.count("\n") + 1)
    elif name == "replace":
        text, old, new = (str(args.get(k, "")) for k in ("s", "old", "new"))
        count = text.count(old) if old else len(text) + 1
        limit = args.get("count")
        if isinstance(limit, int) and limit >= 0:
            count = min(count, limit)
        if len(text) + count * max(len(new) - len(old), 0) > MAX_VALUE:
            raise _too_big("a replace")
    elif name == "format":
        check_percent_format(str(args.get("value", "")))
    elif name in ("batch", "slice"):
        for key in ("linecount", "slices"):
            if _as_int(args.get(key)) > MAX_VALUE:
                raise _too_big(f"{name}({args[key]})")
    elif name == "join":
        value = args.get("value")
        if isinstance(value, list | tuple):
            glue = len(str(args.get("d", ""))) * len(value)
            if glue + sum(len(str(v)) if isinstance(v, str) else weight(v) for v in value) > MAX_VALUE:
                raise _too_big("a join")


# String methods whose result grows with a number argument: str.center(10**9) and the like.
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


def check_method(obj: object, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse a method call (`"x".center(2000000000)`) whose result would be over the limit."""
    # The sandbox hands out str.format as a wrapper of the bound method (`__wrapped__`).
    inner = getattr(obj, "__wrapped__", obj)
    owner = getattr(inner, "__self__", None)
    name = getattr(inner, "__name__", "")
    if isinstance(owner, str | bytes):
        read(len(owner))  # a method of a text reads through it: "...".count("b") 5,000 times is work
    if isinstance(owner, str) and name in ("format", "format_map"):
        check_format_spec(owner)
    elif isinstance(owner, str | bytes):
        if name in _WIDTH_METHODS and args:
            _check_width(args[0])
        elif name == "expandtabs":
            size = args[0] if args else kwargs.get("tabsize", 8)
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            if isinstance(size, int) and size * tabs > MAX_VALUE:
                raise _too_big("expandtabs")
        elif name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            count = owner.count(old) if old else len(owner) + 1
            if len(owner) + count * max(len(new) - len(old), 0) > MAX_VALUE:
                raise _too_big("a replace")
        elif (
            name == "join"
            and args
            and isinstance(args[0], list | tuple)
            and weight(args[0], MAX_VALUE * 2) + len(owner) * len(args[0]) > MAX_VALUE
        ):
            raise _too_big("a join")
    elif isinstance(owner, int) and name == "to_bytes" and args and _as_int(args[0]) > MAX_VALUE:
        raise _too_big("to_bytes")


def check_lipsum(n: object = 5, html: object = True, min: object = 20, max: object = 100) -> None:
    """`lipsum(n, html, min, max)`: n paragraphs of up to `max` words (of up to 10 characters or so)."""
    paragraphs, words = _as_int(n), _as_int(max)
    if paragraphs * words * 10 > MAX_VALUE:
        raise _too_big(f"lipsum({paragraphs})")


def check_range(length: int) -> None:
    if length > MAX_VALUE:
        raise _too_big(f"a range of {length:,}")
    meter = _current.get()
    if meter is not None:
        meter.step(length)
