"""The parsed page as placement sees it: the tree, the source offsets, and what templates may read."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from turbohtml import Document, parse


@dataclass(frozen=True, slots=True)
class PageInfo:
    """What unit templates see as `page`. Values come from the page, so templates escape them."""

    path: str
    title: str
    meta: dict[str, str] = field(default_factory=dict)  # the first value of each name, as written
    # Every value of each name, by lower-cased name (a page may have several article:tag): for targeting.
    meta_all: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(text: str) -> str:
    """`text` with U+FFFD for each lone surrogate: the same length, so the same code-point offsets."""
    return _SURROGATE.sub("\ufffd", text)


def parse_text(text: str, *, escaped: bool = False) -> Document:
    """Parse a page's text. `escaped`: the text may hold lone surrogates (escapes of undecodable bytes).

    turbohtml raises reading the source location of an element whose attribute name holds a lone surrogate,
    so such a text is parsed as a copy with U+FFFD in place of each surrogate, as a browser reads it.
    turbohtml's offsets count code points, and each replacement is one code point for one, so every offset
    into the copy is the same offset into `text`.
    """
    if escaped:
        text = without_surrogates(text)
    # scripting=True because browsers run with scripting on: <noscript> is then raw text, and nothing
    # inside it is an element we could place next to.
    return parse(text, source_locations=True, scripting=True)


def page_info(doc: Document, path: str, *, full: bool = True) -> PageInfo:
    """What templates and targeting read of the page. With `full=False` (nothing reads the title or meta
    tags) only the opt-out `<meta name="adinject">` is looked for: pages carry dozens of meta tags."""
    if not full and not (
        # Both selects go through the parser's tag index; a hit (rare) takes the full path below.
        doc.select("meta[name=adinject][content]") or doc.select("meta[property=adinject][content]")
    ):
        return PageInfo(path=path, title="")
    title_el = doc.select_one("title")
    title = " ".join(title_el.text.split()) if title_el is not None else ""
    meta: dict[str, str] = {}
    meta_all: dict[str, list[str]] = {}
    for el in doc.select("meta[name][content], meta[property][content]"):
        key = el.attrs.get("name") or el.attrs.get("property")
        value = el.attrs.get("content")
        if isinstance(key, str) and isinstance(value, str):
            meta.setdefault(key, value)
            meta_all.setdefault(key.lower(), []).append(value)
    return PageInfo(
        path=path, title=title, meta=meta, meta_all={key: tuple(values) for key, values in meta_all.items()}
    )


def opted_out(info: PageInfo) -> bool:
    return info.meta.get("adinject", "").strip().lower() == "off"
