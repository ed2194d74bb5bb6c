"""Validators, conditional requests and ranges on URLs the rules may modify.

A modified page is another representation than the app's, and another again when the rules change: its
ETag carries the rules version and its Last-Modified is no earlier than the rules' load. The app answers
conditional and range requests from its own bytes, so on these URLs it never sees them: the middleware
answers them against what goes out (a 304 with the ETag of the 200 it stands for, or the whole page).
"""

from __future__ import annotations

from email.utils import formatdate
from pathlib import Path

from starlette.types import Message, Receive, Scope, Send

from adinject.engine import Rules, load_rules
from adinject.http import AdInjectMiddleware
from adinject.reload import Inactive
from tests._support.http_testkit import (
    RULES_YAML,
    UNIT_HTML,
    assert_injected_once,
    header,
    http_scope,
    page,
    run_asgi,
    scripted_app,
    start,
)

PAGE = page()
APP_ETAG = '"abc"'
APP_MODIFIED = "Tue, 01 Jul 2025 10:00:00 GMT"
CONDITIONAL = {b"if-none-match", b"if-modified-since", b"range", b"if-range"}


class ConditionalApp:
    """Answers like Starlette's FileResponse: its own ETag and Last-Modified, 304 when If-None-Match matches
    (weakly) or If-Modified-Since is not before its Last-Modified, 206 for a Range. Records what it saw."""

    def __init__(self, content_type: bytes = b"text/html; charset=utf-8", body: bytes = PAGE) -> None:
        self.content_type, self.body = content_type, body
        self.seen: list[dict[bytes, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = {bytes(k).lower(): bytes(v) for k, v in scope["headers"]}
        self.seen.append(request)
        headers = [
            (b"content-type", self.content_type),
            (b"etag", APP_ETAG.encode()),
            (b"last-modified", APP_MODIFIED.encode()),
            (b"accept-ranges", b"bytes"),
        ]
        wanted = request.get(b"if-none-match", b"").replace(b"W/", b"")
        if (wanted and APP_ETAG.encode() in wanted.split(b", ")) or (
            b"if-none-match" not in request and request.get(b"if-modified-since") == APP_MODIFIED.encode()
        ):
            await send({"type": "http.response.start", "status": 304, "headers": headers[1:3]})
            await send({"type": "http.response.body", "body": b""})
            return
        if b"range" in request:
            part = self.body[10:100]
            headers += [(b"content-range", f"bytes 10-99/{len(self.body)}".encode())]
            await send({"type": "http.response.start", "status": 206, "headers": headers})
            await send({"type": "http.response.body", "body": part})
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def rules_in(folder: Path, label: str = "Advertisement") -> Rules:
    folder.mkdir(parents=True, exist_ok=True)
    unit = UNIT_HTML.replace("Advertisement", label)
    (folder / "ads.yaml").write_text(RULES_YAML.format(unit=unit), encoding="utf-8")
    return load_rules(folder)


def get(middleware: AdInjectMiddleware, path: str = "/news/story", **headers: str) -> list[Message]:
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return run_asgi(middleware, http_scope(path, headers=raw))


def test_a_modified_page_revalidates_while_the_rules_stand(tmp_path: Path) -> None:
    rules = rules_in(tmp_path / "r")
    app = ConditionalApp()
    middleware = AdInjectMiddleware(app, rules=rules, metrics=False)
    first = get(middleware)
    assert_injected_once(first[1]["body"], PAGE)
    (etag,) = header(first[0], "etag")
    (modified,) = header(first[0], "last-modified")
    assert etag == f'W/"abc-{rules.version}"'
    assert modified == formatdate(int(rules.loaded_at), usegmt=True)

    for conditions in ({"if_none_match": etag}, {"if_modified_since": modified}, {"if_none_match": "*"}):
        again = get(middleware, **conditions)
        assert again[0]["status"] == 304, conditions
        assert header(again[0], "etag") == [etag], "a 304 carries the ETag of the 200 it stands for"
        assert header(again[0], "content-length") == [] and again[1] == {
            "type": "http.response.body",
            "body": b"",
            "more_body": False,
        }
    # The app never saw a condition: it would have judged them against its own bytes.
    assert all(not CONDITIONAL & set(seen) for seen in app.seen)


def test_validators_of_other_rules_or_the_apps_get_the_whole_page(tmp_path: Path) -> None:
    old, new = rules_in(tmp_path / "old", "Old ad"), rules_in(tmp_path / "new")
    assert old.version != new.version
    stale = header(get(AdInjectMiddleware(ConditionalApp(), rules=old, metrics=False))[0], "etag")[0]
    middleware = AdInjectMiddleware(ConditionalApp(), rules=new, metrics=False)
    for conditions in (
        {"if_none_match": stale},  # shaped by the rules before
        {"if_none_match": 'W/"abc"'},  # the app's own, weakened, as an earlier adinject sent it
        {"if_none_match": APP_ETAG},  # the app's bytes, unmodified
        {"if_modified_since": APP_MODIFIED},  # fetched before these rules were loaded
    ):
        response = get(middleware, **conditions)
        assert response[0]["status"] == 200, conditions
        assert_injected_once(response[1]["body"], PAGE)


def test_after_the_kill_switch_a_modified_pages_etag_gets_the_apps_page(tmp_path: Path) -> None:
    rules = rules_in(tmp_path / "r")
    modified = get(AdInjectMiddleware(ConditionalApp(), rules=rules, metrics=False))
    (etag,) = header(modified[0], "etag")
    app = ConditionalApp()
    off = AdInjectMiddleware(app, rules=Inactive(rules, "off", "switched off"), metrics=False)
    response = get(off, if_none_match=etag)
    assert response[0]["status"] == 200 and response[1]["body"] == PAGE
    assert app.seen[0][b"if-none-match"] == etag.encode(), "not a candidate: the app answers as it likes"
    # And the app's own validators work as ever.
    assert get(off, if_none_match=APP_ETAG)[0]["status"] == 304


def test_an_unmodified_candidate_still_gets_its_304(tmp_path: Path) -> None:
    plain = PAGE.replace(b"<article>", b"<section>").replace(b"</article>", b"</section>")
    middleware = AdInjectMiddleware(ConditionalApp(body=plain), rules=rules_in(tmp_path / "r"), metrics=False)
    full = get(middleware)
    assert full[1]["body"] == plain and header(full[0], "etag") == [APP_ETAG]
    for conditions in ({"if_none_match": APP_ETAG}, {"if_modified_since": APP_MODIFIED}):
        response = get(middleware, **conditions)
        assert response[0]["status"] == 304 and header(response[0], "etag") == [APP_ETAG]
        assert [m.get("body") for m in response[1:]] == [b""]


def test_other_responses_on_a_candidate_url_keep_their_304(tmp_path: Path) -> None:
    """An image under /news/ loses nothing: its 304 is answered from its own validators, its body dropped."""
    image = AdInjectMiddleware(
        ConditionalApp(b"image/png", b"\x89PNG" * 100), rules=rules_in(tmp_path / "r"), metrics=False
    )
    response = get(image, if_none_match=APP_ETAG)
    assert response[0]["status"] == 304 and header(response[0], "etag") == [APP_ETAG]
    assert [m["type"] for m in response] == ["http.response.start", "http.response.body"]
    assert response[1]["body"] == b""
    assert get(image, if_none_match='"other"')[1]["body"] == b"\x89PNG" * 100


def test_ranges_on_a_candidate_url_get_the_whole_modified_page(tmp_path: Path) -> None:
    rules = rules_in(tmp_path / "r")
    app = ConditionalApp()
    middleware = AdInjectMiddleware(app, rules=rules, metrics=False)
    (etag,) = header(get(middleware)[0], "etag")
    for conditions in ({"range": "bytes=10-99"}, {"range": "bytes=10-99", "if_range": etag}):
        response = get(middleware, **conditions)
        assert response[0]["status"] == 200
        assert_injected_once(response[1]["body"], PAGE)
        assert header(response[0], "content-range") == [] and header(response[0], "accept-ranges") == []
    assert all(not CONDITIONAL & set(seen) for seen in app.seen)


def test_urls_no_rule_matches_pass_conditions_and_ranges_to_the_app(tmp_path: Path) -> None:
    app = ConditionalApp()
    middleware = AdInjectMiddleware(app, rules=rules_in(tmp_path / "r"), metrics=False)
    assert get(middleware, "/about", if_none_match=APP_ETAG)[0]["status"] == 304
    assert get(middleware, "/about", range="bytes=10-99")[0]["status"] == 206
    assert app.seen[0][b"if-none-match"] == APP_ETAG.encode() and b"range" in app.seen[1]


def test_a_304_in_place_of_a_pathsend_ends_with_an_empty_body(tmp_path: Path) -> None:
    image = [(b"content-type", b"image/png"), (b"etag", APP_ETAG.encode())]
    app = scripted_app(
        [start(200, image), {"type": "http.response.pathsend", "path": str(tmp_path / "x.png")}]
    )
    middleware = AdInjectMiddleware(app, rules=rules_in(tmp_path / "r"), metrics=False)
    sent = get(middleware, if_none_match=APP_ETAG)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 304 and sent[1]["body"] == b"" and not sent[1]["more_body"]
    # Without a matching condition the pathsend goes out as the app sent it.
    assert [m["type"] for m in get(middleware, if_none_match='"other"')][1] == "http.response.pathsend"
