"""The HTTP layer's shape: what it may import (no HTML: that is the engine's), and how big its parts may be.

adinject/http, adinject/metrics.py and adinject/fields.py speak HTTP and metrics; parsing and placing HTML
is adinject.page, adinject.placement and adinject.units, reached only through the engine (and the debug
view's preview.annotate). adinject/fields.py is the bottom layer: it imports nothing of adinject.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import adinject

ROOT = Path(adinject.__file__).parent
HTTP_LAYER = sorted([*(ROOT / "http").glob("*.py"), ROOT / "metrics.py"])
FORBIDDEN = ("adinject.page", "adinject.placement", "adinject.units", "turbohtml")
MAX_FUNCTION_LINES = 60
MAX_CLASS_LINES = 250


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("path", HTTP_LAYER, ids=lambda p: p.name)
def test_the_http_layer_imports_no_html(path: Path) -> None:
    bad = sorted(m for m in imports(path) if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert bad == [], f"{path.name} imports {bad}"


def test_fields_is_the_bottom_layer() -> None:
    assert not any(m == "adinject" or m.startswith("adinject.") for m in imports(ROOT / "fields.py"))


@pytest.mark.parametrize("path", [*HTTP_LAYER, ROOT / "fields.py"], ids=lambda p: p.name)
def test_no_long_functions_or_classes(path: Path) -> None:
    long: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            lines = (node.end_lineno or node.lineno) - first + 1
            limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
            if lines > limit:
                long.append(f"{node.name}: {lines} lines (limit {limit})")
    assert long == []
