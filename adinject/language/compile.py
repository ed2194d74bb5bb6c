"""The result of loading: every file's rules and units, templates compiled, under one version.

Nothing here can fail: it runs only once every file has passed the schema and the checks, and the checks
compiled the units' templates as they looked at them (a template that does not compile is a problem in its
file). Rendering a page then only runs templates.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2

from adinject.language import sources
from adinject.language.problems import Problem
from adinject.language.schema import Promotion, PromotionFile, Rule, Settings, Unit
from adinject.language.yaml_source import File


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
    warnings: tuple[Problem, ...] = ()  # allowed, but shown by `adinject check` (inline scripts in units)


def compile_rules(
    files: list[File], data: dict[Path, File], folder: Path, *, warnings: tuple[Problem, ...] = ()
) -> CompiledRules:
    models = [(f, f.model) for f in files if f.model is not None]
    units: dict[str, CompiledUnit] = {}
    rules: list[Rule] = []
    origins: dict[str, tuple[str, int]] = {}
    settings = Settings()
    for file, model in models:
        for name, spec in model.units.items():
            variants = tuple(
                CompiledVariant(variant, v.weight, file.variant_templates[(name, variant)])
                for variant, v in (spec.variants or {}).items()
            )
            promotions: tuple[Promotion, ...] = ()
            if spec.promotions is not None:
                data_model = data[sources.absolute(folder / spec.promotions.file)].data_model
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
        warnings=warnings,
    )


def _version(files: list[File], data: dict[Path, File], folder: Path) -> str:
    """The version of exactly the bytes loaded (not of a second read, which may already differ)."""
    # By name, not by where links lead: a ConfigMap's links may point elsewhere already (a newer update).
    raw = {sources.absolute(Path(f.name)): f.raw for f in files}
    raw.update((sources.absolute(target), file.raw) for target, file in data.items())
    named = sources.named(folder, [Path(f.name) for f in files], data)
    return sources.version((name, raw[sources.absolute(path)]) for name, path in named)
