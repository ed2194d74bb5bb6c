"""The server set-up the README shows: `examples/logging.json` under uvicorn and gunicorn, and
`examples/gunicorn.conf.py` (logs, and prometheus-client's multiprocess bookkeeping). Real servers in
subprocesses: what they print and what they do with a dead worker is the point.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from adinject.engine import load_rules
from adinject.metrics import FleetCollector
from tests._support import processes
from tests._support.http_testkit import UNIT_HTML, write_rules
from tests._support.servers import live_gauge_pids, wait_for

REPO = Path(__file__).resolve().parents[2]
LOG_CONFIG = REPO / "examples" / "logging.json"
GUNICORN_CONF = REPO / "examples" / "gunicorn.conf.py"

ASGI_APP = """\
from starlette.applications import Starlette
from adinject import AdInjectMiddleware
app = AdInjectMiddleware(Starlette(), rules={folder!r})
"""
# A WSGI app that keeps a rules folder live as the middleware does (`ensure_watching` on every request), here
# also watching from import on: what gunicorn's sync workers run.
WSGI_APP = """\
import os
from adinject import LiveRules
live = LiveRules({folder!r})
if {watch_at_import}:
    live.start()

def app(environ, start_response):
    live.ensure_watching()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
"""
# asctime, the process, the level, then the message: "2026-12-05 01:02:03,456 [123] INFO adinject: ..."
STAMP = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[\d+\] "
TIMED = STAMP + "INFO adinject: "


def lines(log: Path, pattern: str) -> list[str]:
    return re.findall(pattern + ".*$", log.read_text(), re.M)


def run(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)


def stop(server: subprocess.Popen[bytes]) -> None:
    processes.stop(server, timeout=30)  # gunicorn's graceful shutdown may take its workers' time


@pytest.mark.slow
def test_uvicorn_with_the_shipped_log_config_prints_loads_and_reloads(tmp_path: Path) -> None:
    folder = write_rules(tmp_path / "rules")
    (tmp_path / "logapp.py").write_text(ASGI_APP.format(folder=str(folder)))
    log = tmp_path / "uvicorn.log"
    argv = [sys.executable, "-m", "uvicorn", "logapp:app", "--app-dir", str(tmp_path)]
    server = run([*argv, "--uds", str(tmp_path / "s"), "--log-config", str(LOG_CONFIG)], log)
    try:
        wait_for("the rules to load", lambda: bool(lines(log, TIMED + r"rules \w+ loaded from ")))
        write_rules(folder, unit=UNIT_HTML.replace("Advertisement", "Anzeige"))
        wait_for("the reload line", lambda: bool(lines(log, TIMED + "rules reloaded from ")))
    finally:
        stop(server)
    assert lines(log, STAMP + "INFO Application startup complete"), "uvicorn's own lines keep the same form"


@pytest.mark.slow
def test_gunicorn_conf_logs_and_forgets_a_dead_workers_live_gauges(tmp_path: Path) -> None:
    pytest.importorskip("gunicorn", reason="gunicorn is not installed (pip install gunicorn)")
    folder = write_rules(tmp_path / "rules")
    (tmp_path / "wsgiapp.py").write_text(WSGI_APP.format(folder=str(folder), watch_at_import=True))
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    (multiproc / "counter_1.db").write_bytes(b"left by an earlier run")
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    sock = tmp_path / "g.sock"
    log = tmp_path / "gunicorn.log"
    argv = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "--chdir", str(tmp_path)]
    server = run([*argv, "--workers", "2", "--bind", f"unix:{sock}", "wsgiapp:app"], log, env)

    try:
        wait_for("two workers", lambda: len(live_gauge_pids(multiproc)) == 2)
        assert not (multiproc / "counter_1.db").exists(), "on_starting empties the folder"
        assert len(lines(log, TIMED + r"rules \w+ loaded from ")) == 2, log.read_text()
        write_rules(folder, unit=UNIT_HTML.replace("Advertisement", "Anzeige"))
        wait_for("both workers' reload lines", lambda: len(lines(log, TIMED + "rules reloaded from ")) == 2)
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://g") as client:
            dead = int(client.get("/").text)
        os.kill(dead, signal.SIGKILL)
        # child_exit: gone without any scrape, and a new worker has its own.
        wait_for(
            "the dead worker's gauges to go",
            lambda: dead not in live_gauge_pids(multiproc) and len(live_gauge_pids(multiproc)) == 2,
        )
    finally:
        stop(server)
    assert lines(log, STAMP + "INFO Booting worker"), "gunicorn's own lines"


@pytest.mark.slow
def test_gunicorn_preload_workers_show_the_live_version(tmp_path: Path) -> None:
    """With --preload the rules load in the master before the workers fork; on_starting drops what the master
    wrote, and each worker reports the live version itself (prometheus-client gives it files of its own)."""
    pytest.importorskip("gunicorn", reason="gunicorn is not installed (pip install gunicorn)")
    folder = write_rules(tmp_path / "rules")
    (tmp_path / "wsgiapp.py").write_text(WSGI_APP.format(folder=str(folder), watch_at_import=False))
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    sock = tmp_path / "g.sock"
    argv = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "--chdir", str(tmp_path), "--preload"]
    server = run([*argv, "--workers", "1", "--bind", f"unix:{sock}", "wsgiapp:app"], tmp_path / "g.log", env)
    registry = CollectorRegistry()
    registry.register(FleetCollector(str(multiproc)))

    def live_versions() -> dict[str, float]:
        return {
            s.labels["version"]: s.value
            for m in registry.collect()
            if m.name == "adinject_rules_info"
            for s in m.samples
        }

    try:
        wait_for("the socket", sock.exists)
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://g") as client:
            assert client.get("/").status_code == 200
        wait_for("the worker's version", lambda: live_versions() == {load_rules(folder).version: 1.0})
        write_rules(folder, unit=UNIT_HTML.replace("Advertisement", "Anzeige"))
        new = load_rules(folder).version
        wait_for("the new version alone", lambda: live_versions() == {new: 1.0})
    finally:
        stop(server)


def test_the_demo_serves_with_the_shipped_log_config(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from examples.newsroom import __main__ as entry

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    entry.main()
    assert Path(str(seen["log_config"])) == LOG_CONFIG
