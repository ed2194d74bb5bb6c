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
  Readability keeps lines in `expected.html` that issue 12 itself says are not article paragraphs, and
  the judge does not count them as paragraphs (their words still count as article text): lines mostly
  of link text (related links), credits and author bios ("… contributed to this report", "Photo by …",
  "X is a metro reporter …", "X reported from Seoul"), print-edition and origin notes ("A version of
  this article appears in print", "This article originally appeared on …"), datelines ("first
  published …", "Posted on …") and calls to action ("Continue reading the main story", "Sign up …").
  The patterns are the judge's own (tests/_support/article_text.py), written from the issue's list, not
  taken from the engine's classifier. Short lines (twelve words or fewer) all in bold or all in capitals
  are subheadings, which the issue's list names too. Paragraphs inside an inline element around blocks
  (a `<span>` around the post body) are paragraphs, as a browser renders them. A run of ten words that
  occurs more than once (pages of identical paragraphs) is placed at the occurrence the reader has reached.

A MISS never fails the build: these are measurements, reported in the issue's closing note.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this folder is sys.path[0], and its http.py would shadow the standard library's http
# package: put the repository root there instead.
sys.path[0] = str(ROOT)

from adinject.engine import Rules, load_rules  # noqa: E402
from tests._support.article_text import MEDIA, Article, Stream, parse, render  # noqa: E402
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
        end = article.end_of(before, _occurrence(items, i, before))
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


def _occurrence(items: list[tuple[str, str, str]], i: int, before: list[str]) -> int:
    """How many times the run of words `before` has been read on the page up to item `i`: pages that
    repeat a paragraph word for word need the right copy."""
    words = [t for w, _, t in items[:i] if w == "word"]
    n = len(before)
    return sum(1 for j in range(n, len(words) + 1) if words[j - n : j] == before) if n else 0


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
        stream = render(parse(result.body), SLOT_CLASS)
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
    # The from-end file has no keep_away_from (issue 12 writes that rule without one): its media share is
    # shown, not judged. With the every-4 file's list it would pass (1%), but shifted units leave the
    # paragraph they asked for: 4 pages lose their unit and "exactly two after" falls by 12 points, so the
    # file would no longer measure what issue 12 asks of counting from the end.
    target = (
        "  no target: no keep_away_from"
        if from_end
        else (f"  target <= {TARGET_MEDIA:.0%} {'PASS' if media <= TARGET_MEDIA else 'MISS'}")
    )
    shown = f"{_share(t.beside_media, t.units)} ({t.beside_media}/{t.units})"
    print(f"  {'beside media (above or below)':34} {shown}{target}")
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
