"""The rule index: everything about a rule set that does not depend on a page or a request, worked out once
at load. Planning and rendering then only look things up."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import jinja2.meta

from adinject.language.globs import PathMatcher
from adinject.language.loader import CompiledRules, CompiledUnit
from adinject.language.schema import Rule, Settings
from adinject.language.templates import environment
from adinject.targeting.conditions import depends_on_time, request_reads, uses_request
from adinject.targeting.facts import bucket_headers

log = logging.getLogger("adinject")


class SwitchedOff:
    """Units switched off for this rules version because they tripped the time backstop while rendering.

    The budgets in `adinject.language.budget` are counts and decide the same on every page; the backstop is
    a clock, so a unit that trips it is not rendered again (on every request, at the same cost) but kept out
    until the rules change: a new version gets a new index, and so a new, empty registry. Logged once per
    unit; `count` is how many units were switched off. Thread-safe.
    """

    __slots__ = ("_lock", "_units", "version")

    def __init__(self, version: str) -> None:
        self.version = version
        self._units: dict[str, str] = {}
        self._lock = threading.Lock()

    def reason(self, unit: str) -> str | None:
        return self._units.get(unit)

    def switch_off(self, unit: str, reason: str) -> bool:
        """Keep `unit` out from now on; True the first time (the caller that logs)."""
        with self._lock:
            if unit in self._units:
                return False
            self._units[unit] = reason
        log.warning(
            "adinject: unit %r switched off until the rules change (version %s): %s",
            unit,
            self.version,
            reason,
        )
        return True

    @property
    def units(self) -> dict[str, str]:
        with self._lock:
            return dict(self._units)

    @property
    def count(self) -> int:
        return len(self._units)


@dataclass(frozen=True, slots=True)
class UnitFacts:
    """What the unit templates read, which decides how their markup may be reused."""

    form_units: frozenset[str]  # may hold a <form>: only their boundaries pay for the form check
    per_request_units: frozenset[str]  # read `context`: rendered for every response
    static_units: frozenset[str]  # read only `slot`: rendered once per slot number
    reads_page: bool  # something reads the page's title or meta tags


class RuleIndex:
    """The enabled rules with their URL matchers, and the facts derived from them and their units."""

    __slots__ = (
        "_active",
        "_rule_reads",
        "_rule_timed",
        "compiled",
        "reads",
        "settings",
        "switched_off",
        "targeted",
        "timed",
        "units",
    )

    def __init__(self, compiled: CompiledRules) -> None:
        self.compiled = compiled
        self.settings: Settings = compiled.settings
        # The site-wide `exclude_paths` of the settings hold for every rule, as if each rule listed them.
        site_excluded = tuple(self.settings.exclude_paths)
        self._active: tuple[tuple[Rule, PathMatcher], ...] = tuple(
            (rule, PathMatcher(rule.pages.paths, (*rule.pages.exclude_paths, *site_excluded)))
            for rule in compiled.rules
            if rule.enabled
        )
        bucket = bucket_headers(self.settings.bucket_header)
        self._rule_reads: dict[str, frozenset[str]] = {
            rule.name: request_reads(rule.when, bucket) | (bucket if self.has_variants(rule) else frozenset())
            for rule, _ in self._active
        }
        self._rule_timed: dict[str, bool] = {
            rule.name: depends_on_time(rule.when) for rule, _ in self._active
        }
        # Site-wide: the request headers any enabled rule reads. A response varies only on `reads_of` the
        # rules of its own URL; these are the union over every URL.
        self.reads: frozenset[str] = frozenset().union(*self._rule_reads.values())
        self.timed = any(self._rule_timed.values())
        # Whether any request can change a plan at all: if not, planning never looks at the request.
        self.targeted = any(uses_request(rule.when) or self.has_variants(rule) for rule, _ in self._active)
        self.units = _unit_facts(compiled, [rule for rule, _ in self._active])
        self.switched_off = SwitchedOff(compiled.version)

    @property
    def rule_count(self) -> int:
        return len(self._active)

    def rules_for(self, path: str) -> list[Rule]:
        """The enabled rules whose `pages` match the URL path, in file order."""
        return [rule for rule, matcher in self._active if matcher.matches(path)]

    def matches_url(self, url: str) -> bool:
        path = urlsplit(url).path or "/"
        return any(matcher.matches(path) for _, matcher in self._active)

    def reads_of(self, rules: list[Rule]) -> frozenset[str]:
        """The request headers these rules' output depends on (for `Vary`)."""
        return frozenset().union(*(self._rule_reads[rule.name] for rule in rules))

    def timed_of(self, rules: list[Rule]) -> bool:
        """Whether one of these rules has a `schedule` (its output depends on the time)."""
        return any(self._rule_timed[rule.name] for rule in rules)

    def unit(self, name: str) -> CompiledUnit | None:
        return self.compiled.units.get(name)

    def has_variants(self, rule: Rule) -> bool:
        return any(bool((unit := self.unit(p.unit)) and unit.variants) for p in rule.place)


def _unit_facts(compiled: CompiledRules, rules: list[Rule]) -> UnitFacts:
    names = {name: _template_names(unit) for name, unit in compiled.units.items()}
    static = frozenset(
        name
        for name, unit in compiled.units.items()
        if names[name] <= {"slot"} and unit.spec.promotions is None and unit.spec.gpt is None
    )
    reads_page = bool(compiled.settings.opt_out.meta) or any(
        (rule.when is not None and bool(rule.when.meta or rule.when.exclude_meta))
        or any(_unit_reads_page(compiled.units.get(p.unit), names) for p in rule.place)
        for rule in rules
    )
    return UnitFacts(
        form_units=frozenset(name for name, unit in compiled.units.items() if _may_hold_form(unit)),
        per_request_units=frozenset(name for name in compiled.units if "context" in names[name]),
        static_units=static,
        reads_page=reads_page,
    )


def _template_sources(unit: CompiledUnit) -> list[str]:
    """The unit's template sources: its `html`, and every variant's."""
    return [unit.spec.html or "", *(v.html for v in (unit.spec.variants or {}).values())]


def _may_hold_form(unit: CompiledUnit) -> bool:
    return any("<form" in src.lower() for src in _template_sources(unit))


def _template_names(unit: CompiledUnit) -> frozenset[str]:
    """The variables the unit's templates (every variant's) read."""
    env = environment()
    return frozenset().union(
        *(jinja2.meta.find_undeclared_variables(env.parse(src)) for src in _template_sources(unit))
    )


def _unit_reads_page(unit: CompiledUnit | None, names: Mapping[str, frozenset[str]]) -> bool:
    # Promotions are chosen by the page's section and tags; GPT targeting sends them too.
    if unit is None:
        return False
    return "page" in names[unit.name] or unit.spec.promotions is not None or unit.spec.gpt is not None
