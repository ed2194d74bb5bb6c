"""Loading a rules folder: YAML with positions, validation against the schema, and checks across files.

Every problem is collected and reported at once, compiler style (`file:line:col: key: message`), so one run
of `adinject check rules/` lists everything an ad-ops person has to fix. Nothing is half-loaded: either every
file is valid and a `CompiledRules` comes back, or `RulesError` is raised with all the problems.

The steps live beside this module: which files (sources.py), reading YAML with positions (yaml_source.py),
the schema's errors in plain words (messages.py), the checks the schema cannot make (checks.py) and the
result (compile.py).
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

from adinject.language import sources
from adinject.language.checks import check_across_files, raw_units
from adinject.language.compile import CompiledRules, CompiledUnit, CompiledVariant, compile_rules
from adinject.language.messages import validate_data_file, validate_rule_file
from adinject.language.problems import Problem, RulesError, unexpected
from adinject.language.schema import GPT_LIBRARY_HOSTS
from adinject.language.sources import RULE_FILE_SUFFIXES, DataKind
from adinject.language.yaml_source import File, dotted, read_file

__all__ = [
    "RULE_FILE_SUFFIXES",
    "CompiledRules",
    "CompiledUnit",
    "CompiledVariant",
    "dotted",
    "load_rule_set",
]


def load_rule_set(
    path: str | os.PathLike[str], *, gpt_hosts: Collection[str] = GPT_LIBRARY_HOSTS
) -> CompiledRules:
    """Load a rules folder (every `*.yaml` and `*.yml` in it, sorted by name) or a single rule file.

    Raises `RulesError` with every problem found, in file order and then line order (warnings among them),
    and nothing else: an unexpected exception while loading (a bug, or a library failing on some input) is
    reported as a problem of the folder, so that whoever loads rules has one failure to handle. Warnings
    alone do not stop the load: they come back in `CompiledRules.warnings`. `gpt_hosts`: the hosts
    `settings.gpt_library_url` may name (a path on the site is always allowed).
    """
    try:
        return _load(Path(path), gpt_hosts)
    except RulesError:
        raise
    except Exception as exc:
        raise unexpected(str(path), exc) from exc


def _load(root: Path, gpt_hosts: Collection[str]) -> CompiledRules:
    folder = sources.folder_of(root)
    problems: list[Problem] = []
    found = [read_file(f, problems) for f in _rule_files(root, problems)]
    # A YAML file a unit reads as data (promotions) is not a rule file, wherever it sits in the folder.
    refs = _data_references(found, folder, problems)
    as_data = {target.resolve() for target in refs}
    files = [f for f in found if _resolved(f.name) not in as_data]
    for file in files:
        if file.parsed:
            validate_rule_file(file, problems)
    data = _load_data_files(refs, {_resolved(f.name): f for f in found}, folder, problems)
    if files:
        check_across_files(files, problems, gpt_hosts=gpt_hosts)
    order = {f.name: i for i, f in enumerate([*files, *data.values()])}
    problems.sort(key=lambda p: (order.get(p.file, -1), p.line, p.col))
    if any(p.is_error for p in problems):
        raise RulesError(problems)
    return compile_rules(files, data, folder, warnings=tuple(problems))


# --- finding and reading files


def _rule_files(root: Path, problems: list[Problem]) -> list[Path]:
    if not root.is_file() and not root.is_dir():
        # A relative path is the usual slip (a server started from another folder): say where it looked.
        where = f"looked for {sources.absolute(root)}; the working directory is {os.getcwd()}"
        problems.append(Problem(str(root), 1, 1, "", f"no such file or folder ({where})"))
        return []
    found = sources.rule_files(root)
    if not found:
        problems.append(Problem(str(root), 1, 1, "", "no rule files (*.yaml, *.yml) in this folder"))
    return found


# --- data files (promotions)


def _resolved(name: str | Path) -> Path:
    return Path(name).resolve()


def _data_references(files: list[File], folder: Path, problems: list[Problem]) -> dict[Path, DataKind]:
    """The data files the units name, resolved in the rules folder, and their kind."""
    refs: dict[Path, DataKind] = {}
    for file in files:
        if not file.parsed:
            continue
        for name, wanted, kind in sources.data_file_names(raw_units(file)):
            try:
                target = sources.locate_data_file(folder, wanted)
            except ValueError as exc:
                problems.append(file.problem(kind.path(name), str(exc)))
                continue
            refs.setdefault(target, kind)
    return refs


def _load_data_files(
    refs: dict[Path, DataKind],
    read: dict[Path, File],
    folder: Path,
    problems: list[Problem],
) -> dict[Path, File]:
    out: dict[Path, File] = {}
    for target in sorted(refs):
        file = read.get(target.resolve())
        if file is None:  # not a top-level YAML file of the folder: a .json, or in a sub-folder
            file = read_file(folder / target.relative_to(sources.absolute(folder)), problems)
        if file.parsed:
            validate_data_file(file, refs[target], problems)
        out[target] = file
    return out
