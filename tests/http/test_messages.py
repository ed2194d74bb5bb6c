"""The middleware at the ASGI-message level: order, pass-through, holding, failing open, context, caching.

These drive the middleware with scripted apps and a recording `send`, so every message (and its order) is
visible. The HTTP-level behaviour through a real server is in test_server.py.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
from collections import UserDict
from email.utils import formatdate
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import Message, Receive, Scope, Send

from adinject.engine import Rules
from adinject.http import AdInjectMiddleware, codings
from tests._support.http_testkit import (
    RulesProxy,
    assert_injected_once,
    body,
    header,
    http_scope,
    kinds,
    page,
    real_rules,
    response_body,
    run_asgi,
    scripted_app,
    start,
    units_in,
)

HTML = (b"content-type", b"text/html; charset=utf-8")
PAGE = page()


def html_start(*extra: tuple[bytes, bytes], status: int = 200, **fields: Any) -> Message:
    return start(status, [HTML, *extra], **fields)


def with_length(data: bytes, *extra: tuple[bytes, bytes]) -> Message:
    return html_start((b"content-length", str(len(data)).encode()), *extra)


# ---- scopes other than http --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["websocket", "lifespan"])
def test_non_http_scopes_reach_the_app_untouched(rules: Rules, kind: str) -> None:
    seen: list[tuple[Scope, Receive, Send]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, receive, send))

    scope: Scope = {"type": kind, "path": "/news/story", "headers": []}

    async def receive() -> Message:
        return {"type": f"{kind}.connect"}

    async def send(message: Message) -> None:
        pass

    anyio.run(AdInjectMiddleware(app, rules=rules), scope, receive, send)
    assert seen == [(scope, receive, send)]
    assert seen[0][0] is scope and seen[0][2] is send


# ---- message order -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "other",
    [
        {"type": "http.response.pathsend", "path": "/srv/story.html"},
        {"type": "http.response.zerocopysend", "file": 3, "count": 10},
        {"type": "http.response.custom-extension", "x": 1},
    ],
)
def test_message_after_held_start_flushes_the_start_first(rules: Rules, other: Message) -> None:
    original = html_start((b"content-length", b"1234"), (b"etag", b'"v1"'))
    sent = run_asgi(AdInjectMiddleware(scripted_app([original, other]), rules=rules), http_scope())
    assert sent == [original, other]


def test_body_held_before_pathsend_is_flushed_in_order(rules: Rules) -> None:
    pathsend = {"type": "http.response.pathsend", "path": "/srv/x.html"}
    script = [html_start(), body(b"<p>first", more=True), pathsend]
    sent = run_asgi(AdInjectMiddleware(scripted_app(script), rules=rules), http_scope())
    assert kinds(sent) == ["http.response.start", "http.response.body", "http.response.pathsend"]
    assert sent[1] == body(b"<p>first", more=True)
    assert sent[2] == pathsend


def test_trailers_response_is_forwarded_at_once_and_unmodified(rules: Rules) -> None:
    sent: list[Message] = []
    trailer = {"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")], "more_trailers": False}
    original = html_start(trailers=True)
    snapshots: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(dict(original))
        snapshots.append(len(sent))  # the start must already be out: nothing is held for a trailers response
        await send(body(PAGE))
        await send(dict(trailer))

    async def record(message: Message) -> None:
        sent.append(message)

    anyio.run(AdInjectMiddleware(app, rules=rules), http_scope(), _receive, record)
    assert snapshots == [1]
    assert sent == [original, body(PAGE), trailer]
    assert header(sent[0], "content-length") == []


def test_early_hint_and_debug_messages_pass_in_order(rules: Rules) -> None:
    hint: Message = {"type": "http.response.early_hint", "links": ["</style.css>; rel=preload; as=style"]}
    debug: Message = {"type": "http.response.debug", "info": {"template": "story.html"}}
    script = [hint, debug, with_length(PAGE), body(PAGE)]
    sent = run_asgi(AdInjectMiddleware(scripted_app(script), rules=rules), http_scope())
    assert sent[:2] == [hint, debug]
    assert kinds(sent[2:]) == ["http.response.start", "http.response.body"]
    assert_injected_once(sent[3]["body"], PAGE)


def test_non_candidate_start_is_forwarded_before_its_body_arrives(rules: Rules) -> None:
    sent: list[Message] = []
    snapshots: list[int] = []
    json_start = start(200, [(b"content-type", b"application/json")])

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(dict(json_start))
        snapshots.append(len(sent))
        await send(body(b'{"a":', more=True))
        snapshots.append(len(sent))
        await send(body(b"1}"))

    async def record(message: Message) -> None:
        sent.append(message)

    anyio.run(AdInjectMiddleware(app, rules=rules), http_scope(), _receive, record)
    assert snapshots == [1, 2]
    assert sent == [json_start, body(b'{"a":', more=True), body(b"1}")]


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


# ---- bodies in chunks --------------------------------------------------------------------------------------


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, *cuts, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(PAGE)), max_size=12), with_cl=st.booleans())
def test_any_chunking_gives_the_same_output(rules: Rules, cuts: list[int], with_cl: bool) -> None:
    pieces = _split(PAGE, cuts)
    head = with_length(PAGE) if with_cl else html_start()
    script = [head, *(body(p, more=True) for p in pieces), body(b"")]
    sent = run_asgi(AdInjectMiddleware(scripted_app(script), rules=rules), http_scope())
    assert kinds(sent) == ["http.response.start", "http.response.body"]
    assert sent[1]["more_body"] is False
    assert_injected_once(sent[1]["body"], PAGE)
    assert header(sent[0], "content-length") == [str(len(sent[1]["body"]))]


def test_cuts_inside_tags_and_inside_utf8_characters(rules: Rules) -> None:
    # Cut in the middle of "</p>" and in the middle of the two bytes of "é" and the three of "✓".
    cuts = [PAGE.index(b"</p>") + 2, PAGE.index("é".encode()) + 1, PAGE.index("✓".encode()) + 2]
    pieces = _split(PAGE, cuts)
    assert any(not _decodes(p) for p in pieces)  # the test really does split a character
    script = [html_start(), *(body(p, more=True) for p in pieces), body(b"")]
    sent = run_asgi(AdInjectMiddleware(scripted_app(script), rules=rules), http_scope())
    assert_injected_once(response_body(sent), PAGE)


def _decodes(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_over_max_body_bytes_the_held_part_goes_out_then_the_rest_streams(rules: Rules) -> None:
    pieces = [PAGE[:100], PAGE[100:200], PAGE[200:300], PAGE[300:]]
    original = with_length(PAGE)
    script = [original, *(body(p, more=True) for p in pieces[:-1]), body(pieces[-1])]
    sent = run_asgi(AdInjectMiddleware(scripted_app(script), rules=rules, max_body_bytes=150), http_scope())
    # Held: the first two pieces (200 bytes > 150); then pieces 3 and 4 each as they came.
    assert sent == [original, body(PAGE[:200], more=True), body(PAGE[200:300], more=True), body(PAGE[300:])]


def test_a_body_of_exactly_max_body_bytes_is_still_rewritten(rules: Rules) -> None:
    script = [html_start(), body(PAGE)]
    sent = run_asgi(
        AdInjectMiddleware(scripted_app(script), rules=rules, max_body_bytes=len(PAGE)), http_scope()
    )
    assert_injected_once(response_body(sent), PAGE)


def test_single_message_over_max_body_bytes_goes_out_unchanged(rules: Rules) -> None:
    original = with_length(PAGE)
    sent = run_asgi(
        AdInjectMiddleware(scripted_app([original, body(PAGE)]), rules=rules, max_body_bytes=len(PAGE) - 1),
        http_scope(),
    )
    assert sent == [original, body(PAGE)]


def test_concurrent_requests_keep_their_own_state(rules: Rules) -> None:
    """Two requests through one middleware, their messages interleaved: nothing leaks between them."""
    other = page(paragraphs=5).replace(b"Paragraph", b"Absatz")
    results: dict[str, list[Message]] = {"a": [], "b": []}

    async def main() -> None:
        a_half, b_half = anyio.Event(), anyio.Event()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            # a: start, first half ... b: start, first half ... a: second half ... b: second half
            mine, wait_for, then_set = (
                (PAGE, None, a_half) if scope["path"] == "/news/a" else (other, a_half, b_half)
            )
            if wait_for is not None:
                await wait_for.wait()
            half = len(mine) // 2
            await send(with_length(mine))
            await send(body(mine[:half], more=True))
            then_set.set()
            if mine is PAGE:
                await b_half.wait()
            await send(body(mine[half:]))

        middleware = AdInjectMiddleware(app, rules=rules)

        async def one(name: str) -> None:
            async def record(message: Message) -> None:
                results[name].append(message)

            await middleware(http_scope(f"/news/{name}"), _receive, record)

        async with anyio.create_task_group() as tg:
            tg.start_soon(one, "a")
            tg.start_soon(one, "b")

    anyio.run(main)
    assert_injected_once(response_body(results["a"]), PAGE)
    assert_injected_once(response_body(results["b"]), other)


# ---- the opt-out header ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expect_units"),
    [
        (html_start((b"x-adinject", b"off")), 0),
        (html_start((b"X-AdInject", b" OFF ")), 0),
        (html_start((b"x-adinject", b"on")), 1),
        (start(200, [(b"content-type", b"application/json"), (b"x-adinject", b"off")]), 0),
        (html_start((b"x-adinject", b"off"), trailers=True), 0),
        (html_start((b"x-adinject", b"off"), status=404), 0),
    ],
)
def test_x_adinject_header_is_obeyed_and_never_leaves(rules: Rules, head: Message, expect_units: int) -> None:
    sent = run_asgi(AdInjectMiddleware(scripted_app([head, body(PAGE)]), rules=rules), http_scope())
    assert header(sent[0], "x-adinject") == []
    assert header(sent[0], "content-type") == header(head, "content-type")
    assert sent[0]["status"] == head["status"]
    assert len(units_in(response_body(sent))) == expect_units


# ---- failing open, and the app's own exceptions ------------------------------------------------------------


@pytest.mark.parametrize("where", ["plan", "realize", "matches_url"])
def test_adinject_failure_sends_the_original_logs_once_and_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, where: str
) -> None:
    proxy = RulesProxy(real_rules(tmp_path / "rules"), fail_in=where)
    original = with_length(PAGE, (b"etag", b'"v1"'), (b"x-adinject", b"on"))
    middleware = AdInjectMiddleware(scripted_app([original, body(PAGE)]), rules=proxy)
    with caplog.at_level(logging.ERROR, logger="adinject"):
        sent = run_asgi(middleware, http_scope("/news/failing"))
    expected_start = {**original, "headers": [h for h in original["headers"] if h[0] != b"x-adinject"]}
    assert sent == [expected_start, body(PAGE)]
    assert middleware.failures == 1
    records = [r for r in caplog.records if r.name == "adinject"]
    assert len(records) == 1
    assert "/news/failing" in records[0].getMessage()
    assert records[0].exc_info is not None and f"boom in {where}" in str(records[0].exc_info[1])


def test_failure_while_encoding_sends_the_original_encoded_body(
    rules: Rules, monkeypatch: pytest.MonkeyPatch
) -> None:
    gz = codings.encode("gzip", PAGE)

    def broken(variant: str, data: bytes) -> bytes:
        raise ValueError("encoder broke")

    monkeypatch.setattr(codings, "encode", broken)
    original = html_start((b"content-encoding", b"gzip"), (b"content-length", str(len(gz)).encode()))
    middleware = AdInjectMiddleware(scripted_app([original, body(gz)]), rules=rules)
    sent = run_asgi(middleware, http_scope())
    assert sent == [original, body(gz)]
    assert middleware.failures == 1


@pytest.mark.parametrize("after", ["start", "first chunk"])
def test_app_exception_after_held_start_propagates(rules: Rules, after: str) -> None:
    class AppBroke(Exception):
        pass

    script = [html_start()] if after == "start" else [html_start(), body(PAGE[:50], more=True)]

    async def fail() -> None:
        raise AppBroke("the app broke")

    middleware = AdInjectMiddleware(scripted_app(script, then=fail), rules=rules)
    sent: list[Message] = []

    async def record(message: Message) -> None:
        sent.append(message)

    with pytest.raises(AppBroke):
        anyio.run(middleware, http_scope(), _receive, record)
    assert sent == []  # the held start never went out, so the server can still answer 500
    assert middleware.failures == 0


def test_app_exception_on_a_passed_response_propagates(rules: Rules) -> None:
    async def fail() -> None:
        raise LookupError("late")

    json_start = start(200, [(b"content-type", b"application/json")])
    sent: list[Message] = []

    async def record(message: Message) -> None:
        sent.append(message)

    with pytest.raises(LookupError):
        anyio.run(
            AdInjectMiddleware(scripted_app([json_start], then=fail), rules=rules),
            http_scope(),
            _receive,
            record,
        )
    assert sent == [json_start]


def test_exception_from_the_server_send_is_not_swallowed(rules: Rules) -> None:
    """A client that went away makes `send` raise; that is the server's, not a failure to fail open on."""

    class Gone(Exception):
        pass

    async def send(message: Message) -> None:
        raise Gone

    middleware = AdInjectMiddleware(scripted_app([html_start(), body(PAGE)]), rules=rules)
    with pytest.raises(Gone):
        anyio.run(middleware, http_scope(), _receive, send)
    assert middleware.failures == 0


# ---- context for unit templates ----------------------------------------------------------------------------

CONTEXT_UNIT = (
    '<div class="ad-slot" id="{{ slot.id }}" data-section="{{ context.section }}"><p>Advertisement</p></div>'
)


def _context_app(*, copy_scope: bool) -> Any:
    """Sets scope["state"]["adinject"] as Starlette's request.state does, only when it starts responding."""

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.setdefault("state", {})  # what starlette.requests.Request.state does
        state["adinject"] = {"section": "sport"}
        await send(html_start())
        await send(body(PAGE))

    async def copying(scope: Scope, receive: Receive, send: Send) -> None:
        # A middleware that copies the scope (as the ASGI spec says to) between adinject and the endpoint.
        await endpoint(dict(scope), receive, send)

    return copying if copy_scope else endpoint


@pytest.mark.parametrize("copy_scope", [False, True])
@pytest.mark.parametrize("server_state", [False, True])
def test_context_set_by_the_endpoint_reaches_the_unit_template(
    tmp_path: Path, copy_scope: bool, server_state: bool
) -> None:
    rules = real_rules(tmp_path / "rules", unit=CONTEXT_UNIT)
    scope = http_scope(state={} if server_state else None)
    sent = run_asgi(AdInjectMiddleware(_context_app(copy_scope=copy_scope), rules=rules), scope)
    out = response_body(sent)
    assert out.count(b'data-section="sport"') == 1
    # The caller's scope was not changed: a state dict we needed was added to a copy.
    assert ("state" in scope) == server_state


def test_an_existing_state_mapping_is_passed_down_as_it_is(tmp_path: Path) -> None:
    """The server's (lifespan) state is the app's: it is neither replaced nor copied, whatever its type."""
    rules = real_rules(tmp_path / "rules", unit=CONTEXT_UNIT)
    lifespan_state = UserDict({"db": "pool"})
    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["state"])
        scope["state"]["adinject"] = {"section": "arts"}
        await send(html_start())
        await send(body(PAGE))

    sent = run_asgi(AdInjectMiddleware(app, rules=rules), http_scope(state=lifespan_state))
    assert seen[0] is lifespan_state
    assert b'data-section="arts"' in response_body(sent)


def test_context_is_read_per_request_not_cached_with_the_plan(tmp_path: Path) -> None:
    proxy = RulesProxy(real_rules(tmp_path / "rules", unit=CONTEXT_UNIT))
    outputs = []
    for section in ("sport", "money"):

        async def app(scope: Scope, receive: Receive, send: Send, section: str = section) -> None:
            scope["state"]["adinject"] = {"section": section}
            await send(html_start())
            await send(body(PAGE))

        outputs.append(response_body(run_asgi(AdInjectMiddleware(app, rules=proxy), http_scope(state={}))))
    assert b'data-section="sport"' in outputs[0] and b'data-section="money"' in outputs[1]
    assert proxy.realize_contexts == [{"section": "sport"}, {"section": "money"}]


def test_a_context_that_is_not_a_mapping_is_ignored(rules: Rules) -> None:
    proxy = RulesProxy(rules)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"]["adinject"] = "not a mapping"
        await send(html_start())
        await send(body(PAGE))

    sent = run_asgi(AdInjectMiddleware(app, rules=proxy), http_scope(state={}))
    assert proxy.realize_contexts == [None]
    assert_injected_once(response_body(sent), PAGE)


# ---- where the engine runs, and the plan cache -------------------------------------------------------------


@pytest.mark.parametrize(("threshold", "in_thread"), [(10**9, False), (100, True)])
def test_engine_runs_in_a_worker_thread_above_the_threshold(
    rules: Rules, threshold: int, in_thread: bool
) -> None:
    proxy = RulesProxy(rules)
    app = scripted_app([html_start(), body(PAGE)])
    sent = run_asgi(AdInjectMiddleware(app, rules=proxy, thread_threshold_bytes=threshold), http_scope())
    assert_injected_once(response_body(sent), PAGE)
    assert (proxy.plan_threads[0] != threading.main_thread().name) is in_thread


def test_plan_cache_reuses_the_plan_for_the_same_page_and_renders_each_time(rules: Rules) -> None:
    proxy = RulesProxy(rules)
    middleware = AdInjectMiddleware(scripted_app([html_start(), body(PAGE)]), rules=proxy)
    for _ in range(3):
        assert_injected_once(response_body(run_asgi(middleware, http_scope())), PAGE)
    assert (proxy.plan_calls, proxy.realize_calls) == (1, 3)
    assert middleware.cache is not None and middleware.cache.hits == 2


@pytest.mark.parametrize("differs", ["page", "path", "version", "request header"])
def test_plan_cache_key_covers_page_path_version_and_headers_read(rules: Rules, differs: str) -> None:
    proxy = RulesProxy(rules, reads={"user-agent"})
    other_page = PAGE.replace(b"Paragraph 2", b"Paragraph B")
    middleware = AdInjectMiddleware(scripted_app([]), rules=proxy)
    requests = [
        (PAGE, "/news/a", b"Firefox"),
        (
            other_page if differs == "page" else PAGE,
            "/news/b" if differs == "path" else "/news/a",
            b"Chrome" if differs == "request header" else b"Firefox",
        ),
    ]
    for n, (data, path, agent) in enumerate(requests):
        if differs == "version" and n == 1:
            proxy.inner = _with_version(rules, "other-version")
        middleware.app = scripted_app([html_start(), body(data)])
        sent = run_asgi(middleware, http_scope(path, headers=[(b"user-agent", agent)]))
        assert_injected_once(response_body(sent), data)
    assert proxy.plan_calls == 2


def _with_version(rules: Rules, version: str) -> Rules:
    copy = Rules(rules.compiled)
    copy.version = version
    return copy


def test_plan_cache_key_covers_the_response_charset(rules: Rules) -> None:
    """The same bytes read as UTF-16 (the header beats <meta>) have no place for units: a different plan."""
    proxy = RulesProxy(rules)
    middleware = AdInjectMiddleware(scripted_app([html_start(), body(PAGE)]), rules=proxy)
    assert_injected_once(response_body(run_asgi(middleware, http_scope())), PAGE)
    middleware.app = scripted_app([start(200, [(b"content-type", b"text/html; charset=utf-16")]), body(PAGE)])
    assert response_body(run_asgi(middleware, http_scope())) == PAGE
    assert proxy.plan_calls == 2


def test_plan_cache_trusts_a_strong_etag_but_checks_the_length(rules: Rules) -> None:
    proxy = RulesProxy(rules)
    middleware = AdInjectMiddleware(scripted_app([]), rules=proxy)
    same_length = PAGE.replace(b"Paragraph 3", b"Paragraph C")
    longer = PAGE.replace(b"Paragraph 3", b"Paragraph 33")
    for data in (PAGE, same_length, longer):
        middleware.app = scripted_app([html_start((b"etag", b'"rev-7"')), body(data)])
        assert_injected_once(response_body(run_asgi(middleware, http_scope())), data)
    # The second page shares the strong ETag and the length: the ETag stood for the bytes, no new plan.
    assert proxy.plan_calls == 2


def test_plan_cache_size_zero_plans_every_time(rules: Rules) -> None:
    proxy = RulesProxy(rules)
    middleware = AdInjectMiddleware(scripted_app([html_start(), body(PAGE)]), rules=proxy, cache_size=0)
    for _ in range(3):
        assert_injected_once(response_body(run_asgi(middleware, http_scope())), PAGE)
    assert middleware.cache is None
    assert proxy.plan_calls == 3


# ---- headers of a rewritten response -----------------------------------------------------------------------


def _one(
    rules: Any, head: Message, data: bytes = PAGE, *, method: str = "GET", **options: Any
) -> list[Message]:
    app = scripted_app([head, body(data)])
    return run_asgi(AdInjectMiddleware(app, rules=rules, **options), http_scope(method=method))


def test_modified_response_headers(rules: Rules) -> None:
    head = with_length(
        PAGE,
        (b"etag", b'"abc"'),
        (b"last-modified", b"Tue, 01 Jul 2025 10:00:00 GMT"),
        (b"accept-ranges", b"bytes"),
        (b"vary", b"Accept-Encoding"),
        (b"server-timing", b"db;dur=3"),
        (b"content-md5", b"Q2hlY2sgSW50ZWdyaXR5IQ=="),
        (b"Digest", b"sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="),
        (b"content-digest", b"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"),
        (b"repr-digest", b"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"),
    )
    sent = _one(rules, head)
    out = sent[1]["body"]
    assert_injected_once(out, PAGE)
    assert header(sent[0], "content-length") == [str(len(out))]
    # The rules version is in the validator: the page other rules shaped is another representation.
    assert header(sent[0], "etag") == [f'W/"abc-{rules.version}"']
    # The later of the app's and the rules' load: a page these rules shaped did not exist before they loaded.
    assert header(sent[0], "last-modified") == [formatdate(int(rules.loaded_at), usegmt=True)]
    assert header(sent[0], "accept-ranges") == []
    for digest in ("content-md5", "digest", "content-digest", "repr-digest"):
        assert header(sent[0], digest) == [], "a digest of the app's bytes is wrong for ours"
    assert header(sent[0], "vary") == ["Accept-Encoding"]  # the rules read no request header
    timing = header(sent[0], "server-timing")
    assert timing[0] == "db;dur=3"
    assert re.fullmatch(r'adinject;dur=\d+\.\d\d;desc="1 unit"', timing[1])


def test_header_names_in_any_case_are_rewritten(rules: Rules) -> None:
    head = html_start(
        (b"Content-Length", str(len(PAGE)).encode()), (b"ETag", b'"abc"'), (b"Accept-Ranges", b"bytes")
    )
    sent = _one(rules, head)
    assert header(sent[0], "content-length") == [str(len(sent[1]["body"]))]
    assert header(sent[0], "etag") == [f'W/"abc-{rules.version}"']
    assert header(sent[0], "accept-ranges") == []


def test_weak_etag_gets_the_rules_version_too(rules: Rules) -> None:
    sent = _one(rules, html_start((b"etag", b'W/"abc"')))
    assert header(sent[0], "etag") == [f'W/"abc-{rules.version}"']
    # A later app Last-Modified stays; an unreadable one goes (it could not be compared, nor revalidated).
    later = "Tue, 01 Jul 2098 10:00:00 GMT"
    assert header(_one(rules, html_start((b"last-modified", later.encode())))[0], "last-modified") == [later]
    assert header(_one(rules, html_start((b"last-modified", b"yesterday")))[0], "last-modified") == []


def test_server_timing_can_be_turned_off(rules: Rules) -> None:
    sent = _one(rules, with_length(PAGE), server_timing=False)
    assert_injected_once(sent[1]["body"], PAGE)
    assert header(sent[0], "server-timing") == []


def test_unmodified_candidate_keeps_its_headers_and_bytes(rules: Rules) -> None:
    plain = PAGE.replace(b"<article>", b"<section>").replace(b"</article>", b"</section>")
    head = with_length(plain, (b"etag", b'"abc"'), (b"accept-ranges", b"bytes"))
    sent = _one(rules, head, plain)
    assert sent == [head, body(plain)]


def test_output_depending_on_the_request_drops_validators_and_varies(rules: Rules) -> None:
    proxy = RulesProxy(rules, reads={"user-agent", "sec-ch-ua-mobile"})
    head = with_length(PAGE, (b"etag", b'"abc"'), (b"last-modified", b"x"), (b"vary", b"accept-encoding"))
    sent = _one(proxy, head)
    assert_injected_once(sent[1]["body"], PAGE)
    assert header(sent[0], "etag") == []
    assert header(sent[0], "last-modified") == []
    assert header(sent[0], "vary") == ["accept-encoding, sec-ch-ua-mobile, user-agent"]


def test_unmodified_candidate_still_varies_on_the_headers_rules_read(rules: Rules) -> None:
    proxy = RulesProxy(rules, reads={"user-agent"})
    plain = PAGE.replace(b"<article>", b"<section>").replace(b"</article>", b"</section>")
    head = with_length(plain, (b"etag", b'"abc"'))
    sent = _one(proxy, head, plain)
    assert sent[1] == body(plain)
    assert header(sent[0], "vary") == ["user-agent"]
    assert header(sent[0], "etag") == ['"abc"']  # unmodified: the app's validator still describes the bytes


def test_vary_star_and_existing_names_are_not_repeated(rules: Rules) -> None:
    proxy = RulesProxy(rules, reads={"user-agent"})
    assert header(_one(proxy, html_start((b"vary", b"*")))[0], "vary") == ["*"]
    assert header(_one(proxy, html_start((b"vary", b"User-Agent")))[0], "vary") == ["User-Agent"]


def test_non_candidate_gets_no_vary(rules: Rules) -> None:
    proxy = RulesProxy(rules, reads={"user-agent"})
    json_start = start(200, [(b"content-type", b"application/json")])
    assert _one(proxy, json_start, b"{}")[0] == json_start


# ---- HEAD --------------------------------------------------------------------------------------------------


def test_head_with_body_gets_the_length_get_would_send(rules: Rules) -> None:
    get = _one(rules, with_length(PAGE))
    head = _one(rules, with_length(PAGE), method="HEAD")
    assert header(head[0], "content-length") == header(get[0], "content-length") == [str(len(get[1]["body"]))]


def test_head_without_body_drops_the_unknown_length(rules: Rules) -> None:
    proxy = RulesProxy(rules)
    original = with_length(PAGE, (b"etag", b'"abc"'), (b"accept-ranges", b"bytes"))
    sent = _one(proxy, original, b"", method="HEAD")
    assert header(sent[0], "content-length") == []
    assert header(sent[0], "etag") == [f'W/"abc-{rules.version}"']  # as GET's would be, units inserted
    assert header(sent[0], "accept-ranges") == []
    assert sent[1] == body(b"")
    assert proxy.plan_calls == 0


def test_head_of_an_empty_page_keeps_its_zero_length(rules: Rules) -> None:
    original = with_length(b"")
    assert _one(rules, original, b"", method="HEAD") == [original, body(b"")]
