"""Pages through the proxy are what the middleware makes of them: the same bytes and headers as
AdInjectMiddleware wrapped around the origin's app in this process, for GET, HEAD, 304 and Range; unit
context from the page's element or the origin's header; compressed pages decoded and re-encoded."""

from __future__ import annotations

import gzip
from pathlib import Path

import anyio
import httpx
import pytest

from adinject.http import AdInjectMiddleware
from tests._support.http_testkit import strip_units, units_in
from tests.proxy import origin as origin_app
from tests.proxy.conftest import Proxy, ProxyFactory

pytestmark = pytest.mark.slow

# Set per hop (the origin's server, the clock, the framing: uvicorn says a HEAD answer without a length
# would be chunked) or per process (the rules' load time, the time taken).
PER_PROCESS = {"date", "server", "transfer-encoding", "server-timing", "last-modified"}


def in_process(rules_dir: Path, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    """The same request to the origin's app wrapped in the middleware, in this process."""
    app = AdInjectMiddleware(origin_app.app, rules=rules_dir, reload=False, metrics=False)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://origin") as client:
            return await client.request(method, path, headers=headers)

    try:
        return anyio.run(go)
    finally:
        app.close()


def comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v) for k, v in response.headers.multi_items() if k not in PER_PROCESS)
    return response.status_code, headers, response.content


def both(proxy: Proxy, rules_dir: Path, method: str, path: str, **headers: str) -> httpx.Response:
    """The proxy's response, checked equal to the middleware's own."""
    through = httpx.request(method, proxy.url + path, headers=headers, timeout=10)
    assert comparable(through) == comparable(in_process(rules_dir, method, path, headers))
    return through


def test_an_article_gets_its_unit_as_through_the_middleware(proxy: Proxy, rules_dir: Path) -> None:
    response = both(proxy, rules_dir, "GET", "/news/story", **{"accept-encoding": "identity"})
    assert response.content.count(b"Advertisement") == 1
    assert len(units_in(response.content)) == 1
    assert strip_units(response.content) == origin_app.article()
    assert "server-timing" in response.headers


def test_head_is_answered_as_the_middleware_decides(proxy: Proxy, rules_dir: Path) -> None:
    response = both(proxy, rules_dir, "HEAD", "/news/story", **{"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.content == b""


def test_304_and_range_on_a_page_the_rules_modify(proxy: Proxy, rules_dir: Path) -> None:
    etag = httpx.get(proxy.url + "/news/story", timeout=10).headers["etag"]
    assert etag != origin_app.ETAG.decode()  # the modified page's own validator, not the origin's
    assert both(proxy, rules_dir, "GET", "/news/story", **{"if-none-match": etag}).status_code == 304
    # The origin's validator does not describe the modified page: the whole page, with its units.
    stale = both(proxy, rules_dir, "GET", "/news/story", **{"if-none-match": origin_app.ETAG.decode()})
    assert stale.status_code == 200 and b"Advertisement" in stale.content
    # A range of the modified page is not cut from the origin's bytes: the whole page (RFC 9110 §14.2).
    ranged = both(proxy, rules_dir, "GET", "/news/story", range="bytes=0-9")
    assert ranged.status_code == 200 and b"Advertisement" in ranged.content


def test_304_206_and_head_of_other_responses_are_the_origin_s(proxy: Proxy, rules_dir: Path) -> None:
    whole = origin_app.payload(1000)
    ranged = both(proxy, rules_dir, "GET", "/file", range="bytes=10-19")
    assert (ranged.status_code, ranged.content) == (206, whole[10:20])
    assert ranged.headers["content-range"] == "bytes 10-19/1000"
    assert (
        both(proxy, rules_dir, "GET", "/file", **{"if-none-match": origin_app.ETAG.decode()}).status_code
        == 304
    )
    head = both(proxy, rules_dir, "HEAD", "/file")
    assert (head.headers["content-length"], head.content) == ("1000", b"")


def related(body: bytes) -> bytes | None:
    start = body.find(b'<aside class="ctx">')
    return None if start < 0 else body[start + len(b'<aside class="ctx">') : body.index(b"</aside>", start)]


def test_unit_context_from_the_page_element_which_stays(proxy: Proxy) -> None:
    response = httpx.get(proxy.url + "/news/story?ctx=page", timeout=10)
    assert related(response.content) == b"Page/page"
    assert b'<script type="application/json" id="adinject-context">' in response.content


def test_unit_context_from_the_origin_s_header_which_is_removed(proxy: Proxy) -> None:
    response = httpx.get(proxy.url + "/news/story?ctx=header", timeout=10)
    assert related(response.content) == b"Header/"
    assert "x-adinject-context" not in response.headers


def test_the_header_s_keys_win_over_the_page_s(proxy: Proxy) -> None:
    assert related(httpx.get(proxy.url + "/news/story?ctx=both", timeout=10).content) == b"Header/page"


def test_a_context_header_over_the_cap_is_ignored_and_still_removed(proxy: Proxy) -> None:
    response = httpx.get(proxy.url + "/news/story?ctx=big-header", timeout=10)
    assert related(response.content) is None
    assert b"Advertisement" in response.content
    assert "x-adinject-context" not in response.headers


def test_a_compressed_page_is_decoded_given_its_units_and_compressed_again(proxy: Proxy, origin: str) -> None:
    direct = httpx.get(origin + "/news/story?gzip=1", headers={"accept-encoding": "gzip"}, timeout=10)
    assert direct.headers["content-encoding"] == "gzip"
    with httpx.stream(
        "GET", proxy.url + "/news/story?gzip=1", headers={"accept-encoding": "gzip"}
    ) as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    page = gzip.decompress(raw)
    assert len(units_in(page)) == 1
    assert strip_units(page) == origin_app.article()


def test_two_workers_serve_pages_with_units(origin: str, start_proxy: ProxyFactory) -> None:
    fleet = start_proxy(origin, "--workers", "2")
    with httpx.Client(timeout=10) as client:
        bodies = [
            client.get(fleet.url + "/news/story", headers={"connection": "close"}).content for _ in range(6)
        ]
    assert all(len(units_in(body)) == 1 and strip_units(body) == origin_app.article() for body in bodies)
