"""GPT wiring end to end in headless Chromium: the demo newsroom with its ads wired for GPT.

The demo (examples/newsroom) runs behind AdInjectMiddleware with the shipped rules plus `gpt:` on the
advertisement unit, and `gpt_library_url` pointing at a stub gpt.js served locally (no network): the stub
implements the part of googletag the wiring uses and records every `defineSlot` and `display` call in
`window.__gptCalls`. On every article, each inserted slot must be defined once and displayed once, after its
<div> exists, with no console error, and the slots still lay out as the demo's own browser test demands. A
few extra pages (under /extra) cover a page's own GPT setup, a nonce-only Content-Security-Policy, and a
hostile section name.

Reuses the DevTools-over-pipe client of tests/_support/browser.py; skips, with the reason, without Chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route

from adinject import AdInjectMiddleware
from adinject.engine import Rules, load_rules
from examples.newsroom import create_app
from examples.newsroom.content import newsroom
from tests._support.browser import MEASURE_UNITS, Tab, check_units, console_errors, open_tab
from tests._support.loopback import serving
from tests._support.paths import REPO

pytestmark = pytest.mark.browser

ROOT = REPO
STUB_URL = "/stub/gpt.js"
NONCE = "e2eN0nce+/="

# The part of googletag the wiring uses. Calls queued in googletag.cmd before it loads run when it does;
# later ones run at once. A display of an id that is not defined, or whose <div> is missing, is an error.
STUB_GPT = r"""
(function () {
  var calls = window.__gptCalls = {defineSlot: [], display: [], pageTargeting: [], lazyLoad: [], services: 0};
  var gt = window.googletag = window.googletag || {cmd: []};
  var queued = gt.cmd || [];
  var slots = {};
  var pubads = {
    setTargeting: function (key, value) { calls.pageTargeting.push([key, value]); return pubads; },
    enableLazyLoad: function (config) { calls.lazyLoad.push(config); },
    enableSingleRequest: function () { return true; }
  };
  gt.pubads = function () { return pubads; };
  gt.defineSlot = function (path, sizes, id) {
    calls.defineSlot.push([path, sizes, id]);
    if (slots[id]) { return null; }
    var slot = {addService: function () { return slot; }, setTargeting: function () { return slot; }};
    slots[id] = slot;
    return slot;
  };
  gt.display = function (id) {
    calls.display.push(id);
    if (!slots[id]) { console.error("stub gpt: display of an undefined slot " + id); }
    if (!document.getElementById(id)) { console.error("stub gpt: no element with id " + id); }
  };
  gt.enableServices = function () { calls.services += 1; };
  gt.cmd = {push: function (f) { f(); }};
  for (var i = 0; i < queued.length; i++) { queued[i](); }
})();
"""

READ_CALLS = """
(() => ({
  calls: window.__gptCalls || null,
  slotIds: Array.from(document.querySelectorAll(".ad-slot")).map((el) => el.id),
  libraries: Array.from(document.scripts).filter((s) => s.src.endsWith("/stub/gpt.js")).length,
  pwned: window.__pwned === undefined ? null : window.__pwned,
  own: window.__own === undefined ? null : window.__own,
}))()
"""


def gpt_rules(folder: Path) -> Rules:
    """The shipped rules, with the advertisement wired for GPT and the library served by the test."""
    text = (ROOT / "rules" / "news.yaml").read_text(encoding="utf-8")
    advert = '        <p class="ad-slot__label">Advertisement</p>\n      </div>\n'
    assert advert in text
    gpt = (
        "    gpt:\n"
        "      ad_unit: /1234/news/in-article\n"
        "      sizes: [[300, 250], [336, 280]]\n"
        "      lazy_load: {fetch_margin_percent: 200, render_margin_percent: 100}\n"
    )
    text = text.replace(advert, advert + gpt, 1)
    text = text.replace('paths: ["/world/**", "/news/**"]', 'paths: ["/world/**", "/news/**", "/extra/**"]')
    text += f"\nsettings:\n  gpt_library_url: {STUB_URL}\n"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "news.yaml").write_text(text, encoding="utf-8")
    return load_rules(folder)


def extra_page(head: str = "", section: str = "World") -> str:
    paragraphs = "".join(
        f"<p>Paragraph {i} has enough words in it to be counted by the rule.</p>\n" for i in range(1, 11)
    )
    return (
        '<!DOCTYPE html><html><head><meta charset=utf-8><title>Extra</title><link rel=icon href="data:,">'
        f'<meta property="article:section" content="{section}">{head}</head>'
        f'<body><article><div class="article-body">\n{paragraphs}</div></article></body></html>'
    )


def extra_app(rules: Rules) -> Starlette:
    own_setup = (
        f'<script async src="{STUB_URL}"></script>'
        "<script>window.googletag=window.googletag||{cmd:[]};googletag.cmd.push(function(){"
        "googletag.defineSlot('/1234/top',[728,90],'top').addService(googletag.pubads());"
        "googletag.pubads().enableSingleRequest();googletag.enableServices();});</script>"
    )
    csp = (
        '<meta http-equiv="Content-Security-Policy" '
        f"content=\"script-src 'nonce-{NONCE}' 'strict-dynamic'; object-src 'none'; base-uri 'none'\">"
        f'<script nonce="{NONCE}">window.__own = 1;</script>'
    )
    hostile = "&lt;/script&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;"
    pages = {
        "own-setup": extra_page(own_setup).replace(
            "<body>",
            '<body><div id="top"></div><script>googletag.cmd.push(function(){googletag.display("top");});</script>',
        ),
        "csp": extra_page(csp),
        "hostile": extra_page(section=hostile),
    }

    async def page(request: Request) -> Response:
        return HTMLResponse(pages[request.path_params["name"]])

    return Starlette(
        routes=[Route("/news/{name:str}", page)], middleware=[Middleware(AdInjectMiddleware, rules=rules)]
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    rules = gpt_rules(tmp_path_factory.mktemp("gpt-rules"))

    async def stub(request: Request) -> Response:
        return Response(STUB_GPT, media_type="text/javascript")

    app = Starlette(
        routes=[Route(STUB_URL, stub), Mount("/extra", extra_app(rules)), Mount("/", create_app(rules))]
    )
    with serving(app, "gpt-site") as url:  # TCP_NODELAY: no ~40 ms Nagle delay per response
        yield url


@pytest.fixture(scope="module")
def tab(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tab]:
    with open_tab(chromium, tmp_path_factory.mktemp("chromium-gpt-profile")) as opened:
        yield opened


def visit(tab: Tab, url: str) -> dict[str, Any]:
    events = tab.open(url)
    assert console_errors(events) == [], url
    seen: dict[str, Any] = tab.evaluate(READ_CALLS)
    assert seen["calls"] is not None, f"{url}: the stub gpt.js did not run"
    return seen


def assert_each_slot_once(seen: dict[str, Any], where: str, others: tuple[str, ...] = ()) -> None:
    ours = seen["slotIds"]
    assert ours, f"{where}: no slot"
    defined = [call[2] for call in seen["calls"]["defineSlot"]]
    assert sorted(defined) == sorted([*ours, *others]), f"{where}: defineSlot calls {defined}"
    assert sorted(seen["calls"]["display"]) == sorted([*ours, *others]), f"{where}: display calls"
    assert seen["libraries"] == 1, f"{where}: gpt.js loaded {seen['libraries']} times"


def test_every_demo_article_defines_and_displays_each_slot_once(tab: Tab, site: str) -> None:
    for article in newsroom().listed():
        seen = visit(tab, site + article.url)
        assert_each_slot_once(seen, article.url)
        calls = seen["calls"]
        assert all(
            call[:2] == ["/1234/news/in-article", [[300, 250], [336, 280]]] for call in calls["defineSlot"]
        )
        assert ["section", article.category] in calls["pageTargeting"]
        assert calls["lazyLoad"] == [{"fetchMarginPercent": 200, "renderMarginPercent": 100}]
        assert calls["services"] == 1
        check_units(tab.evaluate(MEASURE_UNITS), article.url)


def test_pages_without_units_get_no_gpt(tab: Tab, site: str) -> None:
    events = tab.open(site + "/about")
    assert console_errors(events) == []
    assert tab.evaluate(READ_CALLS)["calls"] is None


def test_a_page_with_its_own_gpt_setup_keeps_working(tab: Tab, site: str) -> None:
    seen = visit(tab, site + "/extra/news/own-setup")
    assert_each_slot_once(seen, "own-setup", others=("top",))
    assert seen["calls"]["services"] == 2  # the page's and adinject's: harmless, as GPT documents


def test_a_nonce_only_policy_runs_every_script_adinject_adds(tab: Tab, site: str) -> None:
    seen = visit(tab, site + "/extra/news/csp")  # a refused inline script would be a console error
    assert seen["own"] == 1
    assert_each_slot_once(seen, "csp")


def test_a_hostile_section_is_data_not_code(tab: Tab, site: str) -> None:
    seen = visit(tab, site + "/extra/news/hostile")
    assert seen["pwned"] is None
    assert_each_slot_once(seen, "hostile")
    hostile = "</script><script>window.__pwned=1</script>"
    assert ["section", hostile[:40]] in seen["calls"]["pageTargeting"]
