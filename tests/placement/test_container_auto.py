"""`container: auto` on real pages: units land after article paragraphs, and articles get units.

Judged against Readability's extraction of each page (expected.html), with html5lib reading our output, so
neither the placement code nor turbohtml grades itself.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import html5lib
import pytest

from adinject.engine import Rules
from tests._support.corpus import AUTO_RULES, READABILITY, readability_pages, require
from tests._support.engine import rules_from

# The judge's own, plain notion of a word (a run of letters or digits), independent of the engine's.
WORD = re.compile(r"\w+")
NS = "{http://www.w3.org/1999/xhtml}"
INLINE = {
    "a",
    "abbr",
    "b",
    "cite",
    "code",
    "em",
    "font",
    "i",
    "mark",
    "q",
    "s",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "time",
    "u",
}


def _text(el: object) -> str:
    return "".join(el.itertext())  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def auto_rules(tmp_path_factory: pytest.TempPathFactory) -> Rules:
    return rules_from(tmp_path_factory.mktemp("auto"), AUTO_RULES)


def _text_before(unit: Any, parent: Any) -> str:
    """The text of what the unit follows: the element just before it, or, when the unit follows a blank
    line (<br><br>) of text laid out with line breaks, the run of text before that blank line."""
    siblings = list(parent)
    index = siblings.index(unit)
    if index == 0:
        return ""
    before = siblings[index - 1]
    if before.tag != f"{NS}br" or (before.tail or "").strip():
        return _text(before)
    pieces: list[str] = []
    i = index - 1
    while i >= 0 and siblings[i].tag == f"{NS}br" and not (siblings[i].tail or "").strip():
        i -= 1  # the blank line itself
    while i >= 0:
        el = siblings[i]
        if el.tag == f"{NS}br" or el.tag.replace(NS, "") not in INLINE:
            pieces.append(el.tail or "")
            break
        pieces.append(_text(el) + (el.tail or ""))
        i -= 1
    else:
        pieces.append(parent.text or "")
    return "".join(reversed(pieces))


MEDIA = {
    f"{NS}{tag}" for tag in ("img", "iframe", "video", "figure", "picture", "embed", "h1", "h2", "h3", "h4")
}
UNSEEN = {f"{NS}{tag}" for tag in ("script", "style", "noscript", "template", "br")}


def _edge_media(el: Any, *, last: bool) -> bool:
    """Whether what a reader sees at the top (or bottom) of `el` is media or a heading, looking through
    wrappers, whitespace, comments and empty elements: the judge's own walk over html5lib's tree."""
    if not isinstance(el.tag, str) or el.tag in UNSEEN or el.get("hidden") is not None:
        return False
    if el.tag in MEDIA:
        return True
    kids = [k for k in el if isinstance(k.tag, str)]
    texts = [el.text or ""] + [k.tail or "" for k in kids]
    order = list(range(len(kids)))
    if last:
        if texts[-1].strip():
            return False
        order.reverse()
    elif texts[0].strip():
        return False
    for i in order:
        if _edge_media(kids[i], last=last):
            return True
        if "".join(kids[i].itertext()).strip() or kids[i].tag in UNSEEN - {f"{NS}br"}:
            return False
        between = texts[i] if last else texts[i + 1]
        if between.strip():
            return False
    return False


def _beside_media(unit: Any, parents: dict[Any, Any]) -> bool:
    siblings = list(parents[unit])
    index = siblings.index(unit)
    before = siblings[index - 1] if index > 0 else None
    above = before is not None and not (before.tail or "").strip() and _edge_media(before, last=True)
    # Below: the next thing after the unit, or, when it ends its parent, after the parent (and so on up).
    node = unit
    while not (node.tail or "").strip() and node in parents:
        siblings = list(parents[node])
        index = siblings.index(node)
        if index + 1 < len(siblings):
            return above or _edge_media(siblings[index + 1], last=False)
        node = parents[node]
        if node.tag == f"{NS}body":
            break
    return above


def _judge_encoding(source: bytes) -> str:
    try:
        source.decode("utf-8")
    except UnicodeDecodeError:
        return "windows-1252"
    return "utf-8"


def _judge(rules: Rules, page: Path) -> tuple[int, int, bool, int, int]:
    """(units after an article paragraph, units elsewhere, page covered?, article paragraphs of 8+ words,
    units right beside media or a heading)."""
    source = (page / "source.html").read_bytes()
    # Readability wrote expected.html as UTF-8 without a charset declaration.
    expected = html5lib.parse(
        (page / "expected.html").read_bytes(), namespaceHTMLElements=True, transport_encoding="utf-8"
    )
    article_words = Counter(w.lower() for w in WORD.findall(_text(expected)))
    article_paras = [p for p in expected.iter(f"{NS}p") if len(WORD.findall(_text(p))) >= 8]
    result = rules.apply(source, url="/article", headers={"content-type": "text/html"})
    # Readability read every page as UTF-8 when it was valid UTF-8 (some pages were saved re-encoded with
    # their old <meta charset> left in), so the judge reads our output the same way.
    tree = html5lib.parse(result.body, namespaceHTMLElements=True, transport_encoding=_judge_encoding(source))
    parents = {child: parent for parent in tree.iter() for child in parent}
    good = bad = media = 0
    for div in tree.iter(f"{NS}div"):
        if div.get("class") != "slot":
            continue
        media += _beside_media(div, parents)
        words = [w.lower() for w in WORD.findall(_text_before(div, parents[div]))]
        in_article = sum(1 for w in words if article_words[w] > 0)
        if words and in_article >= 0.8 * len(words):
            good += 1
        else:
            bad += 1
    return good, bad, good + bad > 0, len(article_paras), media


@pytest.mark.corpus
@pytest.mark.slow
def test_auto_container_lands_between_article_paragraphs(auto_rules: Rules) -> None:
    require(READABILITY)
    good = bad = pages6 = covered6 = beside = 0
    misses: list[str] = []
    for page in readability_pages():
        g, b, covered, paras, media = _judge(auto_rules, page)
        good += g
        bad += b
        beside += media
        if paras >= 6:
            pages6 += 1
            covered6 += covered
            if not covered:
                misses.append(page.name)
    precision = good / max(1, good + bad)
    coverage = covered6 / max(1, pages6)
    print(
        f"\nauto container: {good}/{good + bad} units after an article paragraph ({precision:.1%}); "
        f"{covered6}/{pages6} pages with 6+ article paragraphs covered ({coverage:.1%}); misses: {misses}; "
        f"{beside} beside media"
    )
    assert precision >= 0.98
    # Two pages (ehow-1, simplyfound-1) have an image right below every paragraph, behind empty wrappers:
    # keep_away_from sees it, so they get no unit, as the rules ask. breitbart's story has five paragraphs
    # with an <iframe> after the second; its unit used to shift to after the fifth because the author bio
    # below ("Lucas Nolan is a reporter for …") counted as a sixth, and a unit is not shifted past the
    # article's last paragraph.
    assert coverage >= 0.91
    assert beside <= 0.02 * (good + bad)
