"""The code's shape, checked: small functions and classes everywhere in adinject/.

The import layers are checked by import-linter (`make test` runs `lint-imports`; the contracts are in
pyproject.toml and the order is in the README). Sizes are a measure, not a goal: past 60 lines for a function
or 250 for a class, a reader can no longer hold one in their head, and so far nothing has needed more.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import adinject

ROOT = Path(adinject.__file__).parent
MODULES = sorted(ROOT.rglob("*.py"))
MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 250


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_long_functions_or_classes(path: Path) -> None:
    long: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            lines = (node.end_lineno or node.lineno) - first + 1
            limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
            if lines > limit:
                long.append(f"{node.name}: {lines} lines (limit {limit})")
    assert long == []


def test_the_modules_are_all_found() -> None:
    # A moved package root would make the check above pass on nothing.
    assert len(MODULES) > 50
    assert ROOT / "engine" / "rules.py" in MODULES
