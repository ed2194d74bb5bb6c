"""Unit context carried by the page (`<script type="application/json" id="adinject-context">`), read from the
tree planning parses: used under the app's context, left in the page, capped and checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adinject.engine import Rules
from adinject.page.context import MAX_CHARS
from tests._support.engine import article, simple_rules
from tests._support.first_law import check_first_law

H = {"content-type": "text/html; charset=utf-8"}
PLACE = "      - unit: ad\n        after_paragraph: 1\n"
UNIT = '<div class="ad" data-section="{{ context.section }}" data-tier="{{ context.tier }}"></div>'


def element(text: str, kind: str = "application/json") -> str:
    return f'<script type="{kind}" id="adinject-context">{text}</script>'


@pytest.fixture
def rules(tmp_path: Path) -> Rules:
    return simple_rules(tmp_path, PLACE, unit=UNIT)


def test_the_page_s_context_reaches_the_units_and_the_element_stays(rules: Rules) -> None:
    page = article(3, head=element(json.dumps({"section": "World", "tier": "free"})))
    result = rules.apply(page, url="/news/a", headers=H)
    check_first_law(page, result, mark="ad")
    assert b'data-section="World" data-tier="free"' in result.body
    assert not [s for s in result.skipped if s.code == "context"]


def test_the_app_s_context_wins_key_by_key(rules: Rules) -> None:
    page = article(3, head=element(json.dumps({"section": "World", "tier": "free"})))
    result = rules.apply(page, url="/news/a", headers=H, context={"tier": "gold"})
    assert b'data-section="World" data-tier="gold"' in result.body


def test_a_cached_plan_keeps_the_page_s_context_for_every_response(rules: Rules) -> None:
    page = article(3, head=element('{"section": "World"}'))
    plan = rules.plan(page, url="/news/a", headers=H)
    for tier in ("a", "b"):
        body = rules.realize(plan, page, context={"tier": tier}).body
        assert f'data-section="World" data-tier="{tier}"'.encode() in body


@pytest.mark.parametrize(
    ("markup", "problem"),
    [
        (element("{not json"), "not valid JSON"),
        (element("[1, 2]"), "not a JSON object"),
        (element('{"section": "World"}', kind="text/javascript"), 'not type="application/json"'),
        (element(json.dumps({"section": "x" * MAX_CHARS})), "over"),
    ],
)
def test_an_unusable_element_is_left_out_with_a_reason(rules: Rules, markup: str, problem: str) -> None:
    page = article(3, head=markup)
    result = rules.apply(page, url="/news/a", headers=H, context={"tier": "gold"})
    check_first_law(page, result, mark="ad")
    assert b'data-section="" data-tier="gold"' in result.body  # the units still land, on the app's context
    reasons = [s.reason for s in result.skipped if s.code == "context"]
    assert len(reasons) == 1 and problem in reasons[0]


def test_the_element_is_not_read_when_no_unit_reads_context(tmp_path: Path) -> None:
    rules = simple_rules(tmp_path, PLACE, unit='<div class="ad"></div>')
    plan = rules.plan(article(3, head=element("{not json")), url="/news/a", headers=H)
    assert plan.context is None
    assert not [s for s in plan.skipped if s.code == "context"]
