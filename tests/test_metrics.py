"""Prometheus metrics (adinject/metrics.py) as the middleware records them, and `adinject.metrics_app()`."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

import adinject
from adinject import AdInjectMiddleware, LiveRules
from adinject.metrics import Metrics, metrics_app, unchanged_reason
from adinject.result import ApplyResult, Insertion, Skip

RULES = """\
units:
  ad:
    html: '<div class="ad">Advertisement</div>'
  box:
    html: '<aside class="box">More</aside>'
rules:
  - name: news
    pages: {paths: ["/news/**"]}
    container: article
    min_paragraphs: 3
    place:
      - unit: ad
        after_paragraph: 1
      - unit: box
        after_paragraph: 9
"""


def article(paragraphs: int) -> str:
    body = "".join(f"<p>Paragraph {n} has some words.</p>" for n in range(1, paragraphs + 1))
    return f"<!doctype html><html><body><article>{body}</article></body></html>"


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "news.yaml").write_text(RULES)
    return folder


def site(folder: Path, metrics: Metrics, **options: object) -> TestClient:
    async def story(request: Request) -> Response:
        slug = request.path_params["slug"]
        if slug == "short":
            return HTMLResponse(article(2))
        if slug == "opted-out":
            return HTMLResponse(article(5), headers={"X-AdInject": "off"})
        if slug == "json":
            return JSONResponse({"a": 1})
        if slug == "nobody":
            return HTMLResponse("<!doctype html><p>no article element here</p>")
        return HTMLResponse(article(5))

    app = Starlette(routes=[Route("/{section}/{slug}", story)])
    return TestClient(AdInjectMiddleware(app, rules=folder, reload=False, metrics=metrics, **options))


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_pages_by_outcome_and_units_by_rule_and_reason(folder: Path, metrics: Metrics) -> None:
    client = site(folder, metrics)
    for path in (
        "/news/a",
        "/news/b",
        "/news/short",
        "/news/opted-out",
        "/news/json",
        "/about/x",
        "/news/nobody",
    ):
        assert client.get(path).status_code == 200
    pages = "adinject_pages_total"
    assert value(metrics, pages, outcome="modified", reason="") == 2
    assert value(metrics, pages, outcome="unchanged", reason="min_paragraphs") == 1
    assert value(metrics, pages, outcome="unchanged", reason="opted-out") == 1
    assert value(metrics, pages, outcome="unchanged", reason="url") == 1
    assert value(metrics, pages, outcome="unchanged", reason="no_container") == 1
    assert value(metrics, pages, outcome="unchanged", reason="media-type") == 0, "JSON is not a page"
    assert value(metrics, "adinject_units_inserted_total", rule="news", unit="ad") == 2
    # The box wants paragraph 9 of 5: skipped, by rule, unit and the engine's reason code.
    assert value(metrics, "adinject_units_skipped_total", rule="news", unit="box", reason="out_of_range") == 2
    assert value(metrics, "adinject_rules_skipped_total", rule="news", reason="min_paragraphs") == 1
    assert value(metrics, "adinject_rules_skipped_total", rule="news", reason="no_container") == 1
    # Every page the engine ran on is timed: 2 modified, the short one and the one without a container.
    assert value(metrics, "adinject_processing_seconds_count") == 4
    assert value(metrics, "adinject_processing_seconds_sum") > 0


def test_failed_open_is_counted(folder: Path, metrics: Metrics) -> None:
    class Broken:
        version = "x"
        bucket_header = None
        inactive_code = None
        loaded_at = 0.0

        def matches_url(self, path: str) -> bool:
            return True

        def request_headers(self, path: str | None = None) -> frozenset[str]:
            return frozenset()

        def request_key(self, url: str, headers: object, now: object = None) -> tuple[str, ...]:
            return ()

        def depends_on_time(self, path: str | None = None) -> bool:
            return False

        def plan(self, body: bytes, **kw: object) -> object:
            raise RuntimeError("boom")

        def realize(self, plan: object, body: bytes, **kw: object) -> ApplyResult:
            raise AssertionError

    async def story(request: Request) -> Response:
        return HTMLResponse(article(5))

    app = AdInjectMiddleware(Starlette(routes=[Route("/news/a", story)]), rules=Broken(), metrics=metrics)
    logging.getLogger("adinject").disabled = True
    try:
        assert TestClient(app).get("/news/a").text == article(5)
    finally:
        logging.getLogger("adinject").disabled = False
    assert value(metrics, "adinject_pages_total", outcome="failed_open", reason="") == 1


def test_rules_version_load_time_reloads_and_failures(folder: Path, metrics: Metrics) -> None:
    live = LiveRules(folder, watch=False, metrics=metrics, settle=0.01)
    label = str(folder)
    first = live.version
    assert value(metrics, "adinject_rules_info", folder=label, version=first) == 1
    loaded = value(metrics, "adinject_rules_loaded_timestamp_seconds", folder=label)
    assert loaded > 1_600_000_000

    (folder / "news.yaml").write_text(RULES.replace("after_paragraph: 1", "after_paragraph: 2"))
    live.check()
    assert value(metrics, "adinject_rules_info", folder=label, version=live.version) == 1
    assert (
        metrics.registry.get_sample_value("adinject_rules_info", {"folder": label, "version": first}) is None
    )
    assert value(metrics, "adinject_rules_loaded_timestamp_seconds", folder=label) >= loaded
    assert value(metrics, "adinject_rules_reloads_total", folder=label) == 1

    (folder / "news.yaml").write_text("rules: [")
    live.check()
    assert value(metrics, "adinject_rules_reload_failures_total", folder=label) == 1
    assert value(metrics, "adinject_kill_switch", folder=label) == 0
    (folder / "OFF").touch()
    live.check()
    assert value(metrics, "adinject_kill_switch", folder=label) == 1


def test_the_kill_switch_shows_as_the_reason(folder: Path, metrics: Metrics) -> None:
    (folder / "OFF").touch()
    client = site(folder, metrics)
    assert client.get("/news/a").text == article(5)
    assert value(metrics, "adinject_pages_total", outcome="unchanged", reason="off") == 1


def test_label_values_stay_bounded(metrics: Metrics) -> None:
    result = ApplyResult(
        b"",
        [Insertion(0, 1, "ad", "news", 1)],
        [Skip("Some Free Text: with spaces!", "why", "news", "ad", 2)],
    )
    metrics.result(result)
    assert value(metrics, "adinject_units_skipped_total", rule="news", unit="ad", reason="other") == 1


def test_unchanged_reason() -> None:
    assert unchanged_reason(ApplyResult(b"", skipped=[Skip("no_rule", "")])) == "no_rule"
    assert unchanged_reason(ApplyResult(b"", skipped=[Skip("min_words", "", "r")])) == "min_words"
    assert unchanged_reason(ApplyResult(b"", skipped=[Skip("keep_away", "", "r", "u")])) == "no_units"
    assert unchanged_reason(ApplyResult(b"")) == "no_units"


def test_metrics_app_serves_the_text_format(folder: Path) -> None:
    assert adinject.metrics_app is metrics_app
    client = site(folder, adinject.metrics.METRICS)
    client.get("/news/a")
    app = Starlette(routes=[Mount("/metrics", metrics_app())])
    response = TestClient(app).get("/metrics/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {
        "adinject_pages",
        "adinject_units_inserted",
        "adinject_units_skipped",
        "adinject_processing_seconds",
        "adinject_rules_info",
        "adinject_rules_loaded_timestamp_seconds",
        "adinject_rules_reload_failures",
    } <= names
    assert not any(name.startswith(("python_", "process_")) for name in names), "only adinject's own"


def test_metrics_app_answers_its_route_without_a_redirect() -> None:
    """`Route("/metrics", metrics_app())`, as the README shows: /metrics itself answers, no 307 to /metrics/
    (Starlette takes a plain function given to `Route` for a request handler; the app is an object)."""
    client = TestClient(Starlette(routes=[Route("/metrics", metrics_app())]))
    response = client.get("/metrics", follow_redirects=False)
    assert response.status_code == 200
    assert "adinject_rules_reloads" in response.text


def test_no_log_line_per_normal_request(
    folder: Path, metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="adinject")
    client = site(folder, metrics)
    caplog.clear()
    for path in ("/news/a", "/news/short", "/about/x", "/news/json", "/news/opted-out") * 3:
        client.get(path)
    assert [r for r in caplog.records if r.name.startswith("adinject")] == []


_ASGI_SCRAPE = """
from starlette.testclient import TestClient
from starlette.applications import Starlette
from starlette.routing import Mount
from adinject import metrics_app
print(TestClient(Starlette(routes=[Mount("/m", metrics_app())])).get("/m/").text)
"""
# The WSGI app, called as a WSGI server would.
_WSGI_SCRAPE = """
from wsgiref.util import setup_testing_defaults
from adinject import metrics_wsgi_app
environ = {}
setup_testing_defaults(environ)
print(b"".join(metrics_wsgi_app()(environ, lambda status, headers, exc_info=None: None)).decode())
"""


@pytest.mark.slow
@pytest.mark.parametrize("scrape", [_ASGI_SCRAPE, _WSGI_SCRAPE], ids=["asgi", "wsgi"])
def test_several_worker_processes_are_summed(tmp_path: Path, folder: Path, scrape: str) -> None:
    """prometheus-client's multiprocess mode: two "workers" count, the metrics app serves the sum."""
    multiproc = tmp_path / "prom"
    multiproc.mkdir()
    worker = textwrap.dedent(
        f"""
        from starlette.applications import Starlette
        from starlette.responses import HTMLResponse
        from starlette.routing import Route
        from starlette.testclient import TestClient
        from adinject import AdInjectMiddleware
        async def story(request):
            return HTMLResponse({article(5)!r})
        app = AdInjectMiddleware(Starlette(routes=[Route("/news/a", story)]), rules={str(folder)!r}, reload=False)
        TestClient(app).get("/news/a")
        """
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", worker], env=env, check=True, timeout=60, capture_output=True)
    out = subprocess.run(
        [sys.executable, "-c", scrape], env=env, check=True, timeout=60, capture_output=True, text=True
    ).stdout
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(out)
        for s in family.samples
    }
    assert samples[("adinject_pages_total", (("outcome", "modified"), ("reason", "")))] == 2


def test_gpt_head_scripts_are_not_units_and_variants_are_counted(metrics: Metrics) -> None:
    head = Insertion(0, 300, "gpt", "", None, "", "head", "before </head>")
    boxes = [
        Insertion(10, 1, "box", "news", 1, variant="bold"),
        Insertion(20, 1, "box", "news", 4, variant="bold"),
    ]
    result = ApplyResult(b"", [head, *boxes, Insertion(30, 1, "ad", "news", 6)])
    metrics.result(result)
    assert value(metrics, "adinject_units_inserted_total", rule="", unit="gpt") == 0
    assert value(metrics, "adinject_units_inserted_total", rule="news", unit="box") == 2
    assert value(metrics, "adinject_units_inserted_total", rule="news", unit="ad") == 1
    assert value(metrics, "adinject_variants_shown_total", unit="box", variant="bold") == 2
    assert value(metrics, "adinject_variants_shown_total", unit="ad", variant="") == 0, (
        "no variants, no series"
    )


def test_one_increment_per_label_set(metrics: Metrics, monkeypatch: pytest.MonkeyPatch) -> None:
    """Six ads of one rule and three skips of one reason cost one increment each, not one per item."""
    from prometheus_client.metrics import Counter

    amounts: list[float] = []
    inc = Counter.inc

    def spy(self: Counter, amount: float = 1, exemplar: object = None) -> None:
        amounts.append(amount)
        inc(self, amount, exemplar)  # type: ignore[arg-type]

    monkeypatch.setattr(Counter, "inc", spy)
    insertions = [Insertion(n * 10, 1, "ad", "news", n) for n in range(1, 7)]
    skips = [Skip("max", "the entry's max is reached", "news", "ad", n) for n in (8, 9, 10)]
    metrics.result(ApplyResult(b"", insertions, skips))
    assert sorted(amounts) == [1, 3, 6]  # the page, the skips, the insertions
    assert value(metrics, "adinject_units_inserted_total", rule="news", unit="ad") == 6
    # A `max` reached is a cap (the rules wanted no more units), counted apart from units that could not land.
    assert value(metrics, "adinject_units_capped_total", rule="news", unit="ad", reason="max") == 3
    assert value(metrics, "adinject_units_skipped_total", rule="news", unit="ad", reason="max") == 0


VARIANT_RULES = """\
units:
  box:
    variants:
      plain: {weight: 1, html: '<aside class="box">More</aside>'}
      bold: {weight: 1, html: '<aside class="box"><b>More</b></aside>'}
rules:
  - name: news
    pages: {paths: ["/news/**"]}
    container: article
    place:
      - unit: box
        after_paragraph: 1
"""


def test_variants_shown_through_the_middleware(tmp_path: Path, metrics: Metrics) -> None:
    from adinject.targeting.buckets import choose_variant

    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "news.yaml").write_text(VARIANT_RULES)
    client = site(folder, metrics)
    shown: dict[str, int] = {}
    for bucket in range(10):
        client.cookies.set("adinject_bucket", str(bucket))
        client.get("/news/a")
        variant = choose_variant([("plain", 1), ("bold", 1)], bucket, "box")
        shown[variant] = shown.get(variant, 0) + 1
    assert len(shown) == 2, "the buckets chosen show both variants"
    for variant, n in shown.items():
        assert value(metrics, "adinject_variants_shown_total", unit="box", variant=variant) == n


# ---- the process's default Metrics


@pytest.fixture
def fresh_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """No default Metrics made yet in this process, as on a first import; restored after the test."""
    monkeypatch.setattr(adinject.metrics, "_default", None)


@pytest.mark.usefixtures("fresh_default")
def test_the_default_is_made_once_even_when_threads_race_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Metrics] = []

    class Slow(Metrics):
        def __init__(self) -> None:
            time.sleep(0.05)  # without the lock every thread would get here before the first one is done
            super().__init__(CollectorRegistry())
            made.append(self)

    monkeypatch.setattr(adinject.metrics, "Metrics", Slow)
    start = threading.Barrier(8)
    got: list[Metrics] = []

    def ask() -> None:
        start.wait()
        got.append(adinject.metrics.default_metrics())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1
    assert all(m is made[0] for m in got) and len(got) == 8


@pytest.mark.usefixtures("fresh_default")
def test_the_middleware_records_where_metrics_app_serves(folder: Path) -> None:
    """`metrics=True` (the default) and `metrics_app()` use the same lazily made default, also under the
    names the module had before (`METRICS`, `REGISTRY`)."""
    app = Starlette(routes=[Route("/news/a", lambda request: HTMLResponse(article(5)))])
    TestClient(AdInjectMiddleware(app, rules=folder, reload=False)).get("/news/a")
    default = adinject.metrics.default_metrics()
    assert adinject.metrics.METRICS is default and adinject.metrics.REGISTRY is default.registry
    scraped = TestClient(Starlette(routes=[Mount("/m", metrics_app())])).get("/m/").text
    pages = {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(scraped)
        for s in family.samples
        if s.name == "adinject_pages_total"
    }
    assert pages == {(("outcome", "modified"), ("reason", "")): 1.0}


def test_unknown_module_attributes_still_raise() -> None:
    with pytest.raises(AttributeError, match="METRIX"):
        adinject.metrics.METRIX  # noqa: B018


def test_debug_requests_without_the_right_token_are_counted(folder: Path, metrics: Metrics) -> None:
    token = "a-long-enough-debug-token"
    client = site(folder, metrics, debug_token=token)
    client.get("/news/a?adinject=debug")
    client.get("/news/a?adinject=original")
    client.get("/news/a?adinject=debug", headers={"x-adinject-debug": "guess"})
    client.cookies.set("adinject_debug", "guess2")
    client.get("/news/a?adinject=debug")
    client.cookies.clear()
    # Not attempts: the right token, an ordinary page, a value that asks for no mode.
    client.get("/news/a?adinject=debug", headers={"x-adinject-debug": token})
    client.get("/news/a")
    client.get("/news/a?adinject=other")
    assert value(metrics, "adinject_debug_refused_total", reason="missing") == 2
    assert value(metrics, "adinject_debug_refused_total", reason="wrong") == 2
    assert value(metrics, "adinject_pages_total", outcome="debug", reason="") == 1


def test_no_debug_token_counts_no_attempts(folder: Path, metrics: Metrics) -> None:
    site(folder, metrics).get("/news/a?adinject=debug")
    assert value(metrics, "adinject_debug_refused_total", reason="missing") == 0
