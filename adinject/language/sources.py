"""The files a rule set consists of, and the one version over all of them.

A rule set is a folder of rule files (every `*.yaml` and `*.yml` in it, sorted by name) or a single rule
file, plus the data files its units name (a unit's promotions list), which may be `.json` or sit in a
sub-folder. The loader reads these files and stamps the compiled rules with their version; live reload
watches these files and compares the same version to tell a change from a touch. Both ask this module, so a
new kind of file is added here once and is then loaded, versioned and watched alike.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from adinject.language.schema import PromotionFile

__all__ = [
    "DATA_FILE_SUFFIXES",
    "DATA_KINDS",
    "RULE_FILE_SUFFIXES",
    "DataKind",
    "absolute",
    "data_file_names",
    "folder_of",
    "locate_data_file",
    "named",
    "on_disk",
    "rule_files",
    "version",
    "version_on_disk",
]

RULE_FILE_SUFFIXES = (".yaml", ".yml")
DATA_FILE_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class DataKind:
    """A kind of data file: the unit key whose `file` names it, and the schema the file follows."""

    key: str
    model: type[BaseModel]

    def path(self, unit: str) -> tuple[str, ...]:
        """Where in a rule file the unit `unit` names its file of this kind."""
        return ("units", unit, self.key, "file")


DATA_KINDS = (DataKind("promotions", PromotionFile),)


def absolute(path: Path) -> Path:
    """`path` made absolute without following symbolic links. A file keeps the name it has in the rules
    folder: in a Kubernetes ConfigMap volume `promos.json` is a link to `..data/promos.json`, and `..data` to
    a folder named for the time of the update, which differs from server to server and from one update to
    the next; the version, the messages and the next look at the file go by `promos.json`."""
    return Path(os.path.abspath(path))


def folder_of(root: Path) -> Path:
    """The rules folder: `root` itself, or the folder of a single rule file. Data files are named in it."""
    return root if root.is_dir() else root.parent


def rule_files(root: Path) -> list[Path]:
    """The rule files of a rules folder, sorted by name, or `[root]` when it is a single file.

    Hidden files (an editor's `.name.yaml.swp`) are not rule files. Raises OSError when `root` is neither a
    file nor a folder that can be listed.
    """
    if root.is_file():
        return [root]
    return sorted(
        (
            p
            for p in root.iterdir()
            if p.suffix in RULE_FILE_SUFFIXES and not p.name.startswith(".") and p.is_file()
        ),
        key=lambda p: p.name,
    )


def data_file_names(units: Any) -> Iterator[tuple[str, str, DataKind]]:
    """(unit, the file name as written, its kind) for every data file the raw `units:` mapping names.

    Raw data, before validation: values of the wrong type are skipped (the schema reports them).
    """
    if not isinstance(units, dict):
        return
    for name, unit in units.items():
        for kind in DATA_KINDS:
            spec = unit.get(kind.key) if isinstance(unit, dict) else None
            wanted = spec.get("file") if isinstance(spec, dict) else None
            if isinstance(wanted, str):
                yield name, wanted, kind


def locate_data_file(folder: Path, wanted: str) -> Path:
    """The data file `wanted` names in the rules folder (`absolute`; checked where its links lead). Raises
    ValueError saying what is wrong."""
    base = folder.resolve()
    target = (base / wanted).resolve()
    if Path(wanted).is_absolute() or not target.is_relative_to(base):
        raise ValueError(f"{wanted!r} is outside the rules folder: name a file in it")
    if target.suffix not in DATA_FILE_SUFFIXES:
        raise ValueError(f"{wanted!r} is not a .yaml, .yml or .json file")
    if not target.is_file():
        raise ValueError(f"there is no data file {wanted!r} in the rules folder")
    return absolute(folder / wanted)


def named(folder: Path, rules: Iterable[Path], data: Iterable[Path]) -> list[tuple[str, Path]]:
    """Every file of the rule set under the name the version is taken with, in the version's order.

    A rule file goes by its file name. A data file may sit in a sub-folder, so it goes by its path in the
    folder, marked `data:` so that no rule file can collide with it; it is listed once, as data, also when
    it sits among the rule files (a YAML file a unit reads as data is not a rule file: the same file where
    the links lead). Data files come `absolute`, in sorted order.
    """
    base = absolute(folder)
    targets = sorted({absolute(path) for path in data})
    taken = {target.resolve() for target in targets}
    out = [(path.name, path) for path in rules if path.resolve() not in taken]
    for target in targets:
        try:
            shown = target.relative_to(base).as_posix()
        except ValueError:  # named outside the folder (given so by a caller)
            shown = str(target)
        out.append((f"data:{shown}", target))
    return out


def version(contents: Iterable[tuple[str, bytes]]) -> str:
    """A short sha256 of every file's name and bytes, in order: it changes with any of them."""
    digest = hashlib.sha256()
    for name, data in contents:
        # Length-prefixed: moving bytes from the end of one file to the start of the next changes it too.
        encoded = name.encode()
        digest.update(b"%d:%s%d:" % (len(encoded), encoded, len(data)))
        digest.update(data)
    return digest.hexdigest()[:12]


def on_disk(root: Path, data: Iterable[Path]) -> list[tuple[str, Path]]:
    """`named` for the rule files in `root` now, and the data files given (those the last load read)."""
    try:
        rules = rule_files(root)
    except OSError:  # gone, or not readable: no rule files, which loading will report
        rules = []
    return named(folder_of(root), rules, data)


def version_on_disk(root: Path, data: Iterable[Path]) -> str:
    """The version the loader would give the files as they are now, if they name the same data files.

    A file that cannot be read counts as its error, so that it becoming readable again is a change.
    """
    return version((name, _read(path)) for name, path in on_disk(root, data))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        return f"unreadable: {exc.errno}".encode()
