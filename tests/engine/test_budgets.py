"""Unit-template budgets while rendering: a unit over a budget is skipped with `budget`, the page's units share
an output cap, and a unit that trips the clock backstop is switched off until the rules change."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from adinject.engine import load_rules
from adinject.language import budget
from tests._support.engine import article, rules_from
from tests._support.first_law import check_first_law

H = {"content-type": "text/html; charset=utf-8"}


def unit_rules(tmp_path: Path, html: str, *, every: bool = False) -> str:
    place = "        after_paragraph: 1\n" + ("        repeat_every: 1\n" if every else "")
    return (
        "units:\n"
        "  ad:\n"
        "    html: |\n"
        f"      {html}\n"
        "  plain:\n"
        '    html: <div class="plain">plain</div>\n'
        "rules:\n"
        "  - name: r\n"
        '    pages: {paths: ["/news/**"]}\n'
        "    container: article\n"
        "    place:\n"
        "      - unit: ad\n"
        f"{place}"
        "      - unit: plain\n"
        "        after_paragraph: 2\n"
    )


@pytest.mark.parametrize(
    ("html", "context"),
    [
        ('<div class="ad">{{ "x" * context.n }}</div>', {"n": 2_000_000_000}),
        ('<div class="ad">{{ context.n ** context.e }}</div>', {"n": 9, "e": 20_000_000}),
        ('<div class="ad">{{ lipsum(context.n) }}</div>', {"n": 100_000}),
        (
            '<div class="ad">{% for a in context.rows %}{% for b in context.rows %}x{% endfor %}'
            "{% endfor %}</div>",
            {"rows": list(range(2000))},
        ),
        ('<div class="ad">{{ context.s }}</div>', {"s": "x" * 70_000}),
        (
            '<div class="ad">{% for i in context.rows %}{{ context.s }}{% endfor %}</div>',
            {"rows": list(range(100)), "s": "y" * 1000},
        ),
    ],
)
def test_a_unit_over_a_budget_is_skipped_and_the_page_is_served(
    tmp_path: Path, html: str, context: dict[str, object]
) -> None:
    rules = rules_from(tmp_path, unit_rules(tmp_path, html))
    page = article(4)
    started = time.perf_counter()
    result = rules.apply(page, url="/news/a", headers=H, context=context)
    assert time.perf_counter() - started < 1.0
    assert [i.unit for i in result.insertions] == ["plain"]
    (skip,) = [s for s in result.skipped if s.unit == "ad"]
    assert skip.code == "budget"
    assert "budget" in skip.reason
    check_first_law(page, result, mark="plain")


def test_the_units_of_a_page_share_an_output_cap(tmp_path: Path) -> None:
    html = '<div class="ad">{{ context.s }}</div>'
    rules = rules_from(tmp_path, unit_rules(tmp_path, html, every=True))
    result = rules.apply(article(8), url="/news/a", headers=H, context={"s": "z" * 60_000})
    ads = [i for i in result.insertions if i.unit == "ad"]
    assert len(ads) == 4  # 4 x 60 KB fit in 256 KB, a fifth does not
    assert sum(i.length for i in result.insertions) <= budget.MAX_PAGE_UNIT_BYTES
    over = [s for s in result.skipped if s.code == "budget"]
    assert over and all("together" in s.reason for s in over)


def test_a_unit_that_trips_the_clock_is_switched_off_until_the_rules_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    text = unit_rules(tmp_path, '<div class="ad">{% for i in range(200) %}{{ i }}{% endfor %}</div>')
    rules = rules_from(tmp_path, text)
    looks = [0]

    def clock() -> float:  # the first template starts the page's clock, looks once, then finds an hour gone
        looks[0] += 1
        return 0.0 if looks[0] <= 2 else 3600.0

    monkeypatch.setattr(budget, "thread_clock", clock)
    page = article(4)
    with caplog.at_level(logging.WARNING, logger="adinject"):
        first = rules.apply(page, url="/news/a", headers=H)
        monkeypatch.setattr(budget, "thread_clock", time.thread_time)
        second = rules.apply(page, url="/news/a", headers=H)
    # The unit that tripped the clock is switched off; the one after it only missed this page.
    assert [(s.unit, s.code) for s in first.skipped] == [("ad", "too_slow"), ("plain", "too_slow")]
    assert rules.index.switched_off.units.keys() == {"ad"}
    assert [i.unit for i in second.insertions] == ["plain"]
    (skip,) = second.skipped
    assert (skip.unit, skip.code) == ("ad", "too_slow")
    assert "switched off until the rules change" in skip.reason
    assert len([r for r in caplog.records if "switched off" in r.getMessage()]) == 1  # logged once
    # A new rules version starts with nobody switched off.
    fresh = load_rules(tmp_path / "rules")
    assert [i.unit for i in fresh.apply(page, url="/news/a", headers=H).insertions] == ["ad", "plain"]


def test_explain_shows_the_budget_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from adinject.cli import main as cli_main

    # Over the budget only on a page with a title: loads, and is skipped on this page.
    rules_from(tmp_path, unit_rules(tmp_path, '<div class="ad">{{ page.title * 1000000 }}</div>'))
    (tmp_path / "page.html").write_bytes(article(4))
    code = cli_main(
        ["explain", str(tmp_path / "page.html"), "--rules", str(tmp_path / "rules"), "--url", "/news/a"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "[budget]" in out


def test_a_page_of_cached_units_never_reads_the_cpu_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The thread's CPU clock is a system call; the backstop needs it only once a template runs.
    rules = rules_from(tmp_path, unit_rules(tmp_path, '<div class="ad">Advertisement</div>'))
    page = article(8)
    rules.apply(page, url="/news/a", headers=H)  # renders, and fills the render cache
    looks = [0]

    def clock() -> float:
        looks[0] += 1
        return time.thread_time()

    monkeypatch.setattr(budget, "thread_clock", clock)
    again = rules.apply(page, url="/news/a", headers=H)
    assert again.insertions  # the units landed, from the cache
    assert looks[0] == 0
