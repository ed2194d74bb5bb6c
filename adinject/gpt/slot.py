"""A GPT unit's markup, made ready for its slot: height reserved, display call inside the unit.

Both edits are to the unit's own rendered markup, never to the page. The display script goes right before
the end tag of the unit's outer element, so the unit stays one element (the first law's checks and the
preview see one unit) and the call runs once the slot's <div> exists, as GPT requires.
"""

from __future__ import annotations

import html
import re

from turbohtml import Element, parse_fragment

# A declaration of height or min-height in a style attribute: the template reserves space itself.
_HEIGHT = re.compile(r"(?:^|;)\s*(?:min-)?height\s*:", re.IGNORECASE)
# Attribute names we can write back out as they were parsed.
_ATTR_NAME = re.compile(r"[^\s\"'>/=\x00-\x1f\x7f]+")


class SlotError(ValueError):
    pass


def wire_slot(markup: str, slot_id: str, *, min_height: int | None, script: str | None) -> str:
    """`markup` with `min-height` on the element whose id is `slot_id` (unless its style sets a height) and
    `script` before the end tag of the unit's outer element. Raises SlotError when there is no such element
    or no end tag to put the script before."""
    # turbohtml's offsets count newline-normalised text; a \r in markup changes nothing the parser builds.
    text = markup.replace("\r\n", "\n").replace("\r", "\n")
    root = parse_fragment(text, "div", source_locations=True, scripting=True)
    target = next((el for el in root.iter_elements() if el.attrs.get("id") == slot_id), None)
    if target is None:
        raise SlotError(
            f'the unit has no element with id="{slot_id}": write id="{{{{ slot.id }}}}" on the ad\'s <div>'
        )
    edits: list[tuple[int, int, str]] = []
    if script is not None:
        outer = target
        while isinstance(outer.parent, Element) and outer.parent is not root:
            outer = outer.parent
        loc = outer.source_location
        if loc is None or loc.end_tag is None:
            raise SlotError(f"the unit's <{outer.tag}> has no end tag to put the display script before")
        edits.append((loc.end_tag.start_offset, loc.end_tag.start_offset, script))
    if min_height is not None:
        start_tag = _with_min_height(target, min_height)
        loc = target.source_location
        if start_tag is not None and loc is not None:
            edits.append((loc.start_tag.start_offset, loc.start_tag.end_offset, start_tag))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _with_min_height(el: Element, height: int) -> str | None:
    """The element's start tag written out again with min-height added; None when it already sets a height
    or cannot be written out as parsed (an odd attribute name)."""
    attrs: dict[str, str] = {}
    for name, value in el.attrs.items():
        if not _ATTR_NAME.fullmatch(name):
            return None
        attrs[name] = " ".join(value) if isinstance(value, list) else str(value)
    style = attrs.get("style", "").strip()
    if _HEIGHT.search(style):
        return None
    declaration = f"min-height:{height}px"
    attrs["style"] = f"{style.rstrip(';').rstrip()};{declaration}" if style else declaration
    written = "".join(f' {name}="{html.escape(value, quote=True)}"' for name, value in attrs.items())
    return f"<{el.tag}{written}>"
