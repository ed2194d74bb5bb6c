"""Rewriting bytes: the output is the input with each edit's bytes inserted at its offset, and nothing else.

One primitive for everything that adds to a page: the units, the GPT scripts in <head>, and the preview's
markers and panel. Each is an `Edit` at an offset of the original input; none removes or replaces a byte,
which is what keeps every byte of the page that is not ours exactly as it came.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Edit:
    """Insert `data` at byte `offset` of the input. At equal offsets, lower `order` goes first (then the
    order the edits were given in)."""

    offset: int
    data: bytes
    order: int = 0


def in_order(edits: Iterable[Edit]) -> list[Edit]:
    """The edits in the order `apply_edits` takes them: by offset, then by `order`, then as given."""
    return sorted(edits, key=lambda e: (e.offset, e.order))


def apply_edits(data: bytes, edits: Sequence[Edit]) -> bytes:
    """`data` with every edit inserted; `edits` in `in_order` order (the renderer makes them so, once per
    plan, rather than sorting on every request). Raises ValueError for an edit out of order or outside the
    input."""
    if not edits:
        return data
    # Slices of a memoryview are views, so the page is copied once, by the join, not once more in pieces.
    view = memoryview(data)
    parts: list[bytes | memoryview] = []
    pos = 0
    for edit in edits:
        if edit.offset < pos or edit.offset > len(data):
            raise ValueError(f"edit offset {edit.offset} out of order or outside the input (0..{len(data)})")
        parts.append(view[pos : edit.offset])
        parts.append(edit.data)
        pos = edit.offset
    parts.append(view[pos:])
    return b"".join(parts)
