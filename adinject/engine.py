"""The engine: bytes in, bytes out. `load_rules(path).apply(body, url=..., headers=...)`.

Two steps so that a caller (the middleware's plan cache) can reuse the expensive one: `plan` decodes, parses
and decides where units go; `realize` renders the unit templates for this request and splices their bytes in.
Neither raises: whatever goes wrong, the body comes back unchanged with the reason in `skipped`.

A plan depends on the request only through `request_key(url, headers, now)`: which targeted rules hold for
this visitor and which variant of each A/B unit they see. Everything per response that may not be cached
(the app's context, the response's Content-Security-Policy and its nonce) goes to `realize`.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import jinja2.meta
from turbohtml import Document

from adinject.gpt.csp import script_permit
from adinject.gpt.head import head_site, loads_gpt, meta_policies, script_sources
from adinject.gpt.script import WiredSlot, display_script, head_markup
from adinject.gpt.slot import SlotError, wire_slot
from adinject.language.globs import PathMatcher
from adinject.language.loader import CompiledRules, CompiledUnit, load_rule_set
from adinject.language.schema import Rule, Settings, When
from adinject.page.encoding import Sniffed, encode_fragment, sniff, sniff_and_decode
from adinject.page.offsets import OffsetMap
from adinject.placement.page_model import PageInfo, opted_out, page_info, parse_text
from adinject.placement.planner import plan_page
from adinject.result import ApplyResult, Insertion, RuleTrace, Skip
from adinject.splice import splice
from adinject.targeting.buckets import choose_variant
from adinject.targeting.conditions import page_failure, page_opt_out, request_failure, uses_request
from adinject.targeting.facts import RequestFacts, header, request_facts
from adinject.units import promotions as house
from adinject.units.environment import environment
from adinject.units.fragment import FragmentError, check_fragment
from adinject.units.render import render_unit, slot_id

log = logging.getLogger("adinject")


# What rendering a plan gives: the bytes to insert at input offsets, the insertions, everything skipped.
_Rendered = tuple[list[tuple[int, bytes]], list[Insertion], list[Skip]]


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
    variant: str = ""  # the A/B variant this visitor sees ("" for a unit without variants)

    @property
    def slot_key(self) -> tuple[str, str, int, int | None, str]:
        """Everything a template reading only `slot` can see of this slot."""
        return (self.unit, self.variant, self.number, self.paragraph, self.rule)

    def skip(self, code: str, reason: str) -> Skip:
        """Why this planned unit did not land, attributed to its rule, unit and paragraph."""
        return Skip(code, reason, self.rule, self.unit, self.paragraph)


@dataclass(frozen=True, slots=True)
class HeadPlan:
    """Where the GPT scripts can go in <head> (a byte offset), or why they cannot."""

    offset: int | None
    where: str = ""  # "before </head>" / "after <head>"
    problem: str = ""
    library_loaded: bool = False  # the page loads gpt.js itself
    csp: tuple[str, ...] = ()  # the page's <meta http-equiv="Content-Security-Policy"> policies


@dataclass(frozen=True, slots=True)
class Plan:
    """Where units go in one page: depends only on the page bytes, the URL, the rules and `request_key`."""

    units: tuple[PlannedUnit, ...] = ()
    skipped: tuple[Skip, ...] = ()
    traces: tuple[RuleTrace, ...] = ()
    page: PageInfo | None = None
    sniffed: Sniffed | None = None
    rules_version: str = ""
    duration_ms: float = 0.0
    request_key: tuple[str, ...] = ()  # what `Rules.request_key` gave for the request this plan was made for
    reads: frozenset[str] = frozenset()  # request headers this page's output depends on (for Vary)
    head: HeadPlan | None = None  # set when a planned unit has `gpt`
    # Rendered units, kept with the plan when nothing they show depends on the request (see `realize`).
    rendered: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    """What the request decides for the rules of one path: the request's whole influence on a plan."""

    rules: tuple[Rule, ...]  # the rules whose request conditions hold
    skipped: tuple[Skip, ...]  # the rules whose request conditions fail, and why
    variants: Mapping[str, str]  # unit name -> the variant this visitor sees
    key: tuple[str, ...]
    reads: frozenset[str]


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
        self._bucket_reads = frozenset(
            {"cookie", *([self.settings.bucket_header] if self.settings.bucket_header else [])}
        )
        self._rule_reads: dict[str, frozenset[str]] = {
            rule.name: self._reads_of(rule) for rule, _ in self._active
        }
        self._reads = frozenset().union(*self._rule_reads.values())
        # Whether any request can change a plan at all: if not, planning never looks at the request.
        self._timed = any(
            rule.when is not None and rule.when.schedule is not None for rule, _ in self._active
        )
        self._form_units = frozenset(name for name, unit in compiled.units.items() if _may_hold_form(unit))
        names = {name: _template_names(unit) for name, unit in compiled.units.items()}
        # Units whose templates read `context` render per request; the others render once per plan.
        self._per_request_units = frozenset(name for name in compiled.units if "context" in names[name])
        # Units whose markup follows from the slot alone (not the page, the request or a data file): their
        # rendered markup is remembered by slot, since every page has a slot 1, 2, 3 of each.
        self._static_units = frozenset(
            name
            for name, unit in compiled.units.items()
            if names[name] <= {"slot"} and unit.spec.promotions is None and unit.spec.gpt is None
        )
        self._static_markup: dict[tuple[str, str, int, int | None, str], _Made] = {}
        # Whether anything reads the page's title or meta tags: if not, planning does not collect them.
        self._reads_page = bool(self.settings.opt_out.meta) or any(
            (rule.when is not None and bool(rule.when.meta or rule.when.exclude_meta))
            or any(_unit_reads_page(compiled.units.get(p.unit), names) for p in rule.place)
            for rule, _ in self._active
        )
        self._targeted = any(
            uses_request(rule.when) or any(self._has_variants(p.unit) for p in rule.place)
            for rule, _ in self._active
        )

    def __repr__(self) -> str:
        return f"<Rules version={self.version} rules={len(self._active)} files={len(self.compiled.files)}>"

    @property
    def bucket_header(self) -> str | None:
        return self.settings.bucket_header

    @property
    def inactive_code(self) -> str | None:
        return None

    def matches_url(self, path: str) -> bool:
        path = urlsplit(path).path or "/"
        return any(matcher.matches(path) for _, matcher in self._active)

    def request_headers(self) -> frozenset[str]:
        """Request headers (lower-case names) the output may depend on, on any page: for `Vary`.

        User-Agent and Sec-CH-UA-Mobile when a rule reads the device, Cookie (and `bucket_header`) when a rule
        has `percent` or places a unit with variants, Referer when a rule reads the referrer.
        """
        return self._reads

    def depends_on_time(self) -> bool:
        """Whether some rule has a `schedule`: then the same request gets other units at another time, and no
        validator (ETag, Last-Modified) of the app's describes the output."""
        return self._timed

    def _has_variants(self, unit_name: str) -> bool:
        unit = self.compiled.units.get(unit_name)
        return unit is not None and bool(unit.variants)

    def _reads_of(self, rule: Rule) -> frozenset[str]:
        reads: set[str] = set()
        when: When | None = rule.when
        if when is not None:
            if when.device is not None:
                reads |= {"user-agent", "sec-ch-ua-mobile"}
            if when.referrer is not None:
                reads.add("referer")
            if when.percent is not None:
                reads |= self._bucket_reads
        if any(self._has_variants(placement.unit) for placement in rule.place):
            reads |= self._bucket_reads
        return frozenset(reads)

    def rules_for(self, path: str) -> list[Rule]:
        return [rule for rule, matcher in self._active if matcher.matches(path)]

    def request_key(
        self, url: str, headers: Mapping[str, str], now: datetime | None = None
    ) -> tuple[str, ...]:
        """The request-dependent inputs of the plan for `url`, derived: equal keys give equal plans.

        Not the raw headers: which targeted rules hold (or the reason they do not) and which variant of each
        A/B unit is shown. Two iPhones, or two visitors in the same half of a test, share a key. Use it in a
        plan cache key with the page, the rules version and the path, and pass the same `now` to `plan`.
        """
        path = urlsplit(url).path or "/"
        return self._outcome(self.rules_for(path), url, headers, now).key

    def _outcome(
        self, rules: Sequence[Rule], url: str, headers: Mapping[str, str], now: datetime | None
    ) -> RequestOutcome:
        if not self._targeted:
            if now is not None and now.tzinfo is None:
                raise ValueError("now must be timezone-aware")
            return RequestOutcome(tuple(rules), (), {}, (), frozenset())
        return self.request_outcome(rules, self.facts(url, headers, now))

    def facts(self, url: str, headers: Mapping[str, str], now: datetime | None = None) -> RequestFacts:
        return request_facts(url, headers, now=now, bucket_header=self.settings.bucket_header)

    def request_outcome(self, rules: Sequence[Rule], facts: RequestFacts) -> RequestOutcome:
        """Which of `rules` the request lets through, and the variants it sees (pure, given the facts)."""
        passing: list[Rule] = []
        skipped: list[Skip] = []
        key: list[str] = []
        reads: set[str] = set()
        for rule in rules:
            cached = self._rule_reads.get(rule.name)
            reads |= cached if cached is not None else self._reads_of(rule)
            if not uses_request(rule.when):
                passing.append(rule)
                continue
            failure = request_failure(rule, facts)
            code, reason = failure if failure is not None else ("ok", "")
            # The reason too: a cached plan carries its skips' sentences, so they must match the key.
            key.append(f"rule\x1f{rule.name}\x1f{code}\x1f{reason}")
            if failure is None:
                passing.append(rule)
            else:
                skipped.append(Skip(code, reason, rule.name))
        variants: dict[str, str] = {}
        for rule in passing:
            for placement in rule.place:
                unit = self.compiled.units.get(placement.unit)
                if unit is None or not unit.variants or unit.name in variants:
                    continue
                weights = [(v.name, v.weight) for v in unit.variants]
                chosen = choose_variant(weights, facts.bucket, unit.spec.experiment or unit.name)
                variants[unit.name] = chosen
                key.append(f"unit\x1f{unit.name}\x1f{chosen}")
        return RequestOutcome(tuple(passing), tuple(skipped), variants, tuple(key), frozenset(reads))

    def plan(
        self,
        body: bytes,
        *,
        url: str,
        headers: Mapping[str, str] | None = None,
        explain: bool = False,
        now: datetime | None = None,
    ) -> Plan:
        """Decide where units go. `headers`: the request's, plus the response's Content-Type. `now`: the
        time schedules are read at (default: the current time), the same as given to `request_key`."""
        started = time.perf_counter()
        try:
            with _cyclic_gc_paused():
                plan = self._plan(body, url=url, headers=headers or {}, explain=explain, now=now)
        except Exception as exc:  # the first law: whatever happens, the page goes out unchanged
            log.exception("adinject: planning failed for %s", url)
            plan = Plan(
                skipped=(Skip("error", f"internal error while planning: {exc!r}"),),
                rules_version=self.version,
            )
        return _with_duration(plan, started)

    def _plan(
        self, body: bytes, *, url: str, headers: Mapping[str, str], explain: bool, now: datetime | None
    ) -> Plan:
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
        path_rules = self.rules_for(path)
        if not path_rules:
            return Plan(
                skipped=(Skip("no_rule", f"no enabled rule matches the path {path}"),), rules_version=version
            )
        outcome = self._outcome(path_rules, url, headers, now)
        base = Plan(request_key=outcome.key, reads=outcome.reads, rules_version=version)
        skipped = list(outcome.skipped)
        if not outcome.rules:
            return dataclasses.replace(base, skipped=tuple(skipped))
        content_type = header(headers, "content-type")
        sniffed, text = sniff_and_decode(body, content_type)
        if text is None:
            skipped.append(
                Skip(
                    "encoding",
                    f"the page is {sniffed.name}: units are only inserted into ASCII-compatible encodings",
                )
            )
            return dataclasses.replace(base, skipped=tuple(skipped), sniffed=sniffed)
        doc = parse_text(text)
        info = page_info(doc, path, full=self._reads_page)
        page_out = (
            'the page has <meta name="adinject" content="off">'
            if opted_out(info)
            else page_opt_out(self.settings.opt_out, info.meta_all)
        )
        if page_out is not None:
            # A page-wide opt-out stands alone: the rules' own reasons would only distract from it.
            return dataclasses.replace(
                base, skipped=(Skip("opted_out", page_out),), page=info, sniffed=sniffed
            )
        rules: list[Rule] = []
        for rule in outcome.rules:
            failure = page_failure(rule.when, info.meta_all)
            if failure is None:
                rules.append(rule)
            else:
                skipped.append(Skip(failure[0], failure[1], rule.name))
        if not rules:
            return dataclasses.replace(base, skipped=tuple(skipped), page=info, sniffed=sniffed)
        page_plan = plan_page(doc, rules, self.settings, explain=explain, form_units=self._form_units)
        offset_map = OffsetMap(text, sniffed, body)
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
                    outcome.variants.get(slot.unit, ""),
                )
            )
        if explain:
            # Traces speak in byte offsets of the input, like insertions; the planner works in code points.
            for trace in page_plan.traces:
                if trace.container_offset is not None:
                    trace.container_offset = offset_map.to_byte(trace.container_offset)
                starts = [p.offset for p in trace.paragraphs if p.offset >= 0]
                mapped = dict(zip(starts, offset_map.to_bytes(starts), strict=True))
                trace.paragraphs = [
                    dataclasses.replace(p, offset=mapped[p.offset]) if p.offset >= 0 else p
                    for p in trace.paragraphs
                ]
        wants_gpt = any((unit := self.compiled.units.get(u.unit)) and unit.spec.gpt for u in units)
        return dataclasses.replace(
            base,
            units=tuple(units),
            skipped=(*skipped, *page_plan.skipped),
            traces=tuple(page_plan.traces),
            page=info,
            sniffed=sniffed,
            head=self._head_plan(doc, body, sniffed, offset_map) if wants_gpt else None,
        )

    def _head_plan(self, doc: Document, body: bytes, sniffed: Sniffed, offset_map: OffsetMap) -> HeadPlan:
        """Where the GPT scripts go, and what the page says that decides them (read only for GPT pages)."""
        loaded = loads_gpt(script_sources(doc), self.settings.gpt_library_url)
        csp = meta_policies(doc)
        site = head_site(doc)
        if isinstance(site, str):
            return HeadPlan(None, problem=site, library_loaded=loaded, csp=csp)
        offset = offset_map.to_byte(site.offset)
        if sniffed.source == "meta":
            # The page's encoding comes from a <meta> within its first 1024 bytes; bytes inserted before
            # that <meta> could push it out of the browser's reach. Only where it lies wholly before.
            before = sniff(body[:offset], None, default="x-user-defined")
            if before.source != "meta" or before.name != sniffed.name:
                return HeadPlan(
                    None,
                    problem="the page declares its encoding in a <meta> after the place in <head> where the "
                    "scripts would go",
                    library_loaded=loaded,
                    csp=csp,
                )
        return HeadPlan(offset, site.where, library_loaded=loaded, csp=csp)

    def realize(
        self,
        plan: Plan,
        body: bytes,
        *,
        context: Mapping[str, Any] | None = None,
        csp: str | Sequence[str] | None = None,
    ) -> ApplyResult:
        """Render and splice in the planned units. `context`: the app's values for templates. `csp`: the
        response's Content-Security-Policy header value(s), read for the nonce of the GPT scripts."""
        started = time.perf_counter()
        policies = [csp] if isinstance(csp, str) else list(csp or ())
        try:
            result = self._realize_cached(plan, body, context or {}, policies)
        except Exception as exc:
            log.exception("adinject: rendering units failed")
            result = ApplyResult(body, skipped=[*plan.skipped, Skip("error", f"internal error: {exc!r}")])
        result.duration_ms = plan.duration_ms + (time.perf_counter() - started) * 1000.0
        result.reads = plan.reads
        return result

    def _realize_cached(
        self, plan: Plan, body: bytes, context: Mapping[str, Any], policies: list[str]
    ) -> ApplyResult:
        # On a plan-cache hit this is all the engine does per request. When no unit reads `context` and
        # no GPT script needs this response's nonce, the rendered chunks are the same every time: render
        # them once, keep them with the plan, and only splice them into this request's body.
        if plan.head is not None or any(u.unit in self._per_request_units for u in plan.units):
            rendered = self._render(plan, context, policies)
        else:
            kept: _Rendered | None = plan.rendered.get("units")
            if kept is None:
                kept = plan.rendered["units"] = self._render(plan, context, policies)
            rendered = kept
        chunks, insertions, skipped = rendered
        return ApplyResult(
            splice(body, chunks),
            list(insertions),
            list(skipped),
            plan.sniffed.name if plan.sniffed else None,
            list(plan.traces),
        )

    def _render(self, plan: Plan, context: Mapping[str, Any], policies: list[str]) -> _Rendered:
        """The bytes to insert (with their input offsets), the insertions, and everything skipped."""
        skipped = list(plan.skipped)
        sniffed = plan.sniffed
        if not plan.units or sniffed is None or plan.page is None:
            return [], [], skipped
        gpt = _GptWiring.decide(plan, policies, self.settings)
        if gpt.skip is not None:
            skipped.append(gpt.skip)
        chunks: list[tuple[int, bytes]] = []
        insertions: list[Insertion] = []
        wired: list[WiredSlot] = []
        for pu in plan.units:
            compiled = self.compiled.units.get(pu.unit)
            if compiled is None:
                skipped.append(pu.skip("no_unit", f"unit '{pu.unit}' is not defined"))
                continue
            made = self._static_markup.get(pu.slot_key) if pu.unit in self._static_units else None
            if made is None:
                made = self._unit_markup(pu, compiled, plan.page, context, gpt)
                if pu.unit in self._static_units:
                    if len(self._static_markup) >= _STATIC_MARKUP_LIMIT:
                        self._static_markup.clear()
                    self._static_markup[pu.slot_key] = made
            if isinstance(made, Skip):
                skipped.append(made)
                continue
            markup, slot, problem = made
            if problem is not None:
                skipped.append(problem)
            try:
                fragment = check_fragment(markup)
            except FragmentError as exc:
                skipped.append(pu.skip("bad_markup", f"the unit's markup is unsafe to insert: {exc}"))
                continue
            if pu.implied_close and not fragment.closes_p:
                skipped.append(
                    pu.skip(
                        "unsafe",
                        "the paragraph has no </p> and the unit does not start with a "
                        "block element that would close it",
                    )
                )
                continue
            if fragment.has_form and not pu.form_ok:
                skipped.append(
                    pu.skip("unsafe", "the unit has a <form> and the page has an open <form> there")
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
                    pu.variant,
                )
            )
            if slot is not None:
                wired.append(slot)
        if wired and plan.head is not None and plan.head.offset is not None:
            markup = head_markup(
                wired,
                section=house.page_section(plan.page.meta_all),
                keywords=house.page_tags(plan.page.meta_all),
                library_url=None if plan.head.library_loaded else self.settings.gpt_library_url,
                nonce=gpt.nonce,
                prebid_timeout_ms=self.settings.prebid_timeout_ms,
            )
            data = encode_fragment(markup, sniffed)
            chunks.insert(0, (plan.head.offset, data))
            insertions.insert(
                0, Insertion(plan.head.offset, len(data), "gpt", "", None, "", "head", plan.head.where)
            )
        return chunks, insertions, skipped

    def _unit_markup(
        self,
        pu: PlannedUnit,
        compiled: CompiledUnit,
        page: PageInfo,
        context: Mapping[str, Any],
        gpt: _GptWiring,
    ) -> _Made:
        """The unit's markup for this slot, the GPT slot it wires (if any), and a note when its wiring failed;
        or the Skip that keeps the unit out."""
        spec = compiled.spec
        items: list[dict[str, Any]] = []
        if spec.promotions is not None:
            items = house.choose(compiled.promotions, page.meta_all, spec.promotions.count)
            if not items:
                return pu.skip(
                    "no_promotion",
                    f"no promotion in {spec.promotions.file} suits this page's section or tags",
                )
        sid = slot_id(pu.unit, pu.number)
        try:
            markup = render_unit(
                compiled.template_for(pu.variant),
                unit=pu.unit,
                rule=pu.rule,
                number=pu.number,
                paragraph=pu.paragraph,
                page=page,
                context=context,
                variant=pu.variant,
                promotions=items,
            )
        except Exception as exc:  # a template error skips this unit, never the page
            return pu.skip("render_failed", f"the template failed: {exc}")
        if not markup.strip():
            # A template may decide to show nothing (no related article for this page): not an error.
            return pu.skip("empty", "the unit rendered no markup for this page")
        if spec.gpt is None:
            return markup, None, None
        script = display_script(sid, prebid=bool(spec.gpt.prebid), nonce=gpt.nonce) if gpt.enabled else None
        try:
            wired_markup = wire_slot(markup, sid, min_height=spec.gpt.min_height, script=script)
        except SlotError as exc:
            # The unit still goes in as its template wrote it; GPT just cannot fill it.
            note = pu.skip("gpt_slot", f"the slot is not wired for GPT: {exc}")
            return markup, None, note
        return wired_markup, WiredSlot(sid, spec.gpt) if gpt.enabled else None, None

    def apply(
        self,
        body: bytes,
        *,
        url: str = "/",
        headers: Mapping[str, str] | None = None,
        context: Mapping[str, Any] | None = None,
        explain: bool = False,
        now: datetime | None = None,
        csp: str | Sequence[str] | None = None,
    ) -> ApplyResult:
        plan = self.plan(body, url=url, headers=headers, explain=explain, now=now)
        return self.realize(plan, body, context=context, csp=csp)


@dataclass(frozen=True, slots=True)
class _GptWiring:
    """Whether this response gets GPT wiring, with which nonce, and why not."""

    enabled: bool
    nonce: str | None = None
    skip: Skip | None = None

    @classmethod
    def decide(cls, plan: Plan, header_policies: list[str], settings: Settings) -> _GptWiring:
        head = plan.head
        if head is None or plan.page is None:
            return cls(False)  # no planned unit has gpt
        if head.offset is None:
            return cls(False, skip=Skip("gpt_no_head", f"GPT is not wired: {head.problem}", unit="gpt"))
        permit = script_permit(
            [*header_policies, *head.csp],
            library_url=None if head.library_loaded else settings.gpt_library_url,
        )
        if not permit.allowed:
            return cls(False, skip=Skip("gpt_csp", f"GPT is not wired: {permit.reason}", unit="gpt"))
        return cls(True, permit.nonce)


_gc_lock = threading.Lock()
_GC_VALVE = 50_000  # allocations since the last young collection
_gc_holders = 0
_gc_was_enabled = False


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Planning allocates tens of thousands of short-lived, acyclic objects (element wrappers, spans);
    each allocation burst triggers collections that walk the whole heap, which made a 4.5 MB page cost
    15 times a 0.5 MB one instead of 9. Reference counting frees them all the same; the cyclic collector
    is paused while any thread plans and resumes, as it was, when the last one finishes."""
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()
            elif _gc_holders > 0 and _gc_was_enabled and gc.get_count()[0] > _GC_VALVE:
                # Plans overlapping without a gap (big pages in worker threads under load) would keep the
                # collector off for good; collect the young generation now and then so the app's own
                # cyclic garbage cannot pile up.
                gc.collect(0)


def _template_sources(unit: CompiledUnit) -> list[str]:
    """The unit's template sources: its `html`, and every variant's."""
    return [unit.spec.html or "", *(v.html for v in (unit.spec.variants or {}).values())]


def _may_hold_form(unit: CompiledUnit) -> bool:
    return any("<form" in src.lower() for src in _template_sources(unit))


_Made = tuple[str, WiredSlot | None, Skip | None] | Skip
_STATIC_MARKUP_LIMIT = 4096


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


def load_rules(path: str | os.PathLike[str]) -> Rules:
    """Load and validate a rules folder (or one file). Raises RulesError listing every problem."""
    return Rules(load_rule_set(path))


def _with_duration(plan: Plan, started: float) -> Plan:
    return dataclasses.replace(plan, duration_ms=(time.perf_counter() - started) * 1000.0)
