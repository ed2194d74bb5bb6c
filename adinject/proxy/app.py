"""The proxy as an ASGI app: Starlette, the forwarding endpoint behind `AdInjectMiddleware`.

The stack, outside in: `UpstreamGuard` (answers or cuts on an origin failure), the middleware (the rules,
as on any ASGI app; its lifespan check stops the server on invalid rules), then the routes: the health path
and, when asked for, the metrics, both answered here and never forwarded; everything else goes to the
origin. The origin client lives in the lifespan, one pool per worker process.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from adinject.http import AdInjectMiddleware
from adinject.metrics import metrics_app
from adinject.proxy.config import CONFIG_ENV, ProxyConfig
from adinject.proxy.forwarding import Forwarder
from adinject.proxy.guard import UpstreamGuard


async def _healthy(request: Request) -> Response:
    # The proxy's own liveness: the origin's health is the load balancer's to check through the proxy.
    return PlainTextResponse("ok\n", headers={"cache-control": "no-store"})


def create_app(config: ProxyConfig) -> Starlette:
    forwarder = Forwarder(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with forwarder.session():
            yield

    routes: list[BaseRoute] = [Route(config.health_path, _healthy, methods=["GET", "HEAD"])]
    if config.metrics_path:
        routes.append(Mount(config.metrics_path, metrics_app()))
    routes.append(Mount("/", forwarder))
    middleware = [
        Middleware(UpstreamGuard),
        Middleware(AdInjectMiddleware, rules=config.rules, **config.middleware_options()),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def from_environment() -> Starlette:
    """The app for uvicorn's factory (each worker builds its own): the settings `server.run` left in
    ADINJECT_PROXY_CONFIG."""
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise RuntimeError(f"{CONFIG_ENV} is not set: start the proxy with `adinject proxy`")
    return create_app(ProxyConfig.from_json(text))
