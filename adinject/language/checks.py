"""Checks the schema cannot make: references, uniqueness, selectors, globs, templates.

These run on the raw data of every file that parsed, not only on files that passed the schema, so that one
run reports a bad selector even when the same file also has a typo in a key. Values of the wrong type are
skipped here: the schema has reported them already.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Collection, Iterator
from types import TracebackType
from typing import Any

import jinja2
import yaml
from jinja2 import nodes
from jinja2.nodes import Impossible

from adinject.language import budget
from adinject.language.globs import check_glob
from adinject.language.problems import Problem, describe
from adinject.language.schema import (
    AUTO,
    GPT_LIBRARY_HOSTS,
    GPT_LIBRARY_URL_PATTERN,
    MISSING_MARKUP,
    gpt_library_url_problem,
)
from adinject.language.selectors import check_selector
from adinject.language.templates import environment, render_budgeted
from adinject.language.yaml_source import File, KeyPath, Pos


def check_across_files(
    files: list[File], problems: list[Problem], *, gpt_hosts: Collection[str] = GPT_LIBRARY_HOSTS
) -> None:
    parsed = [f for f in files if f.parsed]
    for file in parsed:
        problems.extend(_check_rule_values(file))
        problems.extend(_check_templates(file))
        problems.extend(_check_scripts(file))
        problems.extend(_check_units(file))
        problems.extend(_check_class_names(file))
        problems.extend(_check_gpt_library_url(file, gpt_hosts))
        problems.extend(_check_site_excludes(file))
        problems.extend(_check_page_ad_slots(file))
    problems.extend(_check_unique_units(parsed))
    problems.extend(_check_unique_rules(parsed))
    problems.extend(_check_single_settings(parsed))
    # If a file could not be read, we do not know its units: every reference would look broken.
    if len(parsed) == len(files):
        problems.extend(_check_unit_references(parsed))


def _raw_rules(file: File) -> Iterator[tuple[int, dict[str, Any]]]:
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


def raw_units(file: File) -> dict[str, Any]:
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
        for key in ("after_anchor", "before_anchor"):
            anchor = place.get(key)
            if isinstance(anchor, str):  # the shorthand: a selector alone
                yield (*place_path, key), anchor
            elif isinstance(anchor, dict):
                yield from _strings(
                    anchor.get("selector"), (*place_path, key, "selector"), single=True, many=False
                )


def _check_rule_values(file: File) -> Iterator[Problem]:
    for index, rule in _raw_rules(file):
        for path, sel in _rule_selectors(index, rule):
            error = check_selector(sel)
            if error is not None:
                yield file.problem(path, error)
        pages = rule.get("pages")
        if isinstance(pages, dict):
            for key in ("paths", "exclude_paths"):
                yield from _check_globs(file, pages.get(key), ("rules", index, "pages", key))
        name = rule.get("name")
        if isinstance(name, str) and not name.strip():
            yield file.problem(("rules", index, "name"), "a rule name must not be empty")


def _check_globs(file: File, value: Any, path: KeyPath) -> Iterator[Problem]:
    for where, glob in _strings(value, path, single=False, many=True):
        error = check_glob(glob)
        if error is not None:
            yield file.problem(where, error)


def _check_site_excludes(file: File) -> Iterator[Problem]:
    settings = file.data.get("settings") if isinstance(file.data, dict) else None
    if isinstance(settings, dict):
        yield from _check_globs(file, settings.get("exclude_paths"), ("settings", "exclude_paths"))


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


def _check_templates(file: File) -> Iterator[Problem]:
    for name, unit in raw_units(file).items():
        for path, text, variant in _unit_markups(name, unit):
            try:
                template = environment().from_string(text)
            except jinja2.TemplateSyntaxError as exc:
                yield file.problem(
                    path, f"template error: {exc.message}", _template_pos(file, path, exc.lineno)
                )
                continue
            except Exception as exc:
                # Anything else compiling raises (Jinja folding a constant too big to write out raises
                # ValueError) is this template's problem too, not a crash of the whole load.
                yield file.problem(path, f"template error: it does not compile ({describe(exc)})")
                continue
            if variant is None:
                file.templates[name] = template
            else:
                file.variant_templates[(name, variant)] = template
            over = _over_budget(template, text, name, variant or "")
            if over is not None:
                lineno, message = over
                yield file.problem(path, message, _template_pos(file, path, lineno))


# --- budgets, at load: what would go over a budget on every page is an error in the file


LOAD_SECONDS = 1.0  # CPU time for the trial render of one template at load


def _over_budget(template: jinja2.Template, text: str, unit: str, variant: str) -> tuple[int, str] | None:
    """(template line, message) for a template over a budget: a constant expression (`{{ 9 ** 8000000 }}`,
    found without working it out, wherever it is), else a trial render for slot 1 of an empty page."""
    found = _constant_over_budget(text)
    if found is not None:
        return found
    variables = {
        "slot": {
            "id": "adinject-check-1",
            "number": 1,
            "paragraph": 1,
            "rule": "",
            "unit": unit,
            "variant": variant,
        },
        "page": {"path": "/", "title": "", "meta": {}},
        "context": {},
        "promotions": [],
    }
    # A generous deadline: time is no reason to refuse rules (the server switches a slow unit off), but a
    # check must not hang on a template that is slow within its budgets.
    meter = budget.Meter(deadline=budget.thread_clock() + LOAD_SECONDS)
    try:
        render_budgeted(template, variables, meter)
    except budget.OutOfTime:
        return None  # the clock is no reason to refuse rules: the server switches the unit off if it is slow
    except budget.BudgetExceeded as exc:
        line = exc.lineno or _template_line(template, exc.__traceback__)
        return line, f"the template goes over a budget (rendered for slot 1 of a page without context): {exc}"
    except Exception:
        pass
    return None


def _constant_over_budget(text: str) -> tuple[int, str] | None:
    env = environment()
    try:
        tree = env.parse(text)
    except jinja2.TemplateSyntaxError:
        return None
    for node in tree.find_all((nodes.BinExpr, nodes.Filter, nodes.Call)):
        try:
            _fold(node, env)
        except budget.BudgetExceeded as exc:
            return node.lineno, f"the template goes over a budget: {exc}"
    return None


def _fold(node: nodes.Node, env: jinja2.Environment) -> None:
    """Raise BudgetExceeded if `node`, with constant operands, would go over a budget (without working out
    what the budget refuses)."""
    try:
        if isinstance(node, nodes.BinExpr):
            left, right = node.left.as_const(), node.right.as_const()
            budget.check_binop(node.operator, left, right)
        elif isinstance(node, nodes.Filter):
            node.as_const()
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
            func = env.globals.get(node.node.name) if node.node.name in ("range", "lipsum") else None
            if callable(func) and not node.dyn_args and not node.dyn_kwargs:
                args = [arg.as_const() for arg in node.args]
                kwargs = {kw.key: kw.value.as_const() for kw in node.kwargs}
                func(*args, **kwargs)
    except Impossible as exc:
        if isinstance(exc.__cause__, budget.BudgetExceeded):
            raise exc.__cause__ from None
    except budget.BudgetExceeded:
        raise
    except Exception:
        pass


def _template_line(template: jinja2.Template, tb: TracebackType | None) -> int:
    """The template line the compiled code was on when it raised (the innermost template frame)."""
    line = 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line


# --- scripts in unit markup: allowed (ad units carry them), but shown


_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_SCRIPT = re.compile(r"<script\b", re.IGNORECASE)
_TAG = re.compile(r"<[a-zA-Z][^<>]*>")
_HANDLER = re.compile(r"[\s\"'/](on[a-z]+)\s*=", re.IGNORECASE)
_JS_URL = re.compile(r"[\s\"'/](?:href|src|action|formaction)\s*=\s*[\"']?\s*javascript:", re.IGNORECASE)


def _blank_jinja(text: str) -> str:
    """The template's markup with its {{ }}, {% %} and {# #} blanked out, offsets and lines kept."""
    return _JINJA.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)


def script_findings(text: str) -> list[tuple[int, str]]:
    """(template line, message) for every inline script, on* handler and javascript: URL in the markup."""
    markup = _blank_jinja(text)
    found: list[tuple[int, str]] = []

    def line(offset: int) -> int:
        return markup.count("\n", 0, offset) + 1

    for match in _SCRIPT.finditer(markup):
        message = "an inline <script> in a unit runs on every page the unit lands on"
        found.append((line(match.start()), message))
    for tag in _TAG.finditer(markup):
        for handler in _HANDLER.finditer(tag.group()):
            name = handler.group(1).lower()
            found.append(
                (line(tag.start() + handler.start(1)), f"an event handler attribute ({name}=) runs script")
            )
        if _JS_URL.search(tag.group()):
            found.append((line(tag.start()), "a javascript: URL runs script"))
    return sorted(found)


_SCRIPT_NOTE = (
    "; allowed (ad units carry scripts), but make sure it is meant to be there: it runs with the page's "
    "rights"
)


def _check_scripts(file: File) -> Iterator[Problem]:
    for name, unit in raw_units(file).items():
        for path, text, _ in _unit_markups(name, unit):
            for lineno, message in script_findings(text):
                yield file.warning(path, message + _SCRIPT_NOTE, _template_pos(file, path, lineno))


def _check_gpt_library_url(file: File, hosts: Collection[str]) -> Iterator[Problem]:
    settings = file.data.get("settings") if isinstance(file.data, dict) else None
    url = settings.get("gpt_library_url") if isinstance(settings, dict) else None
    # Values the schema's pattern refuses (not a URL at all) are reported there already.
    if isinstance(url, str) and re.match(GPT_LIBRARY_URL_PATTERN, url):
        problem = gpt_library_url_problem(url, hosts)
        if problem is not None:
            yield file.problem(("settings", "gpt_library_url"), problem)


def _check_page_ad_slots(file: File) -> Iterator[Problem]:
    settings = file.data.get("settings") if isinstance(file.data, dict) else None
    selector = settings.get("page_ad_slots") if isinstance(settings, dict) else None
    if isinstance(selector, str) and selector:
        error = check_selector(selector)
        if error is not None:
            yield file.problem(("settings", "page_ad_slots"), error)


_SLOT_ID = re.compile(r"\bslot\.id\b|slot\[\s*['\"]id['\"]\s*\]")


def _check_units(file: File) -> Iterator[Problem]:
    """A unit has markup; what GPT needs of it: its markup gives the slot's element its id, Prebid gets sizes
    and plain values."""
    for name, unit in raw_units(file).items():
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


def _check_class_names(file: File) -> Iterator[Problem]:
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


def _template_pos(file: File, path: KeyPath, lineno: int) -> Pos:
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


def _check_unique_units(files: list[File]) -> Iterator[Problem]:
    first: dict[str, tuple[str, int]] = {}
    for file in files:
        for name in raw_units(file):
            path: KeyPath = ("units", name)
            line = file.source.at(path)[0]
            if name in first:
                where = _where(first[name], file.name)
                yield file.problem(
                    path, f"unit {name!r} is already defined at {where}; unit names must be unique"
                )
            else:
                first[name] = (file.name, line)


def _check_unique_rules(files: list[File]) -> Iterator[Problem]:
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


def _check_single_settings(files: list[File]) -> Iterator[Problem]:
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


def _check_unit_references(files: list[File]) -> Iterator[Problem]:
    known = sorted({name for file in files for name in raw_units(file)})
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
