"""Articles built otherwise, on the real pages of the corpus: units after lists and wrappers, after the last
<br><br> run and next to nothing a keep_away_from names keep the first law, and count what Readability
counts."""

from __future__ import annotations

import re
from pathlib import Path

import html5lib
import pytest

from adinject.engine import Rules
from tests._support.corpus import READABILITY, readability_pages, require
from tests._support.engine import rules_from
from tests._support.first_law import TEST_UNIT, check_first_law

H = {"content-type": "text/html"}
NS = "{http://www.w3.org/1999/xhtml}"
WORD = re.compile(r"\w+")
TAG = re.compile(r"<[^>]*>")

# Every counted paragraph, list items included, wanted after each: the harshest rules for the new paths
# (after the list, after an inline wrapper, after the block of a last run, around a quotation, before a
# paragraph), with the page's slots too.
WRAPPED = f"""\
settings:
  page_ad_slots: "[id^=div-gpt-ad], .ad, .advertisement"
units:
  u:
    html: '{TEST_UNIT}'
rules:
  - name: items
    container: auto
    paragraphs: "p, li"
    ignore_inside: []
    place:
      - unit: u
        after_paragraph: 1
        repeat_every: 1
        keep_away_from: [h2, h3, figure, img, iframe, video]
  - name: runs
    container: [body]
    place:
      - unit: u
        after_paragraph: 1
        repeat_every: 1
  - name: before
    container: auto
    place:
      - unit: u
        before_paragraph: 2
        repeat_every: 1
"""

PAGES = readability_pages()


@pytest.fixture(scope="module")
def wrapped_rules(tmp_path_factory: pytest.TempPathFactory) -> Rules:
    return rules_from(tmp_path_factory.mktemp("wrapped"), WRAPPED)


@pytest.mark.corpus
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_units_after_wrappers_and_last_runs_keep_the_first_law(page: Path, wrapped_rules: Rules) -> None:
    source = (page / "source.html").read_bytes()
    result = wrapped_rules.apply(source, url="/x", headers=H)
    check_first_law(source, result, encoding=result.encoding)


BR_RULE = f"""\
units:
  u:
    html: '{TEST_UNIT}'
rules:
  - name: runs
    container: article
    min_paragraph_words: 5
    place:
      - unit: u
        after_paragraph: 1
        repeat_every: 1
"""


@pytest.mark.corpus
def test_br_blocks_count_the_paragraphs_readability_finds(tmp_path: Path) -> None:
    """replace-brs writes its article as text split by <br><br>, the last run of each block without one:
    every paragraph of Readability's extraction (of five words or more) is counted, and a unit follows each
    one's last words."""
    require(READABILITY)
    page = READABILITY / "replace-brs"
    source = (page / "source.html").read_bytes()
    expected = html5lib.parse((page / "expected.html").read_bytes(), transport_encoding="utf-8")
    texts = [" ".join(p.itertext()) for p in expected.iter(f"{NS}p")]
    paragraphs = [text for text in texts if len(WORD.findall(text)) >= 5]
    assert len(paragraphs) == 4  # two of them the last run of their block
    result = rules_from(tmp_path, BR_RULE).apply(source, url="/x", headers=H)
    check_first_law(source, result, encoding=result.encoding)
    assert len(result.insertions) == len(paragraphs)
    text = result.body.decode()
    for ins, paragraph in zip(result.insertions, paragraphs, strict=True):
        # The unit's offset is in the original page: the words right before it end the paragraph.
        before = WORD.findall(TAG.sub(" ", source[: ins.offset].decode()))
        last = WORD.findall(paragraph)[-2:]
        assert before[-len(last) :] == last
    assert text.count("adinject-test-unit") == len(paragraphs)
