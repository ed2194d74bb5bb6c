"""The WSGI middleware at PEP 3333's level: holding, passing through, write(), close(), exc_info, failures.

Driven by a strict in-process server (tests/_support/wsgi_testkit.py) that checks what gunicorn's sync
worker relies on: start_response before the first item, close() called by the server once.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from adinject import AdInjectWSGIMiddleware
from adinject.engine import Rules
from adinject.metrics import Metrics
from tests._support.http_testkit import RulesProxy, assert_injected_once, page, units_in
from tests._support.wsgi_testkit import HTML, chunked_app, environ, run_wsgi

PAGE = page()
Start = Callable[..., Callable[[bytes], object]]


def wrap(app: Any, rules: Any, **options: Any) -> AdInjectWSGIMiddleware:
    return AdInjectWSGIMiddleware(app, rules=rules, metrics=Metrics(CollectorRegistry()), **options)


def pages(middleware: AdInjectWSGIMiddleware, outcome: str, reason: str = "") -> float:
    assert middleware.metrics is not None
    labels = {"outcome": outcome, "reason": reason}
    return middleware.metrics.registry.get_sample_value("adinject_pages_total", labels) or 0.0


def cut(data: bytes, step: int) -> list[bytes]:
    return [data[i : i + step] for i in range(0, len(data), step)]


def test_a_page_gets_its_unit_with_an_exact_length(rules: Rules) -> None:
    app, bodies = chunked_app(cut(PAGE, 7), [HTML, ("Content-Length", str(len(PAGE)))])
    mw = wrap(app, rules)
    out = run_wsgi(mw, environ())
    assert out.status == "200 OK"
    assert_injected_once(out.body, PAGE)
    assert out.header("content-length") == str(len(out.body))
    assert out.header(
        "server-timing",
    ).startswith("adinject;dur=")  # type: ignore[union-attr]
    assert bodies[0].closed == 1
    assert pages(mw, "modified") == 1


def test_the_status_line_keeps_the_apps_reason_phrase(rules: Rules) -> None:
    app, _ = chunked_app([PAGE], status="200 Fine Thanks")
    assert run_wsgi(wrap(app, rules), environ()).status == "200 Fine Thanks"


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/about", [HTML], "200 OK"),  # no rule for the URL
        ("/news/story", [("Content-Type", "application/json")], "200 OK"),
        ("/news/story", [HTML], "404 Not Found"),
        ("/news/story", [HTML, ("Cache-Control", "no-transform")], "200 OK"),
        ("/news/story", [HTML, ("Content-Encoding", "gzip, br")], "200 OK"),
    ],
)
def test_responses_left_alone_are_the_apps_own_iterable(
    rules: Rules, path: str, headers: list[tuple[str, str]], status: str
) -> None:
    app, bodies = chunked_app(cut(PAGE, 50), headers, status=status)
    mw = wrap(app, rules)
    calls: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        calls.append((status, headers))
        return lambda data: None

    returned = mw(environ(path), start_response)
    # Decided at the start: the app's iterable goes to the server as it is (file_wrapper, sendfile, close).
    assert returned is bodies[0]
    assert calls == [(status, headers)]


def test_opt_out_is_obeyed_and_the_header_never_leaves(rules: Rules) -> None:
    app, _ = chunked_app([PAGE], [HTML, ("X-AdInject", "off")])
    out = run_wsgi(wrap(app, rules), environ())
    assert out.body == PAGE
    assert out.header("x-adinject") is None


def test_passed_through_bodies_stream_one_item_per_app_item(rules: Rules) -> None:
    chunks = cut(PAGE, 40)
    app, _ = chunked_app(chunks, [("Content-Type", "text/plain")])
    out = run_wsgi(wrap(app, rules), environ())
    assert out.items == chunks


def test_a_body_over_the_cap_goes_out_held_part_first_then_streams(rules: Rules) -> None:
    chunks = cut(PAGE, 100)
    app, bodies = chunked_app(chunks)
    mw = wrap(app, rules, max_body_bytes=250)
    out = run_wsgi(mw, environ())
    assert out.body == PAGE
    assert out.items[0] == b"".join(chunks[:3])  # held until past 250 bytes
    assert out.items[1:] == chunks[3:]
    assert bodies[0].closed == 1
    assert pages(mw, "unchanged", "too_big_to_buffer") == 1


def test_a_body_of_exactly_the_cap_is_still_rewritten(rules: Rules) -> None:
    app, _ = chunked_app(cut(PAGE, 100))
    assert units_in(run_wsgi(wrap(app, rules, max_body_bytes=len(PAGE)), environ()).body)


def write_app(pieces: list[bytes], tail: Iterable[bytes] = ()) -> Callable[..., Iterable[bytes]]:
    """An app that sends through the write() callable, then returns `tail`."""

    def app(env: dict[str, Any], start_response: Start) -> Iterable[bytes]:
        write = start_response("200 OK", [HTML])
        for piece in pieces:
            write(piece)
        return tail

    return app


def test_write_callable_apps_are_rewritten(rules: Rules) -> None:
    out = run_wsgi(wrap(write_app(cut(PAGE, 33)), rules), environ())
    assert_injected_once(out.body, PAGE)
    assert out.header("content-length") == str(len(out.body))


def test_write_then_iterable_keeps_the_order(rules: Rules) -> None:
    pieces = cut(PAGE, 60)
    out = run_wsgi(wrap(write_app(pieces[:3], pieces[3:]), rules), environ())
    assert_injected_once(out.body, PAGE)


def test_write_over_the_cap_releases_through_the_servers_write(rules: Rules) -> None:
    pieces = cut(PAGE, 100)
    out = run_wsgi(wrap(write_app(pieces), rules, max_body_bytes=150), environ())
    assert out.body == PAGE
    assert out.items[0] == pieces[0] + pieces[1]


def test_write_on_a_passed_response_goes_straight_to_the_server(rules: Rules) -> None:
    out = run_wsgi(wrap(write_app([b"a", b"b"]), rules), environ("/about"))
    assert out.items == [b"a", b"b"]


def test_a_generator_app_that_starts_on_its_first_item(rules: Rules) -> None:
    closed = []

    def app(env: dict[str, Any], start_response: Start) -> Iterator[bytes]:
        try:
            start_response("200 OK", [HTML])
            yield from cut(PAGE, 25)
        finally:
            closed.append(True)

    out = run_wsgi(wrap(app, rules), environ())
    assert_injected_once(out.body, PAGE)
    assert closed == [True]


@pytest.mark.parametrize(("path", "after"), [("/news/story", 2), ("/news/story", 0), ("/about", 2)])
def test_an_app_raising_mid_body_propagates_and_is_closed_once(rules: Rules, path: str, after: int) -> None:
    app, bodies = chunked_app(cut(PAGE, 50), raise_after=after)
    with pytest.raises(RuntimeError, match="the app broke"):
        run_wsgi(wrap(app, rules), environ(path))
    assert bodies[0].closed == 1


@pytest.mark.parametrize(("path", "cap"), [("/about", 5_000_000), ("/news/story", 120)])
def test_a_client_gone_early_closes_the_apps_iterable_once(rules: Rules, path: str, cap: int) -> None:
    app, bodies = chunked_app(cut(PAGE, 50))
    out = run_wsgi(wrap(app, rules, max_body_bytes=cap), environ(path), stop_after=1)
    assert len(out.items) == 1
    assert bodies[0].closed == 1
    assert bodies[0].taken < len(bodies[0].chunks)


def test_closed_without_being_iterated_still_closes_the_app_once(rules: Rules) -> None:
    app, bodies = chunked_app([PAGE])
    body = wrap(app, rules)(environ(), lambda status, headers, exc_info=None: lambda data: None)
    closer = getattr(body, "close")  # noqa: B009 - the WSGI iterable's close, as a server calls it
    closer()
    closer()
    assert bodies[0].closed == 1


def test_an_error_start_with_exc_info_replaces_a_held_start(rules: Rules) -> None:
    def app(env: dict[str, Any], start_response: Start) -> Iterator[bytes]:
        start_response("200 OK", [HTML])
        yield PAGE[:50]
        try:
            raise ValueError("template failed")
        except ValueError:
            import sys

            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        yield b"error page"

    out = run_wsgi(wrap(app, rules), environ())
    assert out.status == "500 Internal Server Error"
    assert out.body == b"error page"


def test_exc_info_after_the_headers_went_out_re_raises(rules: Rules) -> None:
    def app(env: dict[str, Any], start_response: Start) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"partial"
        try:
            raise ValueError("late failure")
        except ValueError:
            import sys

            start_response("500 Internal Server Error", [], sys.exc_info())
        yield b"never"

    with pytest.raises(ValueError, match="late failure"):
        run_wsgi(wrap(app, rules), environ())


def test_adinject_failure_sends_the_original_logs_and_counts(
    rules: Rules, caplog: pytest.LogCaptureFixture
) -> None:
    app, bodies = chunked_app(cut(PAGE, 64), [HTML, ("Content-Length", str(len(PAGE)))])
    mw = wrap(app, RulesProxy(rules, fail_in="realize"))
    with caplog.at_level(logging.ERROR, logger="adinject"):
        out = run_wsgi(mw, environ())
    assert out.body == PAGE
    assert out.header("content-length") == str(len(PAGE))
    assert mw.failures == 1
    assert pages(mw, "failed_open") == 1
    assert "the original response was sent" in caplog.text
    assert bodies[0].closed == 1


def test_a_failure_in_the_start_decision_passes_the_response_through(rules: Rules) -> None:
    app, _ = chunked_app([PAGE])
    mw = wrap(app, RulesProxy(rules, fail_in="matches_url"))
    assert run_wsgi(mw, environ()).body == PAGE
    assert mw.failures == 1


@pytest.mark.parametrize("coding", ["gzip", "x-gzip"])
def test_gzip_is_decoded_rewritten_and_encoded_again(rules: Rules, coding: str) -> None:
    packed = gzip.compress(PAGE)
    app, _ = chunked_app(cut(packed, 80), [HTML, ("Content-Encoding", coding)])
    out = run_wsgi(wrap(app, rules), environ())
    assert_injected_once(gzip.decompress(out.body), PAGE)
    assert out.header("content-length") == str(len(out.body))


def test_a_gzip_bomb_over_the_decoded_cap_goes_out_untouched(rules: Rules) -> None:
    packed = gzip.compress(PAGE + b" " * 200_000)
    app, _ = chunked_app([packed], [HTML, ("Content-Encoding", "gzip")])
    out = run_wsgi(wrap(app, rules, max_decoded_bytes=10_000), environ())
    assert out.body == packed


def test_context_from_the_environ_reaches_the_unit_template(tmp_path: Any) -> None:
    from tests._support.http_testkit import real_rules

    rules = real_rules(
        tmp_path / "ctx", unit='<div class="ad-slot" id="{{ context.section }}"><p>Advertisement</p></div>'
    )

    def app(env: dict[str, Any], start_response: Start) -> Iterable[bytes]:
        env["adinject.context"] = {"section": "politics"}
        start_response("200 OK", [HTML])
        return [PAGE]

    out = run_wsgi(wrap(app, rules), environ())
    assert b'id="politics"' in out.body


def test_the_app_sees_the_environ_it_was_given_when_there_is_nothing_to_take(rules: Rules) -> None:
    seen: list[dict[str, Any]] = []
    app, _ = chunked_app([PAGE], seen=seen)
    env = environ()
    run_wsgi(wrap(app, rules), env)
    assert seen[0] is env


def test_an_unreadable_environ_fails_open(rules: Rules) -> None:
    app, _ = chunked_app([PAGE])
    env = environ(headers={"X-Odd": "\u20ac"})  # not latin-1: not a WSGI header value
    mw = wrap(app, rules)
    assert run_wsgi(mw, env).body == PAGE
    assert mw.failures == 1


def test_the_body_list_of_a_simple_app_is_closed_without_error(rules: Rules) -> None:
    def app(env: dict[str, Any], start_response: Start) -> list[bytes]:
        start_response("200 OK", [HTML])
        return [PAGE]

    assert_injected_once(run_wsgi(wrap(app, rules), environ()).body, PAGE)


def test_an_app_that_never_starts_is_an_error(rules: Rules) -> None:
    def app(env: dict[str, Any], start_response: Start) -> list[bytes]:
        return []

    with pytest.raises(RuntimeError, match="without calling start_response"):
        list(wrap(app, rules)(environ(), lambda *a: lambda data: None))


def test_a_corrupt_gzip_body_goes_out_untouched(rules: Rules) -> None:
    broken = gzip.compress(PAGE)[:-20]
    app, _ = chunked_app([broken], [HTML, ("Content-Encoding", "gzip")])
    mw = wrap(app, rules)
    assert run_wsgi(mw, environ()).body == broken
    assert pages(mw, "unchanged", "decode") == 1


def test_deflate_is_rewritten_in_the_form_the_app_sent(rules: Rules) -> None:
    import zlib

    app, _ = chunked_app([zlib.compress(PAGE)], [HTML, ("Content-Encoding", "deflate")])
    out = run_wsgi(wrap(app, rules), environ())
    assert_injected_once(zlib.decompress(out.body), PAGE)


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"HX-Request": "true"}, True),
        ({"Turbo-Frame": "main"}, True),
        ({"HX-Request": "true", "HX-Boosted": "true"}, False),
    ],
)
def test_htmx_and_turbo_fragments_are_not_pages(
    rules: Rules, headers: dict[str, str], fragment: bool
) -> None:
    app, _ = chunked_app([PAGE])
    mw = wrap(app, rules)
    body = run_wsgi(mw, environ(headers=headers)).body
    assert (body == PAGE) is fragment
    assert pages(mw, "unchanged", "fragment") == (1 if fragment else 0)


def test_a_replacing_start_drops_what_was_held_of_the_first_body(rules: Rules) -> None:
    def app(env: dict[str, Any], start_response: Start) -> Iterator[bytes]:
        start_response("200 OK", [HTML])
        yield b"<p>half of a page that failed"
        try:
            raise ValueError("rendering failed")
        except ValueError:
            import sys

            start_response("200 OK", [HTML], sys.exc_info())  # a fallback page, itself a candidate
        yield PAGE

    out = run_wsgi(wrap(app, rules), environ())
    assert_injected_once(out.body, PAGE)


def test_a_single_chunk_over_the_cap_goes_out_as_it_came(rules: Rules) -> None:
    app, _ = chunked_app([PAGE, b"<!-- tail -->"])
    mw = wrap(app, rules, max_body_bytes=len(PAGE) - 1)
    out = run_wsgi(mw, environ())
    assert out.items == [PAGE, b"<!-- tail -->"]
    assert pages(mw, "unchanged", "too_big_to_buffer") == 1
