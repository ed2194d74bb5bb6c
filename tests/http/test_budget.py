"""The planning budget (issue 11, "linear and bounded"): bytes of page planned at once, a bounded wait.

Admission is tested with a fake clock and sleep, and through the middleware with events, never by wall
clock or memory.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import anyio
import anyio.to_thread
import pytest
from prometheus_client import CollectorRegistry

from adinject.engine import RequestOutcome, Rules
from adinject.http import AdInjectMiddleware
from adinject.http.steps import PlanningBudget
from adinject.metrics import Metrics
from tests._support.http_testkit import (
    UNIT_RE,
    RulesProxy,
    body,
    http_scope,
    page,
    run_asgi,
    scripted_app,
    start,
)

PAGE = page(paragraphs=4)


class FakeTime:
    """A clock that moves only when the code under test sleeps; `at` runs a callback at a given time."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.events: list[tuple[float, Any]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        for when, action in list(self.events):
            if self.now >= when:
                self.events.remove((when, action))
                action()


def budget(limit: int, fake: FakeTime, wait: float = 2.0) -> PlanningBudget:
    return PlanningBudget(limit, wait_seconds=wait, poll_seconds=0.25, clock=fake.clock, sleep=fake.sleep)


def test_pages_are_admitted_while_they_fit() -> None:
    gate = budget(10, FakeTime())
    assert gate.try_take(4) and gate.try_take(6)
    assert gate.in_use == 10
    assert not gate.try_take(1) and gate.in_use == 10, "a refusal charges nothing"
    gate.give(6)
    assert gate.try_take(5) and gate.in_use == 9


def test_a_page_bigger_than_the_whole_budget_is_planned_alone() -> None:
    gate = budget(10, FakeTime())
    assert gate.try_take(25), "nothing else in planning: admitted alone"
    assert not gate.try_take(1), "nothing else while it plans"
    gate.give(25)
    assert gate.try_take(3)
    assert not gate.try_take(25), "it waits for the others to finish"


def test_a_second_big_page_waits_while_the_first_plans() -> None:
    fake = FakeTime()
    gate = budget(10, fake)
    assert gate.try_take(8)  # the first page is being planned
    fake.events.append((100.75, lambda: gate.give(8)))  # ... and is done 0.75 s later

    async def second() -> bool:
        return await gate.take(8)

    assert anyio.run(second)
    assert fake.sleeps == [0.25, 0.25, 0.25], "it polled until the first gave its bytes back"
    assert gate.in_use == 8


def test_a_page_that_finds_no_room_in_time_is_refused_and_charges_nothing() -> None:
    fake = FakeTime()
    gate = budget(10, fake, wait=2.0)
    assert gate.try_take(8)

    async def second() -> bool:
        return await gate.take(8)

    assert not anyio.run(second)
    assert sum(fake.sleeps) == pytest.approx(2.0) and fake.now == pytest.approx(102.0)
    assert gate.in_use == 8


def test_middlewares_with_the_same_limit_share_the_process_budget(rules: Rules) -> None:
    app = scripted_app([])
    one = AdInjectMiddleware(app, rules=rules, metrics=False, planning_budget_bytes=12_345)
    two = AdInjectMiddleware(app, rules=rules, metrics=False, planning_budget_bytes=12_345)
    assert one.planning_budget is two.planning_budget is not None
    assert (
        AdInjectMiddleware(app, rules=rules, metrics=False, planning_budget_bytes=0).planning_budget is None
    )
    with pytest.raises(ValueError):
        AdInjectMiddleware(app, rules=rules, metrics=False, planning_budget_bytes=-1)


# ---- through the middleware


def middleware(rules: Any, gate: PlanningBudget | None, **options: Any) -> AdInjectMiddleware:
    app = scripted_app([start(200), body(PAGE)])
    options = {"thread_threshold_bytes": 0, "cache_size": 0, **options}
    mw = AdInjectMiddleware(app, rules=rules, metrics=Metrics(CollectorRegistry()), **options)
    mw.planning_budget = gate
    return mw


def pages(mw: AdInjectMiddleware, outcome: str, reason: str = "") -> float:
    assert mw.metrics is not None
    labels = {"outcome": outcome, "reason": reason}
    return mw.metrics.registry.get_sample_value("adinject_pages_total", labels) or 0.0


def waits(mw: AdInjectMiddleware, result: str) -> float:
    assert mw.metrics is not None
    labels = {"result": result}
    return mw.metrics.registry.get_sample_value("adinject_planning_waits_total", labels) or 0.0


def test_a_page_goes_through_untouched_when_the_budget_stays_full(rules: Rules) -> None:
    fake = FakeTime()
    gate = budget(len(PAGE) + 10, fake, wait=1.0)
    assert gate.try_take(20)  # another page is being planned, and stays so
    proxy = RulesProxy(rules)
    mw = middleware(proxy, gate)
    sent = run_asgi(mw, http_scope())
    assert sent[-1]["body"] == PAGE, "the app's bytes, unchanged"
    assert proxy.plan_calls == 0
    assert pages(mw, "unchanged", "busy") == 1
    assert waits(mw, "busy") == 1 and waits(mw, "planned") == 0
    assert gate.in_use == 20
    gate.give(20)
    sent = run_asgi(mw, http_scope())
    assert len(UNIT_RE.findall(sent[-1]["body"])) == 1
    assert pages(mw, "modified") == 1 and gate.in_use == 0, "the page's bytes were given back"
    assert waits(mw, "busy") == 1 and waits(mw, "planned") == 0, "it did not have to wait"


def test_small_pages_planned_inline_are_not_charged(rules: Rules) -> None:
    gate = budget(1, FakeTime(), wait=0.0)
    assert gate.try_take(1)  # full
    mw = middleware(rules, gate, thread_threshold_bytes=len(PAGE))
    sent = run_asgi(mw, http_scope())
    assert len(UNIT_RE.findall(sent[-1]["body"])) == 1 and pages(mw, "busy") == 0


class Blocking(RulesProxy):
    """Plans only once `go` is set, saying when it started."""

    __slots__ = ("entered", "go", "started")

    def __init__(self, inner: Rules) -> None:
        super().__init__(inner)
        self.go = threading.Event()
        self.started = threading.Event()
        self.entered = 0

    def plan(
        self,
        body: bytes,
        *,
        url: str,
        headers: Mapping[str, str],
        now: datetime | None = None,
        outcome: RequestOutcome | None = None,
    ) -> Any:
        self.entered += 1
        self.started.set()
        assert self.go.wait(30)
        return super().plan(body, url=url, headers=headers, now=now, outcome=outcome)


def test_two_pages_over_the_budget_are_planned_one_after_the_other(rules: Rules) -> None:
    gate = PlanningBudget(len(PAGE) + 10, wait_seconds=60, poll_seconds=0.001)
    proxy = Blocking(rules)
    mw = middleware(proxy, gate)
    bodies: list[bytes] = []
    seen: list[tuple[int, int]] = []

    async def request() -> None:
        sent: list[Any] = []

        async def send(message: Any) -> None:
            sent.append(message)

        async def receive() -> Any:
            return {"type": "http.request", "body": b"", "more_body": False}

        await mw(http_scope(), receive, send)
        bodies.append(sent[-1]["body"])

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(request)
            tg.start_soon(request)
            await anyio.to_thread.run_sync(proxy.started.wait, 30)
            for _ in range(20):  # let the second request reach the budget and wait there
                await anyio.sleep(0.002)
            seen.append((proxy.entered, gate.in_use))
            proxy.go.set()

    anyio.run(main)
    assert seen == [(1, len(PAGE))], "the second page waited while the first was planned"
    assert proxy.plan_calls == 2 and gate.in_use == 0
    assert [len(UNIT_RE.findall(b)) for b in bodies] == [1, 1]
    assert pages(mw, "modified") == 2 and pages(mw, "unchanged", "busy") == 0
    assert waits(mw, "planned") == 1 and waits(mw, "busy") == 0


def test_the_charge_is_given_back_when_planning_fails(rules: Rules) -> None:
    gate = PlanningBudget(1_000_000)
    mw = middleware(RulesProxy(rules, fail_in="plan"), gate)
    sent = run_asgi(mw, http_scope())
    assert sent[-1]["body"] == PAGE
    assert gate.in_use == 0
