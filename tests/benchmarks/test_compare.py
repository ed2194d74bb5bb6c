"""The A/B benchmark (`make bench-compare`) times the engine of the checkout it is pointed at."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests._support.corpus import AUTO_RULES
from tests._support.engine import article
from tests._support.paths import REPO


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "adinject_bench_compare_under_test", REPO / "benchmarks" / "compare.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


compare = _load()


@pytest.fixture
def workload(tmp_path: Path) -> tuple[Path, list[str]]:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "auto.yaml").write_text(AUTO_RULES)
    pages = []
    for n in (6, 12):
        page = tmp_path / f"page{n}.html"
        page.write_bytes(article(n))
        pages.append(str(page))
    return rules, pages


def test_it_times_apply_with_the_given_rules_and_pages(workload: tuple[Path, list[str]]) -> None:
    rules, pages = workload
    assert 0.0 < compare.median_apply(REPO, rules, pages) < 1000.0


def test_it_refuses_to_time_an_engine_other_than_the_checkout_named(
    tmp_path: Path, workload: tuple[Path, list[str]]
) -> None:
    # A folder with no adinject in it: the engine imported would be another one, and is not timed.
    rules, pages = workload
    with pytest.raises(subprocess.CalledProcessError):
        compare.median_apply(tmp_path / "not-a-checkout", rules, pages)
