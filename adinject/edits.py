"""Rewriting bytes: the output is the input with each edit's bytes inserted at its offset, and nothing else.

One primitive for everything that adds to a page: the units, the GPT scripts in <head>, and the preview's
markers and panel. Each is an `Edit` at an offset of the original input; none removes or replaces a byte,
which is what keeps every byte of the page that is not ours exactly as it came.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Edit:
    """Insert `data` at byte `offset` of the input. At equal offsets, lower `order` goes first (then the
    order the edits were given in)."""

    offset: int
    data: bytes
    order: int = 0


def apply_edits(data: bytes, edits: Iterable[Edit]) -> bytes:
    """`data` with every edit inserted. Raises ValueError for an offset outside the input."""
    ordered = sorted(edits, key=lambda e: (e.offset, e.order))
    if not ordered:
        return data
    # Slices of a memoryview are views, so the page is copied once, by the join, not once more in pieces.
    view = memoryview(data)
    parts: list[bytes | memoryview] = []
    pos = 0
    for edit in ordered:
        if edit.offset < 0 or edit.offset > len(data):
            raise ValueError(f"edit offset {edit.offset} outside the input (0..{len(data)})")
        parts.append(view[pos : edit.offset])
        parts.append(edit.data)
        pos = edit.offset
    parts.append(view[pos:])
    return b"".join(parts)
