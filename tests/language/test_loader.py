"""The rule-file loader: the example loads, and every mistake is reported at its exact line and column.

Expected lines and columns were counted by hand from the fixture text (1-based), not copied from output.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from adinject.language.loader import CompiledRules, load_rule_set
from adinject.language.problems import Problem, RulesError
from adinject.language.schema import Placement, Rule, RuleFile, Settings
from adinject.language.templates import environment, make_environment
from tests._support.language import problems_of, where, write
from tests._support.paths import FIXTURES, RULES

NEWS = FIXTURES / "news.yaml"

UNIT = '    html: <div class="ad"></div>\n'


# --- the example


def test_the_example_loads_as_is() -> None:
    rules = load_rule_set(NEWS)
    assert isinstance(rules, CompiledRules)
    assert rules.files == (str(NEWS),)
    (rule,) = rules.rules
    assert rule.name == "news-in-article"
    assert rule.pages.paths == ["/news/**", "/world/**"]
    assert rule.pages.exclude_paths == ["/news/live/**"]
    assert rule.containers == ["article .article-body", "[itemprop=articleBody]", "auto"]
    assert rule.ignore_inside == ["blockquote", "figure", "table", "aside", "li", ".no-ads"]
    assert (rule.min_paragraph_words, rule.min_paragraphs) == (5, 4)
    (place,) = rule.place
    assert (place.unit, place.after_paragraph, place.repeat_every, place.max) == ("advertisement", 3, 5, 3)
    assert place.keep_away_from == ["h2", "h3", "h4", "figure", "img", "iframe"]
    assert (place.min_words_between, place.not_after_last) == (100, True)
    assert rules.settings == Settings()
    assert dict(rules.origins) == {"news-in-article": (str(NEWS), 9)}
    assert len(rules.version) == 12


def test_the_example_unit_renders_autoescaped() -> None:
    unit = load_rule_set(NEWS).units["advertisement"]
    assert unit.name == "advertisement"
    html = unit.template.render(slot={"id": 'x"><script>'})
    assert html.startswith(
        '<div class="ad-slot" id="x&#34;&gt;&lt;script&gt;" data-ad-unit="/1234/news/in-article"'
    )
    assert '<p class="ad-slot__label">Advertisement</p>' in html


def test_a_folder_with_the_example(tmp_path: Path) -> None:
    shutil.copy(NEWS, tmp_path / "news.yaml")
    rules = load_rule_set(str(tmp_path))
    assert [r.name for r in rules.rules] == ["news-in-article"]
    assert rules.files == (str(tmp_path / "news.yaml"),)


# --- compiler-style problems


def test_three_mistakes_are_all_reported_in_line_order() -> None:
    found = problems_of(FIXTURES / "three_mistakes.yaml")
    assert where(found) == [
        (7, 5, "rules[0].paragraphs"),  # "p:::first" is not a selector
        (11, 9, "rules[0].place[0].repeat_evry"),  # a typo in a key
        (12, 9, "rules[0].place[0].max"),  # max: -1
    ]
    assert "p:::first" in found[0].message
    assert found[1].message == "unknown key 'repeat_evry' in a place entry; did you mean 'repeat_every'?"
    assert "greater than or equal to 0" in found[2].message and "-1" in found[2].message


def test_problem_prints_like_a_compiler() -> None:
    problem = Problem("rules/news.yaml", 12, 9, "rules[0].place[0].max", "should be at least 0")
    assert str(problem) == "rules/news.yaml:12:9: rules[0].place[0].max: should be at least 0"
    assert (
        str(Problem("rules/x.yaml", 3, 1, "", "YAML syntax error: oops"))
        == "rules/x.yaml:3:1: YAML syntax error: oops"
    )


def test_rules_error_lists_one_problem_per_line() -> None:
    error = RulesError([Problem("a.yaml", 1, 2, "k", "one"), Problem("b.yaml", 3, 4, "", "two")])
    assert str(error) == "a.yaml:1:2: k: one\nb.yaml:3:4: two"
    assert len(error.problems) == 2


def test_unknown_key_at_its_position_with_a_suggestion(tmp_path: Path) -> None:
    text = "units:\n  ad:\n" + UNIT + "rules:\n  - name: r\n    pargraphs: p\n    place:\n      - unit: ad\n"
    text += "        after_paragraph: 2\n"
    (problem,) = problems_of(write(tmp_path, "r.yaml", text))
    assert (problem.line, problem.col, problem.key) == (6, 5, "rules[0].pargraphs")
    assert "unknown key 'pargraphs'" in problem.message
    assert "did you mean 'paragraphs'?" in problem.message


def test_unknown_key_that_belongs_elsewhere_says_where(tmp_path: Path) -> None:
    text = (
        "units:\n  ad:\n" + UNIT + "rules:\n  - name: r\n    repeat_every: 3\n    place:\n      - unit: ad\n"
    )
    text += "        after_paragraph: 2\n"
    (problem,) = problems_of(write(tmp_path, "r.yaml", text))
    assert (problem.line, problem.col, problem.key) == (6, 5, "rules[0].repeat_every")
    assert "belongs in a place entry" in problem.message


def test_unknown_top_level_key_lists_the_keys(tmp_path: Path) -> None:
    (problem,) = problems_of(write(tmp_path, "r.yaml", "units: {}\nrules: []\n\nsetting_s: {}\n"))
    assert (problem.line, problem.col, problem.key) == (4, 1, "setting_s")
    assert "did you mean 'settings'?" in problem.message


def test_missing_keys_point_at_the_parent_mapping(tmp_path: Path) -> None:
    text = "units:\n  ad:\n    description: no html here\n"
    text += "rules:\n  - name: r\n    place:\n      - after_paragraph: 2\n"
    found = problems_of(write(tmp_path, "r.yaml", text))
    assert where(found) == [(2, 3, "units.ad.html"), (7, 9, "rules[0].place[0].unit")]
    assert found[0].message == "required key 'html' is missing"


def test_a_union_type_error_is_one_problem_in_words(tmp_path: Path) -> None:
    text = "units:\n  ad:\n" + UNIT + "rules:\n  - name: r\n    place:\n      - unit: ad\n"
    text += '        after_paragraph: three\n      - unit: ad\n        after_paragraph: [2, "x"]\n'
    found = problems_of(write(tmp_path, "r.yaml", text))
    assert where(found) == [
        (8, 9, "rules[0].place[0].after_paragraph"),
        (10, 30, "rules[0].place[1].after_paragraph[1]"),
    ]
    assert found[0].message == "should be a number or a list (got 'three')"
    assert found[1].message == "should be a number (got 'x')"


def test_a_model_rule_is_reported_at_the_list_item(tmp_path: Path) -> None:
    text = "units:\n  ad:\n" + UNIT + "rules:\n  - name: r\n    place:\n      - unit: ad\n"
    (problem,) = problems_of(write(tmp_path, "r.yaml", text))
    assert (problem.line, problem.col, problem.key) == (7, 9, "rules[0].place[0]")
    assert "after_paragraph or after_anchor" in problem.message


def test_a_key_given_twice_is_reported(tmp_path: Path) -> None:
    text = "units:\n  ad:\n" + UNIT + "rules:\n  - name: r\n    place:\n      - unit: ad\n"
    text += "        after_paragraph: 2\n        after_paragraph: 3\n"
    (problem,) = problems_of(write(tmp_path, "r.yaml", text))
    assert (problem.line, problem.col, problem.key) == (9, 9, "rules[0].place[0].after_paragraph")
    assert "duplicate key" in problem.message and "line 8" in problem.message


def test_template_syntax_error_at_the_template_line() -> None:
    (problem,) = problems_of(FIXTURES / "template_error.yaml")
    # `html: |` is on line 4, so template line 2 is YAML line 6; its text starts after 11 spaces.
    assert (problem.line, problem.col, problem.key) == (6, 12, "units.broken.html")
    assert problem.message.startswith("template error:")


def test_template_error_in_a_one_line_template(tmp_path: Path) -> None:
    (problem,) = problems_of(write(tmp_path, "r.yaml", "units:\n  ad:\n    html: '{% if x %}open'\n"))
    assert (problem.line, problem.key) == (3, "units.ad.html")


def test_unknown_filter_is_a_template_error(tmp_path: Path) -> None:
    (problem,) = problems_of(
        write(tmp_path, "r.yaml", "units:\n  ad:\n    html: '{{ page.title|wordz(3) }}'\n")
    )
    assert (problem.line, problem.col, problem.key) == (3, 11, "units.ad.html")
    assert "wordz" in problem.message


def test_unknown_unit_suggests_the_nearest_and_lists_them() -> None:
    (problem,) = problems_of(FIXTURES / "unknown_unit.yaml")
    assert (problem.line, problem.col, problem.key) == (9, 9, "rules[0].place[0].unit")
    assert "'advertisment'" in problem.message
    assert "did you mean 'advertisement'?" in problem.message
    assert "advertisement, newsletter" in problem.message


def test_bad_selectors_everywhere_a_selector_goes() -> None:
    found = problems_of(FIXTURES / "bad_selectors.yaml")
    assert where(found) == [
        (6, 26, "rules[0].container[1]"),  # "div >"; `auto` is not a selector and is fine
        (8, 29, "rules[0].ignore_inside[1]"),  # "a["
        (12, 11, "rules[0].place[0].after_anchor.selector"),  # "h2::"
        (15, 31, "rules[0].place[1].keep_away_from[1]"),  # ""
    ]
    assert "div >" in found[0].message


def test_bad_globs(tmp_path: Path) -> None:
    text = "units:\n  ad:\n" + UNIT + "rules:\n  - name: r\n    pages:\n"
    text += '      paths: ["/news/**", "world/**"]\n      exclude_paths: ["/live**"]\n'
    text += "    place:\n      - unit: ad\n        after_paragraph: 2\n"
    found = problems_of(write(tmp_path, "r.yaml", text))
    assert where(found) == [(7, 27, "rules[0].pages.paths[1]"), (8, 23, "rules[0].pages.exclude_paths[0]")]
    assert "must start with /" in found[0].message
    assert "whole path segment" in found[1].message


def test_duplicates_across_two_files(tmp_path: Path) -> None:
    a = write(
        tmp_path,
        "a.yaml",
        "settings:\n  max_units_per_page: 4\nunits:\n  ad:\n" + UNIT + "rules:\n  - name: shared-name\n"
        "    place:\n      - unit: ad\n        after_paragraph: 2\n",
    )
    b = write(
        tmp_path,
        "b.yaml",
        'units:\n  ad:\n    html: <div class="other"></div>\nrules:\n  - name: shared-name\n'
        "    place:\n      - unit: ad\n        after_paragraph: 4\nsettings:\n  max_units_per_page: 2\n",
    )
    found = problems_of(tmp_path)
    assert {p.file for p in found} == {str(b)}
    assert where(found) == [(2, 3, "units.ad"), (5, 5, "rules[0].name"), (9, 1, "settings")]
    assert f"{a}:4" in found[0].message
    assert f"{a}:7" in found[1].message
    assert f"{a}:1" in found[2].message


def test_duplicate_rule_names_in_one_file(tmp_path: Path) -> None:
    place = "    place:\n      - unit: ad\n        after_paragraph: 2\n"
    text = "units:\n  ad:\n" + UNIT + "rules:\n  - name: r\n" + place + "  - name: r\n" + place
    (problem,) = problems_of(write(tmp_path, "r.yaml", text))
    assert (problem.line, problem.col, problem.key) == (9, 5, "rules[1].name")
    assert "line 5" in problem.message


def test_yaml_syntax_error() -> None:
    (problem,) = problems_of(FIXTURES / "yaml_error.yaml")
    # The flow list opened on line 4 is still open when `place:` (line 5, column 5) arrives.
    assert (problem.file, problem.line, problem.col, problem.key) == (
        str(FIXTURES / "yaml_error.yaml"),
        5,
        5,
        "",
    )
    assert problem.message.startswith("YAML syntax error:")
    assert "line 4" in problem.message


def test_tabs_get_a_hint(tmp_path: Path) -> None:
    (problem,) = problems_of(write(tmp_path, "r.yaml", "rules:\n\t- name: r\n"))
    assert (problem.line, problem.col) == (2, 1)
    assert "tabs" in problem.message


def test_a_yaml_error_in_one_file_does_not_hide_problems_in_another(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "units: [\n")
    write(
        tmp_path,
        "b.yaml",
        "rules:\n  - name: r\n    place:\n      - unit: nowhere\n        after_paragraph: 2\n",
    )
    write(tmp_path, "c.yaml", "units:\n  ad:\n    htm: x\n")
    found = problems_of(tmp_path)
    assert [Path(p.file).name for p in found] == ["a.yaml", "c.yaml", "c.yaml"]
    # b.yaml's unit may be defined in the unreadable a.yaml, so it is not reported as unknown.
    assert where(found[1:]) == [(2, 3, "units.ad.html"), (3, 5, "units.ad.htm")]


def test_not_a_mapping(tmp_path: Path) -> None:
    (problem,) = problems_of(write(tmp_path, "r.yaml", "- name: r\n"))
    assert (problem.line, problem.col, problem.key) == (1, 1, "")
    assert "should be a mapping" in problem.message


def test_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_bytes(b"units: {}\nrules: [] # caf\xe9\n")
    (problem,) = problems_of(tmp_path / "r.yaml")
    assert (problem.line, problem.col) == (2, 16)  # the byte after "rules: [] # caf"


def test_empty_folder_is_one_problem(tmp_path: Path) -> None:
    write(tmp_path, "README.md", "not a rule file\n")
    (problem,) = problems_of(tmp_path)
    assert problem.file == str(tmp_path)
    assert "no rule files" in problem.message


def test_missing_path(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path / "nope")
    assert "no such file" in problem.message


def test_a_missing_relative_path_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rules:1:1: no such file or folder` alone does not say that the server started in another folder."""
    monkeypatch.chdir(tmp_path)
    (problem,) = problems_of(Path("rules"))
    assert problem.file == "rules"
    assert f"looked for {Path.cwd() / 'rules'}" in problem.message, "the absolute path"
    assert f"the working directory is {Path.cwd()}" in problem.message


# --- which files, in which order


def rule_file(name: str, unit: str = "") -> str:
    units = f"units:\n  {unit}:\n" + UNIT if unit else ""
    return units + f"rules:\n  - name: {name}\n    place:\n      - unit: ad\n        after_paragraph: 2\n"


def test_single_file_path(tmp_path: Path) -> None:
    write(tmp_path, "other.yaml", "this: is: not: loaded\n")
    single = write(tmp_path, "one.yaml", rule_file("one", unit="ad"))
    rules = load_rule_set(single)
    assert rules.files == (str(single),)
    assert [r.name for r in rules.rules] == ["one"]


def test_yml_and_yaml_both_load_sorted_by_name(tmp_path: Path) -> None:
    write(tmp_path, "b.yml", rule_file("from-b"))
    write(tmp_path, "a.yaml", rule_file("from-a", unit="ad"))
    write(
        tmp_path,
        "c.yaml",
        rule_file("from-c-first") + "  - name: from-c-second\n    place:\n      - unit: ad\n"
        "        after_paragraph: 1\n    enabled: false\n",
    )
    write(tmp_path, ".hidden.yaml", "broken: [\n")
    write(tmp_path, "notes.txt", "broken: [\n")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "deeper.yaml", "broken: [\n")
    rules = load_rule_set(tmp_path)
    assert [Path(f).name for f in rules.files] == ["a.yaml", "b.yml", "c.yaml"]
    assert [r.name for r in rules.rules] == ["from-a", "from-b", "from-c-first", "from-c-second"]
    assert rules.rules[3].enabled is False
    assert rules.origins["from-c-second"] == (str(tmp_path / "c.yaml"), 6)
    assert rules.origins["from-b"] == (str(tmp_path / "b.yml"), 2)


def test_settings_from_the_one_file_that_sets_them(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", rule_file("a", unit="ad"))
    write(tmp_path, "z.yaml", "settings:\n  max_units_per_page: 2\n")
    assert load_rule_set(tmp_path).settings == Settings(max_units_per_page=2)


def test_version_changes_whenever_a_file_changes(tmp_path: Path) -> None:
    shutil.copy(NEWS, tmp_path / "news.yaml")
    first = load_rule_set(tmp_path).version
    assert load_rule_set(tmp_path).version == first  # stable when nothing changed
    text = (tmp_path / "news.yaml").read_text()
    (tmp_path / "news.yaml").write_text(text.replace("max: 3", "max: 2"))
    second = load_rule_set(tmp_path).version
    assert second != first
    (tmp_path / "news.yaml").write_text(text + "# a comment\n")  # even a comment is a change
    third = load_rule_set(tmp_path).version
    assert third not in (first, second)
    write(tmp_path, "more.yaml", "units: {}\n")
    assert load_rule_set(tmp_path).version != third
    (tmp_path / "news.yaml").rename(tmp_path / "renamed.yaml")
    assert load_rule_set(tmp_path).version not in (first, second, third)


def test_yaml_conveniences(tmp_path: Path) -> None:
    # Aliases and merge keys work; keys stay text (a unit called `on` is not the boolean true).
    text = (
        "units:\n  'on':\n" + UNIT + "rules:\n"
        "  - &news\n    name: news\n    ignore_inside: &quiet [figure, table]\n"
        "    place:\n      - unit: 'on'\n        after_paragraph: 2\n        keep_away_from: *quiet\n"
        "  - <<: *news\n    name: world\n    paragraphs: p.body\n"
    )
    rules = load_rule_set(write(tmp_path, "r.yaml", text))
    assert list(rules.units) == ["on"]
    news, world = rules.rules
    assert world.name == "world" and world.paragraphs == "p.body"
    assert world.ignore_inside == news.ignore_inside == ["figure", "table"]
    assert world.place[0].keep_away_from == ["figure", "table"]


# --- the template environment


def test_environment_is_shared_sandboxed_and_forgiving() -> None:
    env = environment()
    assert env is environment()
    assert make_environment() is not env
    assert env.from_string("[{{ context.related.title }}]").render(context={}) == "[]"
    assert env.from_string("{% if context.a.b %}y{% else %}n{% endif %}").render() == "n"
    with pytest.raises(jinja2.exceptions.SecurityError):
        env.from_string("{{ items.append(1) }}").render(items=[])
    meta = {"article:section": "<World>"}
    assert (
        env.from_string('{{ page.meta["article:section"] }}').render(page={"meta": meta}) == "&lt;World&gt;"
    )


def test_words_filter() -> None:
    env = environment()
    assert env.from_string("{{ t|words(3) }}").render(t="one two  three four") == "one two three…"
    assert env.from_string("{{ t|words(3) }}").render(t="one two") == "one two"
    assert env.from_string("{{ t|words(2, '') }}").render(t="a b c") == "a b"
    assert env.from_string("{{ missing|words(2) }}").render() == ""
    assert env.from_string("{{ t|slug }}").render(t="World News: Europe!") == "world-news-europe"


# --- the manual's examples

MANUAL = RULES / "README.md"
# Units the manual's fragments and recipes use without defining them.
MANUAL_UNITS = {
    name: {"html": f'<div class="{name}" id="{{{{ slot.id }}}}"></div>'}
    for name in ("advertisement", "newsletter", "related")
}


def manual_yaml_blocks() -> list[str]:
    text = MANUAL.read_text(encoding="utf-8")
    return [block.split("```", 1)[0] for block in text.split("```yaml\n")[1:]]


def as_rule_file(fragment: Any) -> dict[str, Any]:
    """A manual example as a whole rule file: full files as they are, fragments inside a rule or a unit."""
    assert isinstance(fragment, dict), fragment
    keys = set(fragment)
    placement: dict[str, Any] = {"unit": "advertisement"}
    if not {"after_paragraph", "after_anchor", "before_paragraph", "before_anchor"} & keys:
        placement["after_paragraph"] = 3
    if keys <= set(RuleFile.model_fields):
        data = dict(fragment)
    elif keys <= set(Rule.model_fields):
        data = {"rules": [{"name": "example", "place": [placement], **fragment}]}
    elif keys <= set(Placement.model_fields):
        data = {"rules": [{"name": "example", "place": [{**placement, **fragment}]}]}
    else:
        raise AssertionError(f"the example's keys fit no part of a rule file: {sorted(keys)}")
    data["units"] = {**MANUAL_UNITS, **data.get("units", {})}
    return data


def test_the_manual_has_examples() -> None:
    assert len(manual_yaml_blocks()) > 30


@pytest.mark.parametrize("block", manual_yaml_blocks(), ids=lambda b: b.split("\n", 1)[0][:40])
def test_every_yaml_example_in_the_manual_loads(block: str, tmp_path: Path) -> None:
    write(tmp_path, "example.yaml", yaml.safe_dump(as_rule_file(yaml.safe_load(block))))
    load_rule_set(tmp_path)


def test_the_manuals_related_unit_reads_the_context_the_shipped_rules_read(tmp_path: Path) -> None:
    """The demo app passes `related` as a list (rules/news.yaml reads `context.related[0]`): the manual's
    template must render that shape, and never address the list as one article."""
    from adinject.engine import load_rules
    from examples.newsroom.content import SEED_SLUG, newsroom

    text = MANUAL.read_text(encoding="utf-8")
    assert "context.related." not in text, "`related` is a list: context.related[0].title"
    shipped = (MANUAL.parent / "news.yaml").read_text(encoding="utf-8")
    assert "context.related[0]" in shipped
    (block,) = [b for b in manual_yaml_blocks() if "context.related" in b]
    data = yaml.safe_load(block)
    data["rules"] = [
        {"name": "r", "container": "article", "place": [{"unit": "related", "after_paragraph": 1}]}
    ]
    write(tmp_path, "example.yaml", yaml.safe_dump(data))
    news = newsroom()
    related = news.related(news.by_slug(SEED_SLUG))
    page = b"<!doctype html><meta charset=utf-8><article><p>One paragraph of a few words.</p></article>"
    result = load_rules(tmp_path).apply(page, url="/news/a", context={"related": related})
    assert [i.unit for i in result.insertions] == ["related"], result.skipped
    assert related[0]["title"].encode() in result.body
    assert related[0]["url"].encode() in result.body


def test_the_manual_links_the_targeting_manual_from_its_targeting_section() -> None:
    section = MANUAL.read_text(encoding="utf-8").split("\n## Targeting\n", 1)[1].split("\n## ", 1)[0]
    assert "(TARGETING.md)" in section
    for key in ("when:", "variants:", "gpt:", "promotions:"):
        assert f"`{key}`" in section, key
