"""`settings.exclude_paths`: paths no rule applies to, given once for the whole site."""

from __future__ import annotations

from pathlib import Path

import pytest

from adinject.cli import main
from adinject.language.globs import PathMatcher
from adinject.language.problems import RulesError
from tests._support.engine import article, rules_from

RULES = """\
units:
  ad:
    html: '<div class="ad">AD</div>'
rules:
  - name: news
    pages: {paths: ["/**"], exclude_paths: ["/news/live/**"]}
    container: article
    place: [{unit: ad, after_paragraph: 1}]
  - name: late
    container: article
    place: [{unit: ad, after_paragraph: 2}]
settings:
  exclude_paths: ["/**/opinion/**", "/sponsored/**"]
"""


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        ("/2019/11/19/opinion/some-column", True),  # the NYT's dated sections
        ("/opinion", True),
        ("/opinion/", True),
        ("/opinion/x", True),
        ("/world/europe/opinion/x?page=2", True),
        ("/opinions/x", False),
        ("/x/opinionated", False),
        ("/2019/11/19/opinion-poll/x", False),
        ("/world/x", False),
    ],
)
def test_a_section_anywhere_in_a_path(path: str, excluded: bool) -> None:
    assert PathMatcher(["/**"], ["/**/opinion/**"]).matches(path) is not excluded


def test_the_site_wide_excludes_hold_for_every_rule(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, RULES)
    page = article(3)
    assert [i.rule for i in rules.apply(page, url="/world/a").insertions] == ["news", "late"]
    assert [i.rule for i in rules.apply(page, url="/news/live/a").insertions] == ["late"]  # its own exclude
    for url in ("/2019/11/19/opinion/x", "/sponsored/a"):
        result = rules.apply(page, url=url)
        assert (result.body, [s.code for s in result.skipped]) == (page, ["no_rule"])
        assert not rules.matches_url(url)


def test_explain_says_the_site_excludes_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules_from(tmp_path, RULES)
    page = tmp_path / "page.html"
    page.write_bytes(article(3))
    args = ["explain", str(page), "--rules", str(tmp_path / "rules"), "--url", "/news/live/opinion/a"]
    assert main(args) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("rule ")]
    assert lines == [
        "rule 'news': does not match this URL",  # its own exclude_paths leaves it out anyway
        "rule 'late': does not match this URL: its path is in settings.exclude_paths",
    ]


def test_a_bad_glob_in_the_settings_is_reported_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as refused:
        rules_from(tmp_path, RULES.replace('"/sponsored/**"', '"sponsored/**"'))
    (problem,) = refused.value.problems
    assert (problem.key, problem.line) == ("settings.exclude_paths[1]", 13)
    assert "must start with /" in problem.message
