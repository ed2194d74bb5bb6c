"""The Jinja2 environment unit templates are compiled and rendered with.

It belongs to the rule language: the loader compiles every unit's template with it (a template that does
not compile is a problem in the rule file), and the engine renders those same compiled templates.

Choices, and why:

* Sandboxed, and immutable (`ImmutableSandboxedEnvironment`): rule files are written by ad ops, not by the
  engineers who run the server, so a template must not reach Python internals; and the objects a template
  sees (`page.meta`, `context`) may be shared between requests, so a template must not modify them either.
* `autoescape=True`: page titles, meta values and context come from the page and the request; they are text
  and must never become markup inside a unit.
* `ChainableUndefined` rather than `StrictUndefined`: a template is rendered on every page, inside the
  middleware. `{{ context.related[0].title }}` when a page has no `related` context should render empty (and
  `{% if %}` on it should be false), not raise and lose the unit or the page. The price is that a misspelt
  variable also renders empty; `adinject explain` and `adinject render` show the rendered unit, which is where
  that shows up.
* `trim_blocks` and `lstrip_blocks`: `{% if %}` lines in a YAML block scalar then leave no blank lines and
  stray indentation behind in the page.
"""

from __future__ import annotations

import functools
import re

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment
from markupsafe import Markup

_SLUG_UNSAFE = re.compile(r"[^a-z0-9]+")


def words(value: object, n: int, end: str = "…") -> str:
    """The first `n` words of `value` (markup stripped to text), followed by `end` when anything was cut.

    Whitespace between the kept words is normalised to single spaces.
    """
    if isinstance(value, jinja2.Undefined) or value is None:
        return ""
    text = value.striptags() if isinstance(value, Markup) else str(value)
    parts = text.split()
    if n < 0:
        n = 0
    if len(parts) <= n:
        return " ".join(parts)
    return " ".join(parts[:n]) + end


def slug(value: object) -> str:
    """`value` as lowercase ASCII letters, digits and hyphens: safe in an id, a class or an ad unit path."""
    if isinstance(value, jinja2.Undefined) or value is None:
        return ""
    return _SLUG_UNSAFE.sub("-", str(value).lower()).strip("-")


def make_environment() -> SandboxedEnvironment:
    """A new environment configured for unit templates (see the module docstring for why each setting)."""
    env = ImmutableSandboxedEnvironment(
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["words"] = words
    env.filters["slug"] = slug
    return env


@functools.cache
def environment() -> SandboxedEnvironment:
    """The one environment the whole process shares, so compiled templates share its caches."""
    return make_environment()
