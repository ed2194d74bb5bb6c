"""Rendering a planned slot's template into markup, with the variables the rule manual promises."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from jinja2 import Template

from adinject.language import budget
from adinject.language.templates import render_budgeted
from adinject.page.model import PageInfo

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@lru_cache(maxsize=4096)
def slot_id(unit: str, number: int) -> str:
    """Unique in the page and stable for the same page and rules: the unit's name and its count."""
    return f"adinject-{_ID_UNSAFE.sub('-', unit).strip('-') or 'unit'}-{number}"


def render_unit(
    template: Template,
    *,
    unit: str,
    rule: str,
    number: int,
    paragraph: int | None,
    page: PageInfo,
    context: Mapping[str, Any],
    variant: str = "",
    promotions: Sequence[Mapping[str, Any]] = (),
    meter: budget.Meter | None = None,
) -> str:
    """The unit's markup for this slot, rendered under `meter` (a fresh one without a time limit by default).

    Raises `budget.BudgetExceeded` when the template goes over a budget, including the unit's output cap
    (checked as the markup is made, so a unit over it never builds more than the cap), and
    `budget.OutOfTime` when the meter's deadline has passed by the end of the render.
    """
    # The page's own values (title, meta) and the app's context are passed as plain data: the
    # environment autoescapes them, since a page's title or a query string is attacker-controlled.
    variables = dict(
        slot={
            "id": slot_id(unit, number),
            "number": number,
            "paragraph": paragraph,
            "rule": rule,
            "unit": unit,
            "variant": variant,
        },
        page={"path": page.path, "title": page.title, "meta": dict(page.meta)},
        context=context,
        promotions=list(promotions),
    )
    return render_budgeted(template, variables, meter or budget.Meter())
