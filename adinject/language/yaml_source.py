"""Reading a rule file's YAML with the position of every key, so that a problem can point at file:line:col.

The YAML is composed into PyYAML's node tree (not `safe_load`), because the nodes carry their line and
column; we build the Python data ourselves and keep a map from key path, such as
`("rules", 0, "place", 1, "unit")`, to where that key sits in the file. Pydantic's error locations are then
translated back through that map (messages.py), and the hand-written checks (checks.py) use it too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml
from pydantic import BaseModel

from adinject.language.problems import Problem
from adinject.language.schema import RuleFile

KeyPath = tuple[str | int, ...]
Pos = tuple[int, int]  # 1-based line and column

_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_:-]*")
# Beyond this many nodes, aliases are blowing the document up ("billion laughs"), not sharing a list.
_MAX_NODES = 200_000


@dataclass
class Source:
    """Where things are in one file: key paths to positions, and to the YAML node of their value."""

    keys: dict[KeyPath, Pos] = field(default_factory=dict)  # a mapping key, or a list item
    values: dict[KeyPath, yaml.Node] = field(default_factory=dict)

    def at(self, path: KeyPath) -> Pos:
        """The position of `path`, or of its nearest ancestor that is in the file (defaults are not)."""
        while path:
            if path in self.keys:
                return self.keys[path]
            path = path[:-1]
        return (1, 1)


@dataclass
class File:
    """One file through a load: its bytes, its data with positions, and what validation made of it."""

    name: str  # as shown in problems: the folder joined with the file name
    raw: bytes
    text: str = ""
    data: Any = None
    parsed: bool = False  # the YAML was read; `data` is meaningful
    model: RuleFile | None = None  # set when the file passed schema validation
    data_model: BaseModel | None = None  # set for a data file that passed validation
    templates: dict[str, jinja2.Template] = field(default_factory=dict)  # unit name -> compiled `html`
    variant_templates: dict[tuple[str, str], jinja2.Template] = field(default_factory=dict)
    source: Source = field(default_factory=Source)

    def problem(self, path: KeyPath, message: str, pos: Pos | None = None) -> Problem:
        line, col = pos if pos is not None else self.source.at(path)
        return Problem(self.name, line, col, dotted(path), message)

    def warning(self, path: KeyPath, message: str, pos: Pos | None = None) -> Problem:
        line, col = pos if pos is not None else self.source.at(path)
        return Problem(self.name, line, col, dotted(path), message, "warning")


def read_file(path: Path, problems: list[Problem]) -> File:
    """Read and parse one file's YAML (JSON is YAML too); validation comes once we know what it is."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(str(path), 1, 1, "", f"cannot read the file: {exc.strerror}"))
        return File(str(path), b"")
    file = File(str(path), raw)
    try:
        file.text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.append(Problem(file.name, *_byte_pos(raw, exc.start), "", f"not UTF-8 text ({exc.reason})"))
        return file
    _read_yaml(file, problems)
    return file


def _byte_pos(raw: bytes, offset: int) -> Pos:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return raw.count(b"\n", 0, offset) + 1, offset - line_start + 1


def _text_pos(text: str, offset: int) -> Pos:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


# --- YAML with positions


def _read_yaml(file: File, problems: list[Problem]) -> bool:
    loader = yaml.SafeLoader(file.text)
    try:
        node = loader.get_single_node()
        builder = _TreeBuilder(loader, file, problems)
        file.data = {} if node is None else builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        problems.append(_yaml_problem(file, exc))
        return False
    except yaml.reader.ReaderError as exc:
        problems.append(Problem(file.name, *_text_pos(file.text, exc.position), "", f"YAML: {exc.reason}"))
        return False
    except _TooLarge:
        problems.append(
            Problem(file.name, 1, 1, "", "the file expands to too many values (aliases nested too deep)")
        )
        return False
    finally:
        loader.dispose()
    file.parsed = True
    return True


def _yaml_problem(file: File, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    context, begun = exc.context, exc.context_mark
    if context and begun is not None and begun.line + 1 != line:
        # The mistake is often where the unclosed thing began, not where YAML noticed: point at both.
        message = f"{exc.problem} ({context} that begins at line {begun.line + 1})"
    else:
        message = ", ".join(part for part in (context, exc.problem) if part) or "invalid YAML"
    if exc.problem and "'\\t'" in exc.problem:
        message += "; YAML does not allow tabs for indentation, use spaces"
    return Problem(file.name, line, col, "", f"YAML syntax error: {message}")


class _TooLarge(Exception):
    pass


def _pos(node: yaml.Node) -> Pos:
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


class _TreeBuilder:
    """Python data from a composed YAML node tree, recording where every key and list item is.

    Differences from `yaml.safe_load`, on purpose: mapping keys are always their literal text (so a unit
    called `on` or `no` stays a name rather than becoming a boolean), and a key given twice in one mapping is
    reported instead of the first one silently disappearing.
    """

    def __init__(self, loader: yaml.SafeLoader, file: File, problems: list[Problem]) -> None:
        self._loader = loader
        self._file = file
        self._problems = problems
        self._active: set[int] = set()  # nodes being built: an alias back to one of them is a cycle
        self._count = 0

    def build(self, node: yaml.Node, path: KeyPath) -> Any:
        self._count += 1
        if self._count > _MAX_NODES:
            raise _TooLarge
        if isinstance(node, yaml.ScalarNode):
            return self._loader.construct_object(node)
        if id(node) in self._active:
            self._problems.append(self._file.problem(path, "an alias refers to itself", _pos(node)))
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return self._sequence(node, path)
            assert isinstance(node, yaml.MappingNode)  # the only other kind of node
            return self._mapping(node, path)
        finally:
            self._active.discard(id(node))

    def _sequence(self, node: yaml.SequenceNode, path: KeyPath) -> list[Any]:
        items = []
        for index, item in enumerate(node.value):
            item_path = (*path, index)
            self._file.source.keys[item_path] = _pos(item)
            self._file.source.values[item_path] = item
            items.append(self.build(item, item_path))
        return items

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_pairs(value_node, path))
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            if key in out:
                first_line = self._file.source.keys[(*path, key)][0]
                message = f"duplicate key {key!r} (also at line {first_line}); give each key once"
                self._problems.append(self._file.problem((*path, key), message, _pos(key_node)))
            out[key] = self._entry(path, key, key_node, value_node)
        # Keys merged in with `<<: *defaults` give way to keys written out in the mapping itself.
        for key_node, value_node in merged:
            key = self._key(key_node, path)
            if key is not None and key not in out:
                out[key] = self._entry(path, key, key_node, value_node)
        return out

    def _entry(self, path: KeyPath, key: str, key_node: yaml.Node, value_node: yaml.Node) -> Any:
        key_path = (*path, key)
        self._file.source.keys[key_path] = _pos(key_node)
        self._file.source.values[key_path] = value_node
        return self.build(value_node, key_path)

    def _key(self, key_node: yaml.Node, path: KeyPath) -> str | None:
        if isinstance(key_node, yaml.ScalarNode):
            return str(key_node.value)
        message = "a key must be a plain name, not a list or a mapping"
        self._problems.append(self._file.problem(path, message, _pos(key_node)))
        return None

    def _merge_pairs(self, node: yaml.Node, path: KeyPath) -> list[tuple[yaml.Node, yaml.Node]]:
        """The key/value pairs `<<` brings in, highest precedence first (YAML's merge key semantics)."""
        if isinstance(node, yaml.MappingNode):
            own = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
            inherited = [
                pair for k, v in node.value if k.tag == _MERGE_TAG for pair in self._merge_pairs(v, path)
            ]
            return own + inherited
        if isinstance(node, yaml.SequenceNode):
            return [pair for item in node.value for pair in self._merge_pairs(item, path)]
        message = "<< must be followed by a mapping, or an alias (*name) of one"
        self._problems.append(self._file.problem(path, message, _pos(node)))
        return []


def dotted(path: KeyPath) -> str:
    """`("rules", 0, "place", 1, "unit")` as `rules[0].place[1].unit`; odd unit names are quoted."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        elif _PLAIN_KEY.fullmatch(step):
            out += f".{step}" if out else step
        else:
            out += f"[{json.dumps(step)}]"
    return out
