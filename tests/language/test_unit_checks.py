"""Warnings for scripts in unit markup, and where `settings.gpt_library_url` may point."""

from __future__ import annotations

from pathlib import Path

import pytest

from adinject.cli import main as cli_main
from adinject.language.loader import load_rule_set
from adinject.language.schema import GPT_LIBRARY_HOSTS, GPT_LIBRARY_URL, gpt_library_url_problem
from tests._support.language import problems_of, write

SCRIPTED = (
    "units:\n"
    "  ad:\n"
    "    html: |\n"
    '      <div class="ad" id="{{ slot.id }}">\n'
    "        <script>window.ads = 1</script>\n"
    '        <a href="/x" onclick="track()">x</a> <img src="a.png" data-online="1" ONLOAD=\'go()\'>\n'
    '        <a href="javascript:void(0)">y</a>\n'
    '        <p title="{{ "<script>" }}">{{ "onclick=" }}</p>\n'
    "      </div>\n"
)


def test_scripts_in_unit_markup_are_warnings_at_their_lines(tmp_path: Path) -> None:
    rules = load_rule_set(write(tmp_path, "r.yaml", SCRIPTED))  # loads: warnings do not refuse rules
    found = [(w.line, w.col, w.key, w.severity) for w in rules.warnings]
    assert found == [
        (5, 9, "units.ad.html", "warning"),  # <script>
        (6, 9, "units.ad.html", "warning"),  # onclick=
        (6, 9, "units.ad.html", "warning"),  # ONLOAD= (data-online is not a handler)
        (7, 9, "units.ad.html", "warning"),  # javascript:
    ]  # and nothing for what {{ }} prints: that is text, escaped
    messages = [w.message for w in rules.warnings]
    assert messages[0].startswith("an inline <script> in a unit")
    assert "(onclick=)" in messages[1] and "(onload=)" in messages[2]
    assert all("allowed" in m for m in messages)
    assert str(rules.warnings[0]).endswith(f":5:9: warning: units.ad.html: {messages[0]}")


def test_check_prints_warnings_and_still_says_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "r.yaml", SCRIPTED)
    assert cli_main(["check", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    assert all(": warning: units.ad.html: " in line for line in lines[:4])
    assert lines[4].startswith("ok: ")


def test_warnings_come_with_the_errors_when_rules_are_refused(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "r.yaml", SCRIPTED + "rules: 3\n"))
    assert [p.severity for p in problems] == ["warning"] * 4 + ["error"]


@pytest.mark.parametrize(
    "url",
    [
        GPT_LIBRARY_URL,
        "https://securepubads.g.doubleclick.net/tag/js/gpt.js",
        "https://www.googletagservices.com/tag/js/gpt.js",
        "/static/gpt.js",
    ],
)
def test_gpt_may_come_from_google_or_from_the_site(tmp_path: Path, url: str) -> None:
    text = f'units: {{ad: {{html: "<div></div>"}}}}\nsettings:\n  gpt_library_url: {url}\n'
    assert load_rule_set(write(tmp_path, "r.yaml", text)).settings.gpt_library_url == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://evil.example/gpt.js", "'evil.example' is not a GPT host"),
        ("https://securepubads.g.doubleclick.net.evil.example/gpt.js", "is not a GPT host"),
        ("http://securepubads.g.doubleclick.net/tag/js/gpt.js", "should be an https:// address"),
        ("https://user@securepubads.g.doubleclick.net/gpt.js", "without a user"),
        ("https://securepubads.g.doubleclick.net:8443/gpt.js", "port"),
        ("//evil.example/gpt.js", "single /"),
        ("/\\evil.example/gpt.js", "a path on the site"),  # the schema refuses a backslash
    ],
)
def test_gpt_from_anywhere_else_is_an_error(tmp_path: Path, url: str, says: str) -> None:
    text = f'units: {{ad: {{html: "<div></div>"}}}}\nsettings:\n  gpt_library_url: "{url}"\n'
    (problem,) = problems_of(write(tmp_path, "r.yaml", text.replace("\\", "\\\\")))
    assert (problem.line, problem.col, problem.key) == (3, 3, "settings.gpt_library_url")
    assert says in problem.message


def test_the_hosts_are_one_argument(tmp_path: Path) -> None:
    # The hook for the developers who mount the middleware: more hosts, passed to the loader.
    assert gpt_library_url_problem("https://cdn.example.com/gpt.js", {"cdn.example.com"}) is None
    assert gpt_library_url_problem("https://cdn.example.com/gpt.js") is not None
    text = (
        'units: {ad: {html: "<div></div>"}}\nsettings:\n  gpt_library_url: https://cdn.example.com/gpt.js\n'
    )
    path = write(tmp_path, "r.yaml", text)
    rules = load_rule_set(path, gpt_hosts={*GPT_LIBRARY_HOSTS, "cdn.example.com"})
    assert rules.settings.gpt_library_url == "https://cdn.example.com/gpt.js"
