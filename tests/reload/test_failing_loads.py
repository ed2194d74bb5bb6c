"""Loads that fail for any reason, or take long (issue 11): no retry loop, one failure counted, OFF on time.

The loader is replaced by one that raises `ValueError` (what Jinja raised folding `{{ 9 ** 8000000 }}`) or
blocks until the test lets it go: whatever a load does, reload and the kill switch must not wedge.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
from prometheus_client import CollectorRegistry

from adinject import LiveRules, Rules, RulesError, load_rules
from adinject.cli import main
from adinject.language import checks, templates
from adinject.metrics import Metrics
from adinject.reload import Inactive, live
from tests._support.waiting import wait_until

TIMEOUT = 10.0

UNITS = """\
units:
  ad:
    html: '<div class="ad" data-v="{marker}">Advertisement</div>'
rules:
  - name: news
    pages: {{paths: ["/news/**"]}}
    container: article
    place:
      - unit: ad
        after_paragraph: 1
"""


def write(folder: Path, marker: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.yaml").write_text(UNITS.format(marker=marker))
    return folder


def wait_for(condition: Callable[[], bool], timeout: float = TIMEOUT) -> float:
    return wait_until(condition, timeout, interval=0.005)


def failures(metrics: Metrics) -> float:
    """Failed loads counted, of any folder."""
    total = 0.0
    for metric in metrics.registry.collect():
        for sample in metric.samples:
            if sample.name == "adinject_rules_reload_failures_total":
                total += sample.value
    return total


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write(tmp_path / "rules", "v1")


@pytest.fixture(autouse=True)
def _no_env_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADINJECT_OFF", raising=False)
    monkeypatch.delenv("ADINJECT_RELOAD", raising=False)


class FakeLoader:
    """Stands in for `load_rules` once installed: counts calls, reads the files, then raises, or blocks
    until released."""

    def __init__(self, *, raises: BaseException | None = None, block: bool = False) -> None:
        self.calls = 0
        self.raises = raises
        self.block = block
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, path: object, **kw: Any) -> Rules:
        self.calls += 1
        rules = load_rules(path, **kw)  # type: ignore[arg-type]  # the files as they are when the load starts
        self.started.set()
        if self.block:
            self.release.wait(TIMEOUT * 3)
        if self.raises is not None:
            raise self.raises
        return rules


@pytest.fixture
def watched(folder: Path, metrics: Metrics) -> Iterator[LiveRules]:
    rules = LiveRules(folder, mode="poll", poll_interval=0.02, settle=0.01, metrics=metrics)
    yield rules
    rules.stop()


def test_a_load_that_raises_anything_is_an_invalid_change_tried_once(
    folder: Path, metrics: Metrics, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rules = LiveRules(folder, watch=False, settle=0.01, metrics=metrics)
    good = rules.current
    fake = FakeLoader(raises=ValueError("Exceeds the limit (4300 digits) for integer string conversion"))
    monkeypatch.setattr(live, "load_rules", fake)
    write(folder, "v2")
    assert rules.check() is False, "nothing changes: the last good rules keep serving"
    assert rules.current is good
    assert fake.calls == 1
    assert isinstance(rules.last_error, RulesError)
    assert "ValueError: Exceeds the limit" in str(rules.last_error)
    assert failures(metrics) == 1
    for _ in range(5):
        rules.check()
    assert fake.calls == 1, "the failed state is not loaded again until the files change"
    assert failures(metrics) == 1
    refused = [r for r in caplog.records if "not reloaded" in r.getMessage()]
    assert len(refused) == 1 and "ValueError" in refused[0].getMessage()
    write(folder, "v3")
    rules.check()
    assert fake.calls == 2 and failures(metrics) == 2, "a new state is a new try"
    monkeypatch.setattr(live, "load_rules", load_rules)
    write(folder, "v4")
    assert rules.check() is True and isinstance(rules.current, Rules)


def test_the_watcher_does_not_retry_a_failed_state(
    folder: Path, metrics: Metrics, watched: LiveRules, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeLoader(raises=ValueError("boom"))
    monkeypatch.setattr(live, "load_rules", fake)
    watched.start()
    write(folder, "v2")
    wait_for(lambda: failures(metrics) == 1)
    time.sleep(0.5)  # 25 polls, and at least two of the rounds that read the files whatever their stats
    assert fake.calls == 1
    assert failures(metrics) == 1


def test_start_up_with_a_load_that_raises(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "load_rules", FakeLoader(raises=ValueError("boom")))
    with pytest.raises(RulesError, match="ValueError: boom"):
        LiveRules(folder, watch=False, metrics=None)
    allowed = LiveRules(folder, watch=False, metrics=None, allow_invalid=True)
    assert isinstance(allowed.current, Inactive) and allowed.current.code == "no_rules"


@pytest.mark.slow
def test_off_applies_while_a_load_hangs(
    folder: Path, metrics: Metrics, watched: LiveRules, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = watched.current
    fake = FakeLoader(block=True)
    monkeypatch.setattr(live, "load_rules", fake)
    watched.start()
    write(folder, "v2")
    assert fake.started.wait(TIMEOUT), "the watcher did not start loading"
    assert watched.current is good, "the last good rules serve while a load runs"
    (folder / "OFF").touch()
    delay = wait_for(lambda: isinstance(watched.current, Inactive))
    print(f"\nOFF while a load hangs: {delay * 1000:.0f} ms")
    assert not fake.release.is_set() and fake.calls == 1, "OFF did not wait for the load"
    assert delay < 2.0
    (folder / "OFF").unlink()
    wait_for(lambda: watched.current is good)
    fake.release.set()
    wait_for(lambda: isinstance(watched.current, Rules) and watched.current is not good)
    assert fake.calls == 1


@pytest.mark.slow
def test_a_change_made_during_a_slow_load_is_loaded_after_it(
    folder: Path, watched: LiveRules, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeLoader(block=True)
    monkeypatch.setattr(live, "load_rules", fake)
    watched.start()
    write(folder, "v2")
    assert fake.started.wait(TIMEOUT)
    time.sleep(0.1)
    write(folder, "v3")
    time.sleep(0.3)
    assert fake.calls == 1, "one load at a time"
    fake.release.set()
    wait_for(lambda: isinstance(watched.current, Rules) and b'data-v="v3"' in _body(watched.current))
    assert fake.calls == 2


def _body(rules: Rules) -> bytes:
    page = (
        b"<!doctype html><article><p>One two three four five.</p><p>Six seven eight nine ten.</p></article>"
    )
    return rules.apply(page, url="/news/a").body


# ---- the loader: a template that raises anything while compiling is a problem of that unit


class _RaisingEnvironment:
    """The real environment, except that compiling a template that says BOOM raises ValueError."""

    def from_string(self, text: str) -> jinja2.Template:
        if "BOOM" in text:
            raise ValueError("Exceeds the limit (4300 digits) for integer string conversion")
        return templates.environment().from_string(text)

    def __getattr__(self, name: str) -> object:
        return getattr(templates.environment(), name)


def test_a_template_that_raises_while_compiling_is_a_problem_at_its_key(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checks, "environment", _RaisingEnvironment)
    (folder / "rules.yaml").write_text(
        UNITS.format(marker="v1").replace("units:\n", "units:\n  other:\n    html: '<p>{{ BOOM }}</p>'\n")
    )
    with pytest.raises(RulesError) as raised:
        load_rules(folder)
    [problem] = raised.value.problems
    assert problem.file.endswith("rules.yaml") and (problem.line, problem.col) == (3, 5)
    assert problem.key == "units.other.html"
    assert "does not compile (ValueError: Exceeds the limit" in problem.message


# ---- adinject check: a message and exit status 1, never a traceback


def test_check_reports_a_load_that_raises_without_a_traceback(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def raising(path: object, **options: object) -> Rules:
        raise ValueError("boom")

    import adinject.cli

    monkeypatch.setattr(adinject.cli, "load_rules", raising)
    assert main(["check", str(folder)]) == 1
    out, err = capsys.readouterr()
    assert f"{folder}:1:1: the rules could not be loaded (ValueError: boom)" in out
    assert "Traceback" not in out + err
    with pytest.raises(SystemExit) as exited:
        main(["explain", "-", "--rules", str(folder)])
    assert exited.value.code == 1
    assert "Traceback" not in "".join(capsys.readouterr())
