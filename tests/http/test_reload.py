"""Changing the rules folder under load, behind a real uvicorn: no failed request, no mixed response.

Clients request an article in a loop while the folder is rewritten valid -> invalid -> valid several times.
Every version's unit markup carries its version marker, each page gets three units, and each version puts
them after different paragraphs: a response built from two versions would show two markers, or one
version's markup where the other version places it. Invalid versions carry markers too: seeing one would
mean a broken folder went live. The reload delay (file written -> first response with the new rules) is
measured and printed (`pytest -s` shows it); the only time limit asserted is a generous timeout.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from adinject.http import AdInjectMiddleware

Serve = Callable[[ASGIApp], httpx.Client]
CLIENTS = 3
VERSIONS = 4
TIMEOUT = 10.0

ARTICLE = (
    "<!doctype html><html><head><meta charset=utf-8><title>Story</title></head><body><article>"
    + "".join(f"<p>Paragraph {n} of the story, with café and crème.</p>" for n in range(1, 7))
    + "</article></body></html>"
).encode()

RULES = """\
units:
  ad:
    html: '<div class="ad" data-v="{marker}" id="{{{{ slot.id }}}}">Advertisement</div>'
rules:
  - name: news
    pages: {{paths: ["/news/**"]}}
    container: article
    place:
      - unit: ad
        after_paragraph: {positions}
"""
# Invalid in different ways, each with a marker that must never be seen.
BROKEN = [
    RULES.replace("after_paragraph", "after_paragraf"),  # an unknown key
    RULES.replace("unit: ad", "unit: advert"),  # a unit that does not exist
    RULES + "  - name: [unclosed\n",  # bad YAML
    RULES.replace("{{{{ slot.id }}}}", "{{{{ slot.id "),  # a template that does not compile
]
UNIT = re.compile(rb'<div class="ad" data-v="([^"]*)" id="adinject-ad-\d">Advertisement</div>')


def positions(marker: str) -> list[int]:
    """The paragraphs version `marker` places its units after: odd versions 1, 3, 5; even ones 2, 4, 6."""
    return [1, 3, 5] if int(re.sub(r"\D", "", marker)) % 2 else [2, 4, 6]


def version(marker: str) -> str:
    return RULES.format(marker=marker, positions=positions(marker))


def replace(path: Path, text: str) -> None:
    """Write a file the way editors and `git checkout` do: a new file renamed over the old one."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Traffic:
    """Clients requesting in a loop; records every response's markers and the first time each was seen."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.first_seen: dict[str, float] = {}
        self.responses = 0
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(CLIENTS)]

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=TIMEOUT) as client:
            while not self.stop.is_set():
                try:
                    response = client.get(f"/news/story-{n}")
                except httpx.HTTPError as exc:
                    self._fail(f"request failed: {exc!r}")
                    continue
                now = time.perf_counter()
                self._check(response, now)

    def _check(self, response: httpx.Response, now: float) -> None:
        body = response.content
        markers = [m.decode() for m in UNIT.findall(body)]
        with self.lock:
            self.responses += 1
            if response.status_code != 200:
                self._fail(f"HTTP {response.status_code}")
            elif len(markers) != 3 or len(set(markers)) != 1:
                self._fail(f"units from several versions, or not three: {markers}")
            elif [body.count(b"</p>", 0, m.start()) for m in UNIT.finditer(body)] != positions(markers[0]):
                self._fail(f"{markers[0]}'s units where another version places them")
            elif UNIT.sub(b"", body) != ARTICLE:
                self._fail("the page around the units changed")
            elif response.headers.get("content-length") != str(len(body)):
                self._fail("wrong Content-Length")
            else:
                self.first_seen.setdefault(markers[0], now)

    def _fail(self, what: str) -> None:
        if len(self.failures) < 20:
            self.failures.append(what)

    def wait_for(self, marker: str) -> float:
        deadline = time.perf_counter() + TIMEOUT
        while time.perf_counter() < deadline:
            with self.lock:
                if marker in self.first_seen:
                    return self.first_seen[marker]
            time.sleep(0.005)
        pytest.fail(f"version {marker} was not served within {TIMEOUT} s")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["watchfiles", "poll"])
def test_rewriting_the_rules_under_load(
    serve: Serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.delenv("ADINJECT_OFF", raising=False)
    monkeypatch.setenv("ADINJECT_RELOAD", "poll" if mode == "poll" else "auto")
    folder = tmp_path / "rules"
    folder.mkdir()
    rules_file = folder / "news.yaml"
    replace(rules_file, version("v0"))

    async def story(request: Request) -> HTMLResponse:
        # The middleware takes its rules when the request comes in and uses them when the body is complete:
        # a slow app keeps requests in flight across every swap, where a mix of versions would show.
        await asyncio.sleep(0.01)
        return HTMLResponse(ARTICLE)

    middleware = AdInjectMiddleware(Starlette(routes=[Route("/news/{slug}", story)]), rules=folder)
    client = serve(middleware)
    assert UNIT.findall(client.get("/news/first").content) == [b"v0"] * 3  # starts the watcher too

    traffic = Traffic(str(client.base_url))
    for thread in traffic.threads:
        thread.start()
    delays: list[float] = []
    try:
        traffic.wait_for("v0")
        for n in range(1, VERSIONS + 1):
            written = time.perf_counter()
            replace(rules_file, version(f"v{n}"))
            delays.append(traffic.wait_for(f"v{n}") - written)
            replace(
                rules_file,
                BROKEN[n % len(BROKEN)].format(marker=f"broken{n}", positions=positions(f"v{n + 1}")),
            )
            # Keep the load on the broken folder for a while: it must keep serving v{n}.
            time.sleep(0.6)
            with traffic.lock:
                before = traffic.responses
            time.sleep(0.2)
            with traffic.lock:
                assert traffic.responses > before, "traffic stopped"
    finally:
        traffic.stop.set()
        for thread in traffic.threads:
            thread.join(TIMEOUT)
        middleware.close()

    print(
        f"\n{mode}: {traffic.responses} responses; reload delay "
        + ", ".join(f"{d * 1000:.0f} ms" for d in delays)
        + f" (max {max(delays) * 1000:.0f} ms)"
    )
    assert traffic.failures == []
    assert not any(m.startswith("broken") for m in traffic.first_seen), traffic.first_seen
    assert sorted(traffic.first_seen) == [f"v{n}" for n in range(VERSIONS + 1)]
    assert middleware.failures == 0
