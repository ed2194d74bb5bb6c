"""`adinject explain` names the `when:` condition that ruled a rule out and what it saw, and `--now` reads
schedules at another moment; keyword lists split on commas and semicolons."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from adinject.cli import main
from adinject.targeting.conditions import meta_values
from tests._support.engine import article
from tests._support.targeting import DESKTOP, headers, when_rules


def explain(tmp_path: Path, capsys: pytest.CaptureFixture[str], page: bytes, *args: str) -> str:
    path = tmp_path / "page.html"
    path.write_bytes(page)
    assert main(["explain", str(path), "--rules", str(tmp_path / "rules"), *args]) == 0
    return capsys.readouterr().out


def rule_line(text: str) -> str:
    (line,) = [line for line in text.splitlines() if line.startswith("rule 'r'")]
    return line


@pytest.mark.parametrize(
    ("when", "args", "said"),
    [
        (
            "device: [mobile]",
            ["--header", f"User-Agent: {DESKTOP}"],
            "when.device failed: the visitor's device is desktop; the rule is for mobile [when_device]",
        ),
        (
            'schedule: {start: "2030-01-01T00:00:00Z"}',
            ["--now", "2029-06-01T12:00:00+02:00"],
            "when.schedule failed: outside the rule's schedule (now is 2029-06-01T12:00:00+02:00; "
            "the schedule has start 2030-01-01T00:00:00+00:00) [when_schedule]",
        ),
        (
            "schedule: {weekdays: [sat, sun], timezone: Europe/Berlin}",
            ["--now", "2026-12-04T23:30:00Z"],  # Saturday 00:30 in Berlin: the weekend has begun there
            None,
        ),
        (
            "schedule: {weekdays: [sat, sun], timezone: Europe/Berlin}",
            ["--now", "2026-12-04T22:30:00Z"],
            "(now is 2026-12-04T22:30:00+00:00, a fri in Europe/Berlin; the schedule has weekdays sat, sun)",
        ),
        (
            "meta: {'article:section': [World]}",
            [],
            "when.meta failed: the page's <meta> 'article:section' does not match: the page has 'Sport'; "
            "the condition lists 'World' [when_meta]",
        ),
        (
            "query: {utm_source: [newsletter]}",
            ["--url", "/news/a?utm_source=social"],
            "the URL's query parameter 'utm_source' does not match (the URL's query has "
            "utm_source='social') [when_query]",
        ),
        (
            "referrer: {domains: [google.com]}",
            ["--header", "Referer: https://www.bing.com/search"],
            "(the referrer's host is www.bing.com) [when_referrer]",
        ),
        ("percent: 0", [], "(the visitor has no bucket (no adinject_bucket cookie or bucket header))"),
    ],
)
def test_explain_names_the_failed_condition_and_what_it_saw(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], when: str, args: list[str], said: str | None
) -> None:
    when_rules(tmp_path, when)
    page = article(3, head='<meta property="article:section" content="Sport">')
    line = rule_line(explain(tmp_path, capsys, page, "--url", "/news/a", *args))
    if said is None:
        assert line == "rule 'r': matches this URL"
    else:
        assert line.startswith("rule 'r': matches this URL, but when.")
        assert said in line
        assert "does not match this URL" not in line


def test_a_rule_for_other_urls_still_does_not_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    when_rules(tmp_path, "device: [mobile]")
    assert rule_line(explain(tmp_path, capsys, article(3), "--url", "/sport/a")) == (
        "rule 'r': does not match this URL"
    )


def test_what_the_request_showed_stays_out_of_the_plan_key(tmp_path: Path) -> None:
    """The time and the bucket in the plan-cache key would split the cache per second or per visitor."""
    rules = when_rules(tmp_path, 'schedule: {start: "2030-01-01T00:00:00Z"}')
    one = rules.request_key("/news/a", headers(), datetime(2027, 1, 1, tzinfo=UTC))
    two = rules.request_key("/news/a", headers(), datetime(2028, 5, 5, tzinfo=UTC))
    assert one == two
    served = rules.apply(article(3), url="/news/a", headers=headers(), now=datetime(2027, 1, 1, tzinfo=UTC))
    assert [s.reason for s in served.skipped] == ["outside the rule's schedule"]


def test_now_without_an_offset_is_utc_and_garbage_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    when_rules(tmp_path, 'schedule: {start: "2030-01-01T00:00:00Z"}')
    page = tmp_path / "page.html"
    page.write_bytes(article(3))
    base = ["explain", str(page), "--rules", str(tmp_path / "rules"), "--url", "/news/a"]
    assert main([*base, "--now", "2030-01-01T00:00:00"]) == 0
    assert rule_line(capsys.readouterr().out) == "rule 'r': matches this URL"
    assert main([*base, "--now", "2029-12-31T23:59:59"]) == 0
    assert "[when_schedule]" in rule_line(capsys.readouterr().out)
    with pytest.raises(SystemExit) as refused:
        main([*base, "--now", "next tuesday"])
    assert refused.value.code == 2
    assert "not an ISO 8601 date and time" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["render", "preview"])
def test_now_on_render_and_preview(tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    when_rules(tmp_path, 'schedule: {start: "2030-01-01T00:00:00Z", end: "2030-02-01T00:00:00Z"}')
    page = tmp_path / "page.html"
    page.write_bytes(article(3))
    base = [command, str(page), "--rules", str(tmp_path / "rules"), "--url", "/news/a"]
    outputs = []
    for now in ("2030-01-15T00:00:00Z", "2030-03-01T00:00:00Z"):
        assert main([*base, "--now", now]) == 0
        outputs.append(capsys.readouterr().out)
    assert ["AD after 1" in out for out in outputs] == [True, False]


@pytest.mark.parametrize(
    ("content", "values"),
    [
        ("vote; Europe;elections", ["vote", "Europe", "elections"]),
        ("vote, Europe; elections ,", ["vote", "Europe", "elections"]),
        ("one phrase", ["one phrase"]),
    ],
)
def test_keywords_split_on_commas_and_semicolons(content: str, values: list[str]) -> None:
    assert meta_values({"keywords": (content,)}, "keywords") == values
    assert meta_values({"news_keywords": (content,)}, "news_keywords") == values
    assert meta_values({"description": (content,)}, "description") == [content.strip()]


def test_a_semicolon_keyword_list_matches_a_meta_condition(tmp_path: Path) -> None:
    rules = when_rules(tmp_path, "meta: {keywords: [europe]}")
    page = article(3, head='<meta name="keywords" content="vote; Europe; elections">')
    result = rules.apply(page, url="/news/a", headers=headers())
    assert [i.paragraph for i in result.insertions] == [1]


def test_a_page_left_alone_as_a_whole_is_not_a_url_mismatch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    when_rules(tmp_path, "device: [desktop]")
    page = article(3, head='<meta name="adinject" content="off">')
    assert rule_line(explain(tmp_path, capsys, page, "--url", "/news/a")) == (
        "rule 'r': matches this URL, but the page was left alone: the page has "
        '<meta name="adinject" content="off"> [opted_out]'
    )
