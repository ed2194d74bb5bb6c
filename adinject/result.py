"""What `Rules.apply` returns: the page, what was inserted where, and why anything else was not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
