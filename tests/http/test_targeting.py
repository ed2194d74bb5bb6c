"""Targeting through the middleware, behind a real uvicorn: query, device, sticky buckets, schedules, CSP.

What a browser or a cache receives: the URL's query reaches `query:` conditions, the device and the bucket
change the units and say so in `Vary`, a visitor's first page sets the bucket cookie (and keeps shared caches
from storing it), the plan cache is shared by visitors the rules cannot tell apart, a schedule turns over
even with a warm cache, and the GPT scripts carry the nonce of the response's Content-Security-Policy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from adinject.engine import Rules, load_rules
from adinject.http import AdInjectMiddleware
from adinject.targeting.buckets import BUCKET_COOKIE, experiment_bucket
from tests._support.http_testkit import header, http_scope, page, run_asgi
from tests._support.targeting import ANDROID_PHONE, DESKTOP, IPHONE

Serve = Callable[[ASGIApp], httpx.Client]
PAGE = page()
UNIT_RE = re.compile(rb'<div class="ad-slot" id="[^"]*"><p>([^<]*)</p></div>')


def rules_with(tmp_path: Path, units: str, rules: str) -> Rules:
    folder = tmp_path / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.yaml").write_text(f"units:\n{units}rules:\n{rules}", encoding="utf-8")
    return load_rules(folder)


def unit(name: str, label: str) -> str:
    return f'  {name}:\n    html: \'<div class="ad-slot" id="{{{{ slot.id }}}}"><p>{label}</p></div>\'\n'


def rule(name: str, when: str, unit_name: str, after: int = 1) -> str:
    return (
        f"  - name: {name}\n"
        '    pages: {paths: ["/news/**"]}\n'
        "    container: article\n"
        f"    when: {when}\n"
        f"    place: [{{unit: {unit_name}, after_paragraph: {after}}}]\n"
    )


def app(headers: Iterable[tuple[str, str]] = (), body: bytes = PAGE) -> ASGIApp:
    """A plain ASGI app answering every path with `body` and these headers (plus an HTML Content-Type)."""
    raw = [(b"content-type", b"text/html; charset=utf-8")]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers]

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    return asgi


def labels(body: bytes) -> list[str]:
    """The labels of the units in a page, in order (the page is otherwise the app's, byte for byte)."""
    assert UNIT_RE.sub(b"", body) == PAGE, body
    return [m.group(1).decode() for m in UNIT_RE.finditer(body)]


def vary(response: httpx.Response) -> set[str]:
    return {t.strip().lower() for v in response.headers.get_list("vary") for t in v.split(",") if t.strip()}


# ---- query


def test_a_query_condition_reads_the_urls_query_string(serve: Serve, tmp_path: Path) -> None:
    rules = rules_with(
        tmp_path, unit("ad", "Newsletter readers"), rule("r", "{query: {utm_source: [newsletter]}}", "ad")
    )
    middleware = AdInjectMiddleware(app(), rules=rules)
    client = serve(middleware)
    assert labels(client.get("/news/a?utm_source=Newsletter").content) == ["Newsletter readers"]
    assert labels(client.get("/news/a?utm_source=facebook").content) == []
    assert labels(client.get("/news/a").content) == []
    # Another utm link to the same page shares the plan: the query only counts through the condition.
    assert labels(client.get("/news/a?utm_source=newsletter&utm_campaign=x").content) == [
        "Newsletter readers"
    ]
    assert middleware.cache is not None and middleware.cache.hits >= 1


# ---- device


DEVICE_UNITS = unit("phone", "Phone ad") + unit("desktop", "Desktop ad")
DEVICE_RULES = rule("phones", "{device: [mobile]}", "phone", 1) + rule(
    "desktops", "{device: [desktop]}", "desktop", 2
)


def test_a_device_rule_gives_phones_and_desktops_their_own_units(serve: Serve, tmp_path: Path) -> None:
    rules = rules_with(tmp_path, DEVICE_UNITS, DEVICE_RULES)
    validators = [
        ("etag", '"v1"'),
        ("last-modified", "Tue, 01 Jul 2025 10:00:00 GMT"),
        ("vary", "Accept-Encoding"),
    ]
    client = serve(AdInjectMiddleware(app(validators), rules=rules))
    phone = client.get("/news/a", headers={"user-agent": IPHONE})
    desktop = client.get("/news/a", headers={"user-agent": DESKTOP})
    chromium_phone = client.get("/news/a", headers={"user-agent": DESKTOP, "sec-ch-ua-mobile": "?1"})
    assert labels(phone.content) == ["Phone ad"]
    assert labels(desktop.content) == ["Desktop ad"]
    assert labels(chromium_phone.content) == ["Phone ad"], "Sec-CH-UA-Mobile wins over the User-Agent"
    for response in (phone, desktop):
        assert vary(response) == {"accept-encoding", "user-agent", "sec-ch-ua-mobile"}
        assert "etag" not in response.headers and "last-modified" not in response.headers
        assert "set-cookie" not in response.headers, "no rule splits visitors: no bucket"


def test_two_phones_share_one_cached_plan(serve: Serve, tmp_path: Path) -> None:
    middleware = AdInjectMiddleware(app(), rules=rules_with(tmp_path, DEVICE_UNITS, DEVICE_RULES))
    client = serve(middleware)
    cache = middleware.cache
    assert cache is not None
    assert labels(client.get("/news/a", headers={"user-agent": IPHONE}).content) == ["Phone ad"]
    assert (cache.hits, cache.misses) == (0, 1)
    assert labels(client.get("/news/a", headers={"user-agent": ANDROID_PHONE}).content) == ["Phone ad"]
    assert (cache.hits, cache.misses) == (1, 1), "another phone, another User-Agent: the same plan"
    assert labels(client.get("/news/a", headers={"user-agent": DESKTOP}).content) == ["Desktop ad"]
    assert (cache.hits, cache.misses) == (1, 2)
    assert len(cache) == 2


# ---- sticky buckets


def _bucket(inside: bool, experiment: str = "half", percent: int = 50) -> int:
    return next(b for b in range(100) if (experiment_bucket(b, experiment) < percent) is inside)


def _set_cookies(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


def test_a_percent_rule_sets_the_bucket_cookie_once_and_keeps_the_visitor(
    serve: Serve, tmp_path: Path
) -> None:
    rules = rules_with(tmp_path, unit("ad", "Half the visitors"), rule("half", "{percent: 50}", "ad"))
    client = serve(
        AdInjectMiddleware(app([("cache-control", "public, max-age=60, s-maxage=600")]), rules=rules)
    )

    first = client.get("/news/a")
    (cookie,) = _set_cookies(first)
    match = re.fullmatch(rf"{BUCKET_COOKIE}=(\d+); Path=/; Max-Age=31536000; SameSite=Lax", cookie)
    assert match, cookie
    # No shared cache may store a response that hands out a bucket: it would give it to every reader.
    assert first.headers["cache-control"] == "private, max-age=60"
    assert "cookie" in vary(first)
    inside = experiment_bucket(int(match.group(1)), "half") < 50
    expected = ["Half the visitors"] if inside else []
    assert labels(first.content) == expected, "the first page already uses the bucket it draws"

    # The client sends the cookie back (httpx keeps it): no new cookie, the same units, page after page.
    for _ in range(3):
        again = client.get("/news/a")
        assert _set_cookies(again) == []
        assert labels(again.content) == expected
        assert again.headers["cache-control"] == "public, max-age=60, s-maxage=600"
        assert "cookie" in vary(again)


@pytest.mark.parametrize("inside", [True, False])
def test_a_visitor_with_a_bucket_gets_no_cookie_and_their_own_units(
    serve: Serve, tmp_path: Path, inside: bool
) -> None:
    rules = rules_with(tmp_path, unit("ad", "Half the visitors"), rule("half", "{percent: 50}", "ad"))
    client = serve(AdInjectMiddleware(app(), rules=rules))
    cookie = f"theme=dark; {BUCKET_COOKIE}={_bucket(inside)}"
    for _ in range(2):
        response = client.get("/news/a", headers={"cookie": cookie})
        assert _set_cookies(response) == []
        assert "cache-control" not in response.headers
        assert labels(response.content) == (["Half the visitors"] if inside else [])


def test_an_unmodified_page_still_sets_the_cookie(serve: Serve, tmp_path: Path) -> None:
    """Outside the test's half the page goes out as the app sent it, but the visitor must keep the bucket."""
    rules = rules_with(tmp_path, unit("ad", "Half the visitors"), rule("half", "{percent: 0}", "ad"))
    client = serve(AdInjectMiddleware(app([("etag", '"v1"')]), rules=rules))
    response = client.get("/news/a")
    assert response.content == PAGE
    assert len(_set_cookies(response)) == 1 and response.headers["cache-control"] == "private"
    assert response.headers["etag"] == '"v1"', "the app's bytes: its validator still describes them"


def test_https_bucket_cookies_are_secure(tmp_path: Path) -> None:
    rules = rules_with(tmp_path, unit("ad", "Half the visitors"), rule("half", "{percent: 50}", "ad"))
    scope = {**http_scope("/news/a"), "scheme": "https"}
    sent = run_asgi(AdInjectMiddleware(app(), rules=rules), scope)
    (cookie,) = header(sent[0], "set-cookie")
    assert cookie.endswith("; Secure")


# ---- schedules


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_a_schedule_boundary_changes_the_output_with_a_warm_cache(serve: Serve, tmp_path: Path) -> None:
    rules = rules_with(
        tmp_path, unit("ad", "New year"), rule("r", '{schedule: {start: "2030-01-01T00:00:00Z"}}', "ad")
    )
    clock = Clock(datetime(2029, 12, 31, 23, 59, 59, tzinfo=UTC))
    middleware = AdInjectMiddleware(app([("etag", '"v1"')]), rules=rules, clock=clock)
    client = serve(middleware)
    cache = middleware.cache
    assert cache is not None
    for _ in range(2):
        before = client.get("/news/a")
        assert before.content == PAGE
    assert cache.hits == 1, "the cache is warm"

    clock.now = datetime(2030, 1, 1, tzinfo=UTC)
    after = client.get("/news/a")
    assert labels(after.content) == ["New year"]
    # The same request gets other bytes at another time: no validator of the app's describes them.
    assert "etag" not in after.headers
    assert "set-cookie" not in after.headers and "vary" not in after.headers


# ---- Content-Security-Policy


GPT_UNIT = """\
  ad:
    html: '<div class="ad-slot" id="{{ slot.id }}"><p>Advertisement</p></div>'
    gpt: {ad_unit: /1234/news/in-article, sizes: [[300, 250]]}
"""


def test_the_gpt_scripts_carry_the_nonce_of_the_responses_csp(serve: Serve, tmp_path: Path) -> None:
    """Each response's own nonce (apps draw one per response), also when the plan comes from the cache."""
    rules = rules_with(tmp_path, GPT_UNIT, rule("r", "{}", "ad"))
    nonces = iter(["r4nd0m+/=", "another1"])

    async def site(scope: Scope, receive: Receive, send: Send) -> None:
        csp = f"script-src 'nonce-{next(nonces)}' 'strict-dynamic'; object-src 'none'"
        await app([("content-security-policy", csp)])(scope, receive, send)

    middleware = AdInjectMiddleware(site, rules=rules)
    client = serve(middleware)
    for nonce in ("r4nd0m+/=", "another1"):
        body = client.get("/news/a").content
        scripts = re.findall(rb"<script[^>]*\bdata-adinject\b[^>]*>", body)
        assert len(scripts) == 3, body  # the library and the setup in <head>, the display call in the slot
        for tag in scripts:
            assert f' nonce="{nonce}"'.encode() in tag, tag
    assert middleware.cache is not None and middleware.cache.hits == 1


# ---- the debug view


def test_the_debug_view_sees_the_query_string(serve: Serve, tmp_path: Path) -> None:
    rules = rules_with(
        tmp_path, unit("ad", "Newsletter readers"), rule("r", "{query: {utm_source: [newsletter]}}", "ad")
    )
    client = serve(AdInjectMiddleware(app(), rules=rules, debug_token="secret"))
    response = client.get(
        "/news/a",
        params={"adinject": "debug", "utm_source": "newsletter"},
        headers={"x-adinject-debug": "secret"},
    )
    assert b'id="adinject-debug-panel"' in response.content
    assert response.content.count(b'<div class="adinject-debug-unit"') == 1
    assert b"<p>Newsletter readers</p>" in response.content


# ---- caching scope: a response varies only on what the rules of its own URL read

SCOPED_UNITS = (
    unit("plain", "Everyone")
    + unit("phone", "Phone ad")
    + "  box:\n    variants:\n"
    + '      a: {weight: 1, html: \'<div class="ad-slot" id="{{ slot.id }}"><p>A</p></div>\'}\n'
    + '      b: {weight: 1, html: \'<div class="ad-slot" id="{{ slot.id }}"><p>B</p></div>\'}\n'
)


def scoped_rule(name: str, paths: str, unit_name: str, when: str = "{}") -> str:
    return (
        f"  - name: {name}\n"
        f'    pages: {{paths: ["{paths}"]}}\n'
        "    container: article\n"
        f"    when: {when}\n"
        f"    place: [{{unit: {unit_name}, after_paragraph: 1}}]\n"
    )


SCOPED_RULES = (
    scoped_rule("plain", "/news/**", "plain")
    + scoped_rule("ab", "/ab/**", "box")
    + scoped_rule("phones", "/dev/**", "phone", "{device: [mobile]}")
    + scoped_rule("later", "/timed/**", "plain", '{schedule: {start: "2000-01-01T00:00:00Z"}}')
)
CACHING = [
    (b"Content-Type", b"text/html; charset=utf-8"),
    (b"Cache-Control", b"public, max-age=60, s-maxage=600"),
    (b"ETag", b'"v1"'),
    (b"Last-Modified", b"Tue, 01 Jul 2025 10:00:00 GMT"),
    (b"Vary", b"Accept-Encoding"),
]


def raw_app(headers: list[tuple[bytes, bytes]], body: bytes = PAGE) -> ASGIApp:
    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": body})

    return asgi


def test_a_page_no_targeted_rule_applies_to_keeps_its_caching_headers(tmp_path: Path) -> None:
    """Regression: an A/B rule on /ab/** and a device rule on /dev/** made a plain /news/a say
    `Vary: cookie, sec-ch-ua-mobile, user-agent`, set the bucket cookie and go `private`."""
    rules = rules_with(tmp_path, SCOPED_UNITS, SCOPED_RULES)
    assert rules.request_headers() == {"cookie", "sec-ch-ua-mobile", "user-agent"}
    assert rules.request_headers("/news/a") == frozenset() and not rules.depends_on_time("/news/a")
    assert rules.depends_on_time("/timed/a") and rules.depends_on_time()

    # Not modified (no <article>): the app's start, byte for byte, name case included.
    no_article = PAGE.replace(b"<article>", b"<div>").replace(b"</article>", b"</div>")
    middleware = AdInjectMiddleware(raw_app(CACHING, no_article), rules=rules, metrics=False)
    sent = run_asgi(middleware, http_scope("/news/a", headers=[(b"user-agent", IPHONE.encode())]))
    assert sent[0]["headers"] == CACHING and sent[1]["body"] == no_article

    # Modified: the body's own headers change (length, a weak ETag), but nothing about caching scope does.
    middleware = AdInjectMiddleware(raw_app(CACHING), rules=rules, metrics=False, server_timing=False)
    sent = run_asgi(middleware, http_scope("/news/a", headers=[(b"user-agent", IPHONE.encode())]))
    assert labels(sent[1]["body"]) == ["Everyone"]
    assert header(sent[0], "vary") == ["Accept-Encoding"]
    assert header(sent[0], "set-cookie") == []
    assert header(sent[0], "cache-control") == ["public, max-age=60, s-maxage=600"]
    assert header(sent[0], "last-modified") == [formatdate(int(rules.loaded_at), usegmt=True)]
    assert header(sent[0], "etag") == [f'W/"v1-{rules.version}"'], "depends on the page: a weak one stays"


def test_pages_of_targeted_rules_still_vary_and_get_a_bucket(tmp_path: Path) -> None:
    rules = rules_with(tmp_path, SCOPED_UNITS, SCOPED_RULES)
    middleware = AdInjectMiddleware(raw_app(CACHING), rules=rules, metrics=False)

    ab = run_asgi(middleware, http_scope("/ab/x"))[0]
    assert {t.strip() for v in header(ab, "vary") for t in v.split(",")} == {"Accept-Encoding", "cookie"}
    assert len(header(ab, "set-cookie")) == 1
    assert header(ab, "cache-control") == ["private, max-age=60"]
    assert header(ab, "etag") == [] and header(ab, "last-modified") == []

    phone = run_asgi(middleware, http_scope("/dev/x", headers=[(b"user-agent", IPHONE.encode())]))
    assert {t.strip() for v in header(phone[0], "vary") for t in v.split(",")} == {
        "Accept-Encoding",
        "sec-ch-ua-mobile",
        "user-agent",
    }
    assert header(phone[0], "set-cookie") == [] and labels(phone[1]["body"]) == ["Phone ad"]

    # A desktop on a device-targeted URL gets the app's page, and still the Vary that says why.
    desktop = run_asgi(middleware, http_scope("/dev/x", headers=[(b"user-agent", DESKTOP.encode())]))
    assert desktop[1]["body"] == PAGE and "user-agent" in header(desktop[0], "vary")[-1]

    timed = run_asgi(middleware, http_scope("/timed/x"))[0]
    assert header(timed, "etag") == [] and header(timed, "vary") == ["Accept-Encoding"]
