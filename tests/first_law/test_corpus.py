"""Every real page goes through `apply` byte-exact, with every unit parsed where it was meant."""

from __future__ import annotations

from pathlib import Path

import pytest

from adinject.engine import Rules
from tests._support.corpus import AUTO_RULES, READABILITY, readability_pages, require
from tests._support.engine import rules_from
from tests._support.first_law import TEST_UNIT, check_first_law

DENSE = f"""\
units:
  u:
    html: '{TEST_UNIT}'
rules:
  - name: dense
    container: [body]
    paragraphs: "p, div, h2, img, li, section, span, blockquote, td"
    ignore_inside: []
    min_paragraph_words: 0
    min_paragraphs: 1
    boilerplate_filter: false  # a unit after every element, prose or not: where units may go is the point
    place:
      - unit: u
        after_paragraph: 1
        repeat_every: 1
"""


@pytest.fixture(scope="module")
def dense_rules(tmp_path_factory: pytest.TempPathFactory) -> Rules:
    return rules_from(tmp_path_factory.mktemp("dense"), DENSE)


@pytest.fixture(scope="module")
def auto_rules(tmp_path_factory: pytest.TempPathFactory) -> Rules:
    # The benchmark's rule, with the unit marked the way the first-law checker finds units.
    marked = AUTO_RULES.replace('<div class="slot"', '<div class="adinject-test-unit"')
    return rules_from(tmp_path_factory.mktemp("auto"), marked)


PAGES = readability_pages()


@pytest.mark.corpus
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_real_page_dense_units(page: Path, dense_rules: Rules) -> None:
    source = (page / "source.html").read_bytes()
    result = dense_rules.apply(source, url="/x", headers={"content-type": "text/html"})
    check_first_law(source, result, encoding=result.encoding)


@pytest.mark.corpus
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_real_page_auto_rule(page: Path, auto_rules: Rules) -> None:
    source = (page / "source.html").read_bytes()
    result = auto_rules.apply(source, url="/x", headers={"content-type": "text/html"})
    check_first_law(source, result, encoding=result.encoding)


def test_corpus_present_or_skipped() -> None:
    require(READABILITY)
    assert len(PAGES) >= 100
