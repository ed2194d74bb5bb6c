"""Article bodies built otherwise than as `<p>`s in a `<div>`: paragraphs that are list items, that sit in an
inline wrapper (HubSpot's `<span>` around the whole post body), or that are `<div>`s of text (CNN's
`div.zn-body__paragraph`).

A unit cannot go inside a list or a `<span>` (the browser would build it, but it breaks the list's or the
line's own structure), so a paragraph there is given the boundary after the outermost such wrapper instead,
when no later counted paragraph sits inside it; otherwise the reason names the wrapper, and shifting down
reaches the wrapper's last paragraph, whose boundary that is.
"""

from __future__ import annotations

from turbohtml import Document, Element, Text

from adinject.page.html_sets import FORMATTING, INLINE
from adinject.placement.container import class_weight, enough_prose, find_article, paragraph_words
from adinject.placement.safety import Boundary, Hazards, boundary_after
from adinject.placement.words import count_words

# Wrappers a unit may be placed after, on behalf of the paragraph that ends them. Tables, selects,
# templates, foreign content and the like are not wrappers: a paragraph inside one keeps its own reason.
_WRAPPERS = frozenset({"ul", "ol", "dl", "menu", "dir", "li", "dt", "dd", "span", "font"}) | FORMATTING


def boundary_past_wrapper(el: Element, later: Element | None, hazards: Hazards) -> Boundary | str | None:
    """The boundary after the wrapper around `el` that keeps a unit from following `el` itself.

    None when `el`'s parent takes a unit (or the trouble is no wrapper): the caller's own answer stands.
    A reason when the wrapper also holds `later`, the next counted paragraph, so that a unit after it
    would not follow `el`.
    """
    current = el
    parent = el.parent
    if not isinstance(parent, Element) or hazards.parent_problem(parent) is None:
        return None
    while isinstance(parent, Element) and hazards.parent_problem(parent) is not None:
        if parent.tag not in _WRAPPERS:
            return None
        current = parent
        parent = parent.parent
    if not isinstance(parent, Element):
        return None
    if later is not None and inside(later, current):
        return (
            f"it sits inside <{current.tag}{_named(current)}>, where a unit cannot go, and paragraphs after "
            f"it do too: the first place is after that <{current.tag}>"
        )
    return boundary_after(current, hazards)


# <div>s with something in them and no child that is not running text (a block, a list, a heading, media,
# a form control): one selector query, run in C, finds them.
_SUBSTANTIAL = 8  # words
_TEXT_DIVS = "div:not(:empty):not(:has(> :not(" + ", ".join(sorted(INLINE | {"br"})) + ")))"


def text_blocks(
    root: Element | Document, words: dict[Element, tuple[str, int]] | None = None
) -> list[tuple[Element, str]]:
    """`<div>`s that are paragraphs, each with its text: running text of a few words at least (held directly
    or in inline markup, not mostly links), nothing but inline markup inside, and no blank line (<br><br>:
    runs of their own).

    Sites whose templates write paragraphs as `<div>`s (CNN's `div.zn-body__paragraph`) show them as
    paragraphs, and `container: auto` counts them as it counts `<p>`s. Finding the container and counting
    in it ask again for the same <div>s: each verdict is kept in `words` (its text and words, or no words
    for a <div> that is no paragraph), so a <div> is read once per page.
    """
    out: list[tuple[Element, str]] = []
    known = words if words is not None else {}
    for div in root.select(_TEXT_DIVS):
        verdict = known.get(div)
        if verdict is None:
            verdict = known[div] = _judge(div)
        elif verdict[1] and _blank_line_in(div):
            continue  # known as the block of its last run of text (br_runs): a paragraph of that kind
        if verdict[1]:
            out.append((div, verdict[0]))
    return out


def _blank_line_in(div: Element) -> bool:
    if div.select_one(":scope > br + br") is None:
        return False  # no two line breaks in a row: no blank line (the usual case, answered in C)
    return any(isinstance(kid, Element) and kid.tag == "br" and blank_line_after(kid) for kid in div.children)


_NO_PARAGRAPH = ("", 0)


def _judge(div: Element) -> tuple[str, int]:
    text = div.text
    words = count_words(text)
    if words < _SUBSTANTIAL:
        return _NO_PARAGRAPH  # a label, an icon's text, a date: too short to be a paragraph on its own
    if class_weight(div) < 0 or _not_prose(div, text):
        return _NO_PARAGRAPH  # a caption, a byline, a share line named as such, or a link standing alone
    if _blank_line_in(div):
        return _NO_PARAGRAPH  # runs of text between blank lines: br_runs counts those
    return text, words


def _not_prose(div: Element, text: str) -> bool:
    if any(isinstance(kid, Text) and kid.data.strip() for kid in div.children):
        return False  # text of its own: running text, whatever it links
    # All its text in inline wrappers (a <span> per paragraph, as some editors write): prose only when it
    # reads as sentences, not as a row of links or labels.
    if not text.rstrip().endswith(_SENTENCE_END):
        return True
    return sum(len(a.text) for a in div.select("a")) * 2 > len(text)


_SENTENCE_END = (".", "!", "?", "…", '"', "”", "’", "»", "。", "！", "？")


# Fewer than this in a container and its text <div>s are odds and ends, not its body.
_DIV_BODY = 2


def div_paragraphs(container: Element, words: dict[Element, tuple[str, int]]) -> list[tuple[Element, str]]:
    """The container's text <div>s, when it is written in them: when its <p>s are too few to make an
    article, a few substantial text <div>s at least, holding more words. (`words`: see enough_prose.)"""
    if enough_prose(container, words):
        return []
    found = text_blocks(container, words)
    if len(found) < _DIV_BODY:
        return []
    sizes = [words[div][1] for div, _ in found]
    in_p = sum(paragraph_words(p, words) for p in container.select("p"))
    return found if sum(sizes) > in_p else []


def with_div_paragraphs(
    doc: Document,
    found: Element | None,
    voters: list[tuple[Element, str]],
    ignore: str,
    words: dict[Element, tuple[str, int]],
) -> Element | None:
    """The article body, `found` from its <p>s, or one written in <div>s of text instead.

    Looked for only where the <p>s are too few to make an article, and around what they found (two levels
    up), or in the whole page when they found nothing: text <div>s cost a tenth of a page's planning to
    find. Taken only for a body they make (not for a box of promos): see div_paragraphs.
    """
    if found is not None and enough_prose(found, words):
        return found
    region: Element | Document = doc
    if found is not None:
        region = found
        for _ in range(2):
            parent = region.parent
            if not isinstance(parent, Element) or parent.tag in ("body", "html"):
                break
            region = parent
    blocks = text_blocks(region, words)
    widened = find_article([*voters, *blocks], ignore, words) if blocks else None
    if widened is not None and div_paragraphs(widened, words):
        return widened
    return found


def blank_line_after(br: Element) -> bool:
    """Whether a <br> is followed by another, with only whitespace or comments between: a blank line."""
    nxt = br.next_sibling
    while nxt is not None and not isinstance(nxt, Element):
        if isinstance(nxt, Text) and nxt.data.strip():
            return False
        nxt = nxt.next_sibling
    return nxt is not None and nxt.tag == "br"


def quote_around(el: Element, container: Element | None) -> Element | None:
    """The outermost <blockquote> around `el` below the container: a quoted passage's paragraphs count, but
    a unit goes around the quote, never into it (an ad between two paragraphs of a quotation reads as part
    of it). A container that is itself a quote, or sits in one, is the article, not a quotation in it."""
    if el.closest("blockquote") is None:
        return None  # the usual case, answered in C without the walk
    found = None
    walker = el.parent
    while isinstance(walker, Element) and walker is not container:
        if walker.tag == "blockquote":
            found = walker
        walker = walker.parent
    return found if walker is container else None


def inside(inner: Element, outer: Element) -> bool:
    """Whether `inner` is a descendant of `outer`."""
    walker = inner.parent
    while isinstance(walker, Element):
        if walker is outer:
            return True
        walker = walker.parent
    return False


def _named(el: Element) -> str:
    ident = el.attrs.get("id")
    if isinstance(ident, str) and ident:
        return f' id="{ident}"'
    cls = el.attrs.get("class")
    name = cls[0] if isinstance(cls, list) and cls else cls if isinstance(cls, str) else ""
    return f' class="{name}"' if name else ""
