"""Every reason code the engine can give is in the manual's tables, so the tables cannot drift again.

The codes are read from the source (every `Skip(...)`/`.skip(...)` with a literal code, every (code, reason)
pair a check returns, the codes rules that place nothing stand behind); the manual's codes from the first
column of its reason tables. A code added to the engine without a line in the manual fails here.
"""

from __future__ import annotations

import ast
import re

from tests._support.paths import REPO, RULES

PACKAGE = REPO / "adinject"
# Where a (code, reason) pair is a skip reason (elsewhere pairs are other things: tag names, offsets).
FAILURE_MODULES = ("placement/planner.py", "targeting/conditions.py", "engine/rendering.py")
# The request outcome's cache key names a rule that holds "ok": not a reason anything was skipped.
NOT_REASONS = frozenset({"ok"})
_CODE = re.compile(r"^[a-z][a-z_]*$")


def _literals(node: ast.AST) -> list[str]:
    """The string constants an expression can be: itself, or either branch of `a if c else b`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return [*_literals(node.body), *_literals(node.orelse)]
    return []


def _reason_text(node: ast.AST) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def engine_codes() -> dict[str, str]:
    """Every reason code in the source, with one place it comes from."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] in ("http", "cli.py", "metrics.py", "preview.py"):
            continue  # the HTTP layer's refusals are the middleware's, not the engine's
        relative = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            codes: list[str] = []
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in ("Skip", "skip"):
                    codes = _literals(node.args[0])
                elif name == "Inactive" and len(node.args) >= 2:
                    codes = _literals(node.args[1])
            elif (
                isinstance(node, ast.Tuple)
                and relative in FAILURE_MODULES
                and len(node.elts) == 2
                and _reason_text(node.elts[1])
            ):
                codes = _literals(node.elts[0])
            for code in codes:
                if _CODE.match(code) and code not in NOT_REASONS:
                    found.setdefault(code, f"{relative}:{getattr(node, 'lineno', 0)}")
    return found


def manual_codes() -> set[str]:
    """The codes in the first column of the reason tables of rules/README.md and rules/TARGETING.md."""
    codes: set[str] = set()
    for name, start, end in (
        ("README.md", "## Numbers to watch", "## Recipes"),
        ("TARGETING.md", "## Why a unit did not show", None),
    ):
        text = (RULES / name).read_text()
        section = text[text.index(start) : text.index(end) if end else None]
        for line in section.splitlines():
            if line.startswith("|"):
                codes.update(re.findall(r"`([a-z_-]+)`", line.split("|")[1]))
    return codes


def test_the_scan_sees_the_codes_it_should() -> None:
    # The scan itself can fail: codes given as a literal, behind a conditional, and by rules placing nothing.
    codes = engine_codes()
    assert {"keep_away", "shift_limit", "out_of_range", "when_device", "max", "page_max"} <= set(codes)
    assert "ok" not in codes and "article" not in codes


def test_every_reason_code_is_in_the_manual() -> None:
    # The live rules' stand-ins choose their code in a variable: the kill switch, and no valid rules yet.
    codes = {**engine_codes(), "off": "reload/live.py", "no_rules": "reload/live.py"}
    missing = {code: where for code, where in codes.items() if code not in manual_codes()}
    assert not missing, f"reason codes the manual's tables do not list (code: where it comes from): {missing}"
