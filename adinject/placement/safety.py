"""Where a unit can be spliced into the source so that a browser builds exactly the intended DOM.

The engine never re-serializes: it finds a source offset X next to an element A and inserts the unit's bytes
there. That is safe when the HTML parser, arriving at X, is in the "in body" insertion mode with the tokenizer
in the data state, the current node is A's parent, and the list of active formatting elements holds nothing
that would be reconstructed inside the unit. The unit itself is a balanced fragment (units/fragment.py), so
it leaves the parser in the state it found it, and the rest of the page parses as before.

Each condition is checked from the parsed tree and the source spans turbohtml reports; anything the engine
cannot prove is refused with a reason rather than guessed.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from turbohtml import Document, DocumentFragment, Element, Namespace, Text

from adinject.page.html_sets import (
    BOXES,
    CELLS,
    FORMATTING,
    MARKERS,
    P_CLOSERS,
    P_CLOSING_PARENTS,
    UNRENDERED,
    UNSAFE_ANCESTORS,
    UNSAFE_PARENTS,
    VOID,
)

Position = tuple[int, int]  # (1-based line, 0-based column) in the normalised source, turbohtml's convention


# Not frozen: the planner makes one for every place it tries, and a frozen dataclass is several times slower
# to build. Nothing changes one once made.
@dataclass(slots=True)
class Boundary:
    """A safe place to insert: the normalised offset, its (line, col), and the element it follows."""

    offset: int
    position: Position
    after: Element
    parent: Element
    implied_close: bool  # the element before is a <p> the unit's first start tag must close


_FORMATTING_TAGS = tuple(sorted(FORMATTING))
_HAZARD_TAGS = (*_FORMATTING_TAGS, "form", "template")
# Start tags that make the parser re-open (reconstruct) active formatting elements, as text does.
_RECONSTRUCTING_VOIDS = frozenset({"img", "br", "wbr", "input", "embed", "area", "keygen"})
_MARKER_SELECTOR = ",".join(sorted(MARKERS))
_CLEARED_BY_OWN_END_TAG = frozenset({"applet", "marquee", "object"})
# Elements whose content the parser reads without re-opening formatting elements (or moves elsewhere).
_UNQUIET = ",".join(
    sorted(
        MARKERS
        | {"table", "select", "svg", "math", "script", "style", "textarea", "title", "noscript", "noembed"}
        | {"noframes", "iframe", "xmp", "plaintext"}
    )
)
# `after` is one of them or holds one: a single selector call asks both.
_UNQUIET_HERE = f"{_UNQUIET}, :has({_UNQUIET})"


class Hazards:
    """Page-wide facts that make offsets unsafe: unclosed formatting elements, forms, templates, and
    markup that parsers of different generations build differently.

    Asking an element for its source location costs a few objects, and pages carry hundreds of links, so
    the elements are sorted by their (cheap) position once and examined only as far as a query needs:
    links in the footer never cost anything when the units all go above them.
    """

    __slots__ = (
        "_a_orphans",
        "_divergence",
        "_doc",
        "_first_form",
        "_first_unscoped",
        "_items",
        "_links",
        "_next",
        "_parents",
        "_scoped",
        "_templates",
        "frameset",
    )

    def __init__(self, doc: Document) -> None:
        self._doc = doc
        self._templates = doc.select_one("template") is not None
        self.frameset = doc.select_one("frameset") is not None
        self._items: list[tuple[Position, Element]] | None = None
        self._next = 0
        self._first_unscoped: Position | None = None
        self._first_form: Position | None = None
        self._a_orphans: list[Position] = []
        self._links: list[Position] | None = None
        self._scoped: dict[Element, Position] = {}
        self._parents: dict[Element, str | None] = {}
        # Found on the first query: () when parsers of every generation build the same tree.
        self._divergence: tuple[Position, str] | tuple[()] | None = None

    def parent_problem(self, parent: Element) -> str | None:
        """`parent_problem`, remembered: paragraphs share their parents, and the walk goes up to the root."""
        try:
            return self._parents[parent]
        except KeyError:
            problem = self._parents[parent] = parent_problem(parent)
            return problem

    def _sorted_items(self) -> list[tuple[Position, Element]]:
        if self._items is None:
            items = [(_position(el), el) for el in self._doc.iter_elements(_HAZARD_TAGS)]
            items.sort(key=lambda item: item[0])
            self._items = items
        return self._items

    def _advance(self, position: Position) -> None:
        items = self._sorted_items()
        while self._next < len(items) and items[self._next][0] < position:
            where, el = items[self._next]
            self._next += 1
            loc = el.source_location
            if loc is not None and loc.end_tag is not None:
                continue
            tag = el.tag
            if tag == "form":
                if self._first_form is None:
                    self._first_form = where
                continue
            if el.namespace is not Namespace.HTML:
                continue
            # A template left open swallows what follows; a formatting element left open in the list of
            # active formatting elements is re-opened by the parser inside the next text, i.e. the unit.
            scope = None if tag == "template" else el.closest(_MARKER_SELECTOR)
            if scope is not None and scope.tag in _CLEARED_BY_OWN_END_TAG:
                # Only </object> (</applet>, </marquee>) clears the list back to its marker; closed by
                # anything else (a </table> around it, say), what it left open stays listed after it.
                scope_loc = scope.source_location
                if scope_loc is None or scope_loc.end_tag is None:
                    scope = None
            if scope is not None:
                self._scoped.setdefault(scope, where)
            elif tag == "a":
                self._a_orphans.append(where)
            elif self._first_unscoped is None:
                self._first_unscoped = where

    def problem_before(
        self, position: Position, parent: Element, unit_has_form: bool, after: Element | None = None
    ) -> str | None:
        if self._divergence is None:
            self._divergence = _first_divergence(self._doc)
        if self._divergence and self._divergence[0] < position:
            where, what = self._divergence
            return f"{what} earlier in the page (line {where[0]}) is parsed differently by older browsers"
        if after is not None and not unit_has_form and not self._templates and self._quiet_before(after):
            return None
        return self._exact(position, parent, unit_has_form)

    def _quiet_before(self, after: Element) -> bool:
        """True when no formatting element can be open in the parser's list right after `after`, cheaply.

        A formatting element left in the list before `after` (closed implicitly, still listed) is re-opened
        by the parser at the first text or start tag inside `after`: a clone inside it, which carries its
        original's earlier source position. One left open inside `after` shows as a formatting descendant
        without an end tag. (A void `after` that re-opens one becomes its child, which the parent checks
        refuse.) That holds only where the text of `after` is read in body mode: text in a table cell
        (behind a marker), in raw text or RCDATA, in a select or in foreign content re-opens nothing, and
        a table's misplaced content is moved before it, out of its subtree; such an `after` takes the exact
        path, like anything less clear.
        """
        # Any text at all: the lazy walk over its strings answers at the first (`text` copies all of it).
        if after.tag not in _RECONSTRUCTING_VOIDS and not any(after.strings):
            return False  # nothing in it would have re-opened an earlier one
        if after.matches(_UNQUIET_HERE):
            return False
        start = after.position
        for el in after.iter_elements(_FORMATTING_TAGS):
            where = el.position
            if start is None or where is None or where < start:
                return False  # a clone of something opened before `after`
            loc = el.source_location
            if loc is None or loc.end_tag is None:
                return False
        return True

    def _exact(self, position: Position, parent: Element, unit_has_form: bool) -> str | None:
        self._advance(position)
        if self._first_unscoped is not None and self._first_unscoped < position:
            return _reopen_reason(self._first_unscoped)
        for where in self._a_orphans:
            if where < position and not self._link_between(where, position):
                return _reopen_reason(where)
        for scope, where in self._scoped.items():
            # Formatting elements opened inside a table cell are forgotten when the cell closes.
            if where < position and _is_ancestor_or_self(scope, parent):
                return _reopen_reason(where)
        if unit_has_form:
            if self._first_form is not None and self._first_form < position:
                return "the unit has a <form> and an unclosed <form> earlier in the page would swallow it"
            if parent.closest("form") is not None:
                return "the unit has a <form> and sits inside another <form>"
        return None

    def _link_between(self, after: Position, before: Position) -> bool:
        # An <a> start tag makes the parser drop an earlier <a> still in the list of active formatting
        # elements (the in-body rule for "a"), so an orphaned link is harmless after the next link that is
        # not inside a table cell.
        if self._links is None:
            self._links = sorted(
                (loc.start_tag.start_line, loc.start_tag.start_col)
                for _, el in self._sorted_items()
                if el.tag == "a"
                and el.namespace is Namespace.HTML  # an <a> in SVG is a foreign element: no such rule
                and (loc := el.source_location) is not None
                and el.closest(_MARKER_SELECTOR) is None
            )
        index = bisect_right(self._links, after)
        return index < len(self._links) and self._links[index] < before


# What a <select> holds alike in every parser generation. The 2025 parser (customizable select) keeps
# any other element inside the select, where older parsers, still in most browsers, drop it or close the
# select at it: what follows then lands elsewhere, and a unit after it with it.
_OLD_SELECT_CONTENT = ":not(option):not(optgroup):not(hr):not(script):not(template)"


def _first_divergence(doc: Document) -> tuple[Position, str] | tuple[()]:
    """Where the first construct that parsers of different generations build differently starts, or ().

    Two, from the 2025 parser changes: a <select> holding more than options, and a <dialog> or <search>
    that closed an open <p> (older parsers keep the <p> open around it and what follows).
    """
    found: list[tuple[Position, str]] = []
    for select in doc.select("select"):
        if select.namespace is Namespace.HTML and select.select_one(_OLD_SELECT_CONTENT) is not None:
            found.append((_position(select), "a <select> holding more than options"))
    for tag in ("dialog", "search"):
        for el in doc.select(tag):
            before = el.previous_sibling
            while before is not None and not isinstance(before, Element):
                before = before.previous_sibling
            if isinstance(before, Element) and before.tag == "p" and el.namespace is Namespace.HTML:
                loc = before.source_location
                if loc is not None and loc.end_tag is None:
                    found.append((_position(el), f"a <{tag}> that closed an open <p>"))
    return min(found) if found else ()


def _position(el: Element) -> Position:
    pos = el.position
    return (pos[0], pos[1]) if pos is not None else (0, 0)


def _reopen_reason(where: Position) -> str:
    return (
        f"an element left open earlier in the page (line {where[0]}) would be re-opened by the browser "
        "inside the unit"
    )


def parent_problem(parent: Element | None) -> str | None:
    """Why a unit cannot become a child of `parent` (None if it can)."""
    if parent is None or not isinstance(parent, Element):
        return "the element is not inside <body>"
    if parent.namespace is not Namespace.HTML:
        return f"it sits inside <{parent.tag}> (SVG or MathML)"
    if parent.tag in UNSAFE_PARENTS:
        return f"a unit cannot go inside <{parent.tag}>"
    walker: Element | Document | DocumentFragment | None = parent
    shielded = False
    while isinstance(walker, Element):
        tag = walker.tag
        if walker.namespace is not Namespace.HTML:
            return f"it sits inside <{tag}> (SVG or MathML)"
        if not shielded:
            if tag in UNSAFE_ANCESTORS:
                return f"it sits inside <{tag}>"
            if tag in CELLS:
                shielded = True
        if tag in ("template", "noscript", "select"):
            return f"it sits inside <{tag}>"
        walker = walker.parent
    if not isinstance(walker, Document):
        return "it sits inside a template or detached fragment"
    return None


def boundary_after(el: Element, hazards: Hazards, *, unit_has_form: bool = False) -> Boundary | str:
    """The safe insertion point right after `el`, or the reason there is none."""
    if el.namespace is not Namespace.HTML:
        return f"<{el.tag}> is SVG or MathML"
    if el.tag == "template":
        return "a unit is never placed next to a <template>"
    if hazards.frameset:
        return "the page has a <frameset>"
    parent = el.parent
    if not isinstance(parent, Element):
        return "the element is not inside <body>"
    problem = hazards.parent_problem(parent)
    if problem is not None:
        return problem
    loc = el.source_location
    if loc is None:
        return f"<{el.tag}> was created by the parser, not written in the source"
    implied = False
    if el.tag in VOID:
        span = loc.start_tag
        offset, position = span.end_offset, (span.end_line, span.end_col)
    elif loc.end_tag is not None:
        span = loc.end_tag
        offset, position = span.end_offset, (span.end_line, span.end_col)
    elif el.tag == "p":
        found = _implied_p_end(el, parent)
        if isinstance(found, str):
            return found
        offset, position = found
        implied = True
    else:
        return f"<{el.tag}> has no end tag, so where it ends is the parser's guess"
    hazard = hazards.problem_before(position, parent, unit_has_form, el)
    if hazard is not None:
        return hazard
    return Boundary(offset, position, el, parent, implied)


def _implied_p_end(p: Element, parent: Element) -> tuple[int, Position] | str:
    # A <p> without </p> ends where the parser closed it. When the next sibling's start tag is one that
    # closes a <p>, a unit that also starts with such a tag, inserted just before it, closes the <p> the
    # same way and lands as the next sibling.
    nxt = p.next_sibling
    if nxt is None:
        ploc = parent.source_location
        if parent.tag not in P_CLOSING_PARENTS or ploc is None or ploc.end_tag is None:
            return "the paragraph has no </p> and nothing after it shows where it ends"
        if _open_inside(p):
            # Just before the parent's end tag, what the paragraph left open is open still (a <button>,
            # a <span>): the unit would go inside it.
            return "the paragraph has no </p> and an element inside it is still open where it ends"
        span = ploc.end_tag
        return span.start_offset, (span.start_line, span.start_col)
    if not isinstance(nxt, Element) or nxt.tag not in P_CLOSERS or nxt.namespace is not Namespace.HTML:
        return "the paragraph has no </p> and the next element does not close it"
    nloc = nxt.source_location
    if nloc is None:
        return "the paragraph has no </p> and the next element was created by the parser"
    span = nloc.start_tag
    return span.start_offset, (span.start_line, span.start_col)


def _open_inside(el: Element) -> bool:
    """Whether an element inside `el` has no end tag (void elements need none)."""
    for inner in el.iter_elements():
        if inner.tag in VOID and inner.namespace is Namespace.HTML:
            continue
        loc = inner.source_location
        if loc is None or loc.end_tag is None:
            return True
    return False


def _is_ancestor_or_self(candidate: Element, node: Element) -> bool:
    walker: Element | Document | DocumentFragment | None = node
    while isinstance(walker, Element):
        if walker == candidate:
            return True
        walker = walker.parent
    return False


# What a reader sees right above and right below a unit: the last rendered thing of the block before it and
# the first of the block after it, however deeply nested. UNRENDERED elements are looked through; the walk
# stops at BOXES without looking inside. An <hr> is neither: a thematic break is a thin line between what
# is above and below it, and the heading after it is still what a unit before it sits next to (unless
# keep_away_from names hr itself).
_INVISIBLE = (
    '[hidden], [style*="display:none"], [style*="display: none"], [style*="visibility:hidden"], '
    '[style*="visibility: hidden"], input[type=hidden]'
)
# Nodes one look may visit before it gives up (as "touches nothing"): a counted paragraph is rendered
# text, so the looks from successive paragraphs cover disjoint stretches of the page; the cap bounds a
# single stretch of thousands of empty or hidden wrappers.
_LOOK_BUDGET = 400


@dataclass(slots=True)  # not frozen, as Boundary
class Touch:
    """An element matching a keep-away selector that a unit at a boundary would sit right next to."""

    tag: str
    below: bool  # after the unit (else before it)
    page_slot: bool  # matched the page's own ad slots, not the rule's keep_away_from


def touches(boundary: Boundary, keep_away: str, page_slots: str = "") -> Touch | None:
    """The element a unit at `boundary` would touch, above or below, matching either selector, if any."""
    if not keep_away and not page_slots:
        return None
    above = touches_above(boundary.after, keep_away, page_slots)
    return above if above is not None else touches_below(boundary.after, keep_away, page_slots)


def touches_above(after: Element, keep_away: str, page_slots: str = "") -> Touch | None:
    """The matching element right above a unit inserted after `after` (the last rendered thing inside it)."""
    if not keep_away and not page_slots:
        return None
    either = _either(keep_away, page_slots)
    # Looking back stays inside the block above: when nothing in it matches (most paragraphs hold no image
    # or heading), two selector calls in C say so without the walk.
    if after.matches(either) or after.select_one(either) is not None:
        found = _look(after, keep_away, page_slots, forward=False, stop=after)
        if found is not None:
            return Touch(found[0], False, found[1])
    return None


def touches_below(after: Element, keep_away: str, page_slots: str = "") -> Touch | None:
    """The matching element right below a unit inserted after `after` (climbing out of its parents when
    nothing rendered follows inside them), if any."""
    if not keep_away and not page_slots:
        return None
    start = after.next_sibling
    walker: object = after
    while start is None:  # the unit is the last thing in its parent: what follows the parent is below it
        walker = getattr(walker, "parent", None)
        if not isinstance(walker, Element) or walker.tag in ("body", "html"):
            return None
        start = walker.next_sibling
    found = _look(start, keep_away, page_slots, forward=True, stop=None)
    return Touch(found[0], True, found[1]) if found is not None else None


@lru_cache(maxsize=256)
def _either(keep_away: str, page_slots: str) -> str:
    return f"{keep_away}, {page_slots}" if keep_away and page_slots else keep_away or page_slots


@lru_cache(maxsize=256)
def _screen(keep_away: str) -> str:
    # Most elements on the way are neither hidden nor kept away from: one selector call says so for both.
    return f"{keep_away}, {_INVISIBLE}" if keep_away else _INVISIBLE


def _edge_child(el: Element, *, forward: bool) -> object:
    # The first or last child node, without `children`, which builds a node object for every text run and
    # inline element first (paragraphs hold hundreds): the first is the first node the lazy walk over the
    # descendants yields, the last is found through the selector engine.
    if forward:
        return next(iter(el.descendants), None)
    found = el.select_one(":scope > :last-child")
    if found is None:
        kids = el.children  # text and comments only
        return kids[-1] if kids else None
    end: object = found
    step = found.next_sibling
    while step is not None:
        end, step = step, step.next_sibling
    return end


def _look(
    start: object, keep_away: str, page_slots: str, *, forward: bool, stop: Element | None
) -> tuple[str, bool] | None:
    """Walk in document order (or backwards) from `start` to the first rendered text or box, checking every
    element entered on the way: (tag, matched the page's slots) for the first that matches, else None.

    Backwards, the walk stays inside `stop` (the block above the unit); forwards it goes on past the end of
    the block below, as the reader's eye does. (Written as one loop with the steps inline: it runs for every
    place a unit is tried.)
    """
    screen = _screen(keep_away)
    node: Any = start
    budget = _LOOK_BUDGET
    while budget:
        budget -= 1
        if isinstance(node, Text):
            if node.data.strip():
                return None
        elif isinstance(node, Element) and (tag := node.tag) not in UNRENDERED:
            if node.matches(screen):
                if not node.matches(_INVISIBLE):
                    return tag, False  # not hidden, so it matched keep_away
                # hidden, with whatever it holds: looked through
            elif page_slots and node.matches(page_slots):
                return tag, True
            elif tag in BOXES:
                return None
            else:
                inner = _edge_child(node, forward=forward)
                if inner is not None:
                    node = inner
                    continue
        # Done with this node and whatever it held: on to the next one, climbing out of finished parents.
        while True:
            if node is stop:
                return None
            nxt = node.next_sibling if forward else node.previous_sibling
            if nxt is not None:
                node = nxt
                break
            node = node.parent
            if not isinstance(node, Element) or node.tag in ("body", "html"):
                return None
    return None
