"""Which elements count as paragraphs for a rule, numbered from 1, and why the others do not."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from turbohtml import Document, Element, Text

from adinject.language.schema import Rule
from adinject.lru import CACHED_KEY_CHARS
from adinject.page.html_sets import BOXES, CODE, INLINE, VOID
from adinject.placement import prose
from adinject.placement.blocks import blank_line_after, div_paragraphs, inside
from adinject.placement.words import count_words


# Not frozen: there is one per paragraph, and a frozen dataclass is several times slower to build.
@dataclass(slots=True)
class Candidate:
    el: Element
    text: str  # empty unless collect() was asked to keep it (explaining)
    words: int
    counted: bool
    left_out: str | None = None
    ends_block: bool = False  # `el` is a block standing for its last run of text, which ends at its end tag

    def start(self) -> int:
        """Normalised offset of the start tag (computed on demand: source locations cost a few objects); for
        a block standing for its last run of text, of its end tag, where that run sits."""
        if self.ends_block:
            loc = self.el.source_location
            if loc is not None and loc.end_tag is not None:
                return loc.end_tag.start_offset
        return _start(self.el)


def collect(
    container: Element,
    rule: Rule,
    words_cache: dict[Element, tuple[str, int]] | None = None,
    *,
    auto: bool = False,
    keep_text: bool = True,
    left_out: bool = True,
) -> list[Candidate]:
    """Every element matching `paragraphs` inside the container, each counted or left out with a reason.

    `keep_text=False` leaves `Candidate.text` empty: only explaining shows it, and on a page with thousands
    of paragraphs holding every text keeps megabytes alive that the pass would otherwise stream through.
    `left_out=False` drops the paragraphs the rule's settings rule out (too short, hidden, ignored) instead
    of listing them with reasons only explaining shows: often a third of a page's paragraphs. (Those the
    prose judgement leaves out are still listed, uncounted.)
    """
    ignore = ", ".join(rule.ignore_inside)
    text_filter = _TextFilter.of(rule)
    out: list[Candidate] = []
    cache = words_cache if words_cache is not None else {}
    found, run_blocks = _found(container, rule, cache, auto)
    surroundings = _Surroundings(container, ignore, auto, rule.boilerplate_filter)
    own, above = surroundings.own, surroundings.above
    # Read once: the loop below runs for every paragraph of the page. With the plain "p" selector a
    # match is never counted as nested in another (see _nested_paragraph).
    nested_possible = rule.paragraphs != "p"
    min_words, max_words = rule.min_paragraph_words, rule.max_paragraph_words
    append = out.append
    judged: list[tuple[Candidate, str]] = []  # still counted, with their texts, for the prose judgement
    for el in found:
        reason = own(el) or above(el.parent)
        if reason is not None and not left_out:
            continue  # hidden or ignored: its text is not even read
        # Each text is made as its paragraph is judged, and dropped after unless kept.
        cached = cache.get(el)
        if cached is None:
            text = el.text
            words = count_words(text)
        else:
            text, words = cached
        if reason is None:
            if nested_possible and _nested_paragraph(el, container, rule.paragraphs):
                reason = "inside another counted paragraph"
            elif words < min_words:
                if not left_out:
                    continue  # the commonest reason: not even its words are written out
                reason = f"{words} words, fewer than min_paragraph_words ({min_words})"
            elif max_words is not None and words > max_words:
                reason = f"{words} words, more than max_paragraph_words ({max_words})"
            elif text_filter is not None:
                reason = text_filter.reason(text)
        if reason is not None and not left_out:
            continue
        candidate = Candidate(el, text if keep_text else "", words, reason is None, reason, el in run_blocks)
        append(candidate)
        if reason is None and rule.boilerplate_filter:
            judged.append((candidate, text))
    _leave_out_boilerplate(judged, rule.max_link_density)
    return out


def _found(
    container: Element, rule: Rule, cache: dict[Element, tuple[str, int]], auto: bool
) -> tuple[list[Element], set[Element]]:
    """The elements `paragraphs` matches, with the paragraphs no selector finds (see extra_paragraphs) in
    document order; and the blocks among them that stand for their last run of text."""
    found = container.select(rule.paragraphs)
    runs, run_blocks = extra_paragraphs(container, rule, cache, auto=auto)
    if runs:
        # Their texts come with them (a run is no element whose text could be read).
        for el, text in runs:
            if el not in cache:  # counted already when they voted for the container
                cache[el] = (text, count_words(text))
        found = sorted([*found, *(el for el, _ in runs)], key=run_order)
    return found, run_blocks


def _leave_out_boilerplate(judged: list[tuple[Candidate, str]], max_link_density: float) -> None:
    """Uncount the paragraphs that do not read as the article's prose, saying which signal showed it.

    They are judged together, once all are known: a short line takes its neighbours' verdict."""
    if not judged:
        return
    candidates = [candidate for candidate, _ in judged]
    verdicts = prose.judge(candidates, [text for _, text in judged], max_link_density)
    for candidate, verdict in zip(candidates, verdicts, strict=True):
        if verdict is not None:
            candidate.counted = False
            candidate.left_out = f"not article prose: {verdict}"


@dataclass(frozen=True, slots=True)
class _TextFilter:
    """A rule's `paragraph_text`, lower-cased once per page."""

    wanted: list[str]
    unwanted: list[str]

    @classmethod
    def of(cls, rule: Rule) -> _TextFilter | None:
        found = rule.paragraph_text
        if found is None or not (found.contains or found.not_contains):
            return None
        return cls([s.lower() for s in found.contains], [s.lower() for s in found.not_contains])

    def reason(self, text: str) -> str | None:
        low = text.lower()
        if self.wanted and not any(w in low for w in self.wanted):
            return "text contains none of paragraph_text.contains"
        if any(w in low for w in self.unwanted):
            return "text contains a phrase in paragraph_text.not_contains"
        return None


_HIDDEN_REASON = "hidden from readers (hidden, aria-hidden, display:none or visibility:hidden)"


class _Surroundings:
    """Why the elements around a paragraph, up to the container, keep it from counting.

    Paragraphs share their parents, so each ancestor is judged once per page and the verdict reused:
    one walk per distinct ancestor instead of selector matching up the tree for every paragraph.
    """

    __slots__ = ("_any", "_auto", "_embeds", "_ignore", "_memo")

    def __init__(self, container: Element, ignore: str, auto: bool, embeds: bool) -> None:
        self._ignore = ignore
        self._auto = auto
        self._embeds = embeds  # the boilerplate filter leaves out embedded posts and pull quotes
        # The container's own verdict seeds the memo, so every walk up stops there.
        self._memo: dict[object, str | None] = {
            container: _HIDDEN_REASON if container.closest(_HIDDEN) is not None else None
        }
        # Most elements match neither: one selector call answers that for both.
        self._any = f"{ignore}, {_HIDDEN}" if ignore else _HIDDEN

    def own(self, el: Element) -> str | None:
        if not el.matches(self._any):
            return None
        if self._ignore and el.matches(self._ignore):
            return f"inside <{el.tag}> (ignore_inside)"
        return _HIDDEN_REASON

    def above(self, parent: object) -> str | None:
        """The verdict for everything from `parent` up to (not including) the container."""
        memo = self._memo
        if parent in memo:  # the usual case: a sibling paragraph was judged already
            return memo[parent]
        chain: list[Element] = []
        walker = parent
        verdict: str | None = None  # not inside the container at all (cannot happen for select() results)
        while isinstance(walker, Element):
            if walker in memo:
                verdict = memo[walker]
                break
            chain.append(walker)
            walker = walker.parent
        # Fill in from the top down: an element's verdict is its own, else its parent's.
        for el in reversed(chain):
            own = self._judge(el)
            verdict = own if own is not None else verdict
            memo[el] = verdict
        return verdict

    def _judge(self, el: Element) -> str | None:
        matched = el.matches(self._any)
        if matched and self._ignore and el.matches(self._ignore):
            return f"inside <{el.tag}> (ignore_inside)"
        # The class attribute is read once for both looks (a string: several times cheaper than el.attrs).
        names = el.attr("class") if self._embeds or self._auto else None
        if self._embeds and names:
            quoted = _embedded_post(el, names)
            if quoted is not None:
                return quoted
        if self._auto:
            block = _boilerplate_block_of(el, names)
            if block is not None:
                return f"inside {block}, which looks like page furniture, not the article (container: auto)"
        return _HIDDEN_REASON if matched else None


def _nested_paragraph(el: Element, container: Element, selector: str) -> bool:
    # With a selector such as "p, div.text" an element can match inside another match; count the outer one.
    # (collect does not ask for the plain "p" selector.)
    parent = el.parent
    holder = parent.closest(selector) if isinstance(parent, Element) else None
    return holder is not None and holder is not container and inside(holder, container)


# Blocks inside a guessed article body that are not the article: pop-ups, share bars, related-story and
# newsletter boxes, captions. Only consulted for `container: auto`; a chosen selector is taken as meant.
# Matched against the lower-cased names: an alternation under re.I cannot skip ahead by its first letters
# and cost microseconds on the long utility-class lists some sites use.
_BOILERPLATE = re.compile(
    r"comment|related|newsletter|subscribe|signup|promo|sponsor|share|social|modal|popup|dialog|caption|"
    r"disclaimer|teaser|recommend|outbrain|taboola|advert|cookie|paywall|tooltip"
)


def _furniture_names(blob: str) -> bool:
    # Wrappers share their class names within a page and across a site's pages: the regex runs once per
    # distinct value, as for the prose judgement's class hints.
    return _BOILERPLATE.search(blob.lower()) is not None


_FURNITURE_NAMES = lru_cache(maxsize=4096)(_furniture_names)  # once per distinct value (see CACHED_KEY_CHARS)


_CLASS_SEPARATORS = re.compile(r"[ \t\n\f\r]+")  # what separates class names (ASCII whitespace only)


def _boilerplate_block_of(el: Element, names: str | None) -> str | None:
    """`names`: the element's class attribute, as written."""
    ident = el.attr("id")
    # The words searched for hold no space, so the class as written (with its own spacing) and the id
    # joined by a space find the same; the reason shows the class names one space apart.
    blob = f"{names or ''} {ident}" if ident is not None else names or ""
    if blob and (_FURNITURE_NAMES if len(blob) <= CACHED_KEY_CHARS else _furniture_names)(blob):
        shown = " ".join(_CLASS_SEPARATORS.split((names or "").strip(" \t\n\f\r")))
        shown = f"{shown} {ident}" if ident is not None else shown
        return f"<{el.tag} {shown.strip()!r}>"
    return None


# A <blockquote> is a quotation, and its paragraphs are article text; but social networks' embed codes are
# blockquotes too (a tweet's text, an Instagram caption), and a pull quote repeats a line of the article.
_EMBED = re.compile(
    r"tweet|twitter|instagram|tiktok|reddit|bluesky|mastodon|threads|text-post|tumblr|facebook|fb-|embed|"
    r"pull-?quote"
)


# Around a blockquote, or around paragraphs without one, only these names are as sure: a wrapper's class
# that merely contains "embed" may hold the article itself.
_EMBED_WRAPPER = re.compile(
    r"pull-?quote|twitter-tweet|instagram-media|tiktok-embed|reddit-embed|bluesky-embed|mastodon-embed"
)


def _embed_word(names: str, blockquote: bool) -> str | None:
    """The embed or pull-quote word in a class attribute, if any (once per distinct value)."""
    found = (_EMBED if blockquote else _EMBED_WRAPPER).search(names.lower())
    return found.group(0) if found is not None else None


_EMBED_WORD = lru_cache(maxsize=4096)(_embed_word)  # once per distinct value (see CACHED_KEY_CHARS)


def _embedded_post(el: Element, names: str) -> str | None:
    """`names`: the element's class attribute, as written (not empty)."""
    found = (_EMBED_WORD if len(names) <= CACHED_KEY_CHARS else _embed_word)(names, el.tag == "blockquote")
    if found is None:
        return None
    what = "a pull quote" if "pull" in found else "an embedded social post"
    shown = names.strip() if len(names.strip()) <= 40 else names.strip()[:39] + "…"
    return f"inside <{el.tag} class={shown!r}>, {what}, not the article's own text"


_HIDDEN = (
    '[hidden], [aria-hidden="true"], [style*="display:none"], [style*="display: none"], '
    '[style*="visibility:hidden"], [style*="visibility: hidden"]'
)


def _start(el: Element) -> int:
    loc = el.source_location
    return loc.start_tag.start_offset if loc is not None else -1


def br_runs(container: Element | Document) -> list[tuple[Element, str]]:
    """Runs of text ended by a blank line (<br><br>), each as (the <br> that ends it, its text).

    Old CMSs and blog engines separate paragraphs with line breaks instead of <p>; readers see paragraphs
    either way, and so does Readability. Only runs directly inside a block count, not line breaks in a <p>.
    """
    parents: dict[Element, None] = {}
    for br in container.select("br"):
        parent = br.parent
        if (
            isinstance(parent, Element)
            and parent not in parents
            and parent.tag not in ("p", "li", "td", "th", "pre")
            and parent.tag not in INLINE
            and blank_line_after(br)
        ):
            parents.setdefault(parent, None)
    runs: list[tuple[Element, str]] = []
    for parent in parents:
        text: list[str] = []
        pending_br: Element | None = None
        for child in parent.children:
            if isinstance(child, Element) and child.tag == "br":
                if pending_br is not None:
                    if "".join(text).strip():
                        runs.append((child, "".join(text)))
                    text = []
                    pending_br = None
                else:
                    pending_br = child
                continue
            if isinstance(child, Text):
                if child.data.strip():
                    if pending_br is not None:
                        text.append(" ")
                    pending_br = None
                text.append(child.data)
            elif isinstance(child, Element) and child.tag in INLINE:
                pending_br = None
                text.append(child.text)
            elif isinstance(child, Element) and _renders_nothing(child):
                continue  # an empty clearing <div>, a script: nothing a reader sees ends the run there
            elif isinstance(child, Element):
                text = []  # a block element ends the run without a blank line: not a paragraph of ours
                pending_br = None
        if "".join(text).strip():
            # The last run of a block split by blank lines is a paragraph too, ended by the block's end: the
            # block stands for it, and a unit after it goes right after the block.
            runs.append((parent, "".join(text)))
    return runs


# Shown even when empty: images, rules, form controls, frames and media.
_SHOWN_EMPTY = VOID | BOXES


def _renders_nothing(el: Element) -> bool:
    """Whether a block shows a reader nothing: code, or an element (not an image, a rule, a control or
    media) holding only whitespace and comments.

    Only its own children are read, never its text: br_runs asks this of the blocks of every parent with a
    blank line, and reading the text of nested blocks at each level would be quadratic."""
    if el.tag in CODE:
        return True
    if el.tag in _SHOWN_EMPTY:
        return False
    for child in el.children:
        if isinstance(child, Element) or (isinstance(child, Text) and child.data.strip()):
            return False
    return True


def code_free_texts(doc: Document) -> dict[Element, tuple[str, int]]:
    """The text and words of each <p> holding a script, a style sheet or a template, that code left out.

    An element's text includes the code inside it, which no reader sees: a <p> holding an ad script
    would count as a paragraph of a thousand words. Such <p>s are few, and found from the code upwards
    (the document's tag index answers the select), so pages without them pay one small query."""
    out: dict[Element, tuple[str, int]] = {}
    # One query per tag: a selector list is matched element by element over the whole page (~100 µs on a
    # news page), a single compound selector goes through the tag index (~2 µs).
    for selector in _CODE_IN_P:
        for code in doc.select(selector):
            holder = code.closest("p")
            if holder is not None and holder not in out:
                text = "".join(_readable_strings(holder))
                out[holder] = (text, count_words(text))
    return out


_CODE_IN_P = tuple(f"p {tag}" for tag in sorted(CODE))


def _readable_strings(el: Element) -> list[str]:
    out: list[str] = []
    # A stack of child iterators rather than recursion: a deeply nested paragraph cannot exhaust the
    # interpreter's recursion limit.
    stack = [iter(el.children)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif isinstance(child, Text):
            out.append(child.data)
        elif isinstance(child, Element) and child.tag not in CODE:
            stack.append(iter(child.children))
    return out


def extra_paragraphs(
    container: Element, rule: Rule, words: dict[Element, tuple[str, int]], *, auto: bool
) -> tuple[list[tuple[Element, str]], set[Element]]:
    """Paragraphs no selector finds, each with its text: runs of text between blank lines, and under
    `container: auto` the `<div>`s of text a container may be written in. Only while `paragraphs` is `p`.
    Also the blocks among them that stand for their last run of text."""
    if rule.paragraphs.strip() != "p":
        return [], set()
    runs = br_runs(container) if rule.br_paragraphs else []
    blocks = {el for el, _ in runs if el.tag != "br"}
    if auto:  # a block standing for its last run is no text <div> as well
        runs.extend(item for item in div_paragraphs(container, words) if item[0] not in blocks)
    return runs, blocks


def run_order(el: Element) -> tuple[int, int]:
    """Where a paragraph sits in document order: a block standing for its last run of text sits at its end."""
    if el.tag != "br" and el.tag not in ("p", "li"):
        loc = el.source_location
        if loc is not None and loc.end_tag is not None:
            return loc.end_tag.start_line, loc.end_tag.start_col
    return el.position or (0, 0)
