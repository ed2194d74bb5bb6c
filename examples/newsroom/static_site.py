"""The demo site pre-rendered as plain HTML files, as a CMS or static site generator would leave it.

Each article page carries its unit context as `<script type="application/json" id="adinject-context">` at
the end of its <head>: what the Python app hands the middleware in `request.state.adinject`, written into the
page for an origin that cannot (see README, "In front of any site"). `serve` serves the folder with the
standard library's `http.server`, extensionless files as HTML, standing in for any origin.
"""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Mapping
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import anyio
import httpx

from examples.newsroom.app import HERE, create_app
from examples.newsroom.content import Newsroom, newsroom

CONTEXT_ID = "adinject-context"


def context_element(context: Mapping[str, Any]) -> str:
    """The context as an inert JSON data block. `<` is escaped so no value can close the element early."""
    text = json.dumps(context, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    return f'<script type="application/json" id="{CONTEXT_ID}">{text}</script>\n'


def with_context(page: bytes, context: Mapping[str, Any]) -> bytes:
    """`page` with its context element just before `</head>`."""
    head_end = page.index(b"</head>")
    return page[:head_end] + context_element(context).encode("utf-8") + page[head_end:]


def render(dest: Path, news: Newsroom | None = None) -> list[str]:
    """Write the site's pages (without units: the app runs bare) and static files under `dest`; the URL
    paths written, articles first."""
    news = news or newsroom()
    pages = [(a.url, {"related": news.related(a)}) for a in news.articles]
    pages += [("/", None), ("/about", None)]
    pages += [(f"/section/{c}", None) for c in sorted({a.category.lower() for a in news.articles})]
    bodies = anyio.run(_fetch, create_app(inject=False, news=news), [url for url, _ in pages])
    for (url, context), body in zip(pages, bodies, strict=True):
        target = dest / (url.strip("/") or "index.html")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body if context is None else with_context(body, context))
    shutil.copytree(HERE / "static", dest / "static", dirs_exist_ok=True)
    return [url for url, _ in pages]


async def _fetch(app: Any, urls: list[str]) -> list[bytes]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
        bodies = []
        for url in urls:
            response = await client.get(url)
            response.raise_for_status()
            bodies.append(response.content)
        return bodies


class _Handler(SimpleHTTPRequestHandler):
    # Pretty URLs (/world/some-story) are files without an extension: they are the site's HTML pages.
    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        "": "text/html; charset=utf-8",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


def origin_server(root: Path, host: str, port: int) -> ThreadingHTTPServer:
    """`python -m http.server` over `root` (not yet serving: call `serve_forever`)."""
    return ThreadingHTTPServer((host, port), functools.partial(_Handler, directory=str(root)))
