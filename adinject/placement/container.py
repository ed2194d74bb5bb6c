"""Finding the article body on pages with no known selector (`container: auto`).

A readability-style content-density score: every substantial paragraph gives points to its parent and,
halved, to its grandparent; containers whose class or id says "comment", "sidebar" or "footer" lose, those
that say "article" or "content" win, and link-heavy ones are discounted. The winner is then widened to its
parent when the article's paragraphs are split over sibling blocks (a common CMS pattern).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from turbohtml import Element

from adinject.placement.words import count_words

_POSITIVE = re.compile(
    r"article|body|content|entry|hentry|h-entry|main|page|post|text|blog|story|prose|rich-?text", re.I
)
_NEGATIVE = re.compile(
    r"comment|com-|contact|foot|footer|footnote|masthead|media|meta|outbrain|promo|related|scroll|shoutbox|"
    r"sidebar|skyscraper|sponsor|shopping|tags|tool|widget|share|social|nav|menu|breadcrumb|newsletter|"
    r"subscribe|signup|cookie|banner|popup|modal|hidden|byline|author|caption|disclaimer|teaser|recommend",
    re.I,
)
_MIN_WORDS = 8


def _class_weight(el: Element) -> float:
    attrs = el.attrs
    cls = attrs.get("class")
    names = " ".join(cls) if isinstance(cls, list) else (cls or "")
    ident = attrs.get("id")
    blob = f"{names} {ident if isinstance(ident, str) else ''}"
    if not blob.strip():
        return 0.0
    weight = 0.0
    if _NEGATIVE.search(blob):
        weight -= 25.0
    if _POSITIVE.search(blob):
        weight += 25.0
    if el.tag in ("article", "main"):
        weight += 10.0
    return weight


def _link_density(el: Element, text_len: int) -> float:
    if text_len == 0:
        return 0.0
    linked = sum(len(a.text) for a in el.select("a"))
    return min(1.0, linked / text_len)


def find_article(paragraphs: Iterable[Element]) -> Element | None:
    """The element most likely to hold the article body, scored from its paragraphs."""
    scores: dict[Element, float] = {}
    order: list[Element] = []
    for p in paragraphs:
        text = p.text
        words = count_words(text)
        if words < _MIN_WORDS:
            continue
        if _link_density(p, len(text)) > 0.5:
            continue
        score = 1.0 + text.count(",") + text.count("，") + min(words / 20.0, 3.0)
        parent = p.parent
        level = 1.0
        for _ in range(3):
            if not isinstance(parent, Element) or parent.tag in ("html",):
                break
            if parent not in scores:
                scores[parent] = 0.0
                order.append(parent)
            scores[parent] += score / level
            level = 2.0 if level == 1.0 else level * 1.5
            parent = parent.parent
    if not scores:
        return None
    best: Element | None = None
    best_score = 0.0
    for el in order:
        text_len = len(el.text)
        adjusted = (scores[el] + _class_weight(el)) * (1.0 - _link_density(el, text_len))
        if el.tag == "body":
            adjusted *= 0.5
        if best is None or adjusted > best_score:
            best, best_score = el, adjusted
    return best
