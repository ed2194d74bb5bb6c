"""The shape of the rule language and live reload.

The language stands on its own: nothing in adinject/language imports the rest of adinject. The engine, the
units and the HTTP layer build on the language (schema, loader, templates); if the language imported them
back, loading a rules folder (`adinject check`) would drag in the engine, and a change there could break the
loader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import adinject.language

LANGUAGE = Path(adinject.language.__file__).parent


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names.add(node.module)
    return names


def test_the_language_imports_only_itself_from_adinject() -> None:
    outside = {
        f"{path.name}: {name}"
        for path in sorted(LANGUAGE.rglob("*.py"))
        for name in _imported(path)
        if name.split(".")[0] == "adinject" and not name.startswith("adinject.language")
    }
    assert outside == set()


def test_the_language_and_reload_modules_keep_to_small_functions_and_classes() -> None:
    """No function over 60 lines and no class over 250: past that, a reader cannot hold one in their head."""
    too_long = []
    for package in (LANGUAGE, LANGUAGE.parent / "reload"):
        for path in sorted(package.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    limit = 250 if isinstance(node, ast.ClassDef) else 60
                    lines = (node.end_lineno or node.lineno) - node.lineno + 1
                    if lines > limit:
                        too_long.append(f"{path.name}: {node.name} is {lines} lines")
    assert too_long == []
