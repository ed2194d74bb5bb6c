"""Fixtures for the proxy tests: the origin (tests/proxy/origin.py under uvicorn) and `adinject proxy`
processes in front of it, each in a process of its own on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests._support.paths import REPO

pytestmark = pytest.mark.slow

RULES = """\
units:
  ad:
    html: '<div class="ad-slot" id="{{ slot.id }}"><p>Advertisement</p></div>'
  related:
    html: '{% if context.section %}<aside class="ctx">{{ context.section }}/{{ context.source }}</aside>{% endif %}'
rules:
  - name: r
    pages: {paths: ["/news/**"]}
    container: article
    paragraphs: p
    min_paragraph_words: 1
    min_paragraphs: 1
    place:
      - unit: ad
        after_paragraph: 1
      - unit: related
        after_paragraph: 2
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with status {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Proxy:
    def __init__(self, proc: subprocess.Popen[bytes], url: str) -> None:
        self.proc = proc
        self.url = url

    def rss_kb(self, field: str = "VmRSS") -> int:
        """The proxy process's resident memory (or its high-water mark, `VmHWM`), in kB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.proc.pid}/status")


@pytest.fixture(scope="session")
def origin() -> Iterator[str]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "tests.proxy.origin:app",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen([*cmd, "--lifespan", "off"], cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/-/log", proc)
        yield url
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("proxy-rules")
    (folder / "rules.yaml").write_text(RULES, encoding="utf-8")
    return folder


ProxyFactory = Callable[..., Proxy]


@pytest.fixture(scope="session")
def start_proxy(rules_dir: Path) -> Iterator[ProxyFactory]:
    """Start `python -m adinject.proxy --upstream UPSTREAM --rules <test rules> *args` (stopped at the end)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(upstream: str, *args: str, rules: Path = rules_dir) -> Proxy:
        port = free_port()
        cmd = [sys.executable, "-m", "adinject.proxy", "--upstream", upstream, "--rules", str(rules)]
        proc = subprocess.Popen([*cmd, "--port", str(port), "--no-reload", *args], cwd=REPO)
        started.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/-/healthz", proc)
        return Proxy(proc, url)

    try:
        yield start
    finally:
        for proc in started:
            stop(proc)


@pytest.fixture(scope="session")
def proxy(origin: str, start_proxy: ProxyFactory) -> Proxy:
    """The proxy with its defaults in front of the origin."""
    return start_proxy(origin)
