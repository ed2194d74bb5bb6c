"""Metrics on a fleet of worker processes: prometheus-client's multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`).

After a reload exactly one rules version is live per folder in the aggregate, a reload counts once per
worker, counters add up over workers (dead ones included), and the live-state series of a worker that is
gone disappear. Real `uvicorn --workers 2` in a subprocess; the metrics are written by other processes
because prometheus-client picks its multiprocess storage when it is imported.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from adinject.engine import load_rules
from adinject.metrics import FleetCollector, metrics_app
from tests._support.http_testkit import UNIT_HTML, page, write_rules
from tests._support.servers import live_gauge_pids, wait_for

ARTICLE = page().decode()
APP = """\
import os
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route
from adinject import AdInjectMiddleware, metrics_app

async def story(request):
    return HTMLResponse({article!r})

async def pid(request):
    return PlainTextResponse(str(os.getpid()))

routes = [Route("/news/a", story), Route("/pid", pid), Route("/metrics", metrics_app())]
app = AdInjectMiddleware(Starlette(routes=routes), rules={folder!r})
"""

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def live_versions(scraped: Samples, folder: str) -> dict[str, float]:
    return {
        dict(labels)["version"]: v
        for (name, labels), v in scraped.items()
        if name == "adinject_rules_info" and dict(labels)["folder"] == folder
    }


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[httpx.Client, Path, Path, Path]]:
    """`uvicorn --workers 2` on a Unix socket, with a rules folder and a multiprocess folder."""
    folder = write_rules(tmp_path / "rules")
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    (tmp_path / "fleetapp.py").write_text(APP.format(article=ARTICLE, folder=str(folder)))
    sock = tmp_path / "uvicorn.sock"
    log = tmp_path / "uvicorn.log"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    argv = [sys.executable, "-m", "uvicorn", "fleetapp:app", "--app-dir", str(tmp_path)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*argv, "--workers", "2", "--uds", str(sock)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    client = httpx.Client(transport=httpx.HTTPTransport(uds=str(sock)), base_url="http://fleet", timeout=10)
    try:
        wait_for("two workers", lambda: sock.exists() and len(live_gauge_pids(multiproc)) == 2)
        yield client, folder, multiproc, log
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=30)


def scrape(client: httpx.Client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, "the documented Route answers /metrics itself, no redirect"
    return samples(response.text)


def pages(client: httpx.Client, n: int) -> None:
    for _ in range(n):
        # A new connection each time, so that both workers serve some.
        assert b"Advertisement" in client.get("/news/a", headers={"Connection": "close"}).content


@pytest.mark.slow
def test_uvicorn_workers_one_live_version_and_sums_that_add_up(
    fleet: tuple[httpx.Client, Path, Path, Path],
) -> None:
    client, folder, multiproc, log = fleet
    label = str(folder)
    modified = ("adinject_pages_total", (("outcome", "modified"), ("reason", "")))
    pages(client, 20)
    first = scrape(client)
    assert live_versions(first, label) == {load_rules(folder).version: 1.0}
    assert first[modified] == 20

    write_rules(folder, unit=UNIT_HTML.replace("Advertisement", "Anzeige"))
    new = load_rules(folder).version
    reloads = ("adinject_rules_reloads_total", (("folder", label),))
    wait_for("both workers to reload", lambda: scrape(client).get(reloads) == 2)
    after = scrape(client)
    assert live_versions(after, label) == {new: 1.0}, "the old version is no longer live anywhere"
    for _ in range(10):
        assert b"Anzeige" in client.get("/news/a", headers={"Connection": "close"}).content
    assert scrape(client)[modified] == 30

    # A worker killed outright: uvicorn starts another; its live state goes, its counts stay.
    dead = int(client.get("/pid", headers={"Connection": "close"}).text)
    os.kill(dead, signal.SIGKILL)
    wait_for("a new worker", lambda: len(live_gauge_pids(multiproc) - {dead}) == 2)
    final = scrape(client)
    assert dead not in live_gauge_pids(multiproc), "the scrape forgot the dead worker's live gauges"
    assert live_versions(final, label) == {new: 1.0}
    assert final[modified] == 30, "what the dead worker counted stays in the sum"
    assert final[reloads] == 2
    text = log.read_text()
    assert "Removal of labels" not in text and "Traceback" not in text, text


WORKER = """\
import sys
from adinject.metrics import default_metrics
metrics = default_metrics()
metrics.page("modified")
for version in sys.argv[1:]:
    metrics.rules_live("rules", version)
metrics.switched_off("rules", version == "off")
print("ready", flush=True)
sys.stdin.read()  # until the test closes it
"""


def test_a_dead_workers_live_state_disappears_and_its_counts_stay(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def worker(*versions: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, *versions],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n", proc.stderr
        return proc

    gone = worker("v1", "off")  # it had the kill switch on and served v1 when it died
    gone.communicate("")
    running = worker("v1", "v2")
    try:
        registry = CollectorRegistry()
        registry.register(FleetCollector(str(tmp_path)))
        scraped = samples(TestClient(Starlette(routes=[Mount("/m", metrics_app(registry))])).get("/m/").text)
        assert live_versions(scraped, "rules") == {"v2": 1.0}
        assert scraped[("adinject_kill_switch", (("folder", "rules"),))] == 0
        assert scraped[("adinject_pages_total", (("outcome", "modified"), ("reason", "")))] == 2
        assert live_gauge_pids(tmp_path) == {running.pid}
        _, err = running.communicate("")
        assert "Removal of labels" not in err, err
    finally:
        running.kill()


def test_help_texts_say_how_workers_add_up() -> None:
    from adinject.metrics import Metrics

    metrics = Metrics(CollectorRegistry())
    for family in metrics.registry.collect():
        assert "worker" in family.documentation, family.name


def test_an_exited_worker_not_yet_reaped_counts_as_gone() -> None:
    """A worker that exited but whose parent has not reaped it yet (a zombie) serves nothing."""
    from adinject.metrics import _running

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        # Not reaped until child.wait() below: os.kill(pid, 0) alone still finds the process.
        wait_for("the child to exit", lambda: not _running(child.pid), timeout=20)
        os.kill(child.pid, 0)
    finally:
        child.wait()
    assert _running(os.getpid())


def test_a_scrape_survives_another_removing_the_same_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import adinject.metrics

    (tmp_path / "gauge_livemax_999999999.db").write_bytes(b"")  # a pid no process has

    def raced(pid: int, path: str) -> None:
        raise FileNotFoundError(path)

    monkeypatch.setattr(adinject.metrics, "mark_process_dead", raced)
    assert adinject.metrics.forget_dead_workers(str(tmp_path)) == [999999999]
