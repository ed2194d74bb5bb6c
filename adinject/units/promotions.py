"""House promotions for data-fed units: which items of a promotions file suit a page.

An item matches a page when one of its `sections` is the page's `article:section`, or when its `tags` share
one with the page's `article:tag`, `keywords` and `news_keywords` (all compared case-insensitively). Matching
items come first, best first: a section match outranks any number of shared tags, more shared tags outrank
fewer, and ties keep the file's order. Items with neither sections nor tags are evergreen: they match every
page, after every item that matched on its own merits. Items with sections or tags that match nothing are
left out, so a politics promotion never lands on a sport page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adinject.language.schema import Promotion
from adinject.targeting.conditions import meta_values, normalize

_TAG_NAMES = ("article:tag", "keywords", "news_keywords")


def page_section(meta: Mapping[str, Sequence[str]]) -> str | None:
    values = meta_values(meta, "article:section")
    return values[0] if values else None


def page_tags(meta: Mapping[str, Sequence[str]]) -> list[str]:
    """The page's tags and keywords, in page order, each once."""
    seen: dict[str, str] = {}
    for name in _TAG_NAMES:
        for value in meta_values(meta, name):
            seen.setdefault(normalize(value), value)
    return list(seen.values())


def choose(items: Sequence[Promotion], meta: Mapping[str, Sequence[str]], count: int) -> list[dict[str, Any]]:
    """Up to `count` promotions for a page with these <meta> values, best first, as template data."""
    section = page_section(meta)
    wanted_section = normalize(section) if section else None
    tags = {normalize(tag) for tag in page_tags(meta)}
    ranked: list[tuple[bool, int, int, int, Promotion]] = []
    for index, item in enumerate(items):
        evergreen = not item.sections and not item.tags
        in_section = wanted_section is not None and wanted_section in {normalize(s) for s in item.sections}
        shared = len(tags & {normalize(t) for t in item.tags})
        if evergreen or in_section or shared:
            # Sorted ascending: matches before evergreens, section matches first, more shared tags first.
            ranked.append((evergreen, -int(in_section), -shared, index, item))
    ranked.sort(key=lambda entry: entry[:4])
    return [entry[4].model_dump() for entry in ranked[:count]]
