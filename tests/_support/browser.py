"""Headless Chromium for the browser tests, driven over the DevTools protocol.

Chromium is started with `--remote-debugging-pipe`: the DevTools protocol then travels as NUL-terminated
JSON over two pipes (commands on the browser's fd 3, replies and events on its fd 4), which is what
Playwright and Puppeteer use too. That needs no websocket library (none is a dependency) and no port for the
browser, and the protocol gives what the tests need: console messages, uncaught exceptions and failed loads
as events, and the live layout through `Runtime.evaluate`. A tiny Python launcher puts the pipe ends on fds
3 and 4 before exec'ing Chromium, so no `preexec_fn` runs in this (threaded) process.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

TIMEOUT = 30.0
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Puts the two pipe ends it is given on fds 3 and 4 (first moving them out of the way, in case one of them
# already is 3 or 4), then becomes the browser.
LAUNCHER = """
import fcntl, os, sys
cmd_r, res_w = (fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3])
os.dup2(cmd_r, 3)
os.dup2(res_w, 4)
os.closerange(5, 4096)
os.execv(sys.argv[3], sys.argv[3:])
"""

# The layout of every unit on the page, measured by the browser.
MEASURE_UNITS = """
(() => {
  const visible = (el) => {
    const style = getComputedStyle(el);
    const rect = el.getBoundingClientRect();
    return style.display !== "none" && style.visibility !== "hidden" && Number(style.opacity) > 0
      && el.getClientRects().length > 0 && rect.width > 0 && rect.height > 0;
  };
  const measure = (el) => {
    const rect = el.getBoundingClientRect();
    const label = el.querySelector(".ad-slot__label");
    return {
      id: el.id,
      cls: el.className,
      parent: el.parentElement.className,
      top: rect.top + window.scrollY,
      width: rect.width,
      height: rect.height,
      visible: visible(el),
      inLayout: el.offsetParent !== null,
      label: label ? label.innerText : null,
      labelVisible: label ? visible(label) : false,
      labelInside: label ? (() => {
        const l = label.getBoundingClientRect();
        return l.top >= rect.top && l.bottom <= rect.bottom && l.left >= rect.left && l.right <= rect.right;
      })() : false,
      text: el.innerText,
    };
  };
  const body = document.querySelector("article .article-body");
  return {
    slots: Array.from(document.querySelectorAll(".ad-slot")).map(measure),
    related: Array.from(document.querySelectorAll(".recirc")).map(measure),
    storyText: document.querySelector("article").innerText,
    bodyWidth: body ? body.getBoundingClientRect().width : 0,
    scrollWidth: document.documentElement.scrollWidth,
    viewportWidth: window.innerWidth,
  };
})()
"""


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


class DevTools:
    """A minimal DevTools protocol client over Chromium's --remote-debugging-pipe."""

    def __init__(self, chromium: str, user_data_dir: Path, *, width: int = 1280, height: int = 900) -> None:
        cmd_r, cmd_w = os.pipe()  # we write commands, the browser reads fd 3
        res_r, res_w = os.pipe()  # the browser writes fd 4, we read replies and events
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            "--mute-audio",
            f"--window-size={width},{height}",
            f"--user-data-dir={user_data_dir}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.log = user_data_dir / "chromium.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", LAUNCHER, str(cmd_r), str(res_w), chromium, *flags],
                pass_fds=(cmd_r, res_w),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        os.close(cmd_r)
        os.close(res_w)
        self._out = cmd_w
        self._in = res_r
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="cdp-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._in, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._closed = True
                    self._cond.notify_all()
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._cond:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self.events.append(message)
                self._cond.notify_all()

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        with self._cond:
            self._next_id += 1
            call_id = self._next_id
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        with self._cond:
            while call_id not in self._replies:
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    raise RuntimeError(f"no reply to {method} from Chromium; its log:\n{self._log_tail()}")
                self._cond.wait(remaining)
            reply = self._replies.pop(call_id)
        if "error" in reply:
            raise RuntimeError(f"{method} failed: {reply['error']}")
        return reply.get("result", {})

    def wait_for(self, method: str, session: str, after: int) -> dict[str, Any]:
        """The first event `method` of `session` among the events numbered `after` and later."""
        deadline = time.monotonic() + TIMEOUT
        with self._cond:
            while True:
                for event in self.events[after:]:
                    if event.get("method") == method and event.get("sessionId") == session:
                        return event
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    raise RuntimeError(f"no {method} event from Chromium; its log:\n{self._log_tail()}")
                self._cond.wait(remaining)

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-3000:]
        return ""

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.proc.poll() is None:
                os.write(self._out, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self._out)
        self._reader.join(timeout=5)
        os.close(self._in)


class Tab:
    """One page target, attached with a flat session; records the console and errors of each load."""

    def __init__(self, devtools: DevTools) -> None:
        self.devtools = devtools
        target = devtools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = devtools.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Network.setCacheDisabled", {"cacheDisabled": True})

    def send(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return self.devtools.send(method, params, self.session)

    def open(self, url: str) -> list[dict[str, Any]]:
        """Load `url` and wait for its load event; returns the page's events during the load."""
        start = len(self.devtools.events)
        result = self.send("Page.navigate", {"url": url})
        assert not result.get("errorText"), f"{url}: {result.get('errorText')}"
        self.devtools.wait_for("Page.loadEventFired", self.session, start)
        self.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
        return [e for e in self.devtools.events[start:] if e.get("sessionId") == self.session]

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.write_bytes(base64.b64decode(data))


def console_errors(events: list[dict[str, Any]]) -> list[str]:
    """Console errors, uncaught exceptions and failed loads (a 404 favicon, a blocked script) of a page."""
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(
                "console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
            )
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append(
                "exception: " + details.get("exception", {}).get("description", details.get("text", ""))
            )
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            errors.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".strip())
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            errors.append(f"network: {params.get('errorText')} ({params.get('type')})")
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
            errors.append(f"network: HTTP {params['response']['status']} for {params['response']['url']}")
    return errors


@contextlib.contextmanager
def open_tab(chromium: str, profile: Path, *, height: int = 900) -> Iterator[Tab]:
    """A headless Chromium with one tab, closed afterwards (the browser test modules each keep one)."""
    devtools = DevTools(chromium, profile, height=height)
    try:
        yield Tab(devtools)
    finally:
        devtools.close()


def screenshot_folder(variable: str, factory: pytest.TempPathFactory, name: str) -> Path:
    """The folder the environment variable names (created if need be), else a fresh temporary one."""
    wanted = os.environ.get(variable)
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        return Path(wanted)
    return factory.mktemp(name)


def check_units(page: dict[str, Any], where: str) -> None:
    assert page["slots"], f"{where}: no ad slot"
    for slot in page["slots"]:
        assert slot["visible"] and slot["inLayout"], f"{where}: slot {slot['id']} is not shown: {slot}"
        assert slot["height"] >= 250, f"{where}: slot {slot['id']} is {slot['height']}px high: {slot}"
        assert slot["width"] >= 300, f"{where}: slot {slot['id']} is {slot['width']}px wide: {slot}"
        assert slot["parent"] == "article-body", f"{where}: slot {slot['id']} is not in the article body"
        assert slot["label"] == "Advertisement", f"{where}: slot {slot['id']} label: {slot['label']!r}"
        assert slot["labelVisible"] and slot["labelInside"], f"{where}: slot {slot['id']} label not shown"
    assert len({slot["id"] for slot in page["slots"]}) == len(page["slots"]), f"{where}: duplicate slot ids"
    tops = [slot["top"] for slot in page["slots"]]
    assert tops == sorted(tops)
    for box in page["related"]:
        assert box["visible"] and box["inLayout"] and box["height"] > 0, f"{where}: related box not shown"
        assert "Other Topics of Interest" in box["text"]
    assert page["scrollWidth"] <= page["viewportWidth"], f"{where}: the page scrolls sideways"
