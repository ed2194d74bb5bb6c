"""The demo news site: a Starlette app whose article pages get their ad slots and related box from adinject.

The app itself knows nothing about ads. It renders plain article pages (paragraphs in
`<article><div class="article-body">`), chooses each article's related articles and hands them to the units
through `request.state.adinject`; `AdInjectMiddleware`, with the rules shipped in the repository's `rules/`
folder, inserts the units into the outgoing HTML.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from adinject import AdInjectMiddleware, metrics_app
from examples.newsroom.content import Newsroom, newsroom

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RULES_DIR = REPO / "rules"  # the shipped rules, wherever the demo is started from


def _long_date(value: datetime) -> str:
    return f"{value:%A}, {value:%B} {value.day}, {value:%Y}"


def _short_date(value: datetime) -> str:
    hour = value.hour % 12 or 12
    return f"{value:%b} {value.day}, {value:%Y}, {hour}:{value:%M} {'a.m.' if value.hour < 12 else 'p.m.'}"


def _day(value: datetime) -> str:
    return f"{value:%b} {value.day}, {value:%Y}"


def _templates(news: Newsroom) -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    templates = Jinja2Templates(env=env)
    templates.env.filters["long_date"] = _long_date
    templates.env.filters["short_date"] = _short_date
    templates.env.filters["day"] = _day
    templates.env.globals["site"] = news.site
    templates.env.globals["edition_date"] = news.edition_date
    return templates


def create_app(
    rules: Any = RULES_DIR, *, inject: bool = True, news: Newsroom | None = None, **middleware: Any
) -> Starlette:
    """The newsroom app behind `AdInjectMiddleware(rules=rules, **middleware)` (or bare: `inject=False`)."""
    news = news or newsroom()
    templates = _templates(news)

    async def home(request: Request) -> Response:
        articles = news.listed()
        return templates.TemplateResponse(
            request,
            "index.html",
            {
                "lead": articles[0],
                "others": articles[1:],
                "latest": sorted(articles, key=lambda a: a.published, reverse=True),
            },
        )

    async def section(request: Request) -> Response:
        category = request.path_params["category"]
        articles = news.listed(category)
        if not articles:
            raise HTTPException(404)
        return templates.TemplateResponse(
            request, "section.html", {"category": articles[0].category, "articles": articles}
        )

    async def article(request: Request) -> Response:
        found = news.find(request.path_params["section"], request.path_params["slug"])
        if found is None:
            raise HTTPException(404)
        related = news.related(found)
        # The units' data: the middleware exposes scope["state"]["adinject"] to unit templates as `context`.
        request.state.adinject = {"related": related}
        more = [a for a in news.listed() if a.slug != found.slug][:3]
        return templates.TemplateResponse(request, "article.html", {"article": found, "more": more})

    async def about(request: Request) -> Response:
        return templates.TemplateResponse(request, "about.html", {})

    async def corrections(request: Request) -> Response:
        quote = request.query_params.get("quote", "")[:1000]
        page = request.query_params.get("page", "")
        return templates.TemplateResponse(request, "corrections.html", {"quote": quote, "page": page})

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        return templates.TemplateResponse(request, "404.html", {}, status_code=status)

    routes = [
        Route("/", home, name="home"),
        Route("/section/{category:str}", section, name="section"),
        Route("/about", about, name="about"),
        Route("/about/corrections", corrections, name="corrections"),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        # adinject's Prometheus metrics (a real site would keep this off the public internet).
        Route("/metrics", metrics_app(), name="metrics"),
        Route("/{section:str}/{slug:str}", article, name="article"),
    ]
    stack = [Middleware(AdInjectMiddleware, rules=rules, **middleware)] if inject else []
    return Starlette(routes=routes, middleware=stack, exception_handlers={404: not_found})
