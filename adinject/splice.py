"""Splicing bytes: the output is the input with each chunk inserted at its offset, and nothing else."""

from __future__ import annotations

from collections.abc import Sequence


def splice(data: bytes, chunks: Sequence[tuple[int, bytes]]) -> bytes:
    """Insert each (offset, bytes) into `data`; offsets refer to the input and must be ascending."""
    if not chunks:
        return data
    # Slices of a memoryview are views, so the page is copied once, by the join, not once more in pieces.
    view = memoryview(data)
    parts: list[bytes | memoryview] = []
    pos = 0
    for offset, chunk in chunks:
        if offset < pos or offset > len(data):
            raise ValueError(f"insertion offset {offset} out of order or out of range")
        parts.append(view[pos:offset])
        parts.append(chunk)
        pos = offset
    parts.append(view[pos:])
    return b"".join(parts)
