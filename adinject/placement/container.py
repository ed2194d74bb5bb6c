"""Finding the article body on pages with no known selector (`container: auto`).

A readability-style content-density score: every substantial paragraph gives points to its parent and,
halved, to its grandparent; containers whose class or id says "comment", "sidebar" or "footer" lose, those
that say "article" or "content" win, and link-heavy ones are discounted. The winner is then widened to its
parent when the article's paragraphs are split over sibling blocks (a common CMS pattern).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable
from functools import lru_cache

from turbohtml import Document, Element

from adinject.lru import CACHED_KEY_CHARS
from adinject.placement.words import count_words

# Both are matched against lower-cased class names and ids: alternations under re.I run several times
# slower (the regex engine cannot skip ahead by first letters).
_POSITIVE = re.compile(
    r"article|body|content|entry|hentry|h-entry|main|page|post|text|blog|story|prose|rich-?text"
)
_NEGATIVE = re.compile(
    r"comment|com-|contact|foot|footer|footnote|masthead|media|meta|outbrain|promo|related|scroll|shoutbox|"
    r"sidebar|skyscraper|sponsor|shopping|tags|tool|widget|share|social|nav|menu|breadcrumb|newsletter|"
    r"subscribe|signup|cookie|banner|popup|modal|hidden|byline|author|caption|disclaimer|teaser|recommend|"
    r"\bdeals?\b|coupon"
)
_MIN_WORDS = 8
_LINK_LIST_WORDS = 40
_SEMANTIC_BOUNDARY = frozenset({"article", "main"})
_ENOUGH = 6  # paragraphs: a container with this many is not widened
_FURNITURE = frozenset({"header", "footer", "nav", "aside"})
# Comment threads and their forms: a block inside one is never the article, whatever its own name says.
# (Narrower than _NEGATIVE: pages put words like "sidebar" or "media" on wrappers around everything.)
# ("comment-" and "comments", not "comment": an opinion piece is a "commentary".)
_THREAD = ("comment-", "comments", "disqus", "respond", "reply", "discussion")
_FURNITURE_OR_THREAD = ", ".join(
    [*sorted(_FURNITURE), *(f'[{attr}*="{word}" i]' for word in _THREAD for attr in ("class", "id"))]
)


def _names(el: Element) -> str:
    """The element's class names and id, lower-cased, in one string (the class as written: the words looked
    for hold no space, and two reads of one attribute each are cheaper than building el.attrs)."""
    cls = el.attr("class")
    ident = el.attr("id")
    if cls is None and ident is None:
        return ""  # most elements: no names to read
    return f"{cls or ''} {ident or ''}".lower()


def class_weight(el: Element) -> float:
    blob = _names(el)
    if el.tag in _FURNITURE:
        return -25.0  # a page's or an article's header, footer, navigation or aside: never its body
    if not blob.strip():
        return 0.0
    weight = (_BLOB_WEIGHT if len(blob) <= CACHED_KEY_CHARS else _blob_weight)(blob)
    if el.tag in ("article", "main"):
        weight += 10.0
    return weight


def _blob_weight(blob: str) -> float:
    # Class names repeat within a page and across a site's pages: the regexes run once per distinct name.
    weight = 0.0
    lowered = blob.lower()
    if _NEGATIVE.search(lowered):
        weight -= 25.0
    if _POSITIVE.search(lowered):
        weight += 25.0
    return weight


_BLOB_WEIGHT = lru_cache(maxsize=4096)(_blob_weight)  # once per distinct value (see CACHED_KEY_CHARS)


def _link_density(el: Element, text_len: int) -> float:
    if text_len == 0:
        return 0.0
    linked = sum(len(a.text) for a in el.select("a"))
    return min(1.0, linked / text_len)


def find_article(
    paragraphs: Iterable[tuple[Element, str]],
    ignore: str = "",
    words_out: dict[Element, tuple[str, int]] | None = None,
) -> Element | None:
    """The element most likely to hold the article body, scored from its paragraphs.

    Paragraphs the rule would not count (inside a list item, a quote, a figure: `ignore`) do not vote, so
    a list of teasers does not win; a match further up than the grandparent is a layout table, and does.
    Texts and word counts are left in `words_out` so that counting paragraphs afterwards does not redo them.
    """
    scores: dict[Element, float] = {}
    qualifying: set[Element] = set()
    last_parent: object = None
    chain: list[Element] = []
    known = words_out if words_out is not None else {}
    furniture: dict[Element, bool] = {}  # ancestors' verdicts: the paragraphs' parents share them
    near: dict[object, bool] = {}  # whether a parent or its parent matches `ignore`
    for p, text in paragraphs:
        counted = known.get(p)
        if counted is None:  # else counted already (a second vote, with text <div>s)
            counted = known[p] = (text, count_words(text))
        words = counted[1]
        if words < _MIN_WORDS:
            continue
        if ignore and _near_match(p, ignore, near):
            continue
        if words < _LINK_LIST_WORDS and _link_density(p, len(text)) > 0.5:
            continue  # a line of links (a teaser, a nav row); long paragraphs with links are prose
        qualifying.add(p)
        score = 1.0 + text.count(",") + text.count("，") + min(words / 20.0, 3.0)
        parent = p.parent
        if parent is not last_parent:
            last_parent = parent
            chain = _chain(parent, furniture)
        for el, share in zip(chain, _SHARES, strict=False):
            scores[el] = scores.get(el, 0.0) + score * share
    if not scores:
        return None
    # Class names can lift or sink a candidate, so they are read for a wider field than is finally compared.
    field = heapq.nlargest(_FIELD, scores, key=scores.__getitem__)
    weights = {el: class_weight(el) for el in field}
    field.sort(key=lambda el: (scores[el] + weights[el]) * (0.5 if el.tag == "body" else 1.0), reverse=True)
    for best in field:
        if scores[best] + weights[best] <= 0:
            break  # the best left is a footer, a comment form, a navigation block: the page has no article
        if not _in_furniture(best, furniture):
            return _widen(best, qualifying)
    return None


def _in_furniture(el: Element, memo: dict[Element, bool]) -> bool:
    """Whether `el` is or sits in a header, footer, navigation, aside or comment thread (below <body>:
    WordPress names <body> "comments-open").

    Asked for every paragraph's parent, which share their ancestors: each element is matched once per page
    (in `memo`), where `closest` would match the whole way up to the root again for each."""
    walker: object = el
    below: list[Element] = []
    found = False
    while isinstance(walker, Element) and walker.tag not in ("body", "html"):
        known = memo.get(walker)
        if known is not None:
            found = known
            break
        if walker.matches(_FURNITURE_OR_THREAD):
            found = memo[walker] = True
            break
        below.append(walker)
        walker = walker.parent
    for inner in below:
        memo[inner] = found
    return found


_SHARES = (1.0, 0.5, 1.0 / 3.0)  # what a paragraph gives its parent, grandparent and great-grandparent
_FIELD = 16


def _chain(parent: object, furniture: dict[Element, bool]) -> list[Element]:
    chain: list[Element] = []
    walker = parent
    if isinstance(walker, Element) and _in_furniture(walker, furniture):
        return chain  # a comment thread's or a footer's lines vote for no block at all
    while isinstance(walker, Element) and walker.tag != "html" and len(chain) < len(_SHARES):
        chain.append(walker)
        walker = walker.parent
    return chain


def _widen(best: Element, qualifying: set[Element]) -> Element:
    # A winner holding only a few paragraphs is often one block of an article split over sibling blocks
    # (a lead, then the body; one wrapper per step): climb to the nearest ancestor, a few levels up at
    # most, that holds more of the page's paragraphs, until the container holds enough.
    count = _count(best, qualifying)
    while count < _ENOUGH and best.tag not in _SEMANTIC_BOUNDARY:
        walker = best.parent
        found: tuple[Element, int] | None = None
        for _ in range(4):
            if not isinstance(walker, Element) or walker.tag in ("body", "html") or class_weight(walker) < 0:
                break
            walker_count = _count(walker, qualifying)
            if walker_count > count:
                found = (walker, walker_count)
                break
            if walker.tag in _SEMANTIC_BOUNDARY:
                break  # the page marked up where its article ends: what lies beyond is something else
            walker = walker.parent
        if found is None:
            break
        best, count = found
    return best


def enough_prose(el: Element, words: dict[Element, tuple[str, int]]) -> bool:
    """Whether `el` holds enough substantial paragraphs (<p>s, runs ended by blank lines) to be an article.

    `words` holds the texts and word counts known so far; those this needs are added to it.
    """
    count = 0
    for p in el.iter_elements(_PARAGRAPH_TAGS):  # lazily: most bodies have enough within a few
        count += paragraph_words(p, words) >= _MIN_WORDS
        if count >= _ENOUGH:
            return True
    return False


_PARAGRAPH_TAGS = ("p", "br")


def paragraph_words(p: Element, words: dict[Element, tuple[str, int]]) -> int:
    """The words of a <p> (or of the run a <br> ends, when known), remembered in `words`."""
    known = words.get(p)
    if known is None:
        if p.tag == "br":
            return 0  # a line break, not the end of a run of text: no paragraph
        text = p.text
        known = words[p] = (text, count_words(text))
    return known[1]


def _near_match(p: Element, ignore: str, near: dict[object, bool]) -> bool:
    """Whether `p`, its parent or its grandparent matches `ignore` (what a match further up is: see
    find_article). Sibling paragraphs share the answer for their parent, kept in `near`."""
    if p.matches(ignore):
        return True
    parent = p.parent
    found = near.get(parent)
    if found is None:
        grand = parent.parent if isinstance(parent, Element) else None
        found = near[parent] = isinstance(parent, Element) and (
            parent.matches(ignore) or (isinstance(grand, Element) and grand.matches(ignore))
        )
    return found


def _count(el: Element, qualifying: set[Element]) -> int:
    return sum(1 for p in el.select("p, br") if p in qualifying)


# Pages that mark up their article body (schema.org's articleBody, the class names CMSs give it, <article>)
# are taken at their word when that element holds most of the page's paragraphs: no scoring needed.
_MARKED = (
    "[itemprop=articleBody]",
    ".article-body, .article__body, .story-body, .entry-content, .post-content, .post-body, .article-content",
    "article",
)
_ANY_MARKED = ", ".join(_MARKED)
_MARKED_SHARE = 0.6
_MARKED_MIN = 4


def marked_article(doc: Document, paragraphs: str, found: list[Element] | None = None) -> Element | None:
    """The element the page itself marks as its article body, if it holds most of the paragraphs.

    Such an element holds a run of paragraphs that are consecutive in document order and number at least
    `_MARKED_SHARE` of them, so it holds the middle one: only that paragraph's ancestors are candidates
    (matching class selectors against the whole tree instead costs more than the rest of this module).
    Of the ancestors a selector matches, the innermost that holds enough wins.
    """
    if found is None:  # else the caller's doc.select(paragraphs), which it also reads
        found = doc.select(paragraphs)
    total = len(found)
    if total < _MARKED_MIN:
        return None
    marked: list[Element] = []
    walker = found[total // 2].parent
    while isinstance(walker, Element) and walker.tag not in ("body", "html"):
        if walker.matches(_ANY_MARKED):
            marked.append(walker)
        walker = walker.parent
    for selector in _MARKED:
        for el in marked:
            if el.matches(selector):
                inside = len(el.select(paragraphs))
                if inside >= _MARKED_MIN and inside >= _MARKED_SHARE * total:
                    return el
    return None
