"""Schema validation, with pydantic's errors translated to positions and plain words.

Pydantic locates an error by its path through the models (with the tags of union branches in it) and words it
for Python programmers; the people who fix rule files write YAML. Each error is followed back through the
data to the key it is about, placed at that key's line and column, and said in their words.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from adinject.language.problems import Problem
from adinject.language.schema import (
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
from adinject.language.sources import DataKind
from adinject.language.yaml_source import File, KeyPath


def validate_rule_file(file: File, problems: list[Problem]) -> None:
    try:
        file.model = RuleFile.model_validate(file.data)
    except ValidationError as exc:
        problems.extend(_translate(file, exc.errors()))


def validate_data_file(file: File, kind: DataKind, problems: list[Problem]) -> None:
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


def _translate(file: File, errors: list[ErrorDetails], top: type[BaseModel] = RuleFile) -> list[Problem]:
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


def _problem_for(file: File, item: _Located, top: type[BaseModel] = RuleFile) -> Problem:
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


def _union_problem(file: File, path: KeyPath, group: list[_Located]) -> Problem:
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
    Anchor: "after_anchor or before_anchor",
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
