"""The debug view: `?adinject=debug` with the token gets the annotated page; without it, nothing changes.

Also `adinject preview --from` against a live (uvicorn) demo site, with and without the token.
"""

from __future__ import annotations

import gzip
import logging
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from adinject import AdInjectMiddleware
from examples.newsroom import RULES_DIR, create_app
from examples.newsroom.content import SEED_SLUG

TOKEN = "s3cret-token"
SEED = f"/world/{SEED_SLUG}"
PANEL = b'id="adinject-debug-panel"'


def comparable(response: object) -> tuple[int, bytes, list[tuple[str, str]]]:
    r = response  # an httpx.Response
    # Date and the measured duration in Server-Timing differ from one response to the next.
    headers = sorted((k, re.sub(r"dur=[\d.]+", "", v)) for k, v in r.headers.items() if k != "date")  # type: ignore[attr-defined]
    return r.status_code, r.content, headers  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def demo() -> TestClient:
    return TestClient(create_app(debug_token=TOKEN, reload=False))


@pytest.fixture(scope="module")
def bare() -> TestClient:
    return TestClient(create_app(inject=False))


def test_without_the_token_the_parameter_does_nothing(demo: TestClient) -> None:
    normal = demo.get(SEED)
    assert normal.content.count(b'class="ad-slot"') == 2
    for headers, cookies in (({}, {}), ({"X-AdInject-Debug": "wrong"}, {}), ({}, {"adinject_debug": "nope"})):
        demo.cookies.clear()
        for query in ("?adinject=debug", "?adinject=original", "?adinject=debug&x=1"):
            demo.cookies.update(cookies)
            response = demo.get(SEED + query, headers=headers)
            assert comparable(response) == comparable(normal), (query, headers, cookies)
    demo.cookies.clear()


def test_the_token_in_a_header_or_a_cookie_gets_the_annotated_page(demo: TestClient) -> None:
    by_header = demo.get(SEED + "?adinject=debug", headers={"X-AdInject-Debug": TOKEN})
    demo.cookies.set("adinject_debug", TOKEN)
    try:
        by_cookie = demo.get(SEED + "?adinject=debug")
    finally:
        demo.cookies.clear()
    for response in (by_header, by_cookie):
        assert response.status_code == 200
        body = response.content
        assert PANEL in body
        assert body.count(b'<div class="adinject-debug-unit"') == 3  # two ads and the related box
        assert body.count(b'<p data-adinject-p="counted"') == 9
        assert response.headers["cache-control"] == "no-store"
        assert "etag" not in response.headers and "last-modified" not in response.headers
        assert response.headers["content-length"] == str(len(body))
        assert b"Other Topics of Interest" in body, "the app's context reaches the units in the debug view"
    timing = re.compile(rb"[\d.]+ ms</p>")
    assert timing.sub(b"", by_header.content) == timing.sub(b"", by_cookie.content)


def test_original_with_the_token_is_the_apps_own_page(demo: TestClient, bare: TestClient) -> None:
    response = demo.get(SEED + "?adinject=original", headers={"X-AdInject-Debug": TOKEN})
    assert response.content == bare.get(SEED + "?adinject=original").content
    assert b"ad-slot" not in response.content
    assert response.headers["cache-control"] == "no-store"


def test_debug_on_a_page_no_rule_matches(demo: TestClient, bare: TestClient) -> None:
    response = demo.get("/about?adinject=debug", headers={"X-AdInject-Debug": TOKEN})
    assert PANEL in response.content
    assert b"no enabled rule matches the path /about" in response.content
    assert b"adinject-debug-unit" not in response.content.split(b"<style")[0]


def test_static_files_and_head_are_left_alone(demo: TestClient) -> None:
    css = demo.get("/static/site.css?adinject=debug", headers={"X-AdInject-Debug": TOKEN})
    assert PANEL not in css.content
    head = demo.head(SEED + "?adinject=debug", headers={"X-AdInject-Debug": TOKEN})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["cache-control"] == "no-store"


def test_kill_switch_and_refused_change_are_explained(tmp_path: Path) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(RULES_DIR, folder)
    app = create_app(folder, debug_token=TOKEN, reload=False)
    client = TestClient(app)
    client.get("/")  # builds the middleware stack
    middleware = _middleware(app)
    assert middleware.live is not None
    (folder / "OFF").touch()
    middleware.live.check()
    assert b"ad-slot" not in client.get(SEED).content
    debug = client.get(SEED + "?adinject=debug", headers={"X-AdInject-Debug": TOKEN}).content
    assert b"Readers get this page without units: the kill switch is on" in debug
    assert debug.count(b'<div class="adinject-debug-unit"') == 3, "what the rules would do"

    (folder / "OFF").unlink()
    (folder / "news.yaml").write_text(
        (folder / "news.yaml").read_text().replace("after_paragraph: 3", "after_para: 3")
    )
    middleware.live.settle = 0.01
    middleware.live.check()
    debug = client.get(SEED + "?adinject=debug", headers={"X-AdInject-Debug": TOKEN}).content
    assert b"The latest change to the rules was refused (1 problem)" in debug
    assert b"unknown key &#x27;after_para&#x27;" in debug or b"unknown key 'after_para'" in debug


def _middleware(app: Starlette) -> AdInjectMiddleware:
    layer = app.middleware_stack
    while layer is not None and not isinstance(layer, AdInjectMiddleware):
        layer = getattr(layer, "app", None)
    assert isinstance(layer, AdInjectMiddleware)
    return layer


def test_a_compressed_page_is_annotated_and_compressed_again(tmp_path: Path) -> None:
    from tests._support.preview import RULES, page

    (tmp_path / "r.yaml").write_text(RULES)

    async def story(request: Request) -> Response:
        return Response(gzip.compress(page()), media_type="text/html", headers={"content-encoding": "gzip"})

    app = AdInjectMiddleware(
        Starlette(routes=[Route("/news/a", story)]),
        rules=tmp_path / "r.yaml",
        debug_token=TOKEN,
        reload=False,
    )
    response = TestClient(app).get("/news/a?adinject=debug", headers={"X-AdInject-Debug": TOKEN})
    assert response.headers["content-encoding"] == "gzip"
    assert PANEL in response.content  # httpx decoded it


def test_an_empty_token_is_refused() -> None:
    async def app(scope: object, receive: object, send: object) -> None: ...

    with pytest.raises(ValueError, match="debug_token"):
        AdInjectMiddleware(app, rules=RULES_DIR, debug_token=" ", reload=False)  # type: ignore[arg-type]


# ---- adinject preview --from, against a live demo


@pytest.fixture(scope="module")
def live_demo() -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_app(debug_token=TOKEN, reload=False), log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.02)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def preview_from(url: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "adinject.cli",
        "preview",
        "--from",
        url,
        "--rules",
        str(RULES_DIR),
        "-o",
        str(out),
    ]
    return subprocess.run([*cmd, *extra], capture_output=True, text=True, timeout=60, check=True)


def test_preview_from_a_live_page(live_demo: str, tmp_path: Path) -> None:
    out = tmp_path / "seed.html"
    with_token = preview_from(live_demo + SEED, out, "--token", TOKEN)
    assert "warning" not in with_token.stderr
    assert f"{SEED}: 2 unit(s) inserted" in with_token.stderr  # no app context here: the related box is empty
    body = out.read_bytes()
    assert body.count(b'class="ad-slot"') == 2 and PANEL in body

    without = preview_from(live_demo + SEED, out)
    assert "already put units into this page" in without.stderr
    assert out.read_bytes().count(b'class="ad-slot"') == 4, "the site's two and the preview's two"


def test_a_short_token_is_logged_once_as_weak(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(inject=False)
    with caplog.at_level(logging.WARNING, logger="adinject"):
        middleware = AdInjectMiddleware(app, rules=RULES_DIR, debug_token="short", reload=False)
        for _ in range(3):
            TestClient(middleware).get(f"{SEED}?adinject=debug", headers={"X-AdInject-Debug": "short"})
        AdInjectMiddleware(app, rules=RULES_DIR, debug_token="x" * 16, reload=False)
        AdInjectMiddleware(app, rules=RULES_DIR, reload=False)
    weak = [r for r in caplog.records if "debug_token is" in r.getMessage()]
    assert len(weak) == 1 and "5 characters, under 16" in weak[0].getMessage()
    assert "short" not in weak[0].getMessage(), "the token itself is not logged"
