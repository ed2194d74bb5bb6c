"""`make demo-proxy`: the demo site pre-rendered as static files behind the proxy with the shipped rules gives
the seed article the same units, the related box included, as the Python app behind the middleware."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from examples.newsroom import RULES_DIR, create_app
from examples.newsroom.content import SEED_SLUG, newsroom
from examples.newsroom.static_site import context_element, render
from tests._support.paths import REPO
from tests._support.processes import free_port, running
from tests.proxy.conftest import Proxy, ProxyFactory

pytestmark = pytest.mark.slow

SEED_URL = f"/world/{SEED_SLUG}"
SERVE = """
import sys
from pathlib import Path
from examples.newsroom.static_site import origin_server
origin_server(Path(sys.argv[1]), "127.0.0.1", int(sys.argv[2])).serve_forever()
"""


@pytest.fixture(scope="module")
def static_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("demo-site")
    render(root)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running([sys.executable, "-c", SERVE, str(root), str(port)], url + "/", cwd=REPO):
        yield url


@pytest.fixture(scope="module")
def demo_proxy(static_origin: str, start_proxy: ProxyFactory) -> Proxy:
    return start_proxy(static_origin, rules=Path(RULES_DIR))


def through_middleware(path: str) -> bytes:
    async def go() -> bytes:
        transport = httpx.ASGITransport(app=create_app(reload=False, metrics=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return (await client.get(path)).content

    return anyio.run(go)


def test_the_seed_article_through_the_proxy_is_the_middleware_s_page(demo_proxy: Proxy) -> None:
    response = httpx.get(demo_proxy.url + SEED_URL, timeout=20)
    assert response.status_code == 200
    body = response.content
    assert body.count(b'<p class="ad-slot__label">Advertisement</p>') == 2
    assert b"Other Topics of Interest" in body
    # The one difference: the static page carries its context in an element the middleware's app hands over
    # in request.state instead. Without it, the bytes are the same.
    related = newsroom().related(newsroom().by_slug(SEED_SLUG))
    element = context_element({"related": related}).encode()
    assert body.count(element) == 1
    assert body.replace(element, b"") == through_middleware(SEED_URL)


def test_pages_the_rules_leave_alone_pass_unchanged(static_origin: str, demo_proxy: Proxy) -> None:
    proxy = demo_proxy
    direct = httpx.get(static_origin + "/about", timeout=10)
    assert httpx.get(proxy.url + "/about", timeout=10).content == direct.content
    css = httpx.get(proxy.url + "/static/site.css", timeout=10)
    assert css.content == httpx.get(static_origin + "/static/site.css", timeout=10).content
