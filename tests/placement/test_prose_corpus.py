"""On the real pages of the corpus, the prose judgement leaves out lines that are not the article and keeps
the article's paragraphs. The article text of each page is its expected.html (Readability's extraction),
read with lxml by tests/_support/article_text.py, not by the engine.

Readability keeps some credits and notes in its extraction, so these tests compare the judgement on and
off over the whole corpus rather than asking every page to agree with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from turbohtml import Element

from adinject.language.schema import Rule
from adinject.page.model import parse_text
from adinject.placement.paragraphs import Candidate, collect
from adinject.placement.planner import _find_container
from tests._support.article_text import WORD, Article, not_a_paragraph
from tests._support.corpus import READABILITY, readability_pages, require
from tests._support.engine import rules_from

pytestmark = pytest.mark.corpus

PLACE = [{"unit": "u", "after_paragraph": 2, "repeat_every": 4, "max": 3}]
# Every line of a word or more reaches the judgement, so that these tests judge it rather than the default
# min_paragraph_words (5), which leaves the shortest lines out before it.
ON = Rule.model_validate({"name": "on", "container": "auto", "min_paragraph_words": 1, "place": PLACE})
OFF = Rule.model_validate(
    {
        "name": "off",
        "container": "auto",
        "min_paragraph_words": 1,
        "boilerplate_filter": False,
        "place": PLACE,
    }
)

# Lines a template puts into article bodies, in the words of issue 12 and of the notes on article text:
# written here independently of the classifier's own patterns. None of them is a paragraph of a story.
KNOWN_BOILERPLATE = re.compile(
    r"^(?:by|posted by|written by)\s+\S+(?:\s+\S+){0,3}$|^(?:updated|published)\b.*\d|filed under|"
    r"^advertisement$|^(?:follow|subscribe|sign up)\b|you may also like|share (?:this|it)|appears in print|"
    r"tell us what you think|all rights reserved|^[\W\d_]+$|^photo(?:graph)?\s*:|^related\s*:|^read more\b",
    re.IGNORECASE,
)


@dataclass
class Judged:
    page: str
    article: Article
    on: list[Candidate]
    off: list[Candidate]


def _candidates(source: str, rule: Rule) -> list[Candidate]:
    doc = parse_text(source)
    words: dict[Element, tuple[str, int]] = {}
    container, _ = _find_container(doc, rule, words)
    if container is None:
        return []
    return collect(container, rule, words, auto=True)


@pytest.fixture(scope="module")
def judged() -> list[Judged]:
    require(READABILITY)
    out = []
    for page in readability_pages():
        source = (page / "source.html").read_bytes().decode("utf-8", "replace")
        article = Article.read((page / "expected.html").read_bytes())
        out.append(Judged(page.name, article, _candidates(source, ON), _candidates(source, OFF)))
    return out


def _counted(candidates: list[Candidate]) -> list[Candidate]:
    return [c for c in candidates if c.counted]


def test_most_counted_lines_that_are_not_article_text_are_left_out(judged: list[Judged]) -> None:
    off = sum(1 for j in judged for c in _counted(j.off) if not j.article.holds(c.text))
    on = sum(1 for j in judged for c in _counted(j.on) if not j.article.holds(c.text))
    assert off >= 100, "the corpus should hold boilerplate lines for this test to mean anything"
    assert on <= off // 2, (on, off)


def test_the_articles_paragraphs_stay_counted(judged: list[Judged]) -> None:
    # Paragraphs of the article of 15 words or more: almost all are prose, and the few Readability keeps
    # that are credits or related links may go.
    def long_article_paragraphs(j: Judged, candidates: list[Candidate]) -> int:
        return sum(1 for c in _counted(candidates) if c.words >= 15 and j.article.holds(c.text))

    off = sum(long_article_paragraphs(j, j.off) for j in judged)
    on = sum(long_article_paragraphs(j, j.on) for j in judged)
    assert off >= 1000
    assert on >= off * 0.99, (on, off)


def test_no_known_boilerplate_line_is_counted_where_the_article_text_lacks_it(judged: list[Judged]) -> None:
    def known(j: Judged, candidates: list[Candidate]) -> list[str]:
        return [
            f"{j.page}: {' '.join(c.text.split())[:80]!r}"
            for c in _counted(candidates)
            if KNOWN_BOILERPLATE.search(" ".join(c.text.split())) and not j.article.holds(c.text)
        ]

    assert len([line for j in judged for line in known(j, j.off)]) >= 10
    assert [line for j in judged for line in known(j, j.on)] == []


def test_no_page_with_article_prose_in_its_body_loses_its_units(judged: list[Judged], tmp_path: Path) -> None:
    """A page whose body holds three paragraphs of the article (15 words or more) still gets units."""
    units = "units:\n  u:\n    html: '<div class=\"u\">AD</div>'\n"
    place = "    place: [{unit: u, after_paragraph: 2, repeat_every: 4, max: 3}]\n"
    on = rules_from(tmp_path, f"{units}rules:\n  - name: r\n    container: auto\n{place}")
    lost = []
    for j in judged:
        prose = [c for c in _counted(j.off) if c.words >= 15 and j.article.holds(c.text)]
        if len(prose) < 3:
            continue
        source = (READABILITY / j.page / "source.html").read_bytes()
        if not on.apply(source, url="/a", headers={"content-type": "text/html"}).insertions:
            lost.append(j.page)
    assert lost == []


def test_author_bios_and_credit_lines_at_the_foot_are_not_counted(judged: list[Judged]) -> None:
    """The judge's own reading of credits and bios (tests/_support/article_text.py, not the engine's
    patterns) finds them counted with the filter off and almost never with it on."""

    def credits(candidates: list[Candidate]) -> list[str]:
        return [c.text for c in _counted(candidates) if not_a_paragraph(WORD.findall(c.text.lower()))]

    off = [line for j in judged for line in credits(j.off)]
    on = [line for j in judged for line in credits(j.on)]
    assert len(off) >= 10, off
    assert len(on) <= len(off) // 20, on
