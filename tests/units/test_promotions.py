"""Data-fed units: house promotions from a data file in the rules folder, chosen by section and tags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adinject.engine import load_rules
from adinject.language.loader import load_rule_set
from adinject.language.schema import Promotion
from adinject.units.promotions import choose, page_tags
from tests._support.engine import article
from tests._support.first_law import check_first_law
from tests._support.language import problems_of

H = {"content-type": "text/html; charset=utf-8"}

RULES = """\
units:
  promo:
    promotions: {{file: {file}, count: {count}}}
    html: |
      <aside class="promo" id="{{{{ slot.id }}}}">
      {{% for item in promotions %}}
        <a href="{{{{ item.url }}}}" data-label="{{{{ item.label }}}}">{{{{ item.title }}}}</a>
      {{% endfor %}}
      </aside>
rules:
  - name: house
    pages: {{paths: ["/news/**"]}}
    container: article
    place:
      - {{unit: promo, after_paragraph: 1}}
"""

PROMOTIONS = """\
promotions:
  - title: The Politics Briefing
    url: /newsletters/politics
    sections: [Politics]
    tags: [elections]
  - title: Election night live
    url: /live/elections
    label: Live
    tags: [Elections, Europe]
  - title: Climate desk
    url: /climate
    tags: [climate]
  - title: Subscribe
    url: /subscribe
"""


def folder(tmp_path: Path, *, data: str = PROMOTIONS, file: str = "promotions.yaml", count: int = 1) -> Path:
    rules = tmp_path / "rules"
    (rules / file).parent.mkdir(parents=True, exist_ok=True)
    (rules / "site.yaml").write_text(RULES.format(file=file, count=count))
    (rules / file).write_text(data)
    return rules


def page(head: str) -> bytes:
    return article(3, head=head)


def titles(body: bytes) -> list[str]:
    text = body.decode()
    return [part.split("</a>")[0].split(">")[-1] for part in text.split("<a href=")[1:]]


SECTION = '<meta property="article:section" content="politics">'
TAGS = '<meta property="article:tag" content="Europe"><meta property="article:tag" content="ELECTIONS">'


@pytest.mark.parametrize(
    ("head", "count", "expected"),
    [
        # A section match outranks any number of shared tags.
        (SECTION + TAGS, 4, ["The Politics Briefing", "Election night live", "Subscribe"]),
        # Two shared tags outrank one; items matching nothing stay out; the evergreen comes last.
        (TAGS, 4, ["Election night live", "The Politics Briefing", "Subscribe"]),
        ('<meta name="keywords" content="Climate, weather">', 4, ["Climate desk", "Subscribe"]),
        ("", 4, ["Subscribe"]),
        (SECTION + TAGS, 1, ["The Politics Briefing"]),
    ],
)
def test_promotions_are_chosen_by_section_then_shared_tags(
    tmp_path: Path, head: str, count: int, expected: list[str]
) -> None:
    rules = load_rules(folder(tmp_path, count=count))
    source = page(head)
    result = rules.apply(source, url="/news/a", headers=H)
    check_first_law(source, result, mark="promo")
    assert titles(result.body) == expected


def test_the_template_sees_every_field(tmp_path: Path) -> None:
    rules = load_rules(folder(tmp_path))
    result = rules.apply(page(TAGS), url="/news/a", headers=H)
    assert b'<a href="/live/elections" data-label="Live">Election night live</a>' in result.body


def test_no_suitable_promotion_skips_the_unit(tmp_path: Path) -> None:
    data = "promotions:\n  - {title: Politics, url: /p, sections: [Politics]}\n"
    rules = load_rules(folder(tmp_path, data=data))
    result = rules.apply(page(""), url="/news/a", headers=H)
    assert result.insertions == []
    (skip,) = result.skipped
    assert skip.code == "no_promotion" and "promotions.yaml" in skip.reason


def test_a_json_data_file_in_a_sub_folder(tmp_path: Path) -> None:
    data = json.dumps({"promotions": [{"title": "Sport extra", "url": "/sport", "sections": ["Sport"]}]})
    rules = load_rules(folder(tmp_path, data=data, file="data/house.json"))
    result = rules.apply(page('<meta property="article:section" content="Sport">'), url="/news/a", headers=H)
    assert titles(result.body) == ["Sport extra"]
    assert [Path(f).name for f in rules.compiled.data_files] == ["house.json"]


def test_a_yaml_data_file_in_the_folder_is_not_read_as_rules(tmp_path: Path) -> None:
    compiled = load_rule_set(folder(tmp_path))
    assert [Path(f).name for f in compiled.files] == ["site.yaml"]
    assert [Path(f).name for f in compiled.data_files] == ["promotions.yaml"]
    assert [p.title for p in compiled.units["promo"].promotions][:1] == ["The Politics Briefing"]


def test_the_version_changes_with_the_data_file(tmp_path: Path) -> None:
    rules_dir = folder(tmp_path)
    first = load_rule_set(rules_dir).version
    assert load_rule_set(rules_dir).version == first
    (rules_dir / "promotions.yaml").write_text(PROMOTIONS.replace("Climate desk", "Climate desk!"))
    assert load_rule_set(rules_dir).version != first


def test_problems_in_the_data_file_point_into_it(tmp_path: Path) -> None:
    data = (
        "promotions:\n"  # 1
        "  - title: A\n"  # 2
        "    url: /a\n"  # 3
        "    tagz: [x]\n"  # 4
        "  - url: /b\n"  # 5
        "    sections: Politics\n"  # 6
    )
    found = problems_of(folder(tmp_path, data=data))
    assert [(Path(p.file).name, p.line, p.col, p.key) for p in found] == [
        ("promotions.yaml", 4, 5, "promotions[0].tagz"),
        ("promotions.yaml", 5, 5, "promotions[1].title"),
        ("promotions.yaml", 6, 5, "promotions[1].sections"),
    ]
    assert found[0].message == "unknown key 'tagz' in a promotion; did you mean 'tags'?"
    assert found[1].message == "required key 'title' is missing"
    assert found[2].message == "should be a list (got 'Politics')"


def test_a_data_file_that_is_not_a_promotions_file(tmp_path: Path) -> None:
    (problem,) = problems_of(folder(tmp_path, data="- a\n- b\n"))
    assert (Path(problem.file).name, problem.line, problem.col) == ("promotions.yaml", 1, 1)
    assert problem.message.startswith("a promotions file should be a mapping with the key promotions")


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ("missing.yaml", "there is no data file 'missing.yaml' in the rules folder"),
        ("../outside.yaml", "'../outside.yaml' is outside the rules folder: name a file in it"),
        ("/etc/passwd.yaml", "'/etc/passwd.yaml' is outside the rules folder: name a file in it"),
        ("notes.txt", "'notes.txt' is not a .yaml, .yml or .json file"),
    ],
)
def test_the_data_file_must_be_in_the_folder(tmp_path: Path, file: str, message: str) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (tmp_path / "outside.yaml").write_text(PROMOTIONS)
    (rules / "notes.txt").write_text(PROMOTIONS)
    (rules / "site.yaml").write_text(RULES.format(file=file, count=1))
    (problem,) = problems_of(rules)
    # RULES line 3 is "    promotions: {file: ..., count: 1}": the problem points at `file`.
    assert (Path(problem.file).name, problem.line, problem.col) == ("site.yaml", 3, 18)
    assert (problem.key, problem.message) == ("units.promo.promotions.file", message)


def test_choose_directly() -> None:
    items = [
        Promotion(title="a", url="/a", tags=["x"]),
        Promotion(title="b", url="/b", tags=["x", "y"]),
        Promotion(title="c", url="/c"),
        Promotion(title="d", url="/d", sections=["World"]),
    ]
    meta = {"article:section": ("world",), "news_keywords": ("Y, x",)}
    assert [p["title"] for p in choose(items, meta, 10)] == ["d", "b", "a", "c"]
    assert page_tags({"keywords": ("x, X ,y",), "article:tag": ("z",)}) == ["z", "x", "y"]
