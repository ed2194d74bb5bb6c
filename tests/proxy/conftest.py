"""Fixtures for the proxy tests: the origin (tests/proxy/origin.py under uvicorn) and `adinject proxy`
processes in front of it, each in a process of its own on a free loopback port."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests._support.http_testkit import RULES_YAML, UNIT_HTML
from tests._support.paths import REPO
from tests._support.processes import free_port, running, stop, wait_for

pytestmark = pytest.mark.slow

# The HTTP tests' rule (an ad after paragraph 1 of <article> on /news/**), plus a unit that reads `context`.
RELATED = """\
  related:
    html: '{% if context.section %}<aside class="ctx">{{ context.section }}/{{ context.source }}</aside>{% endif %}'
"""
RULES = RULES_YAML.format(unit=UNIT_HTML).replace("rules:\n", RELATED + "rules:\n") + (
    "      - unit: related\n        after_paragraph: 2\n"
)


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
        "--lifespan",
        "off",
    ]
    url = f"http://127.0.0.1:{port}"
    with running([*cmd, "--log-level", "warning"], url + "/-/log", cwd=REPO):
        yield url


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
