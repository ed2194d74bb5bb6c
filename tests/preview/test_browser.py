"""The annotated page in headless Chromium: the seed article's debug view and two corpus pages.

What a browser builds and draws, measured over the DevTools protocol (the client in tests/_support/browser.py):
every marker the engine reported is an element in the DOM with its label drawn where it can be seen, every
unit is outlined, the panel is on screen, and the annotations add no sideways scrolling. Skips when no
Chromium is installed. ADINJECT_PREVIEW_SCREENSHOTS=DIR keeps the screenshots (else pytest's tmp_path).
"""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from adinject import load_rules
from adinject.preview import annotate
from examples.newsroom import create_app
from examples.newsroom.content import SEED_SLUG
from tests._support.browser import Tab, console_errors, open_tab, screenshot_folder
from tests._support.corpus import AUTO_RULES, READABILITY, require

pytestmark = pytest.mark.browser

TOKEN = "browser-token"
SEED = f"/world/{SEED_SLUG}"
CORPUS_PAGES = ("bbc-1", "blogger")

# What the browser made of the markers: counts, where each label is drawn, the panel, the page width.
MEASURE = """
(() => {
  const marks = [...document.querySelectorAll("[data-adinject-p]")];
  const label = (el) => {
    const style = getComputedStyle(el, "::before");
    const rect = el.getBoundingClientRect();
    const inside = el.hasAttribute("data-adinject-inside") || el.classList.contains("adinject-debug-run");
    const need = (el.getAttribute("data-adinject-label") || "").length * 7 + 16;
    return {
      content: style.content,
      expected: JSON.stringify(
        (el.classList.contains("adinject-debug-run") ? "▲ " : "") + el.getAttribute("data-adinject-label")),
      drawn: style.display !== "none" && style.visibility !== "hidden",
      onScreen: inside || rect.left >= need,
    };
  };
  const panel = document.getElementById("adinject-debug-panel");
  const box = panel ? panel.getBoundingClientRect() : null;
  const containers = [...document.querySelectorAll("[data-adinject-container]")];
  return {
    counted: document.querySelectorAll("[data-adinject-p=counted]").length,
    out: document.querySelectorAll("[data-adinject-p=out]").length,
    labels: marks.map(label),
    units: [...document.querySelectorAll(".adinject-debug-unit")].map((u) => ({
      outline: getComputedStyle(u).outlineStyle,
      label: getComputedStyle(u, "::before").content,
      height: u.getBoundingClientRect().height,
    })),
    containerOutline: containers.map((c) => getComputedStyle(c).outlineStyle),
    panel: box && {left: box.left, top: box.top, right: box.right, bottom: box.bottom,
                   visible: getComputedStyle(panel).display !== "none"},
    panelText: panel ? panel.innerText : "",
    viewport: {width: innerWidth, height: innerHeight},
    scrollWidth: document.documentElement.scrollWidth,
  };
})()
"""


@pytest.fixture(scope="module")
def tab(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tab]:
    with open_tab(chromium, tmp_path_factory.mktemp("chromium-profile"), height=1000) as opened:
        yield opened


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshot_folder("ADINJECT_PREVIEW_SCREENSHOTS", tmp_path_factory, "preview-screenshots")


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    app = create_app(debug_token=TOKEN, reload=False)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the demo did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def clip_screenshot(tab: Tab, path: Path, height: int = 2000) -> None:
    """A screenshot of the page from a little above its first marked paragraph (long pages are mostly not
    article: navigation, comments)."""
    top = tab.evaluate(
        "(() => { const m = document.querySelector('[data-adinject-p]');"
        " return m ? Math.max(0, m.getBoundingClientRect().top + scrollY - 150) : 0; })()"
    )
    clip = {"x": 0, "y": top, "width": 1280, "height": height, "scale": 1}
    data = tab.send("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True})
    path.write_bytes(base64.b64decode(data["data"]))


def check_labels(page: dict[str, Any], where: str) -> None:
    assert page["labels"], where
    for label in page["labels"]:
        assert label["drawn"] and label["content"] == label["expected"], (where, label)
        assert label["onScreen"], (where, label)
    for unit in page["units"]:
        assert unit["outline"] == "solid" and unit["label"] not in ("none", "normal"), (where, unit)
        assert unit["height"] > 0, (where, unit)
    assert page["containerOutline"] and set(page["containerOutline"]) == {"dashed"}, where
    panel, view = page["panel"], page["viewport"]
    assert panel and panel["visible"], where
    assert 0 <= panel["left"] < panel["right"] <= view["width"], (where, panel)
    assert 0 <= panel["top"] < panel["bottom"] <= view["height"], (where, panel)


def test_the_seed_articles_debug_view(tab: Tab, demo_url: str, shots: Path) -> None:
    tab.send("Network.setExtraHTTPHeaders", {"headers": {"X-AdInject-Debug": TOKEN}})
    try:
        events = tab.open(f"{demo_url}{SEED}?adinject=debug")
        page = tab.evaluate(MEASURE)
        tab.screenshot(shots / "seed-debug-view.png")
    finally:
        tab.send("Network.setExtraHTTPHeaders", {"headers": {}})
    assert console_errors(events) == []
    assert page["counted"] == 9 and page["out"] == 0
    assert len(page["units"]) == 3
    check_labels(page, SEED)
    assert "3 inserted · 0 did not land" in page["panelText"]
    assert page["scrollWidth"] <= page["viewport"]["width"]
    # Every label sits in the margin of this centred column, none needed drawing inline.
    assert all(label["content"].startswith('"¶') for label in page["labels"])


@pytest.mark.corpus
@pytest.mark.parametrize("name", CORPUS_PAGES)
def test_corpus_previews(tab: Tab, tmp_path: Path, shots: Path, name: str) -> None:
    source = READABILITY / name / "source.html"
    require(source)
    (tmp_path / "rules.yaml").write_text(AUTO_RULES)
    body = source.read_bytes()
    annotated = annotate(load_rules(tmp_path / "rules.yaml"), body, url="/news/x")
    result = annotated.result
    (tmp_path / "original.html").write_bytes(body)
    (tmp_path / "preview.html").write_bytes(annotated.body)

    # The pages' own stylesheets, scripts and images are on the internet: refuse them at once rather than
    # wait for each to time out (the test is about our markup, which is all inline).
    tab.send("Network.setBlockedURLs", {"urls": ["http://*", "https://*"]})
    try:
        tab.open((tmp_path / "original.html").as_uri())
        width_before = tab.evaluate("document.documentElement.scrollWidth")
        tab.open((tmp_path / "preview.html").as_uri())
        page = tab.evaluate(MEASURE)
        clip_screenshot(tab, shots / f"corpus-{name}.png")
    finally:
        tab.send("Network.setBlockedURLs", {"urls": []})

    marks = {(t.rule, p.offset) for t in result.traces for p in t.paragraphs}
    counted = {p.offset for t in result.traces for p in t.paragraphs if p.number is not None}
    assert page["counted"] == len(counted), "every counted paragraph is a marked element in the DOM"
    assert page["counted"] + page["out"] == len({offset for _, offset in marks})
    assert len(page["units"]) == len(result.insertions) > 0
    check_labels(page, name)
    assert page["scrollWidth"] <= max(width_before, page["viewport"]["width"]), "no sideways scrolling added"
