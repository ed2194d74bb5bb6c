"""`rules/schema.json` is generated from the pydantic models and must not go stale.

Editors use the committed file to check rule files as ad ops type them; if it drifted from the models, the
editor and `adinject check` would disagree. Regenerate with `make schema`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from adinject.language.schema import RuleFile, json_schema
from tests._support.paths import FIXTURES, REPO

ROOT = REPO
SCHEMA_FILE = ROOT / "rules" / "schema.json"
EXAMPLE = FIXTURES / "news.yaml"

REGENERATE = (
    "rules/schema.json is stale: run `make schema` (python -m adinject.language.schema > rules/schema.json)"
)


def committed() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return loaded


def example() -> Any:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def test_committed_schema_equals_the_generated_one() -> None:
    assert committed() == json_schema(), REGENERATE
    # Byte for byte too, so `make schema` on a clean tree leaves no diff.
    assert SCHEMA_FILE.read_text(encoding="utf-8") == json.dumps(json_schema(), indent=2) + "\n", REGENERATE


def test_the_example_is_valid_for_the_model() -> None:
    RuleFile.model_validate(example())


def test_the_example_is_valid_for_the_committed_schema() -> None:
    assert check(committed(), example()) == []


def test_the_committed_schema_rejects_mistakes() -> None:
    data = example()
    data["rules"][0]["place"][0]["repeat_evry"] = 5
    data["rules"][0]["min_paragraphs"] = "four"
    del data["units"]["advertisement"]["html"]
    assert sorted(check(committed(), data)) == [
        "/rules/0/min_paragraphs: not integer",
        "/rules/0/place/0: unknown key repeat_evry",
        "/units/advertisement: missing html (oneOf: html or variants)",
    ]


def test_the_committed_schema_wants_html_or_variants_not_both() -> None:
    data = example()
    unit = data["units"]["advertisement"]
    unit["variants"] = {"a": {"weight": 1, "html": unit["html"]}}
    assert check(committed(), data) == ["/units/advertisement: html and variants both given (oneOf)"]
    del unit["html"]
    assert check(committed(), data) == []


def test_with_jsonschema_when_installed() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(committed())
    jsonschema.validate(example(), committed(), cls=jsonschema.Draft202012Validator)


# --- a small validator for the parts of JSON Schema that pydantic emits, so this test needs no dependency

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def check(schema: dict[str, Any], value: Any, root: dict[str, Any] | None = None, at: str = "") -> list[str]:
    """The errors of `value` against `schema`: `$ref`, `anyOf`, `oneOf`, `type`, objects, arrays, enums, bounds."""
    root = root if root is not None else schema
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return check(root["$defs"][name], value, root, at)
    if "oneOf" in schema:
        # Pydantic emits oneOf only as a unit's "html or variants" (required-only alternatives).
        rest = {key: item for key, item in schema.items() if key != "oneOf"}
        matching = [option for option in schema["oneOf"] if not check(option, value, root, at)]
        names = " or ".join(key for option in schema["oneOf"] for key in option.get("required", []))
        if not matching:
            return [
                f"{at}: missing {schema['oneOf'][0]['required'][0]} (oneOf: {names})",
                *check(rest, value, root, at),
            ]
        if len(matching) > 1:
            return [
                f"{at}: {names.replace(' or ', ' and ')} both given (oneOf)",
                *check(rest, value, root, at),
            ]
        return check(rest, value, root, at)
    if "anyOf" in schema:
        options = [check(option, value, root, at) for option in schema["anyOf"]]
        return [] if any(not errors for errors in options) else [f"{at}: no alternative matches"]
    kind = schema.get("type")
    if kind is not None and not _is_type(value, kind):
        return [f"{at}: not {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{at}: not one of {schema['enum']}"]
    if "minimum" in schema and value < schema["minimum"]:
        return [f"{at}: below {schema['minimum']}"]
    if isinstance(value, dict):
        return _check_object(schema, value, root, at)
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return [f"{at}: too few items"]
        return [
            e for i, item in enumerate(value) for e in check(schema.get("items", {}), item, root, f"{at}/{i}")
        ]
    return []


def _is_type(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    return isinstance(value, _TYPES[kind])


def _check_object(schema: dict[str, Any], value: dict[str, Any], root: dict[str, Any], at: str) -> list[str]:
    errors = [f"{at}: missing {key}" for key in schema.get("required", []) if key not in value]
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            errors += check(properties[key], item, root, f"{at}/{key}")
        elif extra is False:
            errors.append(f"{at}: unknown key {key}")
        elif isinstance(extra, dict):
            errors += check(extra, item, root, f"{at}/{key}")
    return errors
