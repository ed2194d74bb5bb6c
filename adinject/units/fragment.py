"""Checks that a rendered unit is a balanced fragment a parser reads the same wherever it is spliced.

A unit that leaves an element open, closes one it did not open, or relies on the parser's error recovery
would change how the rest of the page parses. Such markup is refused (the unit is skipped with the reason),
never "fixed" on the fly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from turbohtml import Comment, Element, Namespace, Text, TokenType, parse_fragment, tokenize

from adinject.page.html_sets import P_CLOSERS, VOID


@dataclass(frozen=True, slots=True)
class Fragment:
    markup: str  # the rendered unit, outer whitespace stripped
    first_tag: str
    has_form: bool

    @property
    def closes_p(self) -> bool:
        return self.first_tag in P_CLOSERS


class FragmentError(ValueError):
    pass


@lru_cache(maxsize=2048)
def check_fragment(markup: str) -> Fragment:
    """Validate rendered unit markup (cached: most units render the same string page after page)."""
    text = markup.strip()
    if not text:
        raise FragmentError("the unit rendered no markup")
    root = parse_fragment(text, "div", source_locations=True, scripting=True)
    starts = ends = 0
    for token in tokenize(text):
        if token.type is TokenType.START_TAG:
            starts += 1
        elif token.type is TokenType.END_TAG:
            ends += 1
        elif token.type is TokenType.DOCTYPE:
            raise FragmentError("the unit has a <!DOCTYPE>")
    elements = 0
    closed = 0
    has_form = False
    for el in root.iter_elements():
        loc = el.source_location
        if loc is None:
            raise FragmentError(
                f"the parser had to create or re-open <{el.tag}>: the unit's tags are misnested"
            )
        elements += 1
        if el.tag == "form":
            has_form = True
        if loc.end_tag is not None:
            closed += 1
        elif el.tag not in VOID and not _self_closed_foreign(el, text):
            raise FragmentError(f"<{el.tag}> is never closed: write its end tag")
    if elements != starts:
        raise FragmentError("a start tag in the unit was dropped by the parser (<html>, <body>, <td> ...?)")
    if closed != ends:
        raise FragmentError("an end tag in the unit has no matching start tag")
    first: Element | None = None
    for child in root.children:
        if isinstance(child, Element):
            first = first or child
        elif isinstance(child, Text):
            if child.data.strip():
                raise FragmentError("the unit has bare text at its top level: wrap it in an element")
        elif not isinstance(child, Comment):
            raise FragmentError("the unit has unexpected top-level content")
    if first is None:
        raise FragmentError("the unit has no element")
    return Fragment(text, first.tag, has_form)


def _self_closed_foreign(el: Element, text: str) -> bool:
    # In SVG and MathML "<path/>" is a complete element; in HTML a "/>" means nothing.
    if el.namespace is Namespace.HTML:
        return False
    loc = el.source_location
    return loc is not None and text[loc.start_tag.start_offset : loc.start_tag.end_offset].endswith("/>")
