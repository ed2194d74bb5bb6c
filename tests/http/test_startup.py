"""Start-up with invalid rules (issue 11): the app does not start, and nothing answers 500 because of rules.

The middleware records invalid rules instead of raising (Starlette builds middleware lazily, on the first ASGI
call, where a raise made uvicorn call lifespan "unsupported" and every request a 500) and fails the lifespan
start-up itself, whether or not the app speaks lifespan. Without a lifespan (`--lifespan off`) the app's
responses pass through untouched. The servers here are real uvicorns in subprocesses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from adinject.http import AdInjectMiddleware
from adinject.metrics import Metrics
from adinject.reload import Inactive

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60

GOOD = """\
units:
  ad:
    html: '<div class="ad">Advertisement</div>'
rules:
  - name: news
    pages: {paths: ["/news/**"]}
    container: article
    place:
      - unit: ad
        after_paragraph: 1
"""
BROKEN = GOOD.replace("unit: ad", "unit: nope")
PAGE = (
    b"<!doctype html><html><body><article><p>One two three.</p><p>Four five six.</p></article></body></html>"
)


def rules_folder(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "news.yaml").write_text(text)
    return folder


# ---- the lifespan protocol, in process


class Lifespan:
    """Drive one lifespan: startup (and shutdown once started); what the app under test sent, in order."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def run(self, app: Any) -> list[str]:
        async def receive() -> dict[str, Any]:
            return await self.queue.get()

        async def send(message: dict[str, Any]) -> None:
            self.sent.append(message)
            if message["type"] == "lifespan.startup.complete":
                await self.queue.put({"type": "lifespan.shutdown"})

        await self.queue.put({"type": "lifespan.startup"})
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        try:
            await asyncio.wait_for(app(scope, receive, send), 5)
        except Exception as exc:
            self.sent.append({"type": f"raised {type(exc).__name__}"})
        return [m["type"] for m in self.sent]


async def _django_like(scope: Any, receive: Any, send: Any) -> None:
    """An app that does not speak lifespan: Django's ASGIHandler raises for any scope but http."""
    if scope["type"] != "http":
        raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
    await send({"type": "http.response.body", "body": PAGE})


def _starlette() -> Starlette:
    return Starlette(routes=[Route("/news/a", lambda request: HTMLResponse(PAGE))])


@pytest.mark.parametrize("inner", ["starlette", "raw"])
def test_invalid_rules_fail_the_lifespan_start_up_with_the_problems(tmp_path: Path, inner: str) -> None:
    app = AdInjectMiddleware(
        _starlette() if inner == "starlette" else _django_like,
        rules=rules_folder(tmp_path, BROKEN),
        reload=False,
        metrics=False,
    )
    lifespan = Lifespan()
    assert asyncio.run(lifespan.run(app)) == ["lifespan.startup.failed"]
    assert isinstance(app.rules, Inactive) and app.rules.code == "no_rules"
    message = lifespan.sent[0]["message"]
    assert "news.yaml:9:9: rules[0].place[0].unit: there is no unit named 'nope'" in message
    assert "not starting" in message


def test_valid_rules_pass_the_lifespan_to_the_app(tmp_path: Path) -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("up")
        yield
        events.append("down")

    inner = Starlette(lifespan=lifespan)
    app = AdInjectMiddleware(inner, rules=rules_folder(tmp_path, GOOD), reload=False, metrics=False)
    assert asyncio.run(Lifespan().run(app)) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == ["up", "down"]


def test_an_app_without_lifespan_behaves_as_without_adinject(tmp_path: Path) -> None:
    """Valid rules: the lifespan is the app's, so the server sees what it would see without adinject (uvicorn
    then says "ASGI 'lifespan' protocol appears unsupported" and serves)."""
    app = AdInjectMiddleware(_django_like, rules=rules_folder(tmp_path, GOOD), reload=False, metrics=False)
    assert (
        asyncio.run(Lifespan().run(app)) == asyncio.run(Lifespan().run(_django_like)) == ["raised ValueError"]
    )


def test_allowed_invalid_rules_start_without_units(tmp_path: Path) -> None:
    metrics = Metrics(CollectorRegistry())
    folder = rules_folder(tmp_path, BROKEN)
    app = AdInjectMiddleware(
        _starlette(), rules=folder, reload=False, metrics=metrics, allow_invalid_rules_at_startup=True
    )
    assert app.startup_error is None
    sample = metrics.registry.get_sample_value
    assert sample("adinject_rules_reload_failures_total", {"folder": str(folder)}) == 1
    assert sample("adinject_rules_info", {"folder": str(folder), "version": "no_rules:none"}) == 1
    assert asyncio.run(Lifespan().run(app)) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_rules_fixed_before_the_lifespan_starts_go_live(tmp_path: Path) -> None:
    folder = rules_folder(tmp_path, BROKEN)
    app = AdInjectMiddleware(_starlette(), rules=folder, reload=False, metrics=False)
    (folder / "news.yaml").write_text(GOOD)
    assert app.live is not None and app.live.check()
    assert asyncio.run(Lifespan().run(app)) == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


# ---- real uvicorn


def _run(tmp_path: Path, app_source: str, *args: str) -> subprocess.Popen[str]:
    script = tmp_path / "serve.py"
    script.write_text(textwrap.dedent(app_source))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ADINJECT_RELOAD": "off"}
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "serve:app", "--app-dir", str(tmp_path), *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


STARLETTE_APP = """\
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route
from adinject import AdInjectMiddleware

PAGE = {page!r}
app = Starlette(routes=[Route("/news/a", lambda r: HTMLResponse(PAGE)),
                        Route("/metrics", lambda r: PlainTextResponse("metrics"))])
app.add_middleware(AdInjectMiddleware, rules={folder!r})
"""

RAW_APP = """\
from adinject import AdInjectMiddleware

PAGE = {page!r}

async def django_like(scope, receive, send):
    if scope["type"] != "http":
        raise ValueError("Django can only handle ASGI/HTTP connections, not " + scope["type"] + ".")
    await send({{"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]}})
    await send({{"type": "http.response.body", "body": PAGE}})

app = AdInjectMiddleware(django_like, rules={folder!r})
"""


@pytest.mark.slow
@pytest.mark.parametrize("source", [STARLETTE_APP, RAW_APP], ids=["starlette-add_middleware", "raw-app"])
def test_uvicorn_exits_on_invalid_rules(tmp_path: Path, source: str) -> None:
    """uvicorn's default lifespan ("auto"): the app does not start, and its output names every problem."""
    folder = rules_folder(tmp_path, BROKEN)
    server = _run(tmp_path, source.format(page=PAGE, folder=str(folder)), "--port", "0")
    try:
        output, _ = server.communicate(timeout=TIMEOUT)
    finally:
        server.kill()
    assert server.returncode != 0, output
    assert "news.yaml:9:9: rules[0].place[0].unit: there is no unit named 'nope'" in output
    assert "lifespan.startup.failed" not in output and "Application startup failed" in output
    assert "Traceback" not in output


@pytest.fixture
def lifespan_off(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    folder = rules_folder(tmp_path, BROKEN)
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = _run(
        tmp_path,
        STARLETTE_APP.format(page=PAGE, folder=str(folder)),
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--log-level",
        "info",
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + TIMEOUT
    while True:
        assert server.poll() is None, server.communicate()[0]
        try:
            httpx.get(url + "/metrics", timeout=1)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.1)
    try:
        yield url, server
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.slow
def test_without_a_lifespan_invalid_rules_leave_every_response_untouched(
    lifespan_off: tuple[str, subprocess.Popen[str]],
) -> None:
    url, server = lifespan_off
    for _ in range(3):
        page = httpx.get(url + "/news/a", timeout=5)
        assert (page.status_code, page.content) == (200, PAGE)
        metrics = httpx.get(url + "/metrics", timeout=5)
        assert (metrics.status_code, metrics.text) == (200, "metrics")
    assert httpx.get(url + "/nowhere", timeout=5).status_code == 404
    server.terminate()
    output = server.communicate(timeout=10)[0]
    # adinject's logger has no handler of its own here: Python's last resort prints its ERROR records bare.
    errors = [line for line in output.splitlines() if line.startswith(("ERROR", "adinject:"))]
    assert len(errors) == 1, output
    assert "the rules in" in errors[0] and "are invalid" in errors[0] and "no units" in errors[0]
    assert "there is no unit named 'nope'" in output
    assert " 500 " not in output and "Traceback" not in output


# ---- other servers, where installed (not dependencies of adinject: these skip without them)


@pytest.mark.slow
@pytest.mark.parametrize("source", [STARLETTE_APP, RAW_APP], ids=["starlette-add_middleware", "raw-app"])
@pytest.mark.parametrize(
    ("server", "args", "stopped"),
    [
        ("hypercorn", ["-b", "127.0.0.1:0"], "LifespanFailureError"),
        ("granian", ["--interface", "asgi", "--port", "0"], "Unexpected exit from worker"),
    ],
)
def test_other_servers_do_not_serve_invalid_rules(
    tmp_path: Path, source: str, server: str, args: list[str], stopped: str
) -> None:
    pytest.importorskip(server)
    folder = rules_folder(tmp_path, BROKEN)
    (tmp_path / "serve.py").write_text(source.format(page=PAGE, folder=str(folder)))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "ADINJECT_RELOAD": "off"}
    done = subprocess.run(
        [sys.executable, "-m", server, *args, "serve:app"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    output = done.stdout + done.stderr
    assert stopped in output, output
    assert "news.yaml:9:9: rules[0].place[0].unit: there is no unit named 'nope'" in output
