"""The engine: bytes in, bytes out. `load_rules(path).apply(body, url=..., headers=...)`.

Two steps so that a caller (the middleware's plan cache) can reuse the expensive one: `plan` decodes, parses
and decides where units go; `realize` renders the unit templates for this request and splices their bytes in.
Neither raises: whatever goes wrong, the body comes back unchanged with the reason in `skipped`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from adinject.language.globs import PathMatcher
from adinject.language.loader import CompiledRules, load_rule_set
from adinject.language.schema import Rule, Settings
from adinject.page.encoding import Sniffed, decode, encode_fragment, sniff
from adinject.page.offsets import OffsetMap
from adinject.placement.page_model import PageInfo, opted_out, page_info, parse_text
from adinject.placement.planner import plan_page
from adinject.result import ApplyResult, Insertion, RuleTrace, Skip
from adinject.splice import splice
from adinject.units.fragment import FragmentError, check_fragment
from adinject.units.render import render_unit, slot_id

log = logging.getLogger("adinject")


@dataclass(frozen=True, slots=True)
class PlannedUnit:
    offset: int  # byte offset in the input
    unit: str
    rule: str
    paragraph: int | None
    number: int
    anchor: str
    note: str
    implied_close: bool
    form_ok: bool


@dataclass(frozen=True, slots=True)
class Plan:
    """Where units go in one page: depends only on the page bytes, the URL, the rules and request inputs."""

    units: tuple[PlannedUnit, ...] = ()
    skipped: tuple[Skip, ...] = ()
    traces: tuple[RuleTrace, ...] = ()
    page: PageInfo | None = None
    sniffed: Sniffed | None = None
    rules_version: str = ""
    duration_ms: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)


class Rules:
    """Loaded, validated rules, ready to apply to pages. Immutable: a reload builds a new one."""

    def __init__(self, compiled: CompiledRules) -> None:
        self.compiled = compiled
        self.version: str = compiled.version
        self.settings: Settings = compiled.settings
        self._active: tuple[tuple[Rule, PathMatcher], ...] = tuple(
            (rule, PathMatcher(rule.pages.paths, rule.pages.exclude_paths))
            for rule in compiled.rules
            if rule.enabled
        )

    def __repr__(self) -> str:
        return f"<Rules version={self.version} rules={len(self._active)} files={len(self.compiled.files)}>"

    def matches_url(self, path: str) -> bool:
        path = urlsplit(path).path or "/"
        return any(matcher.matches(path) for _, matcher in self._active)

    def request_headers(self) -> frozenset[str]:
        """Request headers the output depends on (for Vary). None yet: rules read only the page and URL."""
        return frozenset()

    def rules_for(self, path: str) -> list[Rule]:
        return [rule for rule, matcher in self._active if matcher.matches(path)]

    def plan(
        self, body: bytes, *, url: str, headers: Mapping[str, str] | None = None, explain: bool = False
    ) -> Plan:
        started = time.perf_counter()
        try:
            plan = self._plan(body, url=url, headers=headers or {}, explain=explain)
        except Exception as exc:  # the first law: whatever happens, the page goes out unchanged
            log.exception("adinject: planning failed for %s", url)
            plan = Plan(
                skipped=(Skip("error", f"internal error while planning: {exc!r}"),),
                rules_version=self.version,
            )
        return _with_duration(plan, started)

    def _plan(self, body: bytes, *, url: str, headers: Mapping[str, str], explain: bool) -> Plan:
        version = self.version
        if len(body) > self.settings.max_page_bytes:
            return Plan(
                skipped=(
                    Skip(
                        "too_large",
                        f"the page is {len(body)} bytes, over max_page_bytes "
                        f"({self.settings.max_page_bytes})",
                    ),
                ),
                rules_version=version,
            )
        path = urlsplit(url).path or "/"
        rules = self.rules_for(path)
        if not rules:
            return Plan(
                skipped=(Skip("no_rule", f"no enabled rule matches the path {path}"),), rules_version=version
            )
        content_type = _header(headers, "content-type")
        sniffed = sniff(body, content_type)
        if sniffed.source == "default" and _undeclared_utf8(body):
            # Nothing declares the encoding: browsers then detect it from the bytes, and a page that is
            # valid UTF-8 with non-ASCII characters is read as UTF-8 (windows-1252 would be mojibake).
            sniffed = sniff(body, None, default="utf-8")
        if sniffed.codec is None or not sniffed.ascii_compatible:
            return Plan(
                skipped=(
                    Skip(
                        "encoding",
                        f"the page is {sniffed.name}: units are only inserted into "
                        "ASCII-compatible encodings",
                    ),
                ),
                sniffed=sniffed,
                rules_version=version,
            )
        text = decode(body, sniffed)
        doc = parse_text(text)
        info = page_info(doc, path)
        if opted_out(info):
            return Plan(
                skipped=(Skip("opted_out", 'the page has <meta name="adinject" content="off">'),),
                page=info,
                sniffed=sniffed,
                rules_version=version,
            )
        page_plan = plan_page(doc, rules, self.settings, explain=explain)
        offset_map = OffsetMap(text, sniffed)
        offsets = offset_map.to_bytes([s.offset for s in page_plan.slots])
        counts: dict[str, int] = {}
        units: list[PlannedUnit] = []
        for slot, byte_offset in zip(page_plan.slots, offsets, strict=True):
            counts[slot.unit] = counts.get(slot.unit, 0) + 1
            units.append(
                PlannedUnit(
                    byte_offset,
                    slot.unit,
                    slot.rule,
                    slot.paragraph,
                    counts[slot.unit],
                    slot.anchor,
                    slot.note,
                    slot.implied_close,
                    slot.form_ok,
                )
            )
        if explain:
            for trace in page_plan.traces:
                if trace.container_offset is not None:
                    trace.container_offset = offset_map.to_byte(trace.container_offset)
        return Plan(tuple(units), tuple(page_plan.skipped), tuple(page_plan.traces), info, sniffed, version)

    def realize(self, plan: Plan, body: bytes, *, context: Mapping[str, Any] | None = None) -> ApplyResult:
        started = time.perf_counter()
        try:
            result = self._realize(plan, body, context or {})
        except Exception as exc:
            log.exception("adinject: rendering units failed")
            result = ApplyResult(body, skipped=[*plan.skipped, Skip("error", f"internal error: {exc!r}")])
        result.duration_ms = plan.duration_ms + (time.perf_counter() - started) * 1000.0
        return result

    def _realize(self, plan: Plan, body: bytes, context: Mapping[str, Any]) -> ApplyResult:
        skipped = list(plan.skipped)
        sniffed = plan.sniffed
        name = sniffed.name if sniffed is not None else None
        if not plan.units or sniffed is None or plan.page is None:
            return ApplyResult(body, [], skipped, name, list(plan.traces))
        chunks: list[tuple[int, bytes]] = []
        insertions: list[Insertion] = []
        for pu in plan.units:
            compiled = self.compiled.units.get(pu.unit)
            if compiled is None:
                skipped.append(
                    Skip("no_unit", f"unit '{pu.unit}' is not defined", pu.rule, pu.unit, pu.paragraph)
                )
                continue
            try:
                markup = render_unit(
                    compiled.template,
                    unit=pu.unit,
                    rule=pu.rule,
                    number=pu.number,
                    paragraph=pu.paragraph,
                    page=plan.page,
                    context=context,
                )
            except Exception as exc:  # a template error skips this unit, never the page
                skipped.append(
                    Skip("render_failed", f"the template failed: {exc}", pu.rule, pu.unit, pu.paragraph)
                )
                continue
            if not markup.strip():
                # A template may decide to show nothing (no related article for this page): not an error.
                skipped.append(
                    Skip("empty", "the unit rendered no markup for this page", pu.rule, pu.unit, pu.paragraph)
                )
                continue
            try:
                fragment = check_fragment(markup)
            except FragmentError as exc:
                skipped.append(
                    Skip(
                        "bad_markup",
                        f"the unit's markup is unsafe to insert: {exc}",
                        pu.rule,
                        pu.unit,
                        pu.paragraph,
                    )
                )
                continue
            if pu.implied_close and not fragment.closes_p:
                skipped.append(
                    Skip(
                        "unsafe",
                        "the paragraph has no </p> and the unit does not start with a "
                        "block element that would close it",
                        pu.rule,
                        pu.unit,
                        pu.paragraph,
                    )
                )
                continue
            if fragment.has_form and not pu.form_ok:
                skipped.append(
                    Skip(
                        "unsafe",
                        "the unit has a <form> and the page has an open <form> there",
                        pu.rule,
                        pu.unit,
                        pu.paragraph,
                    )
                )
                continue
            data = encode_fragment(fragment.markup, sniffed)
            chunks.append((pu.offset, data))
            insertions.append(
                Insertion(
                    pu.offset,
                    len(data),
                    pu.unit,
                    pu.rule,
                    pu.paragraph,
                    slot_id(pu.unit, pu.number),
                    pu.anchor,
                    pu.note,
                )
            )
        return ApplyResult(splice(body, chunks), insertions, skipped, name, list(plan.traces))

    def apply(
        self,
        body: bytes,
        *,
        url: str = "/",
        headers: Mapping[str, str] | None = None,
        context: Mapping[str, Any] | None = None,
        explain: bool = False,
    ) -> ApplyResult:
        plan = self.plan(body, url=url, headers=headers, explain=explain)
        return self.realize(plan, body, context=context)


def load_rules(path: str | os.PathLike[str]) -> Rules:
    """Load and validate a rules folder (or one file). Raises RulesError listing every problem."""
    return Rules(load_rule_set(path))


def _undeclared_utf8(body: bytes) -> bool:
    if body.isascii():
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        for key, val in headers.items():
            if key.lower() == name:
                return val
    return value


def _with_duration(plan: Plan, started: float) -> Plan:
    ms = (time.perf_counter() - started) * 1000.0
    return Plan(
        plan.units, plan.skipped, plan.traces, plan.page, plan.sniffed, plan.rules_version, ms, plan.extra
    )
