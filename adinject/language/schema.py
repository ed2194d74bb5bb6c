"""The rule file's schema, as pydantic models.

These models are the single source of truth for the rule language: the loader validates YAML against them,
the placement layer reads them, and `rules/schema.json` is generated from them
(`python -m adinject.language.schema`).
Every model forbids unknown keys, so a typo is an error rather than a rule that silently does nothing.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

AUTO = "auto"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Unit(_Strict):
    """A piece of markup the engine inserts: an ad slot, a recirculation box, a newsletter sign-up."""

    html: str = Field(
        description=(
            "Jinja2 template of the unit's markup (sandboxed, autoescaped). Variables: slot.id, slot.number, "
            "slot.paragraph, slot.rule, slot.unit, page.path, page.title, page.meta, context."
        )
    )
    description: str | None = Field(default=None, description="A note for people; not used by the engine.")


class Pages(_Strict):
    """Which URLs a rule applies to."""

    paths: list[str] = Field(
        default_factory=lambda: ["/**"],
        description="Globs on the URL path: * is one path segment, ** any number of segments.",
    )
    exclude_paths: list[str] = Field(
        default_factory=list, description="Globs of paths the rule never applies to."
    )


class ParagraphText(_Strict):
    """Filters on a paragraph's text (case-insensitive substrings)."""

    contains: list[str] = Field(
        default_factory=list, description="Count a paragraph only if it contains one of these."
    )
    not_contains: list[str] = Field(
        default_factory=list, description="Never count a paragraph containing one of these."
    )


class Anchor(_Strict):
    """Place after the Nth element matching a selector, instead of after the Nth paragraph."""

    selector: str = Field(description="CSS selector of the anchor elements, matched inside the container.")
    nth: int | list[int] = Field(
        default=1, description="Which match (1-based; negative counts from the end)."
    )


Position = Annotated[
    int | float, Field(description="A paragraph number, negative from the end, or a fraction.")
]


class Placement(_Strict):
    """Where one unit goes, relative to the rule's counted paragraphs."""

    unit: str = Field(description="Name of a unit defined under `units`.")
    after_paragraph: int | float | list[int | float] | None = Field(
        default=None,
        description=(
            "Counted paragraph(s) to place after: 3 is after the third, -1 after the last, 0.5 in the middle "
            "(a fraction of the counted paragraphs), or a list of these."
        ),
    )
    after_anchor: Anchor | None = Field(
        default=None, description="Place after the Nth element matching a selector (a heading, an image)."
    )
    repeat_every: int | None = Field(
        default=None, ge=1, description="After the first position, again every N counted paragraphs."
    )
    max: int | None = Field(default=None, ge=0, description="At most this many of this placement per page.")
    keep_away_from: list[str] = Field(
        default_factory=list,
        description="Selectors the unit must not sit directly before or after; the unit shifts instead.",
    )
    shift: Literal["down", "up", "skip"] = Field(
        default="down",
        description="When keep_away_from is hit: look further down, further up, or skip this position.",
    )
    min_words_between: int = Field(
        default=0, ge=0, description="Counted words required between two units of this rule."
    )
    min_paragraphs_between: int = Field(
        default=0, ge=0, description="Counted paragraphs required between two units of this rule."
    )
    min_words_after: int = Field(
        default=0, ge=0, description="Counted words that must follow the unit before the article ends."
    )
    not_after_last: bool = Field(default=False, description="Never place after the final counted paragraph.")

    @model_validator(mode="after")
    def _one_position(self) -> Placement:
        if self.after_paragraph is None and self.after_anchor is None:
            raise ValueError("give after_paragraph or after_anchor")
        if self.after_paragraph is not None and self.after_anchor is not None:
            raise ValueError("give after_paragraph or after_anchor, not both")
        for pos in _positions(self.after_paragraph):
            if isinstance(pos, float) and not 0.0 < pos < 1.0:
                raise ValueError("a fractional after_paragraph must be between 0 and 1 (0.5 is the middle)")
            if pos == 0:
                raise ValueError("paragraphs are numbered from 1 (use -1 for after the last)")
        return self


def _positions(value: int | float | list[int | float] | None) -> list[int | float]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


class Rule(_Strict):
    """One placement rule: which pages, which paragraphs count, and where units go."""

    name: str = Field(description="Shown in reports, metrics and slot ids; unique across the rules folder.")
    enabled: bool = Field(default=True, description="false turns the rule off without deleting it.")
    pages: Pages = Field(default_factory=Pages, description="Which URL paths the rule applies to.")
    container: str | list[str] = Field(
        default=AUTO,
        description=(
            "CSS selector of the article body, or a list tried in order (the first that matches wins); "
            "`auto` finds the article body by content density."
        ),
    )
    paragraphs: str = Field(default="p", description="CSS selector of what counts as a paragraph.")
    br_paragraphs: bool = Field(
        default=True,
        description=(
            "Also count text separated by a blank line (<br><br>) as paragraphs, as readers see it; the unit "
            "then goes after the blank line. Applies only when `paragraphs` is p."
        ),
    )
    ignore_inside: list[str] = Field(
        default_factory=lambda: ["blockquote", "figure", "table", "aside", "li"],
        description="Paragraphs inside an element matching one of these selectors are not counted.",
    )
    min_paragraph_words: int = Field(default=1, ge=0, description="Shorter paragraphs are not counted.")
    max_paragraph_words: int | None = Field(
        default=None, ge=1, description="Longer paragraphs are not counted."
    )
    paragraph_text: ParagraphText | None = Field(default=None, description="Filters on a paragraph's text.")
    min_paragraphs: int = Field(
        default=1, ge=0, description="Fewer counted paragraphs: no units from this rule."
    )
    max_paragraphs: int | None = Field(default=None, ge=1, description="More counted paragraphs: no units.")
    min_words: int = Field(default=0, ge=0, description="Fewer counted words in the article: no units.")
    max_words: int | None = Field(
        default=None, ge=1, description="More counted words in the article: no units."
    )
    skip_first: int = Field(
        default=0, ge=0, description="No unit after any of the first N counted paragraphs."
    )
    skip_last: int = Field(default=0, ge=0, description="No unit after any of the last N counted paragraphs.")
    max_units: int | None = Field(
        default=None, ge=0, description="At most this many units from this rule per page."
    )
    place: list[Placement] = Field(min_length=1, description="The units this rule places, in order.")

    @property
    def containers(self) -> list[str]:
        return [self.container] if isinstance(self.container, str) else list(self.container)


class Settings(_Strict):
    """Page-wide limits that hold across every rule."""

    max_units_per_page: int | None = Field(
        default=None, ge=0, description="At most this many units per page."
    )
    max_page_bytes: int = Field(default=5_000_000, ge=1, description="Larger pages pass through unchanged.")


class RuleFile(_Strict):
    """One YAML file in the rules folder."""

    units: dict[str, Unit] = Field(default_factory=dict, description="Named units, referred to by `place`.")
    rules: list[Rule] = Field(default_factory=list, description="Placement rules, applied in file order.")
    settings: Settings | None = Field(
        default=None, description="Page-wide limits (at most one file sets them)."
    )


def json_schema() -> dict[str, object]:
    schema = RuleFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "adinject rule file"
    return schema


if __name__ == "__main__":
    print(json.dumps(json_schema(), indent=2))
