"""Which elements count as paragraphs for a rule, numbered from 1, and why the others do not."""

from __future__ import annotations

from dataclasses import dataclass

from turbohtml import Element

from adinject.language.schema import Rule
from adinject.placement.words import count_words


@dataclass(frozen=True, slots=True)
class Candidate:
    el: Element
    words: int
    start: int  # normalised offset of the start tag (document order)
    counted: bool
    left_out: str | None = None


def _inside(inner: Element, outer: Element) -> bool:
    walker = inner.parent
    while isinstance(walker, Element):
        if walker is outer:
            return True
        walker = walker.parent
    return False


def collect(container: Element, rule: Rule) -> list[Candidate]:
    """Every element matching `paragraphs` inside the container, each counted or left out with a reason."""
    ignore = ", ".join(rule.ignore_inside)
    text_filter = rule.paragraph_text
    wanted = [s.lower() for s in text_filter.contains] if text_filter else []
    unwanted = [s.lower() for s in text_filter.not_contains] if text_filter else []
    out: list[Candidate] = []
    for el in container.select(rule.paragraphs):
        loc = el.source_location
        start = loc.start_tag.start_offset if loc is not None else -1
        text = el.text
        words = count_words(text)
        reason: str | None = None
        if ignore:
            holder = el.closest(ignore)
            if holder is not None and holder is not container and _inside(holder, container):
                reason = f"inside <{holder.tag}> (ignore_inside)"
        if reason is None and _nested_paragraph(el, container, rule.paragraphs):
            reason = "inside another counted paragraph"
        if reason is None and words < rule.min_paragraph_words:
            reason = f"{words} words, fewer than min_paragraph_words ({rule.min_paragraph_words})"
        if reason is None and rule.max_paragraph_words is not None and words > rule.max_paragraph_words:
            reason = f"{words} words, more than max_paragraph_words ({rule.max_paragraph_words})"
        if reason is None and (wanted or unwanted):
            low = text.lower()
            if wanted and not any(w in low for w in wanted):
                reason = "text contains none of paragraph_text.contains"
            elif any(w in low for w in unwanted):
                reason = "text contains a phrase in paragraph_text.not_contains"
        out.append(Candidate(el, words, start, reason is None, reason))
    return out


def _nested_paragraph(el: Element, container: Element, selector: str) -> bool:
    # With a selector such as "p, div.text" an element can match inside another match; count the outer one.
    if selector == "p":
        return False
    parent = el.parent
    holder = parent.closest(selector) if isinstance(parent, Element) else None
    return holder is not None and holder is not container and _inside(holder, container)
