"""Checks that a rendered unit is a balanced fragment a parser reads the same wherever it is spliced.

A unit that leaves an element open, closes one it did not open, or relies on the parser's error recovery
would change how the rest of the page parses. Such markup is refused (the unit is skipped with the reason),
never "fixed" on the fly.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from turbohtml import Comment, Element, Namespace, Text, TokenType, parse_fragment, tokenize

from adinject.lru import WeightedLRU
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


class FragmentCache:
    """The fragments of markup already checked, least recently used first, bounded in entries and bytes.

    Most units render the same string page after page, so this saves a parse per unit; but a unit that
    reads the page (its title, its tags) renders a new string per page, and 2,048 entries of whatever size
    held 230 MB with 100 KB titles. A fragment is counted as its markup's length (twice when stripping made
    a second string); markup longer than `max_entry_chars` is checked every time, never kept.
    """

    __slots__ = ("_lru", "max_entry_chars")

    def __init__(
        self, maxsize: int = 2048, *, max_chars: int = 4_000_000, max_entry_chars: int = 65_536
    ) -> None:
        self.max_entry_chars = max_entry_chars
        self._lru: WeightedLRU[Fragment] = WeightedLRU(maxsize, max_chars)

    @property
    def maxsize(self) -> int:
        return self._lru.maxsize

    @property
    def max_chars(self) -> int:
        return self._lru.max_weight

    @property
    def chars(self) -> int:
        return self._lru.weight

    def get(self, markup: str) -> Fragment | None:
        return self._lru.get(markup)

    def put(self, markup: str, fragment: Fragment) -> None:
        size = len(markup) + (0 if fragment.markup is markup else len(fragment.markup))
        if len(markup) > self.max_entry_chars:
            return
        self._lru.put(markup, fragment, size)

    def clear(self) -> None:
        self._lru.clear()

    def keys(self) -> list[Hashable]:
        return self._lru.keys()

    def __len__(self) -> int:
        return len(self._lru)

    def __contains__(self, markup: object) -> bool:
        return markup in self._lru


CHECKED = FragmentCache()


def check_fragment(markup: str) -> Fragment:
    """Validate rendered unit markup (cached in `CHECKED`: most units render the same string page after
    page). Raises FragmentError, never cached, for markup that is unsafe."""
    fragment = CHECKED.get(markup)
    if fragment is None:
        fragment = _check(markup)
        CHECKED.put(markup, fragment)
    return fragment


def _check(markup: str) -> Fragment:
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
