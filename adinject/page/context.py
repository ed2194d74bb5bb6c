"""Unit context carried by the page itself: `<script type="application/json" id="adinject-context">`.

An origin that is not a Python app (a CMS behind `adinject proxy`) cannot set `scope["state"]["adinject"]`;
it writes the same mapping into its page as a JSON data block instead. The element stays in the page (the
bytes that leave are the page's), and it is read from the tree the planner parses anyway, so the page is
never parsed twice. A data block is inert for browsers: `type="application/json"` is not a script type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from turbohtml import Document

ELEMENT_ID = "adinject-context"
# The JSON text's cap, in characters: a mapping of related links and a section name is a few kilobytes.
MAX_CHARS = 64 * 1024


@dataclass(frozen=True, slots=True)
class PageContext:
    """The page's context mapping (None when it has no element), or why its element was not used."""

    values: Mapping[str, Any] | None = None
    problem: str | None = None


def page_context(doc: Document) -> PageContext:
    """The first `<script id="adinject-context">` whose type is `application/json`, parsed; an element over
    MAX_CHARS, not valid JSON or not a JSON object is not used (the problem says why)."""
    el = doc.select_one(f"script#{ELEMENT_ID}")
    if el is None:
        return PageContext()
    kind = el.attrs.get("type")
    if not isinstance(kind, str) or kind.strip().lower() != "application/json":
        return PageContext(problem=f'the page\'s #{ELEMENT_ID} element is not type="application/json"')
    text = el.text
    if len(text) > MAX_CHARS:
        return PageContext(
            problem=f"the page's #{ELEMENT_ID} is {len(text):,} characters, over {MAX_CHARS:,}"
        )
    try:
        values = json.loads(text)
    except ValueError as exc:
        return PageContext(problem=f"the page's #{ELEMENT_ID} is not valid JSON: {exc}")
    if not isinstance(values, dict):
        return PageContext(problem=f"the page's #{ELEMENT_ID} is not a JSON object")
    return PageContext(values)
