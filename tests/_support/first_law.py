"""The first law, checked independently of the engine: html5lib (the reference parser) reads the output.

1. Taking the inserted byte ranges out of the output gives the input back, byte for byte.
2. html5lib's DOM of the output, with the unit elements taken out, equals its DOM of the input.
3. Every unit is in the DOM once, whole (its subtree is what its markup alone parses to), and never inside
   a <p>, a table's structure, <select>, SVG, MathML or a template.
4. What adinject puts in <head> (the GPT scripts: insertions with anchor "head") becomes children of <head>,
   each element exactly what its markup alone parses to, carrying `data-adinject`; no other element of the
   output carries `data-adinject` outside the units.
"""

from __future__ import annotations

from typing import Any

import html5lib

from adinject.result import ApplyResult

MARK = "adinject-test-unit"
TEST_UNIT = f'<div class="{MARK}" id="{{{{ slot.id }}}}"><p>Advertisement</p></div>'
NS = "{http://www.w3.org/1999/xhtml}"
_BAD_PARENTS = {
    "p",
    "table",
    "tbody",
    "thead",
    "tfoot",
    "tr",
    "select",
    "option",
    "template",
    "svg",
    "math",
    "noscript",
    "textarea",
    "script",
    "style",
    "title",
    "head",
    "html",
    "a",
    "button",
}


def without_insertions(result: ApplyResult) -> bytes:
    out = result.body
    parts: list[bytes] = []
    pos = 0
    shift = 0
    for ins in result.insertions:
        start = ins.offset + shift
        parts.append(out[pos:start])
        pos = start + ins.length
        shift += ins.length
    parts.append(out[pos:])
    return b"".join(parts)


def _canon(el: Any, out: list[str], depth: int = 0) -> None:
    tag = el.tag if isinstance(el.tag, str) else f"#{el.tag.__name__ if callable(el.tag) else el.tag}"
    attrs = " ".join(f"{k}={v!r}" for k, v in sorted(el.attrib.items()))
    out.append(f"{' ' * depth}<{tag} {attrs}>")
    if el.text:
        out.append(f"{' ' * depth} {el.text!r}")
    for child in el:
        _canon(child, out, depth + 1)
        if child.tail:
            out.append(f"{' ' * depth} {child.tail!r}")


def canonical(tree: Any) -> str:
    out: list[str] = []
    _canon(tree.getroot() if hasattr(tree, "getroot") else tree, out)
    return "\n".join(out)


def _parse(data: bytes, encoding: str | None) -> Any:
    return html5lib.parse(
        data,
        treebuilder="etree",
        namespaceHTMLElements=True,
        scripting=True,
        **({"transport_encoding": encoding} if encoding else {}),
    )


def _remove_units(tree: Any, mark: str) -> list[tuple[Any, Any]]:
    """Take unit elements out (keeping the text around them as the parser would have joined it)."""
    root = tree.getroot() if hasattr(tree, "getroot") else tree
    parents = {child: parent for parent in root.iter() for child in parent}
    removed: list[tuple[Any, Any]] = []
    for el in list(root.iter()):
        if not isinstance(el.tag, str) or mark not in (el.get("class") or "").split():
            continue
        parent = parents[el]
        index = list(parent).index(el)
        tail = el.tail or ""
        if tail:
            if index == 0:
                parent.text = (parent.text or "") + tail
            else:
                prev = parent[index - 1]
                prev.tail = (prev.tail or "") + tail
        parent.remove(el)
        removed.append((el, parent))
    return removed


def _fragment_elements(markup: bytes, encoding: str | None) -> list[Any]:
    text = markup.decode(encoding or "utf-8", "replace")
    frag = html5lib.parseFragment(text, container="div", treebuilder="etree", namespaceHTMLElements=True)
    return [el for el in frag if isinstance(el.tag, str)]


def _fragment_canon(markup: bytes, encoding: str | None) -> str:
    elements = _fragment_elements(markup, encoding)
    return canonical(elements[0]) if elements else ""


def _remove_head_scripts(tree: Any) -> list[Any]:
    """Take the elements adinject added to <head> (they carry data-adinject) out of it, in order."""
    root = tree.getroot() if hasattr(tree, "getroot") else tree
    head = root.find(f"{NS}head")
    if head is None:
        return []
    removed = [el for el in head if isinstance(el.tag, str) and el.get("data-adinject") is not None]
    for el in removed:
        # The text that followed it (whitespace before </head>) joins what came before, as it was parsed.
        index = list(head).index(el)
        if el.tail:
            if index == 0:
                head.text = (head.text or "") + el.tail
            else:
                head[index - 1].tail = (head[index - 1].tail or "") + el.tail
        head.remove(el)
    return removed


def check_first_law(
    source: bytes, result: ApplyResult, *, encoding: str | None = None, mark: str = MARK
) -> None:
    """`mark` is a class every unit's root element carries (and nothing else on the page)."""
    assert without_insertions(result) == source, "bytes outside the inserted ranges changed"
    offsets = [i.offset for i in result.insertions]
    assert offsets == sorted(offsets)
    if not result.insertions:
        assert result.body == source
        return
    out_tree = _parse(result.body, encoding)
    in_tree = _parse(source, encoding)
    # Where each insertion's bytes are in the output: its offset plus everything inserted before it.
    spans: list[tuple[Any, bytes]] = []
    shift = 0
    for ins in result.insertions:
        spans.append((ins, result.body[ins.offset + shift : ins.offset + shift + ins.length]))
        shift += ins.length
    head_spans = [(ins, markup) for ins, markup in spans if ins.anchor == "head"]
    unit_spans = [(ins, markup) for ins, markup in spans if ins.anchor != "head"]
    expected_head = [canonical(el) for _, markup in head_spans for el in _fragment_elements(markup, encoding)]
    assert [canonical(el) for el in _remove_head_scripts(out_tree)] == expected_head, (
        "what was inserted in <head> is not exactly the <head> elements carrying data-adinject"
    )
    removed = _remove_units(out_tree, mark)
    assert len(removed) == len(unit_spans), "a unit was split, lost or duplicated by the parser"
    for (unit, parent), (_, markup) in zip(removed, unit_spans, strict=True):
        assert canonical(unit) == _fragment_canon(markup, encoding), (
            "the parser changed the unit's own subtree"
        )
        tag = parent.tag.replace(NS, "") if isinstance(parent.tag, str) else ""
        assert tag not in _BAD_PARENTS, f"a unit landed inside <{tag}>"
        assert not parent.tag.startswith("{http://www.w3.org/2000/svg}")
        assert not parent.tag.startswith("{http://www.w3.org/1998/Math/MathML}")
    root = out_tree.getroot() if hasattr(out_tree, "getroot") else out_tree
    assert not [
        el for el in root.iter() if isinstance(el.tag, str) and el.get("data-adinject") is not None
    ], "an element carrying data-adinject is outside <head> and outside every unit"
    assert canonical(out_tree) == canonical(in_tree), "the page's DOM changed around the units"
