"""Fixtures for the WSGI middleware's tests: the one-rule test rules (as in tests/http)."""

from __future__ import annotations

from pathlib import Path

import pytest

from adinject.engine import Rules
from tests._support.http_testkit import real_rules


@pytest.fixture
def rules(tmp_path: Path) -> Rules:
    """The real engine with one rule: an ad after paragraph 1 of <article> on /news/**."""
    return real_rules(tmp_path / "rules")
