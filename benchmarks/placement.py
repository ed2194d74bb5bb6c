"""Where units land on real article pages (`make bench-placement`), judged against the article text.

Issue 12's two rule files, with `container: auto`, run through the public API (`load_rules`, `apply`)
over every page of the readability corpus. Each output page is then re-parsed with lxml (never with the
engine's own code, so the judge is independent of what it judges) and each unit is judged by what a reader
sees around it:

- *after article text*: the ten words rendered right before the unit are a run of the page's article text
  (the text of its `expected.html`, whitespace and case normalised, compared word by word);
- *beside media*: the last rendered content before the unit, or the first after it, is an image, picture,
  video, iframe, embed, figure or heading, however deeply nested (text inside a figure or heading counts
  as that element);
- *two from the end* (the `after_paragraph: -3` file only): exactly two article paragraphs of five words
  or more follow the unit, counted in `expected.html` from where the unit's preceding words sit in it.

A MISS never fails the build: these are measurements, reported in the issue's closing note.
"""

from __future__ import annotations

import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this folder is sys.path[0], and its http.py would shadow the standard library's http
# package: put the repository root there instead.
sys.path[0] = str(ROOT)

import lxml.html  # noqa: E402
from html5lib._inputstream import HTMLBinaryInputStream  # noqa: E402
from lxml.etree import _Element  # noqa: E402

from adinject.engine import Rules, load_rules  # noqa: E402
from tests._support.corpus import READABILITY, readability_pages  # noqa: E402

HEADERS = {"content-type": "text/html"}
SLOT_CLASS = "adinject-bench-slot"
UNITS = f"""\
units:
  slot:
    html: |
      <div class="{SLOT_CLASS}" id="{{{{ slot.id }}}}"><p>Advertisement</p></div>
"""
MEDIA_AWAY = "[h1, h2, h3, h4, h5, h6, figure, img, picture, video, iframe, embed, object, audio]"
RULE_FILES = {
    "every-4 (after_paragraph: 2, repeat_every: 4, max: 3)": UNITS
    + f"""\
rules:
  - name: every-four
    container: auto
    place:
      - unit: slot
        after_paragraph: 2
        repeat_every: 4
        max: 3
        keep_away_from: {MEDIA_AWAY}
""",
    "from-end (after_paragraph: -3)": UNITS
    + """\
rules:
  - name: from-end
    container: auto
    place:
      - unit: slot
        after_paragraph: -3
""",
}
TARGET_ARTICLE, TARGET_MEDIA, TARGET_FROM_END = 0.98, 0.02, 0.80

MEDIA = frozenset(
    {"img", "picture", "video", "iframe", "embed", "figure", "h1", "h2", "h3", "h4", "h5", "h6"}
)
UNRENDERED = frozenset({"head", "script", "style", "noscript", "template", "title", "meta", "link"})
# Elements whose edges separate words; inline ones (a, b, span…) do not, so "<b>Hel</b>lo" stays one word.
INLINE = frozenset(
    {"a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i", "kbd", "mark", "q"}
    | {"s", "samp", "small", "span", "strike", "strong", "sub", "sup", "time", "tt", "u", "var", "wbr"}
    | {"big", "nobr", "label"}
)
# Chinese and Japanese characters are a word each (as in rules/README.md): runs of them are whole
# sentences.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
WORD = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+")
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden")


def parse(data: bytes) -> _Element:
    """The page decoded (UTF-8 when it is valid UTF-8, as the corpus's files were saved whatever their
    <meta> says; else as html5lib sniffs it, since libxml2 gives up on some legacy encodings), then parsed
    by lxml."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode(HTMLBinaryInputStream(data).charEncoding[0].name, errors="replace")
    return lxml.html.document_fromstring(text)


def _tag(el: _Element) -> str:
    return el.tag.lower() if isinstance(el.tag, str) else ""


def _hidden(el: _Element) -> bool:
    if el.get("hidden") is not None or el.get("aria-hidden") == "true":
        return True
    if el.get("type") == "hidden":
        return True
    return bool(HIDDEN_STYLE.search(el.get("style") or ""))


def _pixel(el: _Element) -> bool:
    # A 1x1 tracking image is nothing a reader sees.
    return _tag(el) == "img" and (el.get("width") in ("0", "1") or el.get("height") in ("0", "1"))


@dataclass
class Stream:
    """A page as a reader meets it: words in order, each with what it sits in, and the media and units
    between them. `items` holds ("word", kind, token), ("media", tag, ""), ("unit", "", "")."""

    items: list[tuple[str, str, str]] = field(default_factory=list)

    def add_text(self, text: str | None, kind: str) -> None:
        if text:
            self.items.extend(("word", kind, w) for w in WORD.findall(text.lower()))

    def boundary(self) -> None:
        self.items.append(("break", "", ""))


def render(root: _Element) -> Stream:
    stream = Stream()
    _walk(root, stream, "text")
    return stream


def _walk(el: _Element, stream: Stream, kind: str) -> None:
    tag = _tag(el)
    if tag and tag not in UNRENDERED and not _hidden(el):
        if SLOT_CLASS in (el.get("class") or "").split():
            stream.items.append(("unit", "", ""))
        else:
            _walk_rendered(el, tag, stream, kind)
    # Comments and unrendered elements still have their tail: text that follows them in their parent.
    stream.add_text(el.tail, kind)


def _walk_rendered(el: _Element, tag: str, stream: Stream, kind: str) -> None:
    block = tag not in INLINE
    if block:
        stream.boundary()
    media = tag in MEDIA and not _pixel(el)
    inner = tag if media else kind
    # A media element is content at both its edges: what comes right before it and right after it.
    if media:
        stream.items.append(("media", tag, ""))
    stream.add_text(el.text, inner)
    for child in el:
        _walk(child, stream, inner)
    if media:
        stream.items.append(("media", tag, ""))
    if block:
        stream.boundary()


@dataclass
class Article:
    """The article text of a page (its expected.html): its words, where each paragraph of five words or
    more starts among them, and every run of ten words, for lookups."""

    words: list[str]
    paragraph_starts: list[int]
    grams: dict[tuple[str, ...], int]

    @classmethod
    def read(cls, data: bytes) -> Article:
        reader = _ArticleReader()
        reader.walk(parse(data), counted=True)
        words = reader.words
        grams: dict[tuple[str, ...], int] = {}
        for i in range(len(words)):
            for n in range(1, 11):
                if i + n <= len(words):
                    grams.setdefault(tuple(words[i : i + n]), i + n)
        return cls(words, reader.starts, grams)

    def end_of(self, before: list[str]) -> int | None:
        """Where in the article the words `before` end, if they are a run of it."""
        return self.grams.get(tuple(before)) if before else None

    def paragraphs_after(self, position: int) -> int:
        return sum(1 for s in self.paragraph_starts if s >= position)


# Blocks whose own runs of text are paragraphs to a reader (pages that write paragraphs as <div>s or as
# text between <br><br>); list items, table cells, captions and headings are not paragraphs.
RUN_BLOCKS = frozenset({"body", "main", "article", "section", "div", "blockquote", "center"})
NOT_PARAGRAPH = frozenset({"li", "td", "th", "dt", "dd", "figcaption", "caption", "figure", "pre"})
NOT_PARAGRAPH |= {"h1", "h2", "h3", "h4", "h5", "h6"}


class _ArticleReader:
    """Every rendered word of the article in order, and where each paragraph of five words or more starts:
    each <p>, and each run of text directly in a block of RUN_BLOCKS, ended by a block or <br><br>."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.starts: list[int] = []

    def _close(self, start: int | None) -> None:
        if start is not None and len(self.words) - start >= 5:
            self.starts.append(start)

    def _text(self, text: str | None) -> None:
        if text:
            self.words.extend(WORD.findall(text.lower()))

    def walk(self, el: _Element, counted: bool) -> None:
        tag = _tag(el)
        if not tag or tag in UNRENDERED or _hidden(el):
            return
        if tag == "p" and counted:
            start = len(self.words)
            self._inside(el, counted=False)
            self._close(start)
        elif tag in RUN_BLOCKS and counted:
            self._runs(el)
        else:
            self._inside(el, counted=counted and tag not in NOT_PARAGRAPH)

    def _inside(self, el: _Element, counted: bool) -> None:
        self._text(el.text)
        for child in el:
            self.walk(child, counted)
            self._text(child.tail)

    def _runs(self, el: _Element) -> None:
        start: int | None = len(self.words)
        last_br = False
        self._text(el.text)
        for child in el:
            ctag = _tag(child)
            if ctag == "br" and last_br:
                self._close(start)
                start = len(self.words)
            elif ctag and ctag not in INLINE and ctag != "br":
                self._close(start)
                self.walk(child, counted=True)
                start = len(self.words)
            elif ctag in INLINE:
                self.walk(child, counted=False)
            last_br = ctag == "br"
            if (child.tail or "").strip():
                last_br = False
            self._text(child.tail)
        self._close(start)


@dataclass
class Tally:
    pages: int = 0
    covered: int = 0
    units: int = 0
    after_article: int = 0
    beside_media: int = 0
    two_from_end: int = 0
    examples: list[str] = field(default_factory=list)
    ends: list[str] = field(default_factory=list)


def judge_page(stream: Stream, article: Article, tally: Tally, name: str) -> None:
    items = stream.items
    for i, (what, _, _) in enumerate(items):
        if what != "unit":
            continue
        tally.units += 1
        before = [t for w, _, t in _preceding(items, i)]
        end = article.end_of(before)
        if end is not None:
            tally.after_article += 1
        else:
            tally.examples.append(f"{name}: after non-article text {' '.join(before)!r}")
        above, below = _last_content(items, i, -1), _last_content(items, i, 1)
        if _media_kind(above) or _media_kind(below):
            tally.beside_media += 1
            sides = [
                f"{side} <{item[1]}>"
                for side, item in (("below", above), ("above", below))
                if _media_kind(item)
            ]
            tally.examples.append(f"{name}: unit {' and '.join(sides)}")
        following = article.paragraphs_after(end) if end is not None else None
        if following == 2:
            tally.two_from_end += 1
        else:
            tally.ends.append(f"{name}: {following} article paragraphs after")


def _preceding(items: list[tuple[str, str, str]], i: int) -> list[tuple[str, str, str]]:
    words: list[tuple[str, str, str]] = []
    j = i - 1
    while j >= 0 and len(words) < 10:
        if items[j][0] == "word":
            words.append(items[j])
        j -= 1
    return words[::-1]


def _last_content(items: list[tuple[str, str, str]], i: int, step: int) -> tuple[str, str, str] | None:
    j = i + step
    while 0 <= j < len(items):
        if items[j][0] in ("word", "media"):
            return items[j]
        j += step
    return None


def _media_kind(item: tuple[str, str, str] | None) -> bool:
    return item is not None and item[1] in MEDIA


def _rules(yaml_text: str) -> Rules:
    folder = Path(tempfile.mkdtemp(prefix="adinject-bench-placement-"))
    (folder / "rules.yaml").write_text(yaml_text)
    return load_rules(folder)


def run(label: str, yaml_text: str, pages: list[tuple[str, bytes, Article]], verbose: bool) -> Tally:
    rules = _rules(yaml_text)
    tally = Tally()
    for name, source, article in pages:
        tally.pages += 1
        result = rules.apply(source, url="/a", headers=HEADERS)
        if result.insertions:
            tally.covered += 1
        stream = render(parse(result.body))
        judge_page(stream, article, tally, name)
        unseen = len(result.insertions) - sum(1 for item in stream.items if item[0] == "unit")
        if unseen > 0:  # inside something hidden: no reader sees it, so it follows no article text
            tally.units += unseen
            tally.examples.append(f"{name}: {unseen} unit(s) hidden from readers")
    if verbose:
        print(f"# {label}: units after non-article text or beside media")
        for line in tally.examples:
            print(f"  {line}")
        if "-3" in label:
            print("# units not followed by exactly two article paragraphs")
            for line in tally.ends:
                print(f"  {line}")
    return tally


def _share(n: int, d: int) -> str:
    return f"{n / d:6.1%}" if d else "     -"


def report(label: str, t: Tally, from_end: bool) -> None:
    print(f"\n{label}")
    print(f"  {'pages':34} {t.pages}")
    print(f"  {'pages covered (>= 1 unit)':34} {t.covered}")
    print(f"  {'units':34} {t.units}")
    article = t.after_article / t.units if t.units else 0.0
    media = t.beside_media / t.units if t.units else 0.0
    print(
        f"  {'after article text (ten words)':34} {_share(t.after_article, t.units)} "
        f"({t.after_article}/{t.units})  target >= {TARGET_ARTICLE:.0%} "
        f"{'PASS' if article >= TARGET_ARTICLE else 'MISS'}"
    )
    print(
        f"  {'beside media (above or below)':34} {_share(t.beside_media, t.units)} "
        f"({t.beside_media}/{t.units})  target <= {TARGET_MEDIA:.0%} "
        f"{'PASS' if media <= TARGET_MEDIA else 'MISS'}"
    )
    if from_end:
        two = t.two_from_end / t.units if t.units else 0.0
        print(
            f"  {'exactly two article paragraphs after':34} {_share(t.two_from_end, t.units)} "
            f"({t.two_from_end}/{t.units})  target >= {TARGET_FROM_END:.0%} "
            f"{'PASS' if two >= TARGET_FROM_END else 'MISS'}"
        )


def main() -> None:
    if not READABILITY.is_dir():
        print(f"corpus not found at {READABILITY}: nothing to measure")
        return
    verbose = "-v" in sys.argv[1:]
    pages = [
        (p.name, (p / "source.html").read_bytes(), Article.read((p / "expected.html").read_bytes()))
        for p in readability_pages()
        if (p / "expected.html").is_file()
    ]
    print(f"readability corpus: {len(pages)} pages with expected.html, container: auto")
    for label, yaml_text in RULE_FILES.items():
        report(label, run(label, yaml_text, pages, verbose), from_end="-3" in label)


if __name__ == "__main__":
    main()
