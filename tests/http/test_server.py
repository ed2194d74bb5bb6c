"""The middleware behind a real uvicorn, spoken to with httpx: what a browser or a cache actually receives."""

from __future__ import annotations

import gzip
import logging
import os
import threading
import zlib
from collections.abc import AsyncIterator, Callable, Iterable
from email.utils import formatdate
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import brotli
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from adinject.engine import Rules
from adinject.http import AdInjectMiddleware
from tests._support.http_testkit import (
    RulesProxy,
    assert_injected_once,
    page,
    strip_units,
    units_in,
    write_rules,
)

Serve = Callable[[ASGIApp], httpx.Client]
HTML_ONLY = [(b"content-type", b"text/html")]
PAGE = page()


def raw_app(
    chunks: Iterable[bytes], headers: Iterable[tuple[str, str]] = (), *, status: int = 200, html: bool = True
) -> ASGIApp:
    """A plain ASGI app that sends exactly these headers and body chunks."""
    pieces = list(chunks)
    raw = [(k.lower().encode(), v.encode()) for k, v in headers]
    if html:
        raw.insert(0, (b"content-type", b"text/html; charset=utf-8"))

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": raw})
        for n, piece in enumerate(pieces):
            await send({"type": "http.response.body", "body": piece, "more_body": n < len(pieces) - 1})
        if not pieces:
            await send({"type": "http.response.body", "body": b""})

    return app


def fetch_raw(client: httpx.Client, path: str, **kw: Any) -> tuple[httpx.Response, bytes]:
    """GET without httpx undoing any Content-Encoding: the bytes as they came off the wire."""
    with client.stream("GET", path, **kw) as response:
        return response, b"".join(response.iter_raw())


def assert_length_exact(response: httpx.Response, raw: bytes) -> None:
    assert response.headers.get("content-length") == str(len(raw))
    assert "transfer-encoding" not in response.headers


def cut_every(data: bytes, step: int) -> list[bytes]:
    return [data[i : i + step] for i in range(0, len(data), step)]


# ---- the basics, both ways of installing it ----------------------------------------------------------------


def test_starlette_add_middleware_with_a_rules_folder(serve: Serve, tmp_path: Path) -> None:
    async def story(request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE)

    app = Starlette(routes=[Route("/news/{slug}", story), Route("/about", story)])
    app.add_middleware(AdInjectMiddleware, rules=str(write_rules(tmp_path / "rules")))
    client = serve(app)

    response, raw = fetch_raw(client, "/news/some-story")
    assert response.status_code == 200
    assert_injected_once(raw, PAGE)
    assert_length_exact(response, raw)
    assert response.headers["content-type"] == "text/html; charset=utf-8"

    response, raw = fetch_raw(client, "/about")  # no rule matches this URL
    assert raw == PAGE
    assert_length_exact(response, raw)


def test_wrapping_any_asgi_app_with_loaded_rules(serve: Serve, rules: Rules) -> None:
    client = serve(AdInjectMiddleware(raw_app([PAGE], [("content-length", str(len(PAGE)))]), rules=rules))
    response, raw = fetch_raw(client, "/news/x")
    assert_injected_once(raw, PAGE)
    assert_length_exact(response, raw)


# ---- bodies in pieces --------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [1, 7, 64])
@pytest.mark.parametrize("declared_length", [True, False])
def test_streamed_body_cut_inside_tags_and_characters(
    serve: Serve, rules: Rules, step: int, declared_length: bool
) -> None:
    headers = [("content-length", str(len(PAGE)))] if declared_length else []
    client = serve(AdInjectMiddleware(raw_app(cut_every(PAGE, step), headers), rules=rules))
    response, raw = fetch_raw(client, "/news/x")
    assert_injected_once(raw, PAGE)
    assert_length_exact(response, raw)


def test_starlette_streaming_response(serve: Serve, rules: Rules) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for piece in cut_every(PAGE, 13):
            await anyio.sleep(0)
            yield piece

    async def story(request: Request) -> StreamingResponse:
        return StreamingResponse(chunks(), media_type="text/html")

    client = serve(AdInjectMiddleware(Starlette(routes=[Route("/news/x", story)]), rules=rules))
    response, raw = fetch_raw(client, "/news/x")
    assert_injected_once(raw, PAGE)
    assert_length_exact(response, raw)


def test_page_over_max_body_bytes_streams_through_unchanged(serve: Serve, rules: Rules) -> None:
    big = page(paragraphs=50)
    middleware = AdInjectMiddleware(raw_app(cut_every(big, 1000)), rules=rules, max_body_bytes=len(big) // 2)
    response, raw = fetch_raw(serve(middleware), "/news/x")
    assert raw == big
    assert response.headers.get("transfer-encoding") == "chunked"  # still streamed: we had no length to give


def test_large_page_runs_the_engine_in_a_thread(serve: Serve, rules: Rules) -> None:
    big = page(paragraphs=20, filler=700)
    proxy = RulesProxy(rules)
    middleware = AdInjectMiddleware(
        raw_app(cut_every(big, 4096)), rules=proxy, thread_threshold_bytes=64 * 1024
    )
    response, raw = fetch_raw(serve(middleware), "/news/x")
    assert len(big) > 64 * 1024
    assert_injected_once(raw, big)
    assert_length_exact(response, raw)
    assert proxy.plan_threads[0] not in ("uvicorn", threading.main_thread().name)


# ---- content codings ---------------------------------------------------------------------------------------


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def _raw_inflate(data: bytes) -> bytes:
    return zlib.decompress(data, -zlib.MAX_WBITS)


CODINGS: dict[str, tuple[str, Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    "gzip": ("gzip", gzip.compress, gzip.decompress),
    "x-gzip": ("x-gzip", gzip.compress, gzip.decompress),
    "deflate": ("deflate", zlib.compress, zlib.decompress),
    # Some servers send raw deflate as "deflate"; the client gets back the same variant it was given.
    "raw deflate": ("deflate", _raw_deflate, _raw_inflate),
    "br": ("br", brotli.compress, brotli.decompress),
}


@pytest.mark.parametrize("name", list(CODINGS))
def test_encoded_page_is_decoded_rewritten_and_encoded_again(serve: Serve, rules: Rules, name: str) -> None:
    label, compress, decompress = CODINGS[name]
    encoded = compress(PAGE)
    headers = [("content-encoding", label), ("content-length", str(len(encoded)))]
    client = serve(AdInjectMiddleware(raw_app(cut_every(encoded, 50), headers), rules=rules))
    response, raw = fetch_raw(client, "/news/x", headers={"accept-encoding": label})
    assert response.headers["content-encoding"] == label
    assert_length_exact(response, raw)
    assert_injected_once(decompress(raw), PAGE)


def test_gzip_bomb_over_the_decoded_cap_goes_out_untouched(serve: Serve, rules: Rules) -> None:
    bomb = gzip.compress(PAGE.replace(b"</article>", b" " * 20_000_000 + b"</article>"))
    assert len(bomb) < 100_000
    proxy = RulesProxy(rules)
    middleware = AdInjectMiddleware(raw_app([bomb], [("content-encoding", "gzip")]), rules=proxy)
    response, raw = fetch_raw(serve(middleware), "/news/x")
    assert raw == bomb
    assert response.headers["content-encoding"] == "gzip"
    assert proxy.plan_calls == 0


def test_the_decoded_cap_is_its_own_option(serve: Serve, rules: Rules) -> None:
    encoded = gzip.compress(PAGE)
    headers = [("content-encoding", "gzip")]
    capped = AdInjectMiddleware(raw_app([encoded], headers), rules=rules, max_decoded_bytes=len(PAGE) - 1)
    assert fetch_raw(serve(capped), "/news/x")[1] == encoded
    roomy = AdInjectMiddleware(raw_app([encoded], headers), rules=rules, max_decoded_bytes=len(PAGE))
    assert_injected_once(gzip.decompress(fetch_raw(serve(roomy), "/news/x")[1]), PAGE)


@pytest.mark.parametrize("coding", ["zstd", "gzip, br", "compress"])
def test_unknown_or_stacked_codings_pass_untouched(serve: Serve, rules: Rules, coding: str) -> None:
    opaque = b"\x28\xb5\x2f\xfd" + bytes(range(256)) * 4
    middleware = AdInjectMiddleware(raw_app([opaque], [("content-encoding", coding)]), rules=rules)
    client = serve(middleware)
    response, raw = fetch_raw(client, "/news/x")
    assert raw == opaque
    assert response.headers["content-encoding"] == coding
    assert middleware.failures == 0  # refused up front, not tried and failed open


@pytest.mark.parametrize("name", ["gzip", "br"])
def test_encoded_page_without_a_place_for_units_goes_out_as_it_came(
    serve: Serve, rules: Rules, name: str
) -> None:
    label, compress, _ = CODINGS[name]
    encoded = compress(PAGE.replace(b"article>", b"section>"))
    headers = [("content-encoding", label), ("content-length", str(len(encoded)))]
    response, raw = fetch_raw(serve(AdInjectMiddleware(raw_app([encoded], headers), rules=rules)), "/news/x")
    assert raw == encoded
    assert_length_exact(response, raw)


def test_corrupt_gzip_goes_out_untouched(serve: Serve, rules: Rules) -> None:
    broken = gzip.compress(PAGE)[:-12]
    middleware = AdInjectMiddleware(raw_app([broken], [("content-encoding", "gzip")]), rules=rules)
    assert fetch_raw(serve(middleware), "/news/x")[1] == broken
    assert middleware.failures == 0  # the app's broken body is not an adinject failure


# ---- responses that are not rewritten ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "html"),
    [
        ([("cache-control", "public, no-transform")], 200, True),
        ([("cache-control", "max-age=60,No-Transform")], 200, True),
        ([("x-adinject", "off")], 200, True),
        ([("content-range", "bytes 0-99/1000")], 200, True),
        ([], 404, True),
        ([], 500, True),
        ([("content-type", "application/json")], 200, False),
        ([("content-type", "application/xhtml+xml")], 200, False),
        ([("content-type", "text/plain")], 200, False),
    ],
)
def test_responses_left_alone(
    serve: Serve, rules: Rules, headers: list[tuple[str, str]], status: int, html: bool
) -> None:
    app = raw_app([PAGE], [*headers, ("content-length", str(len(PAGE)))], status=status, html=html)
    response, raw = fetch_raw(serve(AdInjectMiddleware(app, rules=rules)), "/news/x")
    assert response.status_code == status
    assert raw == PAGE
    assert "x-adinject" not in response.headers
    assert "server-timing" not in response.headers


def test_html_media_type_is_matched_case_insensitively(serve: Serve, rules: Rules) -> None:
    app = raw_app([PAGE], [("content-type", "Text/HTML ; Charset=UTF-8")], html=False)
    assert_injected_once(fetch_raw(serve(AdInjectMiddleware(app, rules=rules)), "/news/x")[1], PAGE)


def test_cache_control_is_split_on_commas_not_substring_matched(serve: Serve, rules: Rules) -> None:
    app = raw_app([PAGE], [("cache-control", 'private, x-note="no-transform please"')])
    assert_injected_once(fetch_raw(serve(AdInjectMiddleware(app, rules=rules)), "/news/x")[1], PAGE)


def test_x_adinject_set_by_the_app_never_reaches_the_client(serve: Serve, rules: Rules) -> None:
    app = raw_app([PAGE], [("x-adinject", "on")])
    response, raw = fetch_raw(serve(AdInjectMiddleware(app, rules=rules)), "/news/x")
    assert_injected_once(raw, PAGE)
    assert "x-adinject" not in response.headers


def test_json_through_starlette_is_untouched(serve: Serve, rules: Rules) -> None:
    async def api(request: Request) -> JSONResponse:
        return JSONResponse({"html": "<article><p>x</p></article>"})

    client = serve(AdInjectMiddleware(Starlette(routes=[Route("/news/api", api)]), rules=rules))
    response, raw = fetch_raw(client, "/news/api")
    assert raw == b'{"html":"<article><p>x</p></article>"}'
    assert response.headers["content-length"] == str(len(raw))


def test_event_stream_is_never_buffered(serve: Serve, rules: Rules) -> None:
    """The second event is only produced after the client has read the first: buffering would deadlock."""
    first_read = threading.Event()
    outcome: list[str] = []

    async def events() -> AsyncIterator[bytes]:
        yield b"data: <p>one</p>\n\n"
        ok = await anyio.to_thread.run_sync(first_read.wait, 5)
        outcome.append("client read the first event" if ok else "timed out")
        yield b"data: <p>two</p>\n\n"

    async def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(events(), media_type="text/event-stream")

    client = serve(AdInjectMiddleware(Starlette(routes=[Route("/news/live", stream)]), rules=rules))
    received = []
    with client.stream("GET", "/news/live") as response:
        for chunk in response.iter_raw():
            received.append(chunk)
            first_read.set()
    assert outcome == ["client read the first event"]
    assert b"".join(received) == b"data: <p>one</p>\n\ndata: <p>two</p>\n\n"


def test_fragment_requests_from_htmx_are_not_pages(serve: Serve, rules: Rules) -> None:
    client = serve(AdInjectMiddleware(raw_app([PAGE]), rules=rules))
    assert fetch_raw(client, "/news/x", headers={"hx-request": "true"})[1] == PAGE
    assert fetch_raw(client, "/news/x", headers={"turbo-frame": "comments"})[1] == PAGE
    boosted = fetch_raw(client, "/news/x", headers={"hx-request": "true", "hx-boosted": "true"})[1]
    assert_injected_once(boosted, PAGE)


# ---- HEAD, validators, conditional and range requests (Starlette's own responses) --------------------------


@pytest.fixture
def static_site(tmp_path: Path, rules: Rules) -> ASGIApp:
    """StaticFiles serving article pages under /news: real ETags, Last-Modified, 304s, ranges, HEAD."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "story.html").write_bytes(PAGE)

    async def html(request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"etag": '"page-v1"'})

    app = Starlette(routes=[Route("/news/page", html), Mount("/news", StaticFiles(directory=site))])
    return AdInjectMiddleware(app, rules=RulesProxy(rules))


def test_strong_etag_is_weakened_and_conditional_get_gives_an_untouched_304(
    serve: Serve, static_site: ASGIApp
) -> None:
    client = serve(static_site)
    response, raw = fetch_raw(client, "/news/story.html")
    assert_injected_once(raw, PAGE)
    etag = response.headers["etag"]
    assert etag.startswith('W/"')
    assert "last-modified" in response.headers  # the output depends only on the page
    assert "accept-ranges" not in response.headers

    again, raw = fetch_raw(client, "/news/story.html", headers={"if-none-match": etag})
    assert again.status_code == 304
    assert raw == b""
    assert "server-timing" not in again.headers


def test_a_copy_older_than_the_rules_is_not_revalidated(
    serve: Serve, static_site: ASGIApp, tmp_path: Path
) -> None:
    """StaticFiles would answer 304 to an If-Modified-Since of the file's time; the page the rules shaped is
    newer than that, so the client gets it whole, and then revalidates with the time it was given."""
    client = serve(static_site)
    story = tmp_path / "site" / "story.html"
    os.utime(story, (1_700_000_000, 1_700_000_000))  # written long before the rules were loaded
    file_time = formatdate(story.stat().st_mtime, usegmt=True)
    response, raw = fetch_raw(client, "/news/story.html", headers={"if-modified-since": file_time})
    assert response.status_code == 200
    assert_injected_once(raw, PAGE)
    again, raw = fetch_raw(
        client, "/news/story.html", headers={"if-modified-since": response.headers["last-modified"]}
    )
    assert again.status_code == 304 and raw == b""
    assert again.headers["etag"] == response.headers["etag"]


def test_range_request_gets_the_whole_modified_page(serve: Serve, static_site: ASGIApp) -> None:
    """A range of the app's bytes on a URL the rules modify is a range of another representation: a client
    joining it to a modified prefix gets a corrupt page. The app never sees the Range: the answer is 200."""
    client = serve(static_site)
    full, _ = fetch_raw(client, "/news/story.html")
    for headers in (
        {"range": "bytes=10-99"},
        {"range": "bytes=10-99", "if-range": full.headers["etag"]},
        {"range": "bytes=10-99", "if-range": full.headers["last-modified"]},
    ):
        response, raw = fetch_raw(client, "/news/story.html", headers=headers)
        assert response.status_code == 200
        assert_injected_once(raw, PAGE)
        assert "content-range" not in response.headers and "accept-ranges" not in response.headers


def rules_version(middleware: ASGIApp) -> str:
    assert isinstance(middleware, AdInjectMiddleware)
    return middleware.rules.version


def test_head_length_matches_get_when_the_app_sends_the_body(serve: Serve, static_site: ASGIApp) -> None:
    client = serve(static_site)
    get, raw = fetch_raw(client, "/news/page")
    head = client.head("/news/page")
    assert_injected_once(raw, PAGE)
    assert head.headers["content-length"] == get.headers["content-length"] == str(len(raw))
    assert head.headers["etag"] == get.headers["etag"] == f'W/"page-v1-{rules_version(static_site)}"'
    assert head.content == b""


def test_head_without_a_body_has_no_length_rather_than_a_wrong_one(
    serve: Serve, static_site: ASGIApp
) -> None:
    client = serve(static_site)
    get, raw = fetch_raw(client, "/news/story.html")
    head = client.head("/news/story.html")  # StaticFiles answers HEAD with headers only
    assert head.status_code == 200
    assert head.headers.get("content-length") in (None, str(len(raw)))
    assert head.headers.get("content-length") != str(len(PAGE))
    assert head.headers["etag"] == get.headers["etag"]


# ---- Vary, Server-Timing, context --------------------------------------------------------------------------


def test_request_dependent_output_varies_and_drops_validators(serve: Serve, rules: Rules) -> None:
    proxy = RulesProxy(rules, reads={"user-agent"})
    headers = [
        ("etag", '"v1"'),
        ("last-modified", "Tue, 01 Jul 2025 10:00:00 GMT"),
        ("vary", "Accept-Encoding"),
    ]
    client = serve(AdInjectMiddleware(raw_app([PAGE], headers), rules=proxy))
    response, raw = fetch_raw(client, "/news/x")
    assert_injected_once(raw, PAGE)
    assert response.headers["vary"] == "Accept-Encoding, user-agent"
    assert "etag" not in response.headers
    assert "last-modified" not in response.headers

    no_article = PAGE.replace(b"article>", b"section>")
    client = serve(AdInjectMiddleware(raw_app([no_article], headers), rules=proxy))
    response, raw = fetch_raw(client, "/news/x")
    assert raw == no_article
    assert response.headers["vary"] == "Accept-Encoding, user-agent"
    assert response.headers["etag"] == '"v1"'


@pytest.mark.parametrize("enabled", [True, False])
def test_server_timing_on_modified_responses(serve: Serve, rules: Rules, enabled: bool) -> None:
    app = raw_app([PAGE], [("server-timing", "app;dur=12")])
    response, raw = fetch_raw(serve(AdInjectMiddleware(app, rules=rules, server_timing=enabled)), "/news/x")
    assert_injected_once(raw, PAGE)
    timings = response.headers.get_list("server-timing")
    assert timings[0] == "app;dur=12"
    assert len(timings) == (2 if enabled else 1)
    if enabled:
        assert timings[1].startswith("adinject;dur=") and timings[1].endswith(';desc="1 unit"')


def test_unit_templates_get_request_state_context(serve: Serve, tmp_path: Path) -> None:
    unit = '<div class="ad-slot" id="{{ slot.id }}"><p>Advertisement</p><i>{{ context.section }}</i></div>'
    rules = write_rules(tmp_path / "rules", unit=unit)

    async def story(request: Request) -> HTMLResponse:
        request.state.adinject = {"section": request.path_params["section"]}
        return HTMLResponse(PAGE)

    app = Starlette(routes=[Route("/news/{section}/story", story)])
    app.add_middleware(AdInjectMiddleware, rules=rules)
    client = serve(app)
    for section in ("sport", "money"):
        raw = fetch_raw(client, f"/news/{section}/story")[1]
        assert raw.count(f"<p>Advertisement</p><i>{section}</i></div>".encode()) == 1


# ---- failing open; the app's exceptions --------------------------------------------------------------------


def test_engine_exception_sends_the_original_page(
    serve: Serve, rules: Rules, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = RulesProxy(rules, fail_in="plan")
    headers = [("content-length", str(len(PAGE))), ("etag", '"v1"')]
    middleware = AdInjectMiddleware(raw_app(cut_every(PAGE, 100), headers), rules=proxy)
    with caplog.at_level(logging.ERROR, logger="adinject"):
        response, raw = fetch_raw(serve(middleware), "/news/broken")
    assert response.status_code == 200
    assert raw == PAGE
    assert_length_exact(response, raw)
    assert response.headers["etag"] == '"v1"'
    assert middleware.failures == 1
    assert [r.getMessage() for r in caplog.records if r.name == "adinject"] == [
        "adinject failed on /news/broken; the original response was sent"
    ]


def test_app_exception_after_its_start_was_held_becomes_a_500(
    serve: Serve, rules: Rules, caplog: pytest.LogCaptureFixture
) -> None:
    class AppBroke(Exception):
        pass

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}
        )
        await send({"type": "http.response.body", "body": PAGE[:100], "more_body": True})
        raise AppBroke("database went away")

    middleware = AdInjectMiddleware(app, rules=rules)
    with caplog.at_level(logging.ERROR):
        response = serve(middleware).get("/news/x")
    # The exception reached uvicorn (which logged it and, since no start had gone out, answered 500).
    assert response.status_code == 500
    assert any(r.exc_info and isinstance(r.exc_info[1], AppBroke) for r in caplog.records)
    assert middleware.failures == 0


def test_app_returning_304_directly_is_untouched(serve: Serve, rules: Rules) -> None:
    async def not_modified(request: Request) -> Response:
        return Response(status_code=304, headers={"etag": '"v1"', "content-type": "text/html"})

    client = serve(AdInjectMiddleware(Starlette(routes=[Route("/news/x", not_modified)]), rules=rules))
    response, raw = fetch_raw(client, "/news/x")
    assert (response.status_code, raw, response.headers["etag"]) == (304, b"", '"v1"')


def test_strip_units_really_finds_units() -> None:
    """Guard for the helpers the tests rely on: they would pass vacuously if the pattern never matched."""
    marked = PAGE.replace(b"</p>", b'</p><div class="ad-slot" id="ad-1"><p>Advertisement</p></div>', 1)
    assert units_in(marked) and strip_units(marked) == PAGE
