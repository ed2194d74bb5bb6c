"""Builders and readers for GPT tests: rule folders with a GPT unit, article pages, and the scripts in a page
as html5lib (the reference parser) sees them, or as Node runs them against a recording stub of googletag."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import html5lib

from adinject.engine import Rules
from tests._support.engine import paragraph, rules_from

NS = "{http://www.w3.org/1999/xhtml}"
H = {"content-type": "text/html; charset=utf-8"}
GPT_UNIT = '<div class="ad-slot" id="{{ slot.id }}"><p class="ad-slot__label">Advertisement</p></div>'
GPT_JS = "https://securepagead2.googlesyndication.com/tag/js/gpt.js"


def gpt_rules(
    tmp_path: Path,
    *,
    unit: str = GPT_UNIT,
    gpt: str = "",
    settings: str = "",
    place: str = "after_paragraph: 2\n        repeat_every: 2",
) -> Rules:
    """A GPT unit `ad` (ad unit /1234/news/in-article, 300x250 and 336x280) on /news/**, in `article`."""
    return rules_from(
        tmp_path,
        f"""\
units:
  ad:
    html: '{unit.replace("'", "''")}'
    gpt:
      ad_unit: /1234/news/in-article
      sizes: [[300, 250], [336, 280]]
{gpt}rules:
  - name: r
    pages: {{paths: ["/news/**"]}}
    container: article
    place:
      - unit: ad
        {place}
{settings}""",
    )


def page(n: int, *, head: str = "", section: str | None = "World", doc_head: bool = True) -> bytes:
    meta = f'<meta property="article:section" content="{section}">' if section is not None else ""
    body = "".join(paragraph(i) for i in range(1, n + 1))
    start = f"<!DOCTYPE html><html><head><meta charset=utf-8><title>T</title>{meta}{head}</head>"
    if not doc_head:
        start = f"<!DOCTYPE html><meta charset=utf-8><title>T</title>{meta}{head}"
    return f"{start}<body><article>\n{body}</article></body></html>".encode()


@dataclass
class Script:
    in_head: bool
    attrs: dict[str, str]
    text: str
    parent_id: str | None  # the id of the element the script sits in, if any


def scripts(body: bytes, encoding: str | None = None) -> list[Script]:
    """Every <script> of the page as html5lib builds it, in document order."""
    tree = html5lib.parse(
        body,
        treebuilder="etree",
        namespaceHTMLElements=True,
        scripting=True,
        **({"transport_encoding": encoding} if encoding else {}),
    )
    root = tree.getroot() if hasattr(tree, "getroot") else tree
    parents = {child: parent for parent in root.iter() for child in parent}
    head = root.find(f"{NS}head")
    out = []
    for el in root.iter(f"{NS}script"):
        parent = parents[el]
        out.append(Script(parent is head, dict(el.attrib), el.text or "", parent.get("id")))
    return out


def adinject_scripts(body: bytes, encoding: str | None = None) -> list[Script]:
    return [s for s in scripts(body, encoding) if "data-adinject" in s.attrs]


def setup_script(body: bytes) -> Script:
    (setup,) = [s for s in adinject_scripts(body) if s.in_head and "src" not in s.attrs]
    return setup


def defined(setup_text: str) -> list[list[Any]]:
    """The arguments of each `define(...)` line of the setup script (JSON literals, so JSON reads them)."""
    return [json.loads(f"[{m.group(1)}]") for m in re.finditer(r"^define\((.*)\);$", setup_text, re.M)]


def displayed(body: bytes) -> list[tuple[str, str | None]]:
    """(the id each display script displays, the id of the element the script sits in)."""
    out = []
    for script in adinject_scripts(body):
        for m in re.finditer(r"googletag\.display\((\"[^\"]*\")\)", script.text):
            out.append((json.loads(m.group(1)), script.parent_id))
    return out


NODE_HARNESS = r"""
const calls = {define: [], display: [], page: [], slot: [], lazy: [], services: 0, adUnits: [], auctions: []};
const pubads = {
  setTargeting(k, v) { calls.page.push([k, v]); return pubads; },
  enableLazyLoad(c) { calls.lazy.push(c); },
};
globalThis.window = globalThis;
window.googletag = {
  cmd: {push(f) { f(); }},
  pubads() { return pubads; },
  defineSlot(path, sizes, id) {
    calls.define.push([path, sizes, id]);
    const slot = {addService() { return slot; }, setTargeting(k, v) { calls.slot.push([id, k, v]); return slot; }};
    return slot;
  },
  display(id) { calls.display.push(id); },
  enableServices() { calls.services++; },
};
window.pbjs = {
  que: {push(f) { f(); }},
  addAdUnits(units) { calls.adUnits.push(...units); },
  requestBids(o) { calls.auctions.push({codes: o.adUnitCodes, timeout: o.timeout}); o.bidsBackHandler(); },
  setTargetingForGPTAsync(codes) { calls.prebidTargeting = codes; },
};
const sources = JSON.parse(require("fs").readFileSync(0, "utf8"));
for (const source of sources) (0, eval)(source);
setTimeout(() => { console.log(JSON.stringify(calls)); process.exit(0); }, 20);
"""


def node() -> str | None:
    return shutil.which("node") or shutil.which("nodejs")


def run_in_node(sources: list[str]) -> dict[str, Any]:
    """Run inline scripts in order against a recording googletag/pbjs stub; what they called."""
    binary = node()
    assert binary is not None
    done = subprocess.run(
        [binary, "-e", NODE_HARNESS], input=json.dumps(sources), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result
