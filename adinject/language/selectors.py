"""Checking CSS selectors at load time: a typo fails `adinject check` instead of silently matching nothing."""

from __future__ import annotations

import functools

import turbohtml

# A tiny document to run selectors against: turbohtml parses a selector only when it is used, and raises a
# syntax error before any matching happens, so what the document holds does not matter.
_PROBE_HTML = "<p></p>"


@functools.lru_cache(maxsize=512)
def check_selector(sel: str) -> str | None:
    """The syntax error in CSS selector `sel`, or None when turbohtml accepts it.

    Cached: rule folders repeat the same few selectors (`p`, `figure`, `h2`) across rules and reloads.
    """
    if not sel.strip():
        return "a CSS selector must not be empty"
    try:
        turbohtml.parse(_PROBE_HTML).select(sel)
    except turbohtml.SelectorSyntaxError as exc:
        return str(exc)
    return None
