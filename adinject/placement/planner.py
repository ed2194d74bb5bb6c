"""From a parsed page and the rules to a plan: which unit goes at which source offset, and why not others.

Pure: no I/O, no rendering. Rules apply in file order; an earlier rule keeps a boundary it took, and a later
unit that wanted it shifts or is skipped, with the reason recorded.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from turbohtml import Document, Element, SelectorSyntaxError, Text

from adinject.language.schema import AUTO, Placement, Rule, Settings
from adinject.placement.blocks import boundary_past_wrapper, inside, quote_around, with_div_paragraphs
from adinject.placement.container import find_article, marked_article
from adinject.placement.paragraphs import Candidate, br_runs, code_free_texts, collect
from adinject.placement.safety import (
    Boundary,
    Hazards,
    Touch,
    boundary_after,
    parent_problem,
    touches,
    touches_above,
    touches_below,
)
from adinject.placement.words import first_words
from adinject.result import ParagraphInfo, PlannedInsertion, RuleTrace, Skip
from adinject.targeting.conditions import OFF_CLASS, article_failure

# How far a unit may shift from the paragraph it asked for, in counted paragraphs. Beyond that it is no
# longer where ad ops put it; the cap also keeps the search linear on pages where nothing is safe.
MAX_SHIFT = 25


@dataclass(slots=True)
class PagePlan:
    insertions: list[PlannedInsertion] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    traces: list[RuleTrace] = field(default_factory=list)


@dataclass(slots=True)
class _PageState:
    """What every rule on the page shares: the boundaries taken (offset -> rule) and the unit count."""

    cap: int | None
    taken: dict[int, str] = field(default_factory=dict)
    units: int = 0


@dataclass(slots=True)
class _RuleState:
    rule: Rule
    counted: list[Candidate]
    words_prefix: list[int]  # words_prefix[k] = counted words in paragraphs 1..k
    boundaries: dict[int, Boundary | str]
    hazards: Hazards
    form_units: frozenset[str]
    page_slots: str  # settings.page_ad_slots: kept away from as if every keep_away_from named them
    placed: list[int] = field(default_factory=list)
    units: int = 0
    container: Element | None = None  # for the places right before a paragraph (climbing out of wrappers)
    before: dict[int, Boundary | str] = field(default_factory=dict)  # `boundaries`, right before paragraph k
    # What a unit after paragraph k would touch, per keep-away selector: shifting asks again for the same
    # boundaries, and each look may read a few hundred nodes.
    touched: dict[tuple[int, str], Touch | None] = field(default_factory=dict)


def plan_page(
    doc: Document,
    rules: Sequence[Rule],
    settings: Settings,
    *,
    explain: bool = False,
    form_units: frozenset[str] = frozenset(),
) -> PagePlan:
    """`form_units`: units whose markup may hold a <form>; only their boundaries pay for the form check,
    and any other unit that renders a form after all is refused at render time."""
    plan = PagePlan()
    hazards = Hazards(doc)
    page = _PageState(cap=settings.max_units_per_page)
    code_free = code_free_texts(doc)
    for rule in rules:
        trace = RuleTrace(rule=rule.name, matched_url=True)
        plan.traces.append(trace)
        words_cache: dict[Element, tuple[str, int]] = dict(code_free)
        container, found_by = _find_container(doc, rule, words_cache)
        if container is None:
            plan.skipped.append(
                Skip("no_container", f"no container matched (tried {', '.join(rule.containers)})", rule.name)
            )
            continue
        trace.container = found_by
        trace.container_tag = container.tag
        if explain:
            # Only explaining reads it (mapped to bytes by the engine); a source location costs a few objects.
            loc = container.source_location
            trace.container_offset = loc.start_tag.start_offset if loc is not None else None
        candidates = collect(
            container, rule, words_cache, auto=found_by == AUTO, keep_text=explain, left_out=explain
        )
        counted = [c for c in candidates if c.counted]
        if explain:
            trace.paragraphs.extend(_paragraph_infos(candidates))
        prefix = [0]
        for c in counted:
            prefix.append(prefix[-1] + c.words)
        trace.counted_words = prefix[-1]
        gate = _rule_gate(rule, len(counted), prefix[-1]) or article_failure(
            rule.when, prefix[-1], _classes_around(container, rule, settings), settings.opt_out.classes
        )
        if gate is not None:
            plan.skipped.append(Skip(gate[0], gate[1], rule.name))
            continue
        state = _RuleState(
            rule, counted, prefix, {}, hazards, form_units, settings.page_ad_slots or "", container=container
        )
        for placement in rule.place:
            for skip_or_slot in _place(state, placement, container, page):
                if isinstance(skip_or_slot, Skip):
                    plan.skipped.append(skip_or_slot)
                else:
                    plan.insertions.append(skip_or_slot)
    plan.insertions.sort(key=lambda s: s.offset)
    return plan


def _paragraph_infos(candidates: Sequence[Candidate]) -> list[ParagraphInfo]:
    """What explain lists for each paragraph: its number if counted, else why it was left out."""
    infos: list[ParagraphInfo] = []
    number = 0
    for c in candidates:
        if c.counted:
            number += 1
        infos.append(
            ParagraphInfo(number if c.counted else None, c.words, first_words(c.text), c.start(), c.left_out)
        )
    return infos


def _find_container(
    doc: Document, rule: Rule, words_cache: dict[Element, tuple[str, int]]
) -> tuple[Element | None, str]:
    for selector in rule.containers:
        if selector == AUTO:
            matches = doc.select(rule.paragraphs)
            marked = marked_article(doc, rule.paragraphs, matches)
            if marked is not None:
                return marked, AUTO
            voters = [(el, el.text) for el in matches]
            if rule.br_paragraphs and rule.paragraphs.strip() == "p":
                voters.extend(br_runs(doc))  # the document's own select goes through its tag index
            ignore = ", ".join(rule.ignore_inside)
            found = find_article(voters, ignore, words_cache)
            if rule.paragraphs.strip() == "p":
                found = with_div_paragraphs(doc, found, voters, ignore, words_cache)
            if found is not None:
                return found, AUTO
            continue
        el = doc.select_one(selector)
        if el is not None:
            return el, selector
    return None, ""


def _classes_around(el: Element, rule: Rule, settings: Settings) -> set[str]:
    """The classes of `el` and of every element around it: an opt-out class may sit on <article> or <body>.

    Only the classes the conditions ask about matter, and usually none is there: one `closest` call on a
    selector for all of them says so, where reading every ancestor's classes costs a walk to the root.
    """
    asked = (OFF_CLASS, *settings.opt_out.classes, *(rule.when.exclude_classes if rule.when else ()))
    try:
        if el.closest(_any_class_selector(asked)) is None:
            return set()
    except SelectorSyntaxError:
        pass  # a class name the selector could not carry: read them all
    out: set[str] = set()
    walker: object = el
    while isinstance(walker, Element):
        value = walker.attrs.get("class")
        if isinstance(value, list):
            out.update(value)
        elif isinstance(value, str):
            out.update(value.split())
        walker = walker.parent
    return out


@lru_cache(maxsize=256)
def _any_class_selector(names: tuple[str, ...]) -> str:
    # Each name as the body of a double-quoted CSS string: backslash and quote escaped.
    quoted = (name.replace("\\", "\\\\").replace('"', '\\"') for name in sorted(set(names)))
    return ", ".join(f'[class~="{name}"]' for name in quoted)


def _rule_gate(rule: Rule, paragraphs: int, words: int) -> tuple[str, str] | None:
    if paragraphs < rule.min_paragraphs:
        return (
            "min_paragraphs",
            f"{paragraphs} counted paragraphs, fewer than min_paragraphs ({rule.min_paragraphs})",
        )
    if rule.max_paragraphs is not None and paragraphs > rule.max_paragraphs:
        return (
            "max_paragraphs",
            f"{paragraphs} counted paragraphs, more than max_paragraphs ({rule.max_paragraphs})",
        )
    if words < rule.min_words:
        return "min_words", f"{words} counted words, fewer than min_words ({rule.min_words})"
    if rule.max_words is not None and words > rule.max_words:
        return "max_words", f"{words} counted words, more than max_words ({rule.max_words})"
    if paragraphs == 0:
        return "no_paragraphs", "no paragraph counted in the container"
    return None


def targets_for(placement: Placement, n: int) -> list[int]:
    """The counted-paragraph numbers a placement asks for, before any shifting, ascending, deduplicated."""
    raw = placement.paragraphs
    values = raw if isinstance(raw, list) else [raw] if raw is not None else []
    resolved: list[int] = []
    for v in values:
        if isinstance(v, float) and not v.is_integer():
            resolved.append(max(1, min(n, math.floor(v * n + 0.5))))
        else:
            k = int(v)
            resolved.append(n + 1 + k if k < 0 else k)
    if placement.repeat_every and resolved:
        start = resolved[0]
        k = start + placement.repeat_every
        while k <= n:
            resolved.append(k)
            k += placement.repeat_every
    out = sorted({k for k in resolved if k >= 1})
    return out


def _place(
    state: _RuleState, placement: Placement, container: Element, page: _PageState
) -> list[Skip | PlannedInsertion]:
    rule = state.rule
    n = len(state.counted)
    out: list[Skip | PlannedInsertion] = []
    if placement.anchor is not None:
        return _place_anchor(state, placement, container, page)
    limit = placement.max
    placed_here = 0
    requested = targets_for(placement, n)
    if not requested:
        out.append(
            Skip("out_of_range", "no counted paragraph at the requested position", rule.name, placement.unit)
        )
    exhausted: tuple[int, str] | None = None  # the target whose search down found nothing, and its code
    at_max = f"max ({limit}) units of this placement already placed"
    keep_away = ", ".join(placement.keep_away_from)  # joined once: every position tried asks
    for target in requested:
        counted_as = _counted_as(placement, target)
        if limit is not None and placed_here >= limit:
            out.append(Skip("max", at_max, rule.name, placement.unit, counted_as))
            continue
        if target > n:
            reason = f"the article has only {n} counted paragraphs"
            out.append(Skip("out_of_range", reason, rule.name, placement.unit, counted_as))
            continue
        if exhausted is not None:
            # Shifting down from an earlier target found no boundary up to the end of the article; a later
            # target cannot do better (boundaries only get used, never freed), so say so without searching:
            # this keeps thousands of targets on a page with no safe boundary linear.
            reason = _exhausted(placement, exhausted[0], target)
            out.append(Skip(exhausted[1], reason, rule.name, placement.unit, counted_as))
            continue
        found = _search(state, placement, target, page.taken, keep_away)
        if isinstance(found, Skip):
            out.append(found)
            if placement.shift == "down" and found.code != "shift_limit":
                exhausted = (target, found.code)
            continue
        k, boundary, note = found
        slot = PlannedInsertion(
            boundary.offset,
            placement.unit,
            rule.name,
            _counted_as(placement, k),
            "paragraph",
            note,
            boundary.implied_close,
            placement.unit in state.form_units and _form_ok(boundary, state.hazards),
        )
        committed = _commit(state, page, slot)
        placed_here += committed is slot
        out.append(committed)
    return out


def _exhausted(placement: Placement, earlier: int, target: int) -> str:
    """Why `target` is skipped without a search of its own, in terms true of `target`: the search down from
    the earlier target found nothing up to the end, and `target` lies on that stretch (the earlier skip
    gives that search's reason, about its own paragraph)."""
    return (
        f"no allowed position {_where(placement, target)} or further down (the search down from "
        f"{_where(placement, earlier)} found none to the end of the article)"
    )


def _where(placement: Placement, k: int) -> str:
    """The position `k` of a placement, in words: after paragraph k, or right before it."""
    return f"right before paragraph {k}" if placement.before else f"after paragraph {k}"


def _shift_note(placement: Placement, target: int, k: int, first: tuple[str, str] | None) -> str:
    """What `explain` adds to a unit that landed at position `k`: where it was wanted when it moved, and
    for a unit before a paragraph, which paragraph it is before (its number says which it follows)."""
    shifted = f"shifted from {_where(placement, target)}: {first[1]}" if k != target and first else ""
    if not placement.before:
        return shifted
    return f"right before paragraph {k}" + (f", {shifted}" if shifted else "")


def _counted_as(placement: Placement, k: int) -> int | None:
    """The counted paragraph a unit at position `k` follows (None: before the first), as reports say."""
    if not placement.before:
        return k
    return k - 1 if k > 1 else None


def _commit(state: _RuleState, page: _PageState, slot: PlannedInsertion) -> Skip | PlannedInsertion:
    """Take the slot for the page, or say which cap (page-wide, then the rule's) keeps it out."""
    rule = state.rule
    if page.cap is not None and page.units >= page.cap:
        reason = f"the page already has max_units_per_page ({page.cap}) units"
        return Skip("page_max", reason, rule.name, slot.unit, slot.paragraph)
    if rule.max_units is not None and state.units >= rule.max_units:
        reason = f"the rule already placed max_units ({rule.max_units})"
        return Skip("rule_max", reason, rule.name, slot.unit, slot.paragraph)
    page.taken[slot.offset] = rule.name
    page.units += 1
    state.units += 1
    if slot.paragraph is not None:
        state.placed.append(slot.paragraph)
    return slot


def _form_ok(boundary: Boundary, hazards: Hazards) -> bool:
    return boundary_after(boundary.after, hazards, unit_has_form=True) == boundary


def _search(
    state: _RuleState, placement: Placement, target: int, taken: dict[int, str], keep_away: str
) -> tuple[int, Boundary, str] | Skip:
    """`keep_away`: the placement's keep_away_from as one selector list."""
    rule = state.rule
    n = len(state.counted)
    step = -1 if placement.shift == "up" else 1
    before = placement.before  # read once: the loop runs for every position tried
    first_reason: tuple[str, str] | None = None
    k = target
    while 1 <= k <= n:
        if abs(k - target) > MAX_SHIFT:
            code, reason = first_reason or ("out_of_range", "")
            return Skip(
                "shift_limit" if placement.shift == "down" else code,
                f"{reason}; no boundary within {MAX_SHIFT} paragraphs",
                rule.name,
                placement.unit,
                _counted_as(placement, target),
            )
        problem = _position_problem(state, placement, k - 1 if before else k)
        if problem is None:
            got = _boundary_before(state, k) if before else _boundary(state, k)
            if isinstance(got, str):
                problem = ("unsafe", f"cannot insert safely {_where(placement, k)}: {got}")
            else:
                near = _touch(state, got, keep_away)
                if near is not None:
                    said = f"the place {_where(placement, k)}" if before else f"paragraph {k}"
                    problem = ("keep_away", f"{said} is {_touch_words(near)}")
                elif got.offset in taken:
                    by = taken[got.offset]
                    problem = ("taken", f"the boundary {_where(placement, k)} is taken by rule '{by}'")
                else:
                    return k, got, _shift_note(placement, target, k, first_reason)
        if first_reason is None:
            first_reason = problem
        if placement.shift == "skip":
            break
        after = k - 1 if before else k
        if problem[0] == "after_words" or (
            problem[0] == "range" and not (step > 0 and after <= rule.skip_first)
        ):
            break  # further in this direction only gets worse
        k += step
    code, reason = first_reason or ("out_of_range", "no boundary left to shift to")
    if step > 0 and k > n and k - 1 > target:
        reason += f"; nor {'before' if before else 'after'} any later paragraph"
    return Skip(code, reason, rule.name, placement.unit, _counted_as(placement, target))


def _position_problem(state: _RuleState, placement: Placement, k: int) -> tuple[str, str] | None:
    rule = state.rule
    n = len(state.counted)
    if k == 0:  # right before the first paragraph: in the article's first stretch only with skip_first
        if rule.skip_first:
            return "range", f"before paragraph 1 is within skip_first ({rule.skip_first})"
    elif k <= rule.skip_first:
        return "range", f"paragraph {k} is within skip_first ({rule.skip_first})"
    if k > n - rule.skip_last:
        return "range", f"paragraph {k} is within skip_last ({rule.skip_last})"
    if placement.not_after_last and k == n:
        return "range", f"paragraph {k} is the last one (not_after_last)"
    if (
        placement.min_words_after
        and state.words_prefix[n] - state.words_prefix[k] < placement.min_words_after
    ):
        return (
            "after_words",
            f"fewer than min_words_after ({placement.min_words_after}) words follow paragraph {k}",
        )
    for j in state.placed:
        lo, hi = min(j, k), max(j, k)
        if j == k:
            return "spacing", f"a unit of this rule is already after paragraph {k}"
        between = state.words_prefix[hi] - state.words_prefix[lo]
        if placement.min_words_between and between < placement.min_words_between:
            return "spacing", (
                f"only {between} words since the unit after paragraph {j} (min_words_between "
                f"{placement.min_words_between})"
            )
        if placement.min_paragraphs_between and hi - lo < placement.min_paragraphs_between:
            return "spacing", f"only {hi - lo} paragraphs since the unit after paragraph {j}"
    return None


def _boundary(state: _RuleState, k: int) -> Boundary | str:
    got = state.boundaries.get(k)
    if got is None:
        el = state.counted[k - 1].el
        later = state.counted[k].el if k < len(state.counted) else None
        quote = quote_around(el, state.container)
        if quote is not None:
            got = (
                _QUOTE_GOES_ON
                if later is not None and inside(later, quote)
                else boundary_after(quote, state.hazards)
            )
        else:
            got = boundary_after(el, state.hazards)
            if isinstance(got, str):  # in a list or an inline wrapper: the unit may go after the wrapper
                got = boundary_past_wrapper(el, later, state.hazards) or got
        state.boundaries[k] = got
    return got


_QUOTE_GOES_ON = (
    "it sits inside a quote (<blockquote>), and paragraphs after it do too: "
    "the first place is after the quote"
)
_QUOTE_BEGUN = (
    "it sits inside a quote (<blockquote>) after another of its paragraphs: "
    "the last place is before the quote"
)


def _boundary_before(state: _RuleState, k: int) -> Boundary | str:
    got = state.before.get(k)
    if got is None:
        assert state.container is not None  # set for every rule that places
        el = state.counted[k - 1].el
        quote = quote_around(el, state.container)
        if quote is None:
            got = _place_before(el, state.container, state.hazards)
        elif k > 1 and inside(state.counted[k - 2].el, quote):
            got = _QUOTE_BEGUN
        else:
            got = _place_before(quote, state.container, state.hazards)
        state.before[k] = got
    return got


def _place_before(el: Element, container: Element, hazards: Hazards) -> Boundary | str:
    """The safe place right before `el`: right after the element before it, or, where `el` opens its
    wrapper (a paragraph first in a <div>), before the wrapper, up to the container."""
    current = el
    while current is not container:
        sib = current.previous_sibling
        while sib is not None and not isinstance(sib, Element):
            if isinstance(sib, Text) and sib.text.strip():
                return "text runs right up to it, so there is no place between them"
            sib = sib.previous_sibling
        if sib is not None:
            return boundary_after(sib, hazards)
        parent = current.parent
        if not isinstance(parent, Element):
            break
        current = parent
    return "nothing comes before it inside the container, so there is no end tag to place the unit after"


def _touch(state: _RuleState, got: Boundary, keep_away: str) -> Touch | None:
    key = (got.offset, keep_away)  # a place right before paragraph k can differ from the one after k - 1
    if key not in state.touched:
        state.touched[key] = touches(got, keep_away, state.page_slots)
    return state.touched[key]


def _touch_words(near: Touch) -> str:
    side = "followed by" if near.below else "right after"
    why = "the page's own ad slot (settings.page_ad_slots)" if near.page_slot else "keep_away_from"
    return f"{side} <{near.tag}> ({why})"


def _place_anchor(
    state: _RuleState, placement: Placement, container: Element, page: _PageState
) -> list[Skip | PlannedInsertion]:
    anchor = placement.anchor
    assert anchor is not None
    rule = state.rule
    out: list[Skip | PlannedInsertion] = []
    matches = container.select(anchor.selector)
    wanted = anchor.nth if isinstance(anchor.nth, list) else [anchor.nth]
    starts = [c.start() for c in state.counted]
    placed_here = 0
    for nth in wanted:
        if placement.max is not None and placed_here >= placement.max:
            reason = f"max ({placement.max}) units of this placement already placed"
            out.append(Skip("max", reason, rule.name, placement.unit))
            continue
        index = nth - 1 if nth > 0 else len(matches) + nth
        if not 0 <= index < len(matches):
            reason = f"there is no match {nth} of '{anchor.selector}' in the container"
            out.append(Skip("out_of_range", reason, rule.name, placement.unit))
            continue
        found = _anchor_insertion(state, placement, container, page, matches[index], nth, starts)
        if isinstance(found, Skip):
            out.append(found)
            continue
        committed = _commit(state, page, found)
        placed_here += committed is found
        out.append(committed)
    return out


def _anchor_insertion(
    state: _RuleState,
    placement: Placement,
    container: Element,
    page: _PageState,
    match: Element,
    nth: int,
    starts: list[int],
) -> PlannedInsertion | Skip:
    """The insertion after (or before) the `nth` match of the anchor, or why there is none."""
    anchor = placement.anchor
    assert anchor is not None
    rule = state.rule
    side = "before" if placement.before else "after"
    el = _climb(match, container)
    got: Boundary | str
    if el is None:
        got = "no safe place next to it inside the container"
    else:
        got = (
            _place_before(el, container, state.hazards)
            if placement.before
            else boundary_after(el, state.hazards)
        )
    if isinstance(got, str):
        reason = f"cannot insert safely {side} '{anchor.selector}' #{nth}: {got}"
        return Skip("unsafe", reason, rule.name, placement.unit)
    paragraph = bisect_right(starts, got.offset)
    problem = _position_problem(state, placement, paragraph) if paragraph >= 1 else None
    if problem is None:
        # The other side of the unit from the anchor: what follows it (after), what precedes it (before).
        keep_away = ", ".join(placement.keep_away_from)
        near = (
            touches_above(got.after, keep_away, state.page_slots)
            if placement.before
            else touches_below(got.after, keep_away, state.page_slots)
        )
        if near is not None:
            said = "before" if placement.before else "after"
            problem = ("keep_away", f"the place {said} the anchor is {_touch_words(near)}")
        elif got.offset in page.taken:
            problem = ("taken", f"the boundary is taken by rule '{page.taken[got.offset]}'")
    if problem is not None:
        return Skip(problem[0], problem[1], rule.name, placement.unit, paragraph or None)
    return PlannedInsertion(
        got.offset,
        placement.unit,
        rule.name,
        paragraph or None,
        anchor.selector,
        f"{side} '{anchor.selector}' #{nth}",
        got.implied_close,
        placement.unit in state.form_units and _form_ok(got, state.hazards),
    )


def _climb(el: Element, container: Element) -> Element | None:
    # An image usually sits inside a <p>, <a> or <figure>: the unit goes after the outermost of those
    # that is still inside the container.
    current = el
    while True:
        parent = current.parent
        if not isinstance(parent, Element):
            return None
        if parent is container:
            return current
        if parent_problem(parent) is None:
            return current
        current = parent


__all__ = ["PagePlan", "parent_problem", "plan_page", "targets_for"]
