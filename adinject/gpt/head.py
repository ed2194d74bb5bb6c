"""Where the GPT scripts go in <head>, and whether the page already loads the library.

The scripts go right before an explicit `</head>` end tag, so that they run after the page's own head
scripts (a page's own GPT setup, say `enableSingleRequest`, then comes before adinject's `enableServices`).
There the parser is in the "in head" insertion mode with <head> as the current node (turbohtml reports the
end tag only when it was the token that closed <head>), every child of <head> is closed (checked), and a
<script> is parsed as a child of <head> and leaves the parser as it found it. Without an explicit `</head>`,
right after an explicit `<head>` start tag, where the same holds. A page with neither (the parser made its
<head> up) gets no wiring: there is no offset where we could show what the browser will do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from turbohtml import Document, Element, Namespace

from adinject.page.html_sets import VOID

# Where Google serves gpt.js from (the current host and the older ones pages still use).
GPT_HOSTS = frozenset(
    {"securepagead2.googlesyndication.com", "pagead2.googlesyndication.com", "www.googletagservices.com"}
)


@dataclass(frozen=True, slots=True)
class HeadSite:
    offset: int  # normalised (turbohtml) offset
    where: str  # "before </head>" or "after <head>"


def head_site(doc: Document) -> HeadSite | str:
    """The safe offset for scripts in <head>, or the reason there is none."""
    head = _head(doc)
    loc = head.source_location if head is not None else None
    if head is None or loc is None:
        return "the page has neither a <head> nor a </head> tag"
    if loc.end_tag is not None and all(
        _closed(child) for child in head.children if isinstance(child, Element)
    ):
        return HeadSite(loc.end_tag.start_offset, "before </head>")
    return HeadSite(loc.start_tag.end_offset, "after <head>")


def _head(doc: Document) -> Element | None:
    root = doc.root
    if root is None:
        return None
    for child in root.children:
        if isinstance(child, Element) and child.tag == "head" and child.namespace is Namespace.HTML:
            return child
    return None


def _closed(el: Element) -> bool:
    loc = el.source_location
    return loc is not None and (loc.end_tag is not None or el.tag in VOID)


def meta_policies(doc: Document) -> tuple[str, ...]:
    """The page's <meta http-equiv="Content-Security-Policy"> policies (HTML honours them only in <head>)."""
    return tuple(
        value
        for el in doc.select("head meta[http-equiv][content]")
        if str(el.attrs.get("http-equiv", "")).strip().lower() == "content-security-policy"
        and isinstance(value := el.attrs.get("content"), str)
    )


def script_sources(doc: Document) -> list[str]:
    return [src for el in doc.select("script[src]") if isinstance(src := el.attrs.get("src"), str)]


def loads_gpt(sources: Iterable[str], library_url: str) -> bool:
    """Whether one of the page's <script src> values is the GPT library (Google's or the configured URL)."""
    for src in sources:
        value = src.strip()
        if value == library_url:
            return True
        try:
            parts = urlsplit(value)
        except ValueError:
            continue
        if (parts.hostname or "") in GPT_HOSTS and parts.path.endswith("/tag/js/gpt.js"):
            return True
    return False
