"""The WSGI middleware keeps every header rule of the ASGI one: validators and conditional requests, ranges,
HEAD, Vary, the bucket cookie and Cache-Control, the debug view, metrics and live rules.

The decisions are the same code as for ASGI (adinject/http/exchange.py); these tests pin that they reach a
WSGI client intact: the app never sees a condition it would judge against its own bytes, a 304 or a 206
comes from the middleware, and a status line and headers are valid WSGI.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from adinject import AdInjectWSGIMiddleware, LiveRules
from adinject.engine import Rules, load_rules
from adinject.metrics import Metrics
from tests._support.http_testkit import RULES_YAML, UNIT_HTML, assert_injected_once, page, units_in
from tests._support.targeting import DESKTOP, IPHONE
from tests._support.wsgi_testkit import HTML, Result, environ, run_wsgi

PAGE = page()
APP_ETAG = '"abc"'
APP_MODIFIED = "Tue, 01 Jul 2025 10:00:00 GMT"
CONDITIONAL_KEYS = {"HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_RANGE", "HTTP_IF_RANGE"}
TOKEN = "a-debug-token-of-some-length"


class ConditionalApp:
    """A WSGI app with its own ETag and Last-Modified that answers conditions and ranges itself (as a static
    file handler does); records the environs it saw."""

    def __init__(self, content_type: str = "text/html; charset=utf-8", body: bytes = PAGE) -> None:
        self.content_type, self.body = content_type, body
        self.seen: list[dict[str, Any]] = []

    def __call__(self, env: dict[str, Any], start_response: Any) -> list[bytes]:
        self.seen.append(env)
        headers = [
            ("Content-Type", self.content_type),
            ("ETag", APP_ETAG),
            ("Last-Modified", APP_MODIFIED),
            ("Accept-Ranges", "bytes"),
            ("Content-Length", str(len(self.body))),
        ]
        if APP_ETAG in env.get("HTTP_IF_NONE_MATCH", "").replace("W/", ""):
            start_response("304 Not Modified", headers[1:3])
            return []
        if "HTTP_RANGE" in env:
            start_response(
                "206 Partial Content", [*headers[:4], ("Content-Range", f"bytes 10-99/{len(self.body)}")]
            )
            return [self.body[10:100]]
        start_response("200 OK", headers)
        return [self.body[: len(self.body) // 2], self.body[len(self.body) // 2 :]]


def rules_in(folder: Path, label: str = "Advertisement") -> Rules:
    folder.mkdir(parents=True, exist_ok=True)
    unit = UNIT_HTML.replace("Advertisement", label)
    (folder / "ads.yaml").write_text(RULES_YAML.format(unit=unit), encoding="utf-8")
    return load_rules(folder)


def get(mw: AdInjectWSGIMiddleware, path: str = "/news/story", **headers: str) -> Result:
    return run_wsgi(mw, environ(path, headers={k.replace("_", "-"): v for k, v in headers.items()}))


def test_a_modified_page_revalidates_with_a_304_from_the_middleware(tmp_path: Path) -> None:
    rules = rules_in(tmp_path / "r")
    app = ConditionalApp()
    mw = AdInjectWSGIMiddleware(app, rules=rules, metrics=False)
    first = get(mw)
    assert_injected_once(first.body, PAGE)
    etag, modified = first.header("etag"), first.header("last-modified")
    assert etag == f'W/"abc-{rules.version}"'
    assert modified == formatdate(int(rules.loaded_at), usegmt=True)
    assert first.header("accept-ranges") is None
    for conditions in ({"if_none_match": etag}, {"if_modified_since": modified}):
        again = get(mw, **conditions)  # type: ignore[arg-type]
        assert again.status == "304 Not Modified", conditions
        assert again.header("etag") == etag and again.body == b"" and again.header("content-length") is None
    assert all(not CONDITIONAL_KEYS & set(seen) for seen in app.seen)


def test_validators_the_app_would_match_get_the_whole_modified_page(tmp_path: Path) -> None:
    mw = AdInjectWSGIMiddleware(ConditionalApp(), rules=rules_in(tmp_path / "r"), metrics=False)
    for conditions in ({"if_none_match": APP_ETAG}, {"if_modified_since": APP_MODIFIED}):
        response = get(mw, **conditions)
        assert response.code == 200, conditions
        assert_injected_once(response.body, PAGE)


def test_other_responses_on_a_candidate_url_keep_their_304_and_ranges(tmp_path: Path) -> None:
    image = ConditionalApp("image/png", bytes(range(256)) * 4)
    mw = AdInjectWSGIMiddleware(image, rules=rules_in(tmp_path / "r"), metrics=False)
    not_modified = get(mw, "/news/pic.png", if_none_match=APP_ETAG)
    assert not_modified.status == "304 Not Modified" and not_modified.body == b""
    assert not_modified.header("etag") == APP_ETAG
    cut = get(mw, "/news/pic.png", range="bytes=100-299")
    assert cut.status == "206 Partial Content"
    assert cut.header("content-range") == "bytes 100-299/1024" and cut.header("content-length") == "200"
    assert cut.body == image.body[100:300]
    unsatisfiable = get(mw, "/news/pic.png", range="bytes=5000-")
    assert unsatisfiable.code == 416 and unsatisfiable.header("content-range") == "bytes */1024"
    # The app answered 200 with the whole file each time: it never saw the conditions.
    assert all(not CONDITIONAL_KEYS & set(seen) for seen in image.seen)


def test_a_range_of_a_page_gets_the_whole_modified_page(tmp_path: Path) -> None:
    mw = AdInjectWSGIMiddleware(ConditionalApp(), rules=rules_in(tmp_path / "r"), metrics=False)
    response = get(mw, range="bytes=10-99")
    assert response.code == 200 and response.header("content-range") is None
    assert_injected_once(response.body, PAGE)


def test_urls_no_rule_matches_pass_conditions_to_the_app(tmp_path: Path) -> None:
    app = ConditionalApp()
    mw = AdInjectWSGIMiddleware(app, rules=rules_in(tmp_path / "r"), metrics=False)
    assert get(mw, "/about", if_none_match=APP_ETAG).code == 304
    assert get(mw, "/about", range="bytes=10-99").code == 206


def head_app(body: bytes, length: str) -> Any:
    def app(env: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [HTML, ("Content-Length", length), ("ETag", APP_ETAG)])
        return [body]

    return app


def test_head_with_the_body_gets_the_length_get_would_send(rules: Rules) -> None:
    mw = AdInjectWSGIMiddleware(head_app(PAGE, str(len(PAGE))), rules=rules, metrics=False)
    get_length = run_wsgi(mw, environ()).header("content-length")
    head = run_wsgi(mw, environ(method="HEAD"))
    assert head.header("content-length") == get_length != str(len(PAGE))


def test_head_without_a_body_has_no_length_rather_than_a_wrong_one(rules: Rules) -> None:
    mw = AdInjectWSGIMiddleware(head_app(b"", str(len(PAGE))), rules=rules, metrics=False)
    head = run_wsgi(mw, environ(method="HEAD"))
    assert head.code == 200 and head.body == b""
    assert head.header("content-length") is None
    assert head.header("etag") == f'W/"abc-{rules.version}"'


def targeted_rules(tmp_path: Path) -> Rules:
    folder = tmp_path / "targeted"
    folder.mkdir()
    unit = '<div class="ad-slot" id="{{ slot.id }}"><p>%s</p></div>'
    (folder / "rules.yaml").write_text(
        "units:\n"
        f"  phone: {{html: '{unit % 'Phone ad'}'}}\n"
        f"  box: {{html: '{unit % 'Half'}'}}\n"
        "rules:\n"
        "  - {name: phones, pages: {paths: ['/dev/**']}, container: article, when: {device: [mobile]},"
        " place: [{unit: phone, after_paragraph: 1}]}\n"
        "  - {name: ab, pages: {paths: ['/ab/**']}, container: article, when: {percent: 50},"
        " place: [{unit: box, after_paragraph: 1}]}\n",
        encoding="utf-8",
    )
    return load_rules(folder)


def caching_app(env: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response(
        "200 OK", [HTML, ("Cache-Control", "public, max-age=60, s-maxage=600"), ("Vary", "Accept-Encoding")]
    )
    return [PAGE]


def vary(result: Result) -> set[str]:
    return {t.strip().lower() for v in result.all("vary") for t in v.split(",") if t.strip()}


def test_device_rules_vary_on_what_they_read(tmp_path: Path) -> None:
    mw = AdInjectWSGIMiddleware(caching_app, rules=targeted_rules(tmp_path), metrics=False)
    phone = get(mw, "/dev/x", user_agent=IPHONE)
    desktop = get(mw, "/dev/x", user_agent=DESKTOP)
    assert b"Phone ad" in phone.body and desktop.body == PAGE
    assert {"user-agent", "accept-encoding"} <= vary(phone)
    assert "user-agent" in vary(desktop)


def test_a_percent_rule_sets_the_bucket_cookie_and_goes_private(tmp_path: Path) -> None:
    mw = AdInjectWSGIMiddleware(caching_app, rules=targeted_rules(tmp_path), metrics=False)
    new = run_wsgi(mw, environ("/ab/x", scheme="https"))
    (cookie,) = new.all("set-cookie")
    assert cookie.startswith("adinject_bucket=") and cookie.endswith("; Secure")
    assert new.header("cache-control") == "private, max-age=60"
    assert "cookie" in vary(new)
    known = get(mw, "/ab/x", cookie=cookie.split(";")[0])
    assert known.all("set-cookie") == []


def debug_app(env: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [HTML, ("ETag", APP_ETAG), ("Cache-Control", "max-age=60")])
    return [PAGE]


def test_the_debug_view_needs_the_token(rules: Rules) -> None:
    registry = CollectorRegistry()
    mw = AdInjectWSGIMiddleware(debug_app, rules=rules, debug_token=TOKEN, metrics=Metrics(registry))
    annotated = run_wsgi(mw, environ(query="adinject=debug", headers={"X-AdInject-Debug": TOKEN}))
    assert b"data-adinject-p" in annotated.body
    assert annotated.header("cache-control") == "no-store" and annotated.header("etag") is None
    assert annotated.header("content-length") == str(len(annotated.body))
    original = run_wsgi(mw, environ(query="adinject=original", headers={"Cookie": f"adinject_debug={TOKEN}"}))
    assert original.body == PAGE and original.header("cache-control") == "no-store"
    wrong = run_wsgi(mw, environ(query="adinject=debug", headers={"X-AdInject-Debug": "guess"}))
    assert units_in(wrong.body) and b"data-adinject-p" not in wrong.body
    refused = registry.get_sample_value("adinject_debug_refused_total", {"reason": "wrong"})
    assert refused == 1


def test_metrics_count_pages_by_outcome(rules: Rules) -> None:
    registry = CollectorRegistry()
    mw = AdInjectWSGIMiddleware(debug_app, rules=rules, metrics=Metrics(registry))
    run_wsgi(mw, environ())
    run_wsgi(mw, environ("/about"))
    sample = registry.get_sample_value
    assert sample("adinject_pages_total", {"outcome": "modified", "reason": ""}) == 1
    assert sample("adinject_pages_total", {"outcome": "unchanged", "reason": "url"}) == 1


def test_a_rules_change_goes_live(tmp_path: Path) -> None:
    folder = tmp_path / "live"
    rules_in(folder, "First")
    live = LiveRules(folder, watch=False, metrics=False, settle=0.0)
    mw = AdInjectWSGIMiddleware(debug_app, rules=live, metrics=False)
    assert b"First" in run_wsgi(mw, environ()).body
    time.sleep(0.01)
    rules_in(folder, "Second")
    assert live.check()
    assert b"Second" in run_wsgi(mw, environ()).body
