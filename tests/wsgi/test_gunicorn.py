"""The WSGI middleware under a real gunicorn with sync workers (subprocesses on a free loopback port).

What only a real server shows: the headers a sync worker writes from our start_response (Content-Length,
no chunking), HEAD and 304 on the wire, write() apps, close() of the app's body once even when the client
goes away mid-body, both workers serving units, the Flask and Django examples as documented, and a worker
that does not boot on invalid rules.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._support import processes
from tests._support.http_testkit import page, write_rules
from tests._support.processes import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PAGE = page()

APPS = """
import os, time
from pathlib import Path
from adinject import AdInjectWSGIMiddleware

PAGE = Path(os.environ["TEST_PAGE"]).read_bytes()
CLOSES = Path(os.environ["TEST_CLOSES"])
HTML = [("Content-Type", "text/html; charset=utf-8")]


class Body:
    def __init__(self, chunks, name):
        self.chunks, self.name = chunks, name

    def __iter__(self):
        for chunk in self.chunks:
            yield chunk

    def close(self):
        with CLOSES.open("a") as f:
            f.write(self.name + "\\n")


def inner(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/news/written":
        write = start_response("200 OK", HTML)
        for at in range(0, len(PAGE), 100):
            write(PAGE[at : at + 100])
        return []
    if path == "/files/big":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return Body((b"x" * 65536 for _ in range(2000)), "big")
    etag = [("ETag", '"v1"'), ("Content-Length", str(len(PAGE)))]
    start_response("200 OK", HTML + etag)
    return Body([PAGE[: len(PAGE) // 2], PAGE[len(PAGE) // 2 :]], path)


app = AdInjectWSGIMiddleware(inner, rules=os.environ["TEST_RULES"])
"""


def gunicorn(
    target: str, cwd: Path, env: dict[str, str], workers: int = 2, *extra: str
) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "gunicorn", "-k", "sync", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    cmd += ["--graceful-timeout", "2", *extra, target]
    full_env = {**os.environ, "PYTHONPATH": f"{cwd}{os.pathsep}{ROOT}", **env}
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(proc: subprocess.Popen[str], url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"gunicorn exited with {proc.returncode}:\n{proc.stdout.read() if proc.stdout else ''}"
            )
        try:
            httpx.get(url + "/health", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("gunicorn did not start")


def stop(proc: subprocess.Popen[str]) -> str:
    """Stop gunicorn and return what it printed."""
    processes.stop(proc)
    return proc.stdout.read() if proc.stdout else ""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("gunicorn")
    (folder / "wsgiapps.py").write_text(APPS, encoding="utf-8")
    (folder / "page.html").write_bytes(PAGE)
    closes = folder / "closes.txt"
    env = {
        "TEST_PAGE": str(folder / "page.html"),
        "TEST_CLOSES": str(closes),
        "TEST_RULES": str(write_rules(folder / "rules")),
    }
    proc, url = gunicorn("wsgiapps:app", folder, env)
    try:
        wait_ready(proc, url)
        yield url, closes
    finally:
        stop(proc)


def test_pages_get_units_from_every_sync_worker(served: tuple[str, Path]) -> None:
    url, _ = served
    for _ in range(12):
        # A new connection each time (sync workers close it): the requests spread over both workers.
        response = httpx.get(url + "/news/story", headers={"Connection": "close"})
        assert response.status_code == 200
        assert response.content.count(b'class="ad-slot"') == 1
        assert response.headers["content-length"] == str(len(response.content))
        assert "transfer-encoding" not in response.headers
        assert response.headers["etag"].startswith('W/"v1-')


def test_write_callable_app_under_gunicorn(served: tuple[str, Path]) -> None:
    url, _ = served
    response = httpx.get(url + "/news/written")
    assert response.content.count(b'class="ad-slot"') == 1
    assert response.headers["content-length"] == str(len(response.content))


def test_conditional_get_and_head_on_the_wire(served: tuple[str, Path]) -> None:
    url, _ = served
    first = httpx.get(url + "/news/cond")
    again = httpx.get(url + "/news/cond", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    head = httpx.head(url + "/news/cond")
    assert head.status_code == 200 and head.headers["content-length"] == first.headers["content-length"]


def test_close_is_called_once_per_response_also_when_the_client_leaves(served: tuple[str, Path]) -> None:
    url, closes = served
    httpx.get(url + "/news/one")
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as sock:
        sock.sendall(b"GET /files/big HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "big" not in closes.read_text():
        time.sleep(0.1)
    lines = closes.read_text().splitlines()
    assert lines.count("/news/one") == 1
    assert lines.count("big") == 1


def test_invalid_rules_keep_the_worker_from_booting(tmp_path: Path) -> None:
    (tmp_path / "wsgiapps.py").write_text(APPS, encoding="utf-8")
    (tmp_path / "page.html").write_bytes(PAGE)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.yaml").write_text("rules:\n  - name: x\n    place: [{unit: nowhere, after_paragraph: 1}]\n")
    env = {
        "TEST_PAGE": str(tmp_path / "page.html"),
        "TEST_CLOSES": str(tmp_path / "c"),
        "TEST_RULES": str(rules),
    }
    proc, _ = gunicorn("wsgiapps:app", tmp_path, env, workers=1)
    try:
        proc.wait(timeout=60)
    finally:
        output = stop(proc)
    assert proc.returncode != 0
    assert "bad.yaml" in output and "nowhere" in output


@pytest.mark.parametrize("target", ["examples.wsgi.flask_app:app", "examples.wsgi.django_app:application"])
def test_the_examples_under_gunicorn(target: str, tmp_path: Path) -> None:
    proc, url = gunicorn(target, ROOT, {})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(url + "/news/big-story", headers={"Accept-Encoding": "gzip"}, timeout=5)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, stop(proc)
                time.sleep(0.1)
    finally:
        stop(proc)
    body = response.content  # httpx undoes the gzip Django's GZipMiddleware applied
    assert response.status_code == 200
    assert body.count(b'class="ad-slot"') == 2
    assert b"More on big-story" in body  # the related box, from environ["adinject.context"]
    if "django" in target:
        # Django's GZipMiddleware compressed the page; adinject decoded it, placed the units, encoded again.
        assert response.headers["content-encoding"] == "gzip"
        assert int(response.headers["content-length"]) == response.num_bytes_downloaded


def test_a_rules_change_reaches_every_preloaded_worker(tmp_path: Path) -> None:
    """With --preload the middleware is built in the master; each forked worker watches the folder itself."""
    (tmp_path / "wsgiapps.py").write_text(APPS, encoding="utf-8")
    (tmp_path / "page.html").write_bytes(PAGE)
    rules = write_rules(tmp_path / "rules")
    env = {
        "TEST_PAGE": str(tmp_path / "page.html"),
        "TEST_CLOSES": str(tmp_path / "c"),
        "TEST_RULES": str(rules),
    }
    proc, url = gunicorn("wsgiapps:app", tmp_path, env, 2, "--preload")
    try:
        wait_ready(proc, url)
        for _ in range(6):
            assert (
                b"<p>Advertisement</p>" in httpx.get(url + "/news/a", headers={"Connection": "close"}).content
            )
        write_rules(rules, unit='<div class="ad-slot" id="{{ slot.id }}"><p>Changed</p></div>')
        deadline = time.monotonic() + 20
        seen: list[bool] = []
        while time.monotonic() < deadline:
            seen.append(
                b"<p>Changed</p>" in httpx.get(url + "/news/a", headers={"Connection": "close"}).content
            )
            if seen[-8:] == [True] * 8:
                break
            time.sleep(0.1)
        assert seen[-8:] == [True] * 8, seen
    finally:
        stop(proc)
