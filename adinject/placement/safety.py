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

from turbohtml import Document, DocumentFragment, Element, Namespace

from adinject.placement.html_sets import (
    CELLS,
    MARKERS,
    P_CLOSERS,
    P_CLOSING_PARENTS,
    UNSAFE_ANCESTORS,
    UNSAFE_PARENTS,
    VOID,
)

Position = tuple[int, int]  # (1-based line, 0-based column) in the normalised source, turbohtml's convention


@dataclass(frozen=True, slots=True)
class Hazards:
    """Page-wide facts that make some offsets unsafe, gathered in one pass over the elements."""

    # Unclosed formatting elements (originals without an end tag, and the parser's clones of them): the
    # position from which each is live, the cell/object that scopes it, its tag, and the position where a
    # later <a> start tag clears it from the list (for <a> only; None when nothing visible clears it).
    formatting: tuple[tuple[Position, Element | None, str, Position | None], ...]
    first_unclosed_form: Position | None
    frameset: bool


@dataclass(frozen=True, slots=True)
class Boundary:
    """A safe place to insert: the normalised offset, its (line, col), and the element it follows."""

    offset: int
    position: Position
    after: Element
    parent: Element
    implied_close: bool  # the element before is a <p> the unit's first start tag must close


def scan(doc: Document) -> Hazards:
    found: list[tuple[Position, Element | None, str]] = []
    first_form: Position | None = None
    frameset = False
    for el in doc.iter_elements(
        (
            "a",
            "b",
            "big",
            "code",
            "em",
            "font",
            "i",
            "nobr",
            "s",
            "small",
            "strike",
            "strong",
            "tt",
            "u",
            "form",
            "frameset",
            "template",
        )
    ):
        tag = el.tag
        if tag == "frameset":
            frameset = True
            continue
        loc = el.source_location
        if loc is not None and loc.end_tag is not None:
            continue
        if loc is None:
            pos = el.position
            if pos is None:
                continue
            where: Position = (pos[0], pos[1])
        else:
            where = (loc.start_tag.start_line, loc.start_tag.start_col)
        if tag == "template":
            # A template left open swallows what follows into its contents; parsers have disagreed on
            # nested ones. Treat everything after it as unsafe.
            found.append((where, None, tag))
            continue
        if tag == "form":
            if first_form is None or where < first_form:
                first_form = where
            continue
        if el.namespace is not Namespace.HTML:
            continue
        scope = el.closest(_MARKER_SELECTOR)
        found.append((where, scope, tag))
    if not found:
        return Hazards((), first_form, frameset)
    links = _link_starts(doc) if any(tag == "a" and scope is None for _, scope, tag in found) else []
    formatting = tuple(
        (where, scope, tag, _cleared_by_link(where, links) if tag == "a" and scope is None else None)
        for where, scope, tag in found
    )
    return Hazards(formatting, first_form, frameset)


_MARKER_SELECTOR = ",".join(sorted(MARKERS))


def _link_starts(doc: Document) -> list[Position]:
    # An <a> start tag makes the parser drop any earlier <a> still in the list of active formatting
    # elements (the "a in the list" step of the in-body rules), so an orphaned link stops being a hazard
    # at the next link outside a table cell.
    starts: list[Position] = []
    for a in doc.iter_elements("a"):
        loc = a.source_location
        if loc is not None and a.closest(_MARKER_SELECTOR) is None:
            starts.append((loc.start_tag.start_line, loc.start_tag.start_col))
    starts.sort()
    return starts


def _cleared_by_link(where: Position, links: list[Position]) -> Position | None:
    index = bisect_right(links, where)
    return links[index] if index < len(links) else None


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
    problem = parent_problem(parent if isinstance(parent, Element) else None)
    if problem is not None:
        return problem
    assert isinstance(parent, Element)
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
    hazard = _hazard_before(position, parent, hazards, unit_has_form)
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
        span = ploc.end_tag
        return span.start_offset, (span.start_line, span.start_col)
    if not isinstance(nxt, Element) or nxt.tag not in P_CLOSERS or nxt.namespace is not Namespace.HTML:
        return "the paragraph has no </p> and the next element does not close it"
    nloc = nxt.source_location
    if nloc is None:
        return "the paragraph has no </p> and the next element was created by the parser"
    span = nloc.start_tag
    return span.start_offset, (span.start_line, span.start_col)


def _hazard_before(position: Position, parent: Element, hazards: Hazards, unit_has_form: bool) -> str | None:
    for where, scope, tag, cleared in hazards.formatting:
        if where >= position or (cleared is not None and cleared < position):
            continue
        if scope is not None and not _is_ancestor_or_self(scope, parent):
            continue  # the cell that held it has closed, and with it the formatting element's marker
        return (
            f"an unclosed <{tag}> earlier in the page (line {where[0]}) would be re-opened by the browser "
            "inside the unit"
        )
    if unit_has_form:
        if hazards.first_unclosed_form is not None and hazards.first_unclosed_form < position:
            return "the unit has a <form> and an unclosed <form> earlier in the page would swallow it"
        if parent.closest("form") is not None:
            return "the unit has a <form> and sits inside another <form>"
    return None


def _is_ancestor_or_self(candidate: Element, node: Element) -> bool:
    walker: Element | Document | DocumentFragment | None = node
    while isinstance(walker, Element):
        if walker == candidate:
            return True
        walker = walker.parent
    return False
