"""Rendering a planned slot's template into markup, with the variables the rule manual promises."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from jinja2 import Template
from jinja2.utils import concat

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
) -> str:
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
    # Template.render adds a traceback-rewriting wrapper around the same compiled function; callers catch
    # every exception themselves, so call it directly (a few microseconds per unit on a hot path).
    return concat(template.root_render_func(template.new_context(variables)))
