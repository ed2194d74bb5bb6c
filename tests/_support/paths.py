"""Where things are: the checkout, its shipped rules and benchmarks, the test rule fixtures."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "rules"
FIXTURES = REPO / "tests" / "language" / "rules_fixtures"
