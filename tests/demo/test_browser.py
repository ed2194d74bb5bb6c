"""The demo newsroom in a real browser: headless Chromium, driven over the DevTools protocol.

The demo runs under uvicorn on a free loopback port; tests/_support/browser.py drives Chromium.

Skips, with the reason, when no Chromium is installed. ADINJECT_DEMO_SCREENSHOTS=DIR keeps full-page
screenshots of the pages it visits there (they always go to pytest's tmp_path).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.newsroom import create_app
from examples.newsroom.content import SEED_SLUG, SEED_TEXT, newsroom
from tests._support.browser import (
    MEASURE_UNITS,
    Tab,
    check_units,
    console_errors,
    open_tab,
    screenshot_folder,
)
from tests._support.loopback import serving

pytestmark = pytest.mark.browser

SEED_URL = f"/world/{SEED_SLUG}"


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    """The demo, served by uvicorn on a free loopback port in a background thread."""
    with serving(create_app(), "demo-server") as url:  # TCP_NODELAY: no ~40 ms Nagle delay per response
        yield url


@pytest.fixture(scope="module")
def tab(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tab]:
    with open_tab(chromium, tmp_path_factory.mktemp("chromium-profile")) as opened:
        yield opened


@pytest.fixture(scope="module")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshot_folder("ADINJECT_DEMO_SCREENSHOTS", tmp_path_factory, "screenshots")


def seed_lines() -> list[str]:
    return [line.strip() for line in SEED_TEXT.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_seed_page_in_chromium(tab: Tab, demo_url: str, screenshot_dir: Path) -> None:
    events = tab.open(demo_url + SEED_URL)
    assert console_errors(events) == []
    page = tab.evaluate(MEASURE_UNITS)
    check_units(page, SEED_URL)
    assert len(page["slots"]) == 2
    assert len(page["related"]) == 1
    assert 600 <= page["bodyWidth"] <= 680, "the article column should be a readable ~680px"
    # What a reader sees (innerText: rendered text, after CSS) reads as the seed, line for line.
    expected = seed_lines()
    lines = [line.strip() for line in page["storyText"].splitlines() if line.strip()]
    start = lines.index(expected[0])
    assert lines[start : start + len(expected)] == expected
    tab.screenshot(screenshot_dir / "seed-article.png")


def test_every_article_in_chromium(tab: Tab, demo_url: str, screenshot_dir: Path) -> None:
    for article in newsroom().listed():
        events = tab.open(demo_url + article.url)
        assert console_errors(events) == [], article.url
        check_units(tab.evaluate(MEASURE_UNITS), article.url)


@pytest.mark.parametrize("path", ["/", "/section/world", "/about", "/about/corrections"])
def test_other_pages_in_chromium(tab: Tab, demo_url: str, screenshot_dir: Path, path: str) -> None:
    events = tab.open(demo_url + path)
    assert console_errors(events) == [], path
    page = tab.evaluate(MEASURE_UNITS)
    assert page["slots"] == [] and page["related"] == []
    if path == "/":
        tab.screenshot(screenshot_dir / "front-page.png")


def test_seed_page_on_a_phone(tab: Tab, demo_url: str, screenshot_dir: Path) -> None:
    tab.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )
    try:
        events = tab.open(demo_url + SEED_URL)
        assert console_errors(events) == []
        check_units(tab.evaluate(MEASURE_UNITS), SEED_URL + " (phone)")
        tab.screenshot(screenshot_dir / "seed-article-phone.png")
    finally:
        tab.send("Emulation.clearDeviceMetricsOverride")


def test_highlight_and_ctrl_enter_reports_a_correction(tab: Tab, demo_url: str) -> None:
    """The corrections note's promise: highlight text, press Ctrl + Enter, and the passage is quoted."""
    tab.open(demo_url + SEED_URL)
    passage = tab.evaluate(
        """(() => {
          const p = document.querySelectorAll("article .article-body > p")[7];
          const range = document.createRange();
          range.selectNodeContents(p);
          getSelection().removeAllRanges();
          getSelection().addRange(range);
          return String(getSelection()).trim();
        })()"""
    )
    start = len(tab.devtools.events)
    for kind in ("rawKeyDown", "keyUp"):
        tab.send(
            "Input.dispatchKeyEvent",
            {"type": kind, "modifiers": 2, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13},
        )
    tab.devtools.wait_for("Page.loadEventFired", tab.session, start)
    assert tab.evaluate("location.pathname") == "/about/corrections"
    assert tab.evaluate("document.querySelector('blockquote').innerText.trim()") == passage
    assert passage.startswith("Georgian Interior Minister")
