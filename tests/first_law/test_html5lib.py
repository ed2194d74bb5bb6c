"""The html5lib tree-construction suite: ~1,500 hostile documents. No exception, byte-exact, units in place.

Units are asked for after *every* element of the page, so the engine meets each odd construct (misnested
formatting, tables, foreign content, templates, framesets, raw text) and must place correctly or refuse.
"""

from __future__ import annotations

import pytest

from adinject.engine import Rules
from tests._support.corpus import TREE_CONSTRUCTION, require
from tests._support.engine import everywhere_rules, rules_from
from tests._support.first_law import TEST_UNIT, check_first_law

TAGS = [
    "p",
    "div",
    "li",
    "td",
    "th",
    "tr",
    "table",
    "span",
    "b",
    "i",
    "a",
    "font",
    "em",
    "h1",
    "h2",
    "img",
    "br",
    "hr",
    "select",
    "option",
    "svg",
    "math",
    "template",
    "noscript",
    "form",
    "button",
    "section",
    "blockquote",
    "pre",
    "textarea",
    "dd",
    "dt",
    "ul",
    "frameset",
    "object",
    "marquee",
    "nobr",
    "caption",
    "foreignObject",
    "desc",
    "mi",
    "body",
    "head",
    "title",
    "script",
    "style",
    "input",
    "iframe",
    "ruby",
]


EVERYWHERE = everywhere_rules(TEST_UNIT, TAGS)


def documents() -> list[tuple[str, str]]:
    if not TREE_CONSTRUCTION.is_dir():
        return []
    docs: list[tuple[str, str]] = []
    for dat in sorted(TREE_CONSTRUCTION.glob("*.dat")):
        text = dat.read_text(encoding="utf-8")
        for index, block in enumerate(text.split("\n#data\n")):
            block = block.removeprefix("#data\n")
            data, sep, rest = block.partition("\n#errors")
            if not sep or "#document-fragment" in rest:
                continue
            docs.append((f"{dat.stem}-{index}", data))
    return docs


DOCS = documents()


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Rules:
    return rules_from(tmp_path_factory.mktemp("everywhere"), EVERYWHERE)


@pytest.mark.corpus
def test_suite_present() -> None:
    require(TREE_CONSTRUCTION)
    assert len(DOCS) > 1000


@pytest.mark.corpus
@pytest.mark.parametrize(("name", "data"), DOCS, ids=[d[0] for d in DOCS])
def test_tree_construction_document(name: str, data: str, rules: Rules) -> None:
    source = data.encode("utf-8", "surrogatepass")
    result = rules.apply(source, url="/", headers={"content-type": "text/html; charset=utf-8"})
    assert not any(s.code == "error" for s in result.skipped), result.skipped
    check_first_law(source, result, encoding="utf-8")
