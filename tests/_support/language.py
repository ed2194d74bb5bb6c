"""Helpers for rule-language tests: the problems a folder loads with, where they are, writing files."""

from __future__ import annotations

from pathlib import Path

import pytest

from adinject.language.loader import load_rule_set
from adinject.language.problems import Problem, RulesError


def problems_of(path: Path | str) -> list[Problem]:
    with pytest.raises(RulesError) as caught:
        load_rule_set(path)
    return caught.value.problems


def where(problems: list[Problem]) -> list[tuple[int, int, str]]:
    return [(p.line, p.col, p.key) for p in problems]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
