"""Planning: from the page's bytes, the rules of its path and the request's outcome to a `Plan`.

Pure (no clock, no cache, no rendering): it decodes and parses the page, checks the page-wide opt-outs and
page conditions, runs the planner (placement/planner.py, which works in code points of the parsed text)
and maps every offset it reports back to a byte offset of the input.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from turbohtml import Document

from adinject.engine.index import RuleIndex
from adinject.engine.request import RequestOutcome
from adinject.gpt.head import head_site, loads_gpt, meta_policies, script_sources
from adinject.language.schema import Rule
from adinject.page.context import page_context
from adinject.page.encoding import Decoded, Sniffed, read_page, sniff
from adinject.page.model import PageInfo, opted_out, page_info, parse_text
from adinject.page.offsets import OffsetMap
from adinject.placement.planner import PagePlan, plan_page
from adinject.result import PlannedInsertion, RuleTrace, Skip
from adinject.targeting.conditions import page_failure, page_opt_out

# Plans are told apart by a serial (never reused in a process), so a render cache can key on a plan
# without holding it or trusting `id()`.
_serials = itertools.count(1)


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

    units: tuple[PlannedInsertion, ...] = ()
    skipped: tuple[Skip, ...] = ()
    traces: tuple[RuleTrace, ...] = ()
    page: PageInfo | None = None
    sniffed: Sniffed | None = None
    rules_version: str = ""
    duration_ms: float = 0.0
    request_key: tuple[str, ...] = ()  # what `Rules.request_key` gave for the request this plan was made for
    reads: frozenset[str] = frozenset()  # request headers this page's output depends on (for Vary)
    head: HeadPlan | None = None  # set when a planned unit has `gpt`
    # The page's own unit context (its #adinject-context element), read when a unit reads `context`.
    context: Mapping[str, Any] | None = None
    body_end: int | None = None  # byte offset of the </body> the parser saw (when explaining)
    serial: int = field(default_factory=lambda: next(_serials), compare=False)


def plan_bytes(
    body: bytes,
    path: str,
    content_type: str | None,
    index: RuleIndex,
    outcome: RequestOutcome,
    *,
    explain: bool,
) -> Plan:
    """The plan for `body` served at `path` with this Content-Type, given the request's outcome."""
    # The plan's fields, gathered as they are known and made into a Plan once: a frozen dataclass copied
    # field by field at every step costs microseconds a page.
    found: dict[str, Any] = {
        "request_key": outcome.key,
        "reads": outcome.reads,
        "rules_version": index.compiled.version,
    }
    skipped = list(outcome.skipped)
    if not outcome.rules:
        return Plan(skipped=tuple(skipped), **found)
    decoded = read_page(body, content_type)
    found["sniffed"] = decoded.sniffed
    if decoded.text is None:
        name = decoded.sniffed.name
        reason = f"the page is {name}: units are only inserted into ASCII-compatible encodings"
        return Plan(skipped=(*skipped, Skip("encoding", reason)), **found)
    doc = parse_text(decoded.text, escaped=decoded.escaped)
    info = found["page"] = page_info(doc, path, full=index.units.reads_page)
    offset_map: OffsetMap | None = None
    if explain:
        offset_map = OffsetMap(decoded.text, decoded.sniffed, body)
        found["body_end"] = _body_end(doc, offset_map)
    page_out = _page_opt_out(index, info)
    if page_out is not None:
        # A page-wide opt-out stands alone: the rules' own reasons would only distract from it.
        return Plan(skipped=(Skip("opted_out", page_out),), **found)
    rules = _page_rules(outcome.rules, info, skipped)
    if not rules:
        return Plan(skipped=tuple(skipped), **found)
    if index.units.per_request_units:
        # From the tree parsed for placement: an origin that cannot set scope["state"] writes it in the page.
        carried = page_context(doc)
        found["context"] = carried.values
        if carried.problem is not None:
            skipped.append(Skip("context", carried.problem))
    page_plan = plan_page(doc, rules, index.settings, explain=explain, form_units=index.units.form_units)
    offset_map = offset_map or OffsetMap(decoded.text, decoded.sniffed, body)
    units = _numbered(page_plan, offset_map, outcome)
    if explain:
        _traces_in_bytes(page_plan.traces, offset_map)
    if any((unit := index.unit(u.unit)) and unit.spec.gpt for u in units):
        found["head"] = _head_plan(doc, body, decoded, offset_map, index)
    return Plan(units=units, skipped=(*skipped, *page_plan.skipped), traces=tuple(page_plan.traces), **found)


def _page_opt_out(index: RuleIndex, info: PageInfo) -> str | None:
    if opted_out(info):
        return 'the page has <meta name="adinject" content="off">'
    return page_opt_out(index.settings.opt_out, info.meta_all)


def _page_rules(rules: tuple[Rule, ...], info: PageInfo, skipped: list[Skip]) -> list[Rule]:
    """The rules whose page conditions (<meta>) hold; the others' reasons go to `skipped`."""
    kept: list[Rule] = []
    for rule in rules:
        failure = page_failure(rule.when, info.meta_all)
        if failure is None:
            kept.append(rule)
        else:
            skipped.append(Skip(failure[0], failure[1], rule.name))
    return kept


def _numbered(
    page_plan: PagePlan, offset_map: OffsetMap, outcome: RequestOutcome
) -> tuple[PlannedInsertion, ...]:
    """The planner's insertions at byte offsets, numbered per unit, with this visitor's variants."""
    offsets = offset_map.to_bytes([p.offset for p in page_plan.insertions])
    counts: dict[str, int] = {}
    units: list[PlannedInsertion] = []
    for planned, byte_offset in zip(page_plan.insertions, offsets, strict=True):
        counts[planned.unit] = counts.get(planned.unit, 0) + 1
        units.append(
            PlannedInsertion(
                byte_offset,
                planned.unit,
                planned.rule,
                planned.paragraph,
                planned.anchor,
                planned.note,
                planned.implied_close,
                planned.form_ok,
                counts[planned.unit],
                outcome.variants.get(planned.unit, ""),
            )
        )
    return tuple(units)


def _traces_in_bytes(traces: list[RuleTrace], offset_map: OffsetMap) -> None:
    """Traces speak in byte offsets of the input, like insertions; the planner works in code points."""
    for trace in traces:
        if trace.container_offset is not None:
            trace.container_offset = offset_map.to_byte(trace.container_offset)
        starts = [p.offset for p in trace.paragraphs if p.offset >= 0]
        mapped = dict(zip(starts, offset_map.to_bytes(starts), strict=True))
        trace.paragraphs = [
            dataclasses.replace(p, offset=mapped[p.offset]) if p.offset >= 0 else p for p in trace.paragraphs
        ]


def locate_body_end(body: bytes, content_type: str | None) -> int | None:
    """Where `</body>` is, for a page no plan has parsed (no rule matched it): a parse of its own."""
    decoded = read_page(body, content_type)
    if decoded.text is None:
        return None
    doc = parse_text(decoded.text, escaped=decoded.escaped)
    return _body_end(doc, OffsetMap(decoded.text, decoded.sniffed, body))


def _body_end(doc: Document, offset_map: OffsetMap) -> int | None:
    """The byte offset of `</body>` as the parser sees it (not one inside a script), if the page has one."""
    el = doc.select_one("body")
    loc = el.source_location if el is not None else None
    if loc is None or loc.end_tag is None:
        return None
    return offset_map.to_byte(loc.end_tag.start_offset)


def _head_plan(
    doc: Document, body: bytes, decoded: Decoded, offset_map: OffsetMap, index: RuleIndex
) -> HeadPlan:
    """Where the GPT scripts go, and what the page says that decides them (read only for GPT pages)."""
    loaded = loads_gpt(script_sources(doc), index.settings.gpt_library_url)
    csp = meta_policies(doc)
    site = head_site(doc)
    if isinstance(site, str):
        return HeadPlan(None, problem=site, library_loaded=loaded, csp=csp)
    offset = offset_map.to_byte(site.offset)
    sniffed = decoded.sniffed
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
