"""`container: auto` on real pages: units land after article paragraphs, and articles get units.

Judged against Readability's extraction of each page (expected.html), with html5lib reading our output, so
neither the placement code nor turbohtml grades itself.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import html5lib
import pytest

from adinject.engine import Rules, load_rules
from tests.corpus import AUTO_RULES, READABILITY, readability_pages, require

# A word is a run of letters or digits; in Chinese and Japanese, which do not space words, each character.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")
NS = "{http://www.w3.org/1999/xhtml}"


def _text(el: object) -> str:
    return "".join(el.itertext())  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def auto_rules(tmp_path_factory: pytest.TempPathFactory) -> Rules:
    folder = tmp_path_factory.mktemp("auto")
    (folder / "auto.yaml").write_text(AUTO_RULES)
    return load_rules(folder)


def _judge_encoding(source: bytes) -> str:
    try:
        source.decode("utf-8")
    except UnicodeDecodeError:
        return "windows-1252"
    return "utf-8"


def _judge(rules: Rules, page: Path) -> tuple[int, int, bool, int]:
    """(units after an article paragraph, units elsewhere, page covered?, article paragraphs of 8+ words)."""
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
    good = bad = 0
    for div in tree.iter(f"{NS}div"):
        if div.get("class") != "slot":
            continue
        parent = parents[div]
        siblings = list(parent)
        before = siblings[siblings.index(div) - 1] if siblings.index(div) > 0 else None
        words = [w.lower() for w in WORD.findall(_text(before))] if before is not None else []
        in_article = sum(1 for w in words if article_words[w] > 0)
        if words and in_article >= 0.8 * len(words):
            good += 1
        else:
            bad += 1
    return good, bad, good + bad > 0, len(article_paras)


@pytest.mark.corpus
def test_auto_container_lands_between_article_paragraphs(auto_rules: Rules) -> None:
    require(READABILITY)
    good = bad = pages6 = covered6 = 0
    misses: list[str] = []
    for page in readability_pages():
        g, b, covered, paras = _judge(auto_rules, page)
        good += g
        bad += b
        if paras >= 6:
            pages6 += 1
            covered6 += covered
            if not covered:
                misses.append(page.name)
    precision = good / max(1, good + bad)
    coverage = covered6 / max(1, pages6)
    print(
        f"\nauto container: {good}/{good + bad} units after an article paragraph ({precision:.1%}); "
        f"{covered6}/{pages6} pages with 6+ article paragraphs covered ({coverage:.1%}); misses: {misses}"
    )
    assert precision >= 0.98
    assert coverage >= 0.95
