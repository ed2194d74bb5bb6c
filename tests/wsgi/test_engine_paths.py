"""The engine's side through the WSGI middleware: the plan cache, the planning budget in threads (gthread
workers, mod_wsgi), any chunking of the body, the kill switch, and unit context read per request."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from adinject import AdInjectWSGIMiddleware
from adinject.engine import Rules
from adinject.http.steps import PlanningBudget
from adinject.metrics import Metrics
from adinject.reload import Inactive
from tests._support.http_testkit import UNIT_RE, RulesProxy, assert_injected_once, page
from tests._support.wsgi_testkit import HTML, chunked_app, environ, run_wsgi
from tests.http.test_budget import Blocking

PAGE = page(paragraphs=4)


def wrap(rules: Any, **options: Any) -> AdInjectWSGIMiddleware:
    app, _ = chunked_app([PAGE], [HTML, ("Content-Length", str(len(PAGE)))])
    options = {"metrics": Metrics(CollectorRegistry()), **options}
    return AdInjectWSGIMiddleware(app, rules=rules, **options)


def sample(mw: AdInjectWSGIMiddleware, name: str, **labels: str) -> float:
    assert mw.metrics is not None
    return mw.metrics.registry.get_sample_value(name, labels) or 0.0


def test_the_plan_cache_plans_a_page_once(rules: Rules) -> None:
    proxy = RulesProxy(rules)
    mw = wrap(proxy)
    bodies = [run_wsgi(mw, environ()).body for _ in range(3)]
    assert proxy.plan_calls == 1 and proxy.realize_calls == 3
    assert bodies[0] == bodies[1] == bodies[2]


def test_context_is_read_per_request_not_cached_with_the_plan(rules: Rules) -> None:
    proxy = RulesProxy(rules)
    sections = iter(["a", "b"])

    def app(env: dict[str, Any], start_response: Any) -> list[bytes]:
        env["adinject.context"] = {"section": next(sections)}
        start_response("200 OK", [HTML])
        return [PAGE]

    mw = AdInjectWSGIMiddleware(app, rules=proxy, metrics=False)
    run_wsgi(mw, environ())
    run_wsgi(mw, environ())
    assert proxy.realize_contexts == [{"section": "a"}, {"section": "b"}]


def test_a_page_goes_out_untouched_when_the_budget_stays_full(rules: Rules) -> None:
    gate = PlanningBudget(len(PAGE) + 10, wait_seconds=0.05, poll_seconds=0.01)
    assert gate.try_take(20)  # another page is being planned, and stays so
    proxy = RulesProxy(rules)
    mw = wrap(proxy, thread_threshold_bytes=0, cache_size=0)
    mw.planning_budget = gate
    assert run_wsgi(mw, environ()).body == PAGE
    assert proxy.plan_calls == 0 and gate.in_use == 20
    assert sample(mw, "adinject_pages_total", outcome="unchanged", reason="busy") == 1
    assert sample(mw, "adinject_planning_waits_total", result="busy") == 1
    gate.give(20)
    assert len(UNIT_RE.findall(run_wsgi(mw, environ()).body)) == 1
    assert gate.in_use == 0


def test_two_threads_over_the_budget_plan_one_after_the_other(rules: Rules) -> None:
    gate = PlanningBudget(len(PAGE) + 10, wait_seconds=60, poll_seconds=0.001)
    proxy = Blocking(rules)
    mw = wrap(proxy, thread_threshold_bytes=0, cache_size=0)
    mw.planning_budget = gate
    bodies: list[bytes] = []
    threads = [threading.Thread(target=lambda: bodies.append(run_wsgi(mw, environ()).body)) for _ in range(2)]
    for thread in threads:
        thread.start()
    assert proxy.started.wait(30)
    seen = []
    for _ in range(20):  # the second request has reached the budget and waits there
        seen.append((proxy.entered, gate.in_use))
        threading.Event().wait(0.002)
    proxy.go.set()
    for thread in threads:
        thread.join(30)
    assert set(seen) == {(1, len(PAGE))}, "the second page waited while the first was planned"
    assert [len(UNIT_RE.findall(b)) for b in bodies] == [1, 1] and gate.in_use == 0
    assert sample(mw, "adinject_planning_waits_total", result="planned") == 1


def test_the_charge_is_given_back_when_planning_fails(rules: Rules) -> None:
    gate = PlanningBudget(1_000_000)
    mw = wrap(RulesProxy(rules, fail_in="plan"), thread_threshold_bytes=0)
    mw.planning_budget = gate
    assert run_wsgi(mw, environ()).body == PAGE
    assert gate.in_use == 0 and mw.failures == 1


def test_the_kill_switch_leaves_pages_alone_and_says_why(rules: Rules) -> None:
    mw = wrap(Inactive(rules, "off", "switched off"))
    assert run_wsgi(mw, environ()).body == PAGE
    assert sample(mw, "adinject_pages_total", outcome="unchanged", reason="off") == 1


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, *cuts, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=len(PAGE)), max_size=12),
    written=st.integers(min_value=0, max_value=12),
)
def test_any_chunking_and_any_write_iterable_mix_give_the_same_page(
    rules: Rules, cuts: list[int], written: int
) -> None:
    pieces = _split(PAGE, cuts)

    def app(env: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [HTML])
        for piece in pieces[:written]:
            write(piece)
        return pieces[written:]

    out = run_wsgi(AdInjectWSGIMiddleware(app, rules=rules, metrics=False), environ())
    assert_injected_once(out.body, PAGE)
    assert out.header("content-length") == str(len(out.body))


def test_a_folder_of_rules_is_watched_per_process(tmp_path: Path) -> None:
    from tests._support.http_testkit import write_rules

    mw = AdInjectWSGIMiddleware(chunked_app([PAGE])[0], rules=write_rules(tmp_path / "r"), metrics=False)
    try:
        run_wsgi(mw, environ())
        assert mw.live is not None and mw.live._thread is not None and mw.live._thread.is_alive()
    finally:
        mw.close()
