"""The per-request responder (adinject/http/responder.py) and its two kinds, at the ASGI-message level.

A toy subclass drives the base class's protocol directly (hold, cap, release, fail open) with hooks that
can be made to fail; the debug responder is driven through the middleware. test_messages.py pins the
same protocol through the injecting responder.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from starlette.types import Message, Receive, Scope, Send

from adinject import preview
from adinject.engine import Rules
from adinject.http import AdInjectMiddleware
from adinject.http.responder import Responder
from adinject.metrics import Metrics
from tests._support.http_testkit import body, header, http_scope, kinds, page, run_asgi, scripted_app, start

PAGE = page()
HTML = (b"content-type", b"text/html; charset=utf-8")
TOKEN = "t0ken"


class Toy(Responder):
    """Holds every start (marking it), upper-cases the body; either hook raises on demand."""

    __slots__ = ("fail_in", "transformed")

    def __init__(self, owner: AdInjectMiddleware, fail_in: str = "") -> None:
        super().__init__(owner, owner.rules)
        self.fail_in = fail_in
        self.transformed: list[bytes] = []

    def start_hook(self, message: Message) -> Message | None:
        if self.fail_in == "start":
            raise RuntimeError("boom in start_hook")
        return {**message, "headers": [*message["headers"], (b"x-held", b"1")]}

    async def transform(self, start: Message, data: bytes) -> tuple[Message, bytes]:
        self.transformed.append(data)
        if self.fail_in == "transform":
            raise RuntimeError("boom in transform")
        return start, data.upper()


def owner(rules: Rules, script: list[Message], **options: Any) -> AdInjectMiddleware:
    return AdInjectMiddleware(
        scripted_app(script), rules=rules, metrics=Metrics(CollectorRegistry()), **options
    )


def pages(middleware: AdInjectMiddleware, outcome: str, reason: str = "") -> float:
    assert middleware.metrics is not None
    labels = {"outcome": outcome, "reason": reason}
    return middleware.metrics.registry.get_sample_value("adinject_pages_total", labels) or 0.0


def held(message: Message) -> Message:
    return {**message, "headers": [*message["headers"], (b"x-held", b"1")]}


def test_a_complete_body_goes_through_transform_once(rules: Rules) -> None:
    app_start = start(200, [HTML])
    mw = owner(rules, [app_start, body(b"<p>a", more=True), body(b"b</p>")])
    toy = Toy(mw)
    sent = run_asgi(toy, http_scope())
    assert sent == [held(app_start), body(b"<P>AB</P>")]
    assert toy.transformed == [b"<p>ab</p>"]


def test_an_exception_in_transform_sends_the_held_start_and_the_original_body(
    rules: Rules, caplog: pytest.LogCaptureFixture
) -> None:
    app_start = start(200, [HTML, (b"content-length", str(len(PAGE)).encode())])
    mw = owner(rules, [app_start, body(PAGE[:100], more=True), body(PAGE[100:])])
    with caplog.at_level(logging.ERROR, logger="adinject"):
        sent = run_asgi(Toy(mw, fail_in="transform"), http_scope("/news/x"))
    assert sent == [held(app_start), body(PAGE)]
    assert mw.failures == 1 and pages(mw, "failed_open") == 1
    (record,) = [r for r in caplog.records if r.name == "adinject"]
    assert "/news/x" in record.getMessage() and "boom in transform" in str(record.exc_info)


def test_an_exception_in_the_start_hook_forwards_everything_as_it_comes(rules: Rules) -> None:
    app_start = start(200, [HTML, (b"X-AdInject", b"off")])
    chunks = [body(PAGE[:100], more=True), body(PAGE[100:])]
    mw = owner(rules, [app_start, *chunks])
    toy = Toy(mw, fail_in="start")
    sent = run_asgi(toy, http_scope())
    assert sent == [start(200, [HTML]), *chunks], "the start without X-AdInject, the body unbuffered"
    assert toy.transformed == [] and mw.failures == 1


@pytest.mark.parametrize("last_more", [True, False])
def test_past_the_cap_the_held_part_goes_out_and_the_rest_streams(rules: Rules, last_more: bool) -> None:
    """Released mid-stream: what was held goes out unchanged and marked as more to come (or not, when the
    chunk that passed the cap was the last), then every later message exactly as the app sent it."""
    app_start = start(200, [HTML])
    trailers = {"type": "http.response.trailers", "headers": [], "more_trailers": False}
    script = [app_start, body(b"a" * 60, more=True), body(b"b" * 60, more=last_more)]
    if last_more:
        script += [body(b"c", more=True), body(b"", more=False), trailers]
    mw = owner(rules, script, max_body_bytes=100)
    toy = Toy(mw)
    sent = run_asgi(toy, http_scope())
    assert sent[:2] == [held(app_start), body(b"a" * 60 + b"b" * 60, more=last_more)]
    assert sent[2:] == script[3:]
    assert toy.transformed == []
    assert pages(mw, "unchanged", "too_big_to_buffer") == 1


class Watched(Toy):
    """A Toy that records what holds the body after each chunk."""

    __slots__ = ("holders",)

    def __init__(self, owner: AdInjectMiddleware) -> None:
        super().__init__(owner)
        self.holders: list[tuple[int, type, int]] = []

    async def _hold(self, message: Message) -> None:
        await super()._hold(message)
        self.holders.append((id(self.buffer), type(self.buffer), len(self.buffer)))


def test_a_body_in_tiny_chunks_is_held_in_one_growing_buffer(rules: Rules) -> None:
    """2-byte chunks (a streaming template) are held as one bytearray, not a list of chunk objects, so the
    memory held is about the body's bytes; the body the transform sees, and what goes out, are the same."""
    data = PAGE * 4
    pieces = [data[i : i + 2] for i in range(0, len(data), 2)]
    app_start = start(200, [HTML])
    mw = owner(rules, [app_start, *(body(p, more=True) for p in pieces), body(b"")])
    toy = Watched(mw)
    sent = run_asgi(toy, http_scope())
    assert sent == [held(app_start), body(data.upper())]
    assert toy.transformed == [data]
    growing = toy.holders[:-1]  # the last chunk finished the body: the buffer was handed over and emptied
    assert len(growing) == len(pieces)
    assert {(ident, kind) for ident, kind, _ in growing} == {(growing[0][0], bytearray)}
    assert [size for _, _, size in growing] == list(range(2, len(data) + 1, 2))
    assert toy.holders[-1][1:] == (bytearray, 0)


def test_tiny_chunks_past_the_cap_go_out_as_they_came_after_the_held_part(rules: Rules) -> None:
    pieces = [bytes([65 + i % 26]) * 2 for i in range(80)]
    app_start = start(200, [HTML])
    script = [app_start, *(body(p, more=True) for p in pieces), body(b"")]
    mw = owner(rules, script, max_body_bytes=101)
    sent = run_asgi(Toy(mw), http_scope())
    # 51 chunks (102 bytes) passed the cap of 101: those go out as one body, the rest one by one.
    assert sent[:2] == [held(app_start), body(b"".join(pieces[:51]), more=True)]
    assert sent[2:] == script[52:]
    assert pages(mw, "unchanged", "too_big_to_buffer") == 1


@pytest.mark.parametrize("buffered", [[], [b"<p>first"]])
@pytest.mark.parametrize(
    "other",
    [
        {"type": "http.response.pathsend", "path": "/srv/story.html"},
        {"type": "http.response.zerocopysend", "file": 3, "count": 10},
        {"type": "http.response.start", "status": 200, "headers": []},
    ],
)
def test_another_message_while_holding_releases_then_forwards(
    rules: Rules, buffered: list[bytes], other: Message
) -> None:
    app_start = start(200, [HTML])
    after = body(b"late")
    script = [app_start, *(body(b, more=True) for b in buffered), other, after]
    mw = owner(rules, script)
    toy = Toy(mw)
    sent = run_asgi(toy, http_scope())
    assert sent == [held(app_start), *(body(b, more=True) for b in buffered), other, after]
    assert toy.transformed == []
    assert pages(mw, "unchanged", "not_a_body") == 1


def test_each_call_has_its_own_state(rules: Rules) -> None:
    """The same owner serves many responders; a responder's state starts empty (waiting, nothing held)."""
    mw = owner(rules, [start(200, [HTML]), body(b"x")])
    first, second = Toy(mw), Toy(mw)
    run_asgi(first, http_scope())
    assert (second.phase, second.held, second.buffer, second.size) == ("waiting", {}, bytearray(), 0)
    assert (first.phase, first.buffer, first.size) == ("done", bytearray(), 1)


# ---- the debug responder


def debug_scope(method: str = "GET") -> Scope:
    scope = http_scope("/news/story", method=method, headers=[(b"x-adinject-debug", TOKEN.encode())])
    return {**scope, "query_string": b"adinject=debug"}


def test_the_debug_view_sends_no_store_even_when_annotating_fails(
    rules: Rules, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom in annotate")

    monkeypatch.setattr(preview, "annotate", broken)
    app_start = start(200, [HTML, (b"ETag", b'"v1"'), (b"cache-control", b"public, max-age=600")])
    mw = owner(rules, [app_start, body(PAGE)], debug_token=TOKEN)
    sent = run_asgi(mw, debug_scope())
    assert sent[1] == body(PAGE), "the app's page"
    assert header(sent[0], "cache-control") == ["no-store"] and header(sent[0], "etag") == []
    assert mw.failures == 1 and pages(mw, "debug") == 0


def test_the_debug_view_flushes_its_no_store_start_before_a_pathsend(rules: Rules) -> None:
    pathsend = {"type": "http.response.pathsend", "path": "/srv/story.html"}
    mw = owner(rules, [start(200, [HTML, (b"etag", b'"v1"')]), pathsend], debug_token=TOKEN)
    sent = run_asgi(mw, debug_scope())
    assert kinds(sent) == ["http.response.start", "http.response.pathsend"]
    assert header(sent[0], "cache-control") == ["no-store"] and header(sent[0], "etag") == []


def test_the_debug_view_annotates_and_counts(rules: Rules) -> None:
    mw = owner(rules, [start(200, [HTML, (b"x-adinject", b"off")]), body(PAGE)], debug_token=TOKEN)
    sent = run_asgi(mw, debug_scope())
    out = sent[1]["body"]
    assert b'id="adinject-debug-panel"' in out
    assert b"The app sent X-AdInject: off" in out, "the note the start hook took reaches the panel"
    assert header(sent[0], "content-length") == [str(len(out))] and header(sent[0], "x-adinject") == []
    assert pages(mw, "debug") == 1


def test_only_the_injecting_responder_warns_of_a_context_that_is_not_a_mapping(
    rules: Rules, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"]["adinject"] = ["not", "a", "mapping"]
        await send(start(200, [HTML]))
        await send(body(PAGE))

    for scope, warnings in ((http_scope(), 1), (debug_scope(), 0)):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="adinject"):
            run_asgi(AdInjectMiddleware(app, rules=rules, debug_token=TOKEN), scope)
        assert len([r for r in caplog.records if "not a mapping" in r.getMessage()]) == warnings


def test_the_debug_responder_reads_the_rules_once(rules: Rules) -> None:
    """A rules swap while a debug response is held does not reach that response."""
    swapped: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, [HTML]))
        mw.rules = _NoRules()  # a reload, mid-response
        swapped.append(True)
        await send(body(PAGE))

    mw = AdInjectMiddleware(app, rules=rules, debug_token=TOKEN)
    sent = run_asgi(mw, debug_scope())
    assert swapped and b'<div class="adinject-debug-unit"' in sent[1]["body"], (
        "drawn with the rules of the request's start"
    )


class _NoRules:
    version = "none"
    bucket_header = None
    inactive_code = "no_rules"
    loaded_at = 0.0

    def matches_url(self, path: str) -> bool:
        return False

    def request_headers(self, path: str | None = None) -> frozenset[str]:
        return frozenset()

    def request_key(self, url: str, headers: object, now: object = None) -> tuple[str, ...]:
        return ()

    def depends_on_time(self, path: str | None = None) -> bool:
        return False

    def plan(self, body: bytes, **kw: object) -> object:
        raise AssertionError

    def realize(self, plan: object, body: bytes, **kw: object) -> object:
        raise AssertionError
