"""The first law judged by a browser of the newer parser generation (headless Chromium).

html5lib, the judge everywhere else, builds trees as browsers did before the 2025 parser changes; the
engine refuses where the generations differ. Here the documents the fuzzer found problems in, ordinary
article markup, and 60 random misnested documents that get units are loaded into Chromium as they are and
with their units (a unit after every element of ten kinds), and the DOM with the units taken out must be
the DOM of the original, each unit whole. One Chromium run loads every document in its own iframe, so the
test costs a few seconds.
"""

from __future__ import annotations

import html
import random
import subprocess
from pathlib import Path

import pytest
from turbohtml import parse

from adinject.engine import Rules
from tests._support.engine import MARKUP_PIECES, everywhere_rules, rules_from
from tests._support.first_law import MARK, TEST_UNIT

BODIES = [
    # formatting elements left open before blocks whose text re-opens nothing
    "<p><b>bold</p><div><table><tr><td>cell text</td></tr></table></div>tail",
    "<p><b>bold</p><div><textarea>text</textarea></div>",
    "<p><i>it</p><div><select><option>option text</option></select></div>z",
    # found by the fuzzer
    "<div><a href=x>link<svg><a href=y>s</a></svg></div>after",
    "<table><marquee><br><em>x</table><textarea>t</textarea>",
    "<table><object><br><em>x</table><textarea>t</textarea>",
    "<select><p>x</p><textarea>t</textarea>more words<select><br>z",
    "<p>text<dialog><br>in dialog</dialog>more</p>",
    "<ul><li><p>text<button>b</li></ul>",
    # where turbohtml and Chromium agree and html5lib does not (a </p> inside MathML breaks out)
    "<span><p><math><option><a href=x></p><caption><table><br>more words <p>x</p>",
    # ordinary article markup, units after everything
    "<article><h2>Title</h2><p>One <a href=/x>link</a> here.</p><figure><img src=x></figure>"
    "<p>Two<br><br>Three</p><blockquote><p>Quote</p></blockquote><ul><li>a</li><li>b</li></ul></article>",
    "<div><p>First<p>Second <b>bold <i>both</b> italic</i><p>Third</div><section><p>x</p></section>",
    "<main><div class=text><p>A paragraph.</p><p>Another, with <em>emphasis</em>.</p></div>"
    "<table><tr><td><p>In a cell</p><p>and another</p></td></tr></table><div>Line<br><br>Break</div></main>",
    "<p>Unclosed paragraphs<p>one after<div>a block</div><p>and <a href=x>a link</a> left open<p>next",
]


@pytest.fixture(scope="module")
def everywhere(tmp_path_factory: pytest.TempPathFactory) -> Rules:
    return rules_from(tmp_path_factory.mktemp("everywhere"), everywhere_rules(TEST_UNIT))


def random_bodies(rules: Rules, count: int) -> list[str]:
    """Random misnested markup (fixed seed) that the engine does place units in; no <script>, which would
    run in the browser."""
    rng = random.Random(2026)
    pieces = [piece for piece in MARKUP_PIECES if "<script" not in piece]
    found: list[str] = []
    while len(found) < count:
        body = "".join(rng.choice(pieces) for _ in range(rng.randint(3, 30)))
        page = f"<!DOCTYPE html><body>{body}".encode()
        if rules.apply(page, url="/", headers={"content-type": "text/html; charset=utf-8"}).insertions:
            found.append(body)
    return found


def browser_doms(chromium: str, documents: list[bytes], workdir: Path) -> list[str]:
    """Each document's DOM as Chromium serializes it (documentElement.outerHTML), in one browser run."""
    frames = "".join(
        f'<iframe id="f{i}" srcdoc="{html.escape(doc.decode("utf-8"), quote=True)}"></iframe>'
        for i, doc in enumerate(documents)
    )
    script = (
        "<script>window.addEventListener('load', () => { for (const f of document.querySelectorAll('iframe'))"
        " { const pre = document.createElement('pre'); pre.id = 'dom-' + f.id;"
        " pre.textContent = f.contentDocument.documentElement.outerHTML; document.body.append(pre); } });"
        "</script>"
    )
    harness = workdir / "harness.html"
    harness.write_text(f"<!DOCTYPE html><html><body>{frames}{script}</body></html>", encoding="utf-8")
    dumped = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={workdir / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            harness.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    doc = parse(dumped)
    out: list[str] = []
    for i in range(len(documents)):
        pre = doc.select_one(f"#dom-f{i}")
        assert pre is not None, f"Chromium did not serialize document {i}: {dumped[:300]!r}"
        out.append(pre.text)
    return out


def test_units_land_as_meant_in_chromium(chromium: str, everywhere: Rules, tmp_path: Path) -> None:
    bodies = [*BODIES, *random_bodies(everywhere, 60)]
    pages = [f"<!DOCTYPE html><body>{body}</body>".encode() for body in bodies]
    results = [
        everywhere.apply(page, url="/", headers={"content-type": "text/html; charset=utf-8"})
        for page in pages
    ]
    assert sum(len(r.insertions) for r in results) >= 80  # most of the documents do get units
    doms = browser_doms(chromium, [*pages, *(r.body for r in results)], tmp_path)
    before, after = doms[: len(pages)], doms[len(pages) :]
    for body, result, original, with_units in zip(bodies, results, before, after, strict=True):
        # Each unit whole, as its markup parses alone; taken out, the page is the page.
        rendered = [TEST_UNIT.replace("{{ slot.id }}", insertion.slot_id) for insertion in result.insertions]
        stripped = with_units
        for unit in rendered:
            assert stripped.count(unit) == 1, (body, unit, with_units)
            stripped = stripped.replace(unit, "")
        assert stripped == original, (body, original, with_units)
        assert MARK not in stripped
