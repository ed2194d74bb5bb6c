"""The records that pass between the stages: one type per stage, defined once.

`PlannedInsertion` goes from the planner (placement/planner.py) through the engine's plan to the renderer;
an `Insertion` is what landed in the page, a `Skip` what did not and why; `ApplyResult` is what
`Rules.apply` returns: the page, what was inserted where, and why anything else was not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class PlannedInsertion:
    """One unit the planner placed: at `offset` (code points of the parsed text in the planner, bytes of the
    input once the engine has mapped it), after counted paragraph `paragraph`.

    `number` (the unit's count on the page, 1-based) and `variant` (the A/B variant this visitor sees) are
    filled in by the engine, which knows every rule's units and the request.
    """

    offset: int
    unit: str
    rule: str
    paragraph: int | None
    anchor: str  # "paragraph" or the anchor's selector
    note: str
    implied_close: bool  # the paragraph has no </p>: the unit must open a block that closes it
    form_ok: bool  # a <form> in the unit would not nest in an open form
    number: int = 0
    variant: str = ""

    @property
    def slot_key(self) -> tuple[str, str, int, int | None, str]:
        """Everything a template reading only `slot` can see of this slot."""
        return (self.unit, self.variant, self.number, self.paragraph, self.rule)

    def skip(self, code: str, reason: str) -> Skip:
        """Why this planned unit did not land, attributed to its rule, unit and paragraph."""
        return Skip(code, reason, self.rule, self.unit, self.paragraph)

    def landed(self, length: int, slot_id: str) -> Insertion:
        """The insertion this planned unit became: `length` bytes at its offset."""
        return Insertion(
            self.offset,
            length,
            self.unit,
            self.rule,
            self.paragraph,
            slot_id,
            self.anchor,
            self.note,
            self.variant,
        )


@dataclass(frozen=True, slots=True)
class Insertion:
    """`length` bytes of `unit` (placed by `rule`) were inserted at byte `offset` of the input."""

    offset: int
    length: int
    unit: str
    rule: str
    paragraph: int | None
    slot_id: str = ""
    anchor: str = "paragraph"  # "paragraph", the anchor's selector, or "head" (the GPT scripts, unit "gpt")
    note: str = ""
    variant: str = ""  # the A/B variant shown ("" for a unit without variants)


# Skip codes of units left out because a count ad ops set was reached (`max`, `max_units`,
# `max_units_per_page`): the rules asked for fewer units, so these are not units that could not land.
CAP_CODES = frozenset({"max", "rule_max", "page_max"})


@dataclass(frozen=True, slots=True)
class Skip:
    """A unit (or a whole rule, or the page) that did not land, and why.

    `code` is a stable machine-readable reason (used in metrics); `reason` is the sentence ad ops read.
    """

    code: str
    reason: str
    rule: str | None = None
    unit: str | None = None
    paragraph: int | None = None

    @property
    def capped(self) -> bool:
        """A unit left out because its placement, rule or page already had as many units as allowed."""
        return self.unit is not None and self.code in CAP_CODES

    @property
    def missed(self) -> bool:
        """A unit that could not land (not one a cap left out)."""
        return self.unit is not None and self.code not in CAP_CODES


@dataclass(frozen=True, slots=True)
class ParagraphInfo:
    """One candidate paragraph as the engine saw it, for `adinject explain` and the preview."""

    number: int | None  # 1-based among counted paragraphs, None when left out
    words: int
    first_words: str
    offset: int  # byte offset of the start tag in the input
    left_out: str | None = None  # why it was not counted


@dataclass(slots=True)
class RuleTrace:
    """What one rule saw on one page."""

    rule: str
    matched_url: bool
    container: str | None = None  # the selector that found the container, or "auto"
    container_tag: str | None = None
    container_offset: int | None = None  # byte offset of its start tag (when explaining)
    paragraphs: list[ParagraphInfo] = field(default_factory=list)
    counted_words: int = 0


@dataclass(slots=True)
class ApplyResult:
    body: bytes
    insertions: list[Insertion] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    encoding: str | None = None
    traces: list[RuleTrace] = field(default_factory=list)
    duration_ms: float = 0.0
    reads: frozenset[str] = frozenset()  # request headers the output depended on (for Vary)

    @property
    def modified(self) -> bool:
        return bool(self.insertions)

    def report(self) -> dict[str, Any]:
        """A JSON-ready report for `adinject render --report` and for logs."""
        return {
            "modified": self.modified,
            "encoding": self.encoding,
            "duration_ms": round(self.duration_ms, 3),
            "insertions": [
                {
                    "offset": i.offset,
                    "length": i.length,
                    "unit": i.unit,
                    "rule": i.rule,
                    "paragraph": i.paragraph,
                    "slot_id": i.slot_id,
                    "anchor": i.anchor,
                    "note": i.note,
                    "variant": i.variant,
                }
                for i in self.insertions
            ],
            "skipped": [
                {"code": s.code, "reason": s.reason, "rule": s.rule, "unit": s.unit, "paragraph": s.paragraph}
                for s in self.skipped
            ],
        }
