"""Loading a rules folder: YAML with positions, validation against the schema, and checks across files.

Every problem is collected and reported at once, compiler style (`file:line:col: key: message`), so one run
of `adinject check rules/` lists everything an ad-ops person has to fix. Nothing is half-loaded: either every
file is valid and a `CompiledRules` comes back, or `RulesError` is raised with all the problems.

The YAML is composed into PyYAML's node tree (not `safe_load`), because the nodes carry their line and
column; we build the Python data ourselves and keep a map from key path, such as
`("rules", 0, "place", 1, "unit")`, to where that key sits in the file. Pydantic's error locations are then
translated back through that map.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from adinject.language import sources
from adinject.language.globs import check_glob
from adinject.language.problems import Problem, RulesError
from adinject.language.schema import (
    AUTO,
    MISSING_MARKUP,
    Anchor,
    Bid,
    Gpt,
    LazyLoad,
    OptOut,
    Pages,
    ParagraphText,
    Placement,
    Promotion,
    PromotionFile,
    Promotions,
    Range,
    Referrer,
    Rule,
    RuleFile,
    Schedule,
    Settings,
    Unit,
    Variant,
    When,
)
from adinject.language.selectors import check_selector
from adinject.language.sources import RULE_FILE_SUFFIXES, DataKind
from adinject.language.templates import environment

__all__ = [
    "RULE_FILE_SUFFIXES",
    "CompiledRules",
    "CompiledUnit",
    "CompiledVariant",
    "dotted",
    "load_rule_set",
]

KeyPath = tuple[str | int, ...]
Pos = tuple[int, int]  # 1-based line and column

_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_:-]*")
# Beyond this many nodes, aliases are blowing the document up ("billion laughs"), not sharing a list.
_MAX_NODES = 200_000


@dataclass(frozen=True)
class CompiledVariant:
    name: str
    weight: int
    template: jinja2.Template


@dataclass(frozen=True)
class CompiledUnit:
    name: str
    spec: Unit
    template: jinja2.Template  # `html`, or the first variant's for a unit with variants
    variants: tuple[CompiledVariant, ...] = ()
    promotions: tuple[Promotion, ...] = ()  # the items of its promotions file

    def template_for(self, variant: str) -> jinja2.Template:
        for compiled in self.variants:
            if compiled.name == variant:
                return compiled.template
        return self.template


@dataclass(frozen=True)
class CompiledRules:
    rules: tuple[Rule, ...]  # enabled and disabled, in file order (files sorted by name, then order in file)
    units: Mapping[str, CompiledUnit]
    settings: Settings  # defaults when no file sets it
    files: tuple[str, ...]
    version: str  # short sha256 of every file's name and bytes (data files too): changes with any of them
    origins: Mapping[str, tuple[str, int]]  # rule name -> (file, line), for reports
    data_files: tuple[str, ...] = ()  # data files the units read (promotions), as shown in problems


def load_rule_set(path: str | os.PathLike[str]) -> CompiledRules:
    """Load a rules folder (every `*.yaml` and `*.yml` in it, sorted by name) or a single rule file.

    Raises `RulesError` with every problem found, in file order and then line order.
    """
    root = Path(path)
    folder = root if root.is_dir() else root.parent
    problems: list[Problem] = []
    found = [_read_file(f, problems) for f in _rule_files(root, problems)]
    # A YAML file a unit reads as data (promotions) is not a rule file, wherever it sits in the folder.
    refs = _data_references(found, folder, problems)
    files = [f for f in found if _resolved(f.name) not in refs]
    for file in files:
        if file.parsed:
            _validate(file, problems)
    data = _load_data_files(refs, {_resolved(f.name): f for f in found}, folder, problems)
    if files:
        _check_across_files(files, problems)
    if problems:
        order = {f.name: i for i, f in enumerate([*files, *data.values()])}
        problems.sort(key=lambda p: (order.get(p.file, -1), p.line, p.col))
        raise RulesError(problems)
    return _compile(files, data, folder)


# --- finding and reading files


def _rule_files(root: Path, problems: list[Problem]) -> list[Path]:
    if not root.is_file() and not root.is_dir():
        problems.append(Problem(str(root), 1, 1, "", "no such file or folder"))
        return []
    found = sources.rule_files(root)
    if not found:
        problems.append(Problem(str(root), 1, 1, "", "no rule files (*.yaml, *.yml) in this folder"))
    return found


@dataclass
class _Source:
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
class _File:
    name: str  # as shown in problems: the folder joined with the file name
    raw: bytes
    text: str = ""
    data: Any = None
    parsed: bool = False  # the YAML was read; `data` is meaningful
    model: RuleFile | None = None  # set when the file passed schema validation
    data_model: BaseModel | None = None  # set for a data file that passed validation
    templates: dict[str, jinja2.Template] = field(default_factory=dict)  # unit name -> compiled `html`
    variant_templates: dict[tuple[str, str], jinja2.Template] = field(default_factory=dict)
    source: _Source = field(default_factory=_Source)

    def problem(self, path: KeyPath, message: str, pos: Pos | None = None) -> Problem:
        line, col = pos if pos is not None else self.source.at(path)
        return Problem(self.name, line, col, dotted(path), message)


def _read_file(path: Path, problems: list[Problem]) -> _File:
    """Read and parse one file's YAML (JSON is YAML too); validation comes once we know what it is."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(str(path), 1, 1, "", f"cannot read the file: {exc.strerror}"))
        return _File(str(path), b"")
    file = _File(str(path), raw)
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


def _read_yaml(file: _File, problems: list[Problem]) -> bool:
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


def _yaml_problem(file: _File, exc: yaml.MarkedYAMLError) -> Problem:
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

    def __init__(self, loader: yaml.SafeLoader, file: _File, problems: list[Problem]) -> None:
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


# --- schema validation, with pydantic's errors translated to positions and plain words


def _validate(file: _File, problems: list[Problem]) -> None:
    try:
        file.model = RuleFile.model_validate(file.data)
    except ValidationError as exc:
        problems.extend(_translate(file, exc.errors()))


def _validate_data(file: _File, kind: DataKind, problems: list[Problem]) -> None:
    try:
        file.data_model = kind.model.model_validate(file.data)
    except ValidationError as exc:
        problems.extend(_translate(file, exc.errors(), kind.model))


@dataclass(frozen=True)
class _Located:
    error: ErrorDetails
    path: KeyPath  # where in the data; for a missing key, the path of the key that should be there
    # The error is about one alternative of a union (`3` or `[3, 8]`), not about the value as a whole.
    union_branch: bool


def _translate(file: _File, errors: list[ErrorDetails], top: type[BaseModel] = RuleFile) -> list[Problem]:
    # A unit without html or variants is reported by _check_units, also when the unit has other problems
    # (pydantic runs the model's own check only when every field passed).
    errors = [e for e in errors if str(e.get("ctx", {}).get("error")) != MISSING_MARKUP]
    located = [_locate(error, file.data) for error in errors]
    # When one alternative of a union got further into the value (the list form of `after_paragraph` failed on
    # item 2), the "it is not a number" errors of the other alternatives are noise.
    deeper = {e.path[:n] for e in located for n in range(len(e.path))}
    located = [e for e in located if not (e.union_branch and e.path in deeper)]
    problems: list[Problem] = []
    groups: dict[KeyPath, list[_Located]] = {}
    for item in located:
        if item.union_branch:
            groups.setdefault(item.path, []).append(item)
        else:
            problems.append(_problem_for(file, item, top))
    problems.extend(_union_problem(file, path, group) for path, group in groups.items())
    return problems


def _locate(error: ErrorDetails, data: Any) -> _Located:
    loc = tuple(error["loc"])
    if error["type"] == "missing" and loc:
        path, tagged = _data_path(loc[:-1], data)
        return _Located(error, (*path, loc[-1]), tagged)
    path, tagged = _data_path(loc, data)
    return _Located(error, path, tagged)


def _data_path(loc: tuple[str | int, ...], data: Any) -> tuple[KeyPath, bool]:
    """Follow pydantic's `loc` through the data; steps that are not keys or indexes are union branch tags."""
    path: list[str | int] = []
    node = data
    tagged = False
    for step in loc:
        if _can_step(node, step):
            node = node[step]
            path.append(step)
        else:
            tagged = True
    return tuple(path), tagged


def _can_step(node: Any, step: str | int) -> bool:
    if isinstance(node, dict):
        return isinstance(step, str) and step in node
    return isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)


def _problem_for(file: _File, item: _Located, top: type[BaseModel] = RuleFile) -> Problem:
    kind = item.error["type"]
    if kind == "missing":
        key = item.path[-1]
        return file.problem(item.path, f"required key {key!r} is missing", file.source.at(item.path[:-1]))
    if kind == "extra_forbidden":
        return file.problem(item.path, _unknown_key_message(item.path, top))
    pattern = _pattern_message(item.error, item.path)
    if pattern is not None:
        return file.problem(item.path, pattern)
    if not item.path and kind == "model_type":
        message = (
            "a rule file should be a mapping with the keys units, rules and settings"
            if top is RuleFile
            else "a promotions file should be a mapping with the key promotions (a list)"
        )
        return file.problem(item.path, message + _got(item.error))
    return file.problem(item.path, _message(item.error))


# What a value must look like, in words, for the keys whose values pydantic checks with a regular expression
# (keyed by the key, or by the mapping whose keys are checked).
_PATTERN_HINTS = {
    "ad_unit": "should be an ad unit path: a slash, the network code, then the ad unit codes, as in "
    "/1234/news/in-article",
    "targeting": "should be a key of at most 20 letters, digits, _ or -",
    "bidder": "should be a Prebid bidder code: letters, digits, _ or -",
    "bucket_header": "should be a header name, such as x-user-id",
    "gpt_library_url": "should be an https:// address or a path on the site (starting with /)",
    "experiment": "should be a name of letters, digits, _ or -",
    "variants": "should be a variant name of letters, digits, _ or -",
    "domains": "should be a domain name, such as google.com (no https://, no path)",
    "exclude_domains": "should be a domain name, such as google.com (no https://, no path)",
}


def _pattern_hint(path: KeyPath) -> str | None:
    for step in reversed(path):
        if isinstance(step, str) and step in _PATTERN_HINTS:
            return _PATTERN_HINTS[step]
    return None


# What pydantic's type errors expect, in words for people who write YAML rather than Python.
_EXPECTED = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "text",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
    "timezone_aware": "a date and time with its UTC offset, e.g. 2026-12-01T00:00:00+01:00",
    "datetime_type": "a date and time with its UTC offset, e.g. 2026-12-01T00:00:00+01:00",
    "datetime_parsing": "a date and time with its UTC offset, e.g. 2026-12-01T00:00:00+01:00",
    "datetime_from_date_parsing": "a date and time with its UTC offset, e.g. 2026-12-01T00:00:00+01:00",
}


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind in _EXPECTED:
        return f"should be {_EXPECTED[kind]}{_got(error)}"
    message = error["msg"].removeprefix("Value error, ").replace(" after validation", "")
    if message.startswith(("Input should", "List should", "Dictionary should", "String should")):
        message = "should" + message.split(" should", 1)[1]
    # The value helps in "greater than or equal to 1 (got 0)", not in "at least 1 item (got a list)".
    scalar = not isinstance(error.get("input"), dict | list)
    return message + _got(error) if scalar and kind != "value_error" else message


def _union_problem(file: _File, path: KeyPath, group: list[_Located]) -> Problem:
    kinds = [item.error["type"] for item in group]
    if all(kind in _EXPECTED for kind in kinds):
        expected = list(dict.fromkeys(_EXPECTED[kind] for kind in kinds))
        if "a number" in expected and "a whole number" in expected:
            expected.remove("a whole number")  # a number covers it
        choices = ", ".join(expected[:-1]) + " or " + expected[-1] if len(expected) > 1 else expected[0]
        return file.problem(path, f"should be {choices}{_got(group[0].error)}")
    messages = dict.fromkeys(_pattern_message(item.error, path) or _message(item.error) for item in group)
    return file.problem(path, "; or ".join(messages))


def _pattern_message(error: ErrorDetails, path: KeyPath) -> str | None:
    hint = _pattern_hint(path) if error["type"] == "string_pattern_mismatch" else None
    return hint + _got(error) if hint is not None else None


def _got(error: ErrorDetails) -> str:
    value = error.get("input")
    if isinstance(value, dict):
        return " (got a mapping)"
    if isinstance(value, list):
        return " (got a list)"
    if value is None:
        return " (got an empty value)"
    if isinstance(value, bool):
        return f" (got {str(value).lower()})"
    text = repr(value) if isinstance(value, str) else str(value)
    return f" (got {text[:60]}{'...' if len(text) > 60 else ''})"


# Where each model appears in a rule file, for "unknown key" messages.
_MODEL_PLACES: dict[type[BaseModel], str] = {
    RuleFile: "the top level of the file",
    Unit: "a unit",
    Rule: "a rule",
    Pages: "pages",
    ParagraphText: "paragraph_text",
    Placement: "a place entry",
    Anchor: "after_anchor",
    Settings: "settings",
    When: "when",
    Range: "words",
    Schedule: "schedule",
    Referrer: "referrer",
    Variant: "a variant",
    Gpt: "gpt",
    LazyLoad: "lazy_load",
    Bid: "a prebid bidder",
    Promotions: "promotions",
    OptOut: "opt_out",
    PromotionFile: "the top level of a promotions file",
    Promotion: "a promotion",
}


def _unknown_key_message(path: KeyPath, top: type[BaseModel] = RuleFile) -> str:
    key = str(path[-1])
    model = _model_at(path[:-1], top)
    if model is None:
        return f"unknown key {key!r}"
    where = _MODEL_PLACES.get(model, model.__name__)
    known = list(model.model_fields)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"unknown key {key!r} in {where}; did you mean {close[0]!r}?"
    elsewhere = [
        place for other, place in _MODEL_PLACES.items() if other is not model and key in other.model_fields
    ]
    if elsewhere:
        return f"unknown key {key!r} in {where}; {key!r} belongs in {' or '.join(elsewhere)}"
    return f"unknown key {key!r} in {where}; the keys here are: {', '.join(known)}"


def _model_at(path: KeyPath, top: type[BaseModel] = RuleFile) -> type[BaseModel] | None:
    """The schema model that validates the mapping at `path` (a data path, without union tags)."""
    annotation: Any = top
    for step in path:
        annotation = _step_into(annotation, step)
        if annotation is None:
            return None
    return next(iter(_models_in(annotation)), None)


def _step_into(annotation: Any, step: str | int) -> Any:
    for member in _union_members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            if isinstance(step, str) and step in member.model_fields:
                return member.model_fields[step].annotation
            continue
        origin, args = typing.get_origin(member), typing.get_args(member)
        if origin is list and isinstance(step, int):
            return args[0]
        if origin is dict and isinstance(step, str):
            return args[1]
    return None


def _union_members(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) is typing.Annotated:
        return _union_members(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _union_members(arg)]
    return [annotation]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    return [m for m in _union_members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]


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


# --- checks the schema cannot make: references, uniqueness, selectors, globs, templates
#
# These run on the raw data of every file that parsed, not only on files that passed the schema, so that one
# run reports a bad selector even when the same file also has a typo in a key. Values of the wrong type are
# skipped here: the schema has reported them already.


def _check_across_files(files: list[_File], problems: list[Problem]) -> None:
    parsed = [f for f in files if f.parsed]
    for file in parsed:
        problems.extend(_check_rule_values(file))
        problems.extend(_check_templates(file))
        problems.extend(_check_units(file))
        problems.extend(_check_class_names(file))
    problems.extend(_check_unique_units(parsed))
    problems.extend(_check_unique_rules(parsed))
    problems.extend(_check_single_settings(parsed))
    # If a file could not be read, we do not know its units: every reference would look broken.
    if len(parsed) == len(files):
        problems.extend(_check_unit_references(parsed))


def _raw_rules(file: _File) -> Iterator[tuple[int, dict[str, Any]]]:
    rules = file.data.get("rules") if isinstance(file.data, dict) else None
    if isinstance(rules, list):
        for index, rule in enumerate(rules):
            if isinstance(rule, dict):
                yield index, rule


def _raw_places(rule: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    places = rule.get("place")
    if isinstance(places, list):
        for index, place in enumerate(places):
            if isinstance(place, dict):
                yield index, place


def _raw_units(file: _File) -> dict[str, Any]:
    units = file.data.get("units") if isinstance(file.data, dict) else None
    return units if isinstance(units, dict) else {}


def _strings(value: Any, path: KeyPath, *, single: bool, many: bool) -> Iterator[tuple[KeyPath, str]]:
    """The text values at `path`: the value itself (`single`) and/or the items of a list (`many`)."""
    if single and isinstance(value, str):
        yield path, value
    elif many and isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield (*path, index), item


def _rule_selectors(index: int, rule: dict[str, Any]) -> Iterator[tuple[KeyPath, str]]:
    base: KeyPath = ("rules", index)
    for path, sel in _strings(rule.get("container"), (*base, "container"), single=True, many=True):
        if sel != AUTO:
            yield path, sel
    yield from _strings(rule.get("paragraphs"), (*base, "paragraphs"), single=True, many=False)
    yield from _strings(rule.get("ignore_inside"), (*base, "ignore_inside"), single=False, many=True)
    for place_index, place in _raw_places(rule):
        place_path = (*base, "place", place_index)
        yield from _strings(
            place.get("keep_away_from"), (*place_path, "keep_away_from"), single=False, many=True
        )
        anchor = place.get("after_anchor")
        if isinstance(anchor, dict):
            yield from _strings(
                anchor.get("selector"), (*place_path, "after_anchor", "selector"), single=True, many=False
            )


def _check_rule_values(file: _File) -> Iterator[Problem]:
    for index, rule in _raw_rules(file):
        for path, sel in _rule_selectors(index, rule):
            error = check_selector(sel)
            if error is not None:
                yield file.problem(path, error)
        pages = rule.get("pages")
        if isinstance(pages, dict):
            for key in ("paths", "exclude_paths"):
                for path, glob in _strings(
                    pages.get(key), ("rules", index, "pages", key), single=False, many=True
                ):
                    error = check_glob(glob)
                    if error is not None:
                        yield file.problem(path, error)
        name = rule.get("name")
        if isinstance(name, str) and not name.strip():
            yield file.problem(("rules", index, "name"), "a rule name must not be empty")


def _unit_markups(name: str, unit: Any) -> Iterator[tuple[KeyPath, str, str | None]]:
    """Every template text of a raw unit: (its path, the text, the variant name or None for `html`)."""
    if not isinstance(unit, dict):
        return
    html = unit.get("html")
    if isinstance(html, str):
        yield ("units", name, "html"), html, None
    variants = unit.get("variants")
    if isinstance(variants, dict):
        for variant, spec in variants.items():
            text = spec.get("html") if isinstance(spec, dict) else None
            if isinstance(text, str):
                yield ("units", name, "variants", variant, "html"), text, variant


def _check_templates(file: _File) -> Iterator[Problem]:
    for name, unit in _raw_units(file).items():
        for path, text, variant in _unit_markups(name, unit):
            try:
                template = environment().from_string(text)
            except jinja2.TemplateSyntaxError as exc:
                yield file.problem(
                    path, f"template error: {exc.message}", _template_pos(file, path, exc.lineno)
                )
                continue
            if variant is None:
                file.templates[name] = template
            else:
                file.variant_templates[(name, variant)] = template


_SLOT_ID = re.compile(r"\bslot\.id\b|slot\[\s*['\"]id['\"]\s*\]")


def _check_units(file: _File) -> Iterator[Problem]:
    """A unit has markup; what GPT needs of it: its markup gives the slot's element its id, Prebid gets sizes
    and plain values."""
    for name, unit in _raw_units(file).items():
        if isinstance(unit, dict) and "html" not in unit and "variants" not in unit:
            # Where a missing key is reported: at the unit's mapping, under the key it lacks.
            yield file.problem(("units", name, "html"), MISSING_MARKUP, file.source.at(("units", name)))
        gpt = unit.get("gpt") if isinstance(unit, dict) else None
        if not isinstance(gpt, dict):
            continue
        for path, text, _ in _unit_markups(name, unit):
            if not _SLOT_ID.search(text):
                yield file.problem(
                    path,
                    'a unit with gpt needs an element with id="{{ slot.id }}": GPT fills the element with '
                    "the slot's id",
                )
        bids = gpt.get("prebid")
        sizes = gpt.get("sizes")
        if isinstance(bids, list) and bids and isinstance(sizes, list) and all(s == "fluid" for s in sizes):
            yield file.problem(
                ("units", name, "gpt", "prebid"), "Prebid needs at least one [width, height] size"
            )
        for index, bid in enumerate(bids if isinstance(bids, list) else []):
            params = bid.get("params") if isinstance(bid, dict) else None
            if params is None:
                continue
            try:
                json.dumps(params, allow_nan=False)
            except (TypeError, ValueError):
                path = ("units", name, "gpt", "prebid", index, "params")
                yield file.problem(
                    path, "params must be plain values (text, numbers, true/false, lists, mappings)"
                )


def _check_class_names(file: _File) -> Iterator[Problem]:
    places: list[tuple[KeyPath, Any]] = []
    for index, rule in _raw_rules(file):
        when = rule.get("when")
        if isinstance(when, dict):
            places.append((("rules", index, "when", "exclude_classes"), when.get("exclude_classes")))
    settings = file.data.get("settings") if isinstance(file.data, dict) else None
    opt_out = settings.get("opt_out") if isinstance(settings, dict) else None
    if isinstance(opt_out, dict):
        places.append((("settings", "opt_out", "classes"), opt_out.get("classes")))
    for base, value in places:
        for path, cls in _strings(value, base, single=False, many=True):
            if cls.startswith("."):
                yield file.problem(path, f"write the class name without the dot: {cls[1:]!r}")
            elif not cls or any(ch.isspace() for ch in cls):
                yield file.problem(path, f"{cls!r} is not a class name (one name, no spaces)")


def _template_pos(file: _File, path: KeyPath, lineno: int) -> Pos:
    """Best effort: the YAML line of template line `lineno`, and the column where that line's text starts."""
    node = file.source.values.get(path)
    if node is None or node.start_mark is None:
        return file.source.at(path)
    block = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
    # A block scalar's text starts on the line after `|`; a quoted or plain one starts where the value does.
    line = node.start_mark.line + (1 if block else 0) + max(lineno, 1)
    lines = file.text.splitlines()
    if block and line <= len(lines):
        text = lines[line - 1]
        return line, len(text) - len(text.lstrip()) + 1
    return line, node.start_mark.column + 1


def _check_unique_units(files: list[_File]) -> Iterator[Problem]:
    first: dict[str, tuple[str, int]] = {}
    for file in files:
        for name in _raw_units(file):
            path: KeyPath = ("units", name)
            line = file.source.at(path)[0]
            if name in first:
                where = _where(first[name], file.name)
                yield file.problem(
                    path, f"unit {name!r} is already defined at {where}; unit names must be unique"
                )
            else:
                first[name] = (file.name, line)


def _check_unique_rules(files: list[_File]) -> Iterator[Problem]:
    first: dict[str, tuple[str, int]] = {}
    for file in files:
        for index, rule in _raw_rules(file):
            name = rule.get("name")
            if not isinstance(name, str) or not name.strip():
                continue
            if name in first:
                where = _where(first[name], file.name)
                message = f"rule name {name!r} is already used at {where}; rule names must be unique"
                yield file.problem(("rules", index, "name"), message)
            else:
                first[name] = (file.name, file.source.at(("rules", index))[0])


def _check_single_settings(files: list[_File]) -> Iterator[Problem]:
    first: tuple[str, int] | None = None
    for file in files:
        if not isinstance(file.data, dict) or file.data.get("settings") is None:
            continue
        line = file.source.at(("settings",))[0]
        if first is None:
            first = (file.name, line)
        else:
            message = f"settings are already given at {_where(first, file.name)}; give them in one file only"
            yield file.problem(("settings",), message)


def _check_unit_references(files: list[_File]) -> Iterator[Problem]:
    known = sorted({name for file in files for name in _raw_units(file)})
    for file in files:
        for index, rule in _raw_rules(file):
            for place_index, place in _raw_places(rule):
                unit = place.get("unit")
                if isinstance(unit, str) and unit not in known:
                    path: KeyPath = ("rules", index, "place", place_index, "unit")
                    yield file.problem(path, _unknown_unit_message(unit, known))


def _unknown_unit_message(unit: str, known: list[str]) -> str:
    if not known:
        return f"there is no unit named {unit!r}: no file defines any units (add them under `units:`)"
    close = difflib.get_close_matches(unit, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"there is no unit named {unit!r}{hint} (units: {', '.join(known)})"


def _where(origin: tuple[str, int], current_file: str) -> str:
    file, line = origin
    return f"line {line}" if file == current_file else f"{file}:{line}"


# --- data files (promotions)


def _resolved(name: str | Path) -> Path:
    return Path(name).resolve()


def _data_references(files: list[_File], folder: Path, problems: list[Problem]) -> dict[Path, DataKind]:
    """The data files the units name, resolved in the rules folder, and their kind."""
    refs: dict[Path, DataKind] = {}
    for file in files:
        if not file.parsed:
            continue
        for name, wanted, kind in sources.data_file_names(_raw_units(file)):
            try:
                target = sources.locate_data_file(folder, wanted)
            except ValueError as exc:
                problems.append(file.problem(kind.path(name), str(exc)))
                continue
            refs.setdefault(target, kind)
    return refs


def _load_data_files(
    refs: dict[Path, DataKind],
    read: dict[Path, _File],
    folder: Path,
    problems: list[Problem],
) -> dict[Path, _File]:
    out: dict[Path, _File] = {}
    for target in sorted(refs):
        file = read.get(target)
        if file is None:  # not a top-level YAML file of the folder: a .json, or in a sub-folder
            file = _read_file(folder / target.relative_to(folder.resolve()), problems)
        if file.parsed:
            _validate_data(file, refs[target], problems)
        out[target] = file
    return out


# --- the result


def _compile(files: list[_File], data: dict[Path, _File], folder: Path) -> CompiledRules:
    models = [(f, f.model) for f in files if f.model is not None]
    units: dict[str, CompiledUnit] = {}
    rules: list[Rule] = []
    origins: dict[str, tuple[str, int]] = {}
    settings = Settings()
    base = folder.resolve()
    for file, model in models:
        for name, spec in model.units.items():
            variants = tuple(
                CompiledVariant(variant, v.weight, file.variant_templates[(name, variant)])
                for variant, v in (spec.variants or {}).items()
            )
            promotions: tuple[Promotion, ...] = ()
            if spec.promotions is not None:
                data_model = data[(base / spec.promotions.file).resolve()].data_model
                assert isinstance(data_model, PromotionFile)  # a data file with problems raised RulesError
                promotions = tuple(data_model.promotions)
            template = file.templates[name] if spec.html is not None else variants[0].template
            units[name] = CompiledUnit(name, spec, template, variants, promotions)
        for index, rule in enumerate(model.rules):
            rules.append(rule)
            origins[rule.name] = (file.name, file.source.at(("rules", index))[0])
        if model.settings is not None:
            settings = model.settings
    data_files = [data[target] for target in sorted(data)]
    return CompiledRules(
        rules=tuple(rules),
        units=types.MappingProxyType(units),
        settings=settings,
        files=tuple(f.name for f in files),
        version=_version(files, data, folder),
        origins=types.MappingProxyType(origins),
        data_files=tuple(f.name for f in data_files),
    )


def _version(files: list[_File], data: dict[Path, _File], folder: Path) -> str:
    """The version of exactly the bytes loaded (not of a second read, which may already differ)."""
    raw = {_resolved(f.name): f.raw for f in [*files, *data.values()]}
    named = sources.named(folder, [Path(f.name) for f in files], data)
    return sources.version((name, raw[path.resolve()]) for name, path in named)
