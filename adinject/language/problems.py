"""Errors in rule files, reported the way a compiler reports them: `file:line:col: key: message`.

Ad ops fix rule files in an editor; a location the editor can jump to, and every problem at once rather than
the first one, turns a round trip per typo into one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One mistake in a rule file.

    `line` and `col` are 1-based; `key` is a dotted path such as `rules[0].place[1].after_paragraph`, or empty
    when the problem is not about one key (a YAML syntax error, an empty folder).

    A `warning` is shown like an error (`file:line:col: warning: key: message`) but does not make the rules
    invalid: something allowed that a person should look at (an inline script in a unit).
    """

    file: str
    line: int
    col: int
    key: str
    message: str
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        if self.severity == "warning":
            where += ": warning"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


def describe(exc: BaseException, limit: int = 200) -> str:
    """An unexpected exception in one line for a problem's message: its type and its text, cut short."""
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def unexpected(where: str, exc: BaseException) -> RulesError:
    """A load that raised something other than `RulesError`, as the one problem of the rules at `where`."""
    return RulesError([Problem(where, 1, 1, "", f"the rules could not be loaded ({describe(exc)})")])


class RulesError(Exception):
    """The rules did not load. `problems` holds every problem found, not just the first (and the warnings,
    in file and line order with them)."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(self._text())

    def _text(self) -> str:
        return "\n".join(str(p) for p in self.problems)

    def __str__(self) -> str:
        return self._text()
