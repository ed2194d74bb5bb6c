"""The rule language stands on its own: nothing in adinject/language imports the rest of adinject.

The engine, the units and the HTTP layer build on the language (schema, loader, templates); if the language
imported them back, loading a rules folder (`adinject check`) would drag in the engine, and a change there
could break the loader.
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
