"""Rendering a plan: the unit templates for this response, checked and encoded, as edits of the input.

What may be reused is reused through an explicit `RenderCache` that the caller owns (the middleware keeps
one beside its plan cache; `Rules.apply` has its own): the rendered edits of a plan whose units read nothing
of the response (no `context`, no GPT nonce), and the markup of units that read only `slot`, since every
page has a slot 1, 2, 3 of each. Plans themselves are never written to: a plan held by a plan cache is read
by many threads at once.

Every unit renders under the template budgets (`adinject.language.budget`): one over a counted budget is
skipped as `budget`, the page's units share an output cap, and the unit that trips the page's time backstop
is switched off for this rules version (`RuleIndex.switched_off`) and skipped as `too_slow` from then on.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from adinject.edits import Edit, in_order
from adinject.engine.index import RuleIndex
from adinject.engine.planning import Plan
from adinject.gpt.csp import script_permit
from adinject.gpt.script import WiredSlot, display_script, head_markup
from adinject.gpt.slot import SlotError, wire_slot
from adinject.language import budget
from adinject.language.loader import CompiledUnit
from adinject.language.schema import Settings
from adinject.lru import ByteBoundedCache, WeightedLRU
from adinject.page.encoding import encode_fragment
from adinject.page.model import PageInfo
from adinject.result import Insertion, PlannedInsertion, Skip
from adinject.units import promotions as house
from adinject.units.fragment import FragmentError, check_fragment
from adinject.units.render import render_unit, slot_id


@dataclass(frozen=True, slots=True)
class Rendered:
    """The edits to make (at input offsets), the insertions they are, and everything skipped."""

    edits: tuple[Edit, ...] = ()
    insertions: tuple[Insertion, ...] = ()
    skipped: tuple[Skip, ...] = ()


T = TypeVar("T")

# A unit's markup for one slot, the GPT slot it wires (if any), and a note when its wiring failed; or the
# Skip that keeps the unit out.
Made = tuple[str, WiredSlot | None, Skip | None] | Skip


# What an entry costs besides its strings (the key, the tuple or record, the map's own slot), roughly.
ENTRY_OVERHEAD = 200


def weigh(value: object) -> int:
    """Roughly the bytes a rendered value holds: its markup (and skip reasons), plus a fixed overhead."""
    if isinstance(value, Rendered):
        return (
            ENTRY_OVERHEAD
            + sum(len(edit.data) for edit in value.edits)
            + sum(len(skip.reason) for skip in value.skipped)
        )
    if isinstance(value, Skip):
        return ENTRY_OVERHEAD + len(value.reason)
    if isinstance(value, tuple):
        return ENTRY_OVERHEAD + sum(weigh(part) - ENTRY_OVERHEAD for part in value if part is not None)
    if isinstance(value, str | bytes):
        return ENTRY_OVERHEAD + len(value)
    return ENTRY_OVERHEAD


class RenderCache(ByteBoundedCache[Any]):
    """A bounded, thread-safe map for rendered output (least recently used goes first).

    Bounded in entries (`maxsize`) and in bytes (`max_bytes`, each value counted by `weigh`): a unit may
    render up to 64 KB and a page's units 256 KB, so 4,096 entries could otherwise hold a gigabyte. A value
    heavier than `max_bytes` on its own is not kept.

    Safe to share between threads and between rule versions: keys carry the rules version. A lost race
    renders the same thing twice, which is harmless; the lock only guards the map.
    """

    __slots__ = ("_weigh",)

    def __init__(
        self, maxsize: int = 4096, *, max_bytes: int = 16_000_000, weigh: Callable[[Any], int] = weigh
    ) -> None:
        if maxsize < 0:
            raise ValueError(f"maxsize must not be negative, got {maxsize}")
        if max_bytes < 0:
            raise ValueError(f"max_bytes must not be negative, got {max_bytes}")
        self._weigh = weigh
        self._lru = WeightedLRU(maxsize, max_bytes)

    def get(self, key: Hashable) -> Any:
        return self._lru.get(key)

    def put(self, key: Hashable, value: Any) -> None:
        if self._lru.maxsize == 0:
            return  # nothing is kept: do not weigh
        self._lru.put(key, value, self._weigh(value))

    def get_or_make(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value kept under `key`, made (outside the lock) and kept when there is none."""
        value: T | None = self.get(key)
        if value is None:
            value = make()
            self.put(key, value)
        return value


@dataclass(frozen=True, slots=True)
class GptWiring:
    """Whether this response gets GPT wiring, with which nonce, and why not."""

    enabled: bool
    nonce: str | None = None
    skip: Skip | None = None

    @classmethod
    def decide(cls, plan: Plan, header_policies: Sequence[str], settings: Settings) -> GptWiring:
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


def render(
    plan: Plan,
    index: RuleIndex,
    context: Mapping[str, Any],
    policies: Sequence[str],
    cache: RenderCache,
    *,
    plan_reused: bool = True,
) -> Rendered:
    """The plan rendered for this response, from `cache` when nothing in it depends on the response.

    `plan_reused=False`: the plan was made for this response alone (no plan cache holds it), so its
    rendering is not kept either: nobody would ask for it again, and each such entry would push out one
    that is read. The units' own markup is kept as ever."""
    per_request = index.units.per_request_units
    if not plan_reused or plan.head is not None or any(u.unit in per_request for u in plan.units):
        return _render(plan, index, context, policies, cache)
    key = ("plan", plan.rules_version, plan.serial)
    return cache.get_or_make(key, lambda: _render(plan, index, context, policies, cache))


def _render(
    plan: Plan, index: RuleIndex, context: Mapping[str, Any], policies: Sequence[str], cache: RenderCache
) -> Rendered:
    skipped = list(plan.skipped)
    sniffed = plan.sniffed
    if not plan.units or sniffed is None or plan.page is None:
        return Rendered(skipped=tuple(skipped))
    gpt = GptWiring.decide(plan, policies, index.settings)
    if gpt.skip is not None:
        skipped.append(gpt.skip)
    edits: list[Edit] = []
    insertions: list[Insertion] = []
    wired: list[WiredSlot] = []
    page_time = _PageTime()
    page_bytes = 0
    for pu in plan.units:
        made = _markup(pu, index, plan.page, context, gpt, cache, page_time)
        if isinstance(made, Skip):
            skipped.append(made)
            continue
        markup, slot, problem = made
        if problem is not None:
            skipped.append(problem)
        checked = _checked(pu, markup)
        if isinstance(checked, Skip):
            skipped.append(checked)
            continue
        data = encode_fragment(checked, sniffed)
        if len(data) > budget.MAX_UNIT_BYTES:  # characters were capped while rendering; bytes are here
            skipped.append(pu.skip("budget", f"the unit's markup is over {budget.MAX_UNIT_BYTES:,} bytes"))
            continue
        if page_bytes + len(data) > budget.MAX_PAGE_UNIT_BYTES:
            reason = f"the page's units would be over {budget.MAX_PAGE_UNIT_BYTES:,} bytes together"
            skipped.append(pu.skip("budget", reason))
            continue
        page_bytes += len(data)
        edits.append(Edit(pu.offset, data))
        insertions.append(pu.landed(len(data), slot_id(pu.unit, pu.number)))
        if slot is not None:
            wired.append(slot)
    if wired and plan.head is not None and plan.head.offset is not None:
        data = encode_fragment(_head_scripts(plan.page, wired, plan, index.settings, gpt), sniffed)
        # Before any unit at the same offset: the scripts belong to <head>.
        edits.insert(0, Edit(plan.head.offset, data, order=-1))
        insertions.insert(
            0, Insertion(plan.head.offset, len(data), "gpt", "", None, "", "head", plan.head.where)
        )
    return Rendered(tuple(in_order(edits)), tuple(insertions), tuple(skipped))


def _head_scripts(
    page: PageInfo, wired: list[WiredSlot], plan: Plan, settings: Settings, gpt: GptWiring
) -> str:
    assert plan.head is not None
    return head_markup(
        wired,
        section=house.page_section(page.meta_all),
        keywords=house.page_tags(page.meta_all),
        library_url=None if plan.head.library_loaded else settings.gpt_library_url,
        nonce=gpt.nonce,
        prebid_timeout_ms=settings.prebid_timeout_ms,
    )


def _checked(pu: PlannedInsertion, markup: str) -> str | Skip:
    """The unit's markup when it is safe at this boundary, else why not."""
    try:
        fragment = check_fragment(markup)
    except FragmentError as exc:
        return pu.skip("bad_markup", f"the unit's markup is unsafe to insert: {exc}")
    if pu.implied_close and not fragment.closes_p:
        return pu.skip(
            "unsafe",
            "the paragraph has no </p> and the unit does not start with a block element that would close it",
        )
    if fragment.has_form and not pu.form_ok:
        return pu.skip("unsafe", "the unit has a <form> and the page has an open <form> there")
    return fragment.markup


def _markup(
    pu: PlannedInsertion,
    index: RuleIndex,
    page: PageInfo,
    context: Mapping[str, Any],
    gpt: GptWiring,
    cache: RenderCache,
    page_time: _PageTime,
) -> Made:
    compiled = index.unit(pu.unit)
    if compiled is None:
        return pu.skip("no_unit", f"unit '{pu.unit}' is not defined")
    off = index.switched_off.reason(pu.unit)
    if off is not None:
        return pu.skip("too_slow", f"the unit is switched off until the rules change: {off}")
    if page_time.used_up():
        # Units before this one used the page's time up: this one is not to blame, and is not switched off.
        return pu.skip("too_slow", "the page's units used up their time before this one: not rendered")
    if pu.unit not in index.units.static_units:
        made = unit_markup(pu, compiled, page, context, gpt, page_time.start())
    else:
        key = ("slot", index.compiled.version, pu.slot_key)
        made = cache.get_or_make(
            key, lambda: unit_markup(pu, compiled, page, context, gpt, page_time.start())
        )
    if isinstance(made, Skip) and made.code == "too_slow":
        index.switched_off.switch_off(pu.unit, made.reason)
    return made


class _PageTime:
    """The backstop: all the units of a page share PAGE_SECONDS of this thread's CPU time, counted from the
    first template that runs. Units served from the render cache cost no time, so until a template runs the
    clock is not read at all: reading a thread's CPU clock is a system call, about half a microsecond, and
    a page of cached units would otherwise pay it once per unit."""

    __slots__ = ("_deadline",)

    def __init__(self) -> None:
        self._deadline: float | None = None

    def start(self) -> float:
        """The page's deadline, set when the first template is about to run."""
        if self._deadline is None:
            self._deadline = budget.thread_clock() + budget.PAGE_SECONDS
        return self._deadline

    def used_up(self) -> bool:
        return self._deadline is not None and budget.thread_clock() > self._deadline


def unit_markup(
    pu: PlannedInsertion,
    compiled: CompiledUnit,
    page: PageInfo,
    context: Mapping[str, Any],
    gpt: GptWiring,
    deadline: float | None = None,
) -> Made:
    """The unit's markup for this slot, the GPT slot it wires (if any), and a note when its wiring failed;
    or the Skip that keeps the unit out."""
    spec = compiled.spec
    items: list[dict[str, Any]] = []
    if spec.promotions is not None:
        items = house.choose(compiled.promotions, page.meta_all, spec.promotions.count)
        if not items:
            return pu.skip(
                "no_promotion", f"no promotion in {spec.promotions.file} suits this page's section or tags"
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
            meter=budget.Meter(deadline=deadline),
        )
    except budget.OutOfTime as exc:
        return pu.skip("too_slow", str(exc))
    except budget.BudgetExceeded as exc:
        return pu.skip("budget", f"the template went over a budget: {exc}")
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
        return markup, None, pu.skip("gpt_slot", f"the slot is not wired for GPT: {exc}")
    return wired_markup, WiredSlot(sid, spec.gpt) if gpt.enabled else None, None
