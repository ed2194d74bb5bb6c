"""The annotated page (adinject/preview.py) and `adinject preview`.

The central property: the annotated page is the engine's output plus markers, nothing else. Removing the
markers from the parsed annotated page gives exactly the parsed engine output (tree-level, with html5lib),
and every marker sits on the element the engine reported.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import html5lib
import pytest

from adinject import load_rules
from adinject.cli import main
from adinject.engine import Rules
from adinject.preview import annotate
from tests._support.corpus import AUTO_RULES, readability_pages
from tests._support.preview import RULES, page


@pytest.fixture
def rules(tmp_path: Path) -> Rules:
    (tmp_path / "rules.yaml").write_text(RULES)
    return load_rules(tmp_path / "rules.yaml")


# ---- tree-level comparison


OURS_BY_ID = {"adinject-debug-panel", "adinject-debug-style", "adinject-debug-script"}


def events(html: bytes, *, drop_ours: bool) -> list[tuple[str, ...]]:
    """The parsed page as start/text/end events; with `drop_ours`, without anything the preview added."""
    root = html5lib.parse(html, treebuilder="etree", namespaceHTMLElements=False)
    out: list[tuple[str, ...]] = []

    def text(value: str | None) -> None:
        if value:
            if out and out[-1][0] == "text":
                out[-1] = ("text", out[-1][1] + value)
            else:
                out.append(("text", value))

    def walk(el: ET.Element) -> None:
        tag = el.tag if isinstance(el.tag, str) else "#comment"
        classes = el.get("class", "").split()
        ours = drop_ours and (el.get("id") in OURS_BY_ID or "adinject-debug-run" in classes)
        unwrap = drop_ours and "adinject-debug-unit" in classes
        if not ours:
            if not unwrap:
                attrs = sorted(
                    (k, v) for k, v in el.attrib.items() if not (drop_ours and k.startswith("data-adinject-"))
                )
                out.append(("start", tag, repr(attrs)))
            if tag != "#comment":
                text(el.text)
            for child in el:
                walk(child)
            if not unwrap:
                out.append(("end", tag))
        text(el.tail)

    walk(root)
    return out


def test_the_annotated_page_is_the_engine_output_plus_markers(rules: Rules) -> None:
    body = page()
    annotated = annotate(rules, body, url="/news/a", headers={"content-type": "text/html"})
    result = annotated.result
    assert result.insertions, "the fixture must place units"
    assert result.body == rules.apply(body, url="/news/a").body, "the result is what readers would get"
    assert events(annotated.body, drop_ours=True) == events(result.body, drop_ours=False)
    # And the markers are really there, one wrapper per unit.
    assert annotated.body.count(b'<div class="adinject-debug-unit"') == len(result.insertions)
    assert b'id="adinject-debug-panel"' in annotated.body


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_each_paragraph_label_is_on_its_paragraph(rules: Rules, newline: str) -> None:
    """CRLF line ends and multi-byte characters before the paragraphs: offsets must be bytes, not code points."""
    annotated = annotate(rules, page(newline=newline), url="/news/a")
    root = html5lib.parse(annotated.body, treebuilder="etree", namespaceHTMLElements=False)
    marked = [p for p in root.iter("p") if p.get("data-adinject-p")]
    assert len(marked) == 9  # 7 long paragraphs, the short one, the quoted one
    for p in marked:
        words = "".join(p.itertext())
        label = p.get("data-adinject-label", "")
        found = re.match(r"Paragraph (\d+):", words)
        if found:
            n = found.group(1)
            # Both rules count this paragraph with the same number (their paragraph settings agree here).
            assert label == f"news: ¶{n} · 8w | also: ¶{n} · 8w", (words, label)
            assert p.get("data-adinject-p") == "counted"
        elif words == "Short one.":
            assert p.get("data-adinject-p") == "counted", "counted by 'also' (no minimum), left out by 'news'"
            assert p.get("data-adinject-label") == "news: – · 2w | also: ¶8 · 2w"
        else:
            assert p.get("data-adinject-p") == "out"
            assert "inside <blockquote> (ignore_inside)" in p.get("data-adinject-why", "")
    article = root.find(".//article")
    assert article is not None
    assert article.get("data-adinject-container") == (
        "news: <article> found by 'article'; also: <article> found by 'article'"
    )


def test_units_are_labelled_with_their_rule_and_the_panel_lists_what_did_not_land(rules: Rules) -> None:
    annotated = annotate(rules, page(), url="/news/a")
    root = html5lib.parse(annotated.body, treebuilder="etree", namespaceHTMLElements=False)
    labels = [
        d.get("data-adinject-label") for d in root.iter("div") if "adinject-debug-unit" in d.get("class", "")
    ]
    assert labels == [
        "box · rule also · after ¶1",
        "ad · rule news · after ¶2",
        "ad · rule news · after ¶5",
    ]
    panel = next(d for d in root.iter("div") if d.get("id") == "adinject-debug-panel")
    text = " ".join("".join(panel.itertext()).split())
    assert "3 inserted" in text
    missed = [s for s in annotated.result.skipped if s.unit is not None]
    assert missed, "the box after paragraph 40 cannot land"
    assert f"{len(missed)} did not land" in text
    for skip in missed:
        assert " ".join(skip.reason.split()) in text and skip.code in text
    assert "news matches; container <article> (article); 7 paragraphs counted" in text


def test_page_level_reasons_and_no_rules(rules: Rules) -> None:
    annotated = annotate(rules, page(), url="/about", notes=["A note from the debug view."])
    text = annotated.body.decode()
    assert "no enabled rule matches the path /about" in text
    assert "A note from the debug view." in text
    assert "does not match this URL" in text
    assert annotated.result.body == page()
    bare = annotate(None, page(), url="/news/a")
    assert b"no valid rules are loaded" in bare.body
    assert events(bare.body, drop_ours=True) == events(page(), drop_ours=False)


def test_names_and_reasons_are_escaped(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RULES.replace("name: news", 'name: "<b>news\\" & co</b>"'))
    annotated = annotate(load_rules(tmp_path / "r.yaml"), page(), url="/news/a")
    assert b"<b>news" not in annotated.body
    assert b"&lt;b&gt;news&quot; &amp; co&lt;/b&gt;" in annotated.body
    assert events(annotated.body, drop_ours=True) == events(annotated.result.body, drop_ours=False)


def test_the_panel_goes_before_the_real_end_of_body(rules: Rules) -> None:
    trap = "<script>var s = '</body>';</script>"
    body = page(extra=trap)
    annotated = annotate(rules, body, url="/news/a")
    assert annotated.body.index(b"adinject-debug-panel") > annotated.body.index(trap.encode())
    assert annotated.body.rstrip().endswith(b"</div></details></div></body></html>")
    no_end = page().replace(b"</body></html>", b"")
    assert annotate(rules, no_end, url="/news/a").body.rstrip().endswith(b"</div></details></div>")


def test_a_legacy_encoding_stays_valid(rules: Rules) -> None:
    body = page().replace(b"charset=utf-8", b"charset=shift_jis").decode().encode("shift_jis", "replace")
    annotated = annotate(rules, body, url="/news/a")
    assert annotated.result.encoding == "Shift_JIS"
    text = annotated.body.decode("shift_jis")  # still valid Shift_JIS
    assert "&#183;" in text, "a character Shift_JIS lacks is written as a reference"
    assert events(annotated.body, drop_ours=True) == events(annotated.result.body, drop_ours=False)


def test_text_runs_between_line_breaks_get_a_label(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(AUTO_RULES)
    runs = "<br><br>".join(
        f"Run {n} of a blog post written with line breaks only, long enough." for n in range(6)
    )
    body = f"<!doctype html><html><body><div class=post>{runs}<br><br></div></body></html>".encode()
    annotated = annotate(load_rules(tmp_path / "r.yaml"), body, url="/x")
    counted = sum(1 for t in annotated.result.traces for p in t.paragraphs if p.number is not None)
    assert counted >= 5
    assert annotated.body.count(b'<span class="adinject-debug-run"') == counted
    assert events(annotated.body, drop_ours=True) == events(annotated.result.body, drop_ours=False)


def test_the_last_run_of_a_block_gets_its_label_before_the_blocks_end_tag(tmp_path: Path) -> None:
    # The last run has no <br> after it: its block's end tag ends it, and the label goes right before that,
    # not on the block's start tag (which may also be the container's, with a label of its own).
    (tmp_path / "r.yaml").write_text(AUTO_RULES)
    runs = "<br><br>".join(
        f"Run {n} of a blog post written with line breaks only, long enough." for n in range(6)
    )
    body = (
        f"<!doctype html><html><body><div class=post>{runs}<div style=clear:both></div></div></body></html>"
    )
    annotated = annotate(load_rules(tmp_path / "r.yaml"), body.encode(), url="/x")
    labels = re.findall(
        rb'<span class="adinject-debug-run" [^>]*data-adinject-label="([^"]*)"', annotated.body
    )
    assert len(labels) == 6
    assert re.search(
        rb"long enough\.<div style=clear:both></div><span class=\"adinject-debug-run\"[^>]*></span></div>",
        annotated.body,
    )
    assert events(annotated.body, drop_ours=True) == events(annotated.result.body, drop_ours=False)


@pytest.mark.corpus
@pytest.mark.slow
def test_corpus_pages_parse_the_same_with_markers(tmp_path: Path) -> None:
    pages = readability_pages()
    if not pages:
        pytest.skip("shared corpus not found")
    (tmp_path / "r.yaml").write_text(AUTO_RULES)
    rules = load_rules(tmp_path / "r.yaml")
    for path in pages[::6]:
        body = (path / "source.html").read_bytes()
        annotated = annotate(rules, body, url="/news/x", headers={"content-type": "text/html"})
        assert events(annotated.body, drop_ours=True) == events(annotated.result.body, drop_ours=False), path


# ---- the command


def test_cli_preview_writes_the_annotated_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.yaml").write_text(RULES)
    src = tmp_path / "page.html"
    src.write_bytes(page())
    out = tmp_path / "out.html"
    assert (
        main(["preview", str(src), "--rules", str(tmp_path / "r.yaml"), "--url", "/news/a", "-o", str(out)])
        == 0
    )
    assert b"adinject-debug-panel" in out.read_bytes()
    err = capsys.readouterr().err
    assert "3 unit(s) inserted, 1 did not land" in err and str(out) in err

    assert main(["preview", str(src), "--rules", str(tmp_path / "r.yaml"), "--url", "/news/a"]) == 0
    assert "adinject-debug-panel" in capsys.readouterr().out

    with pytest.raises(SystemExit, match="one of them"):
        main(["preview", "--rules", str(tmp_path / "r.yaml")])
    with pytest.raises(SystemExit, match="http"):
        main(["preview", "--from", "file:///etc/passwd", "--rules", str(tmp_path / "r.yaml")])


def test_scripts_in_the_head_are_not_wrapped(tmp_path: Path) -> None:
    """GPT units put their scripts in <head>: a wrapper <div> there would end the head and move them."""
    from tests._support.gpt import H, gpt_rules
    from tests._support.gpt import page as gpt_page

    source = gpt_page(8)
    annotated = annotate(gpt_rules(tmp_path), source, url="/news/a", headers=H)
    assert [i.anchor for i in annotated.result.insertions][:1] == ["head"]
    assert events(annotated.body, drop_ours=True) == events(annotated.result.body, drop_ours=False)
    wrapped = annotated.body.count(b'<div class="adinject-debug-unit"')
    assert wrapped == len(annotated.result.insertions) - 1
    assert b"in-article" in annotated.body and b"before &lt;/head&gt;" in annotated.body


def test_the_gpt_scripts_are_page_level_in_the_panel(tmp_path: Path) -> None:
    """The scripts in <head> wire the units but are not one: not counted, not in the list of units, not
    outlined; the panel names them with the page's notes."""
    from tests._support.gpt import H, gpt_rules
    from tests._support.gpt import page as gpt_page

    annotated = annotate(gpt_rules(tmp_path), gpt_page(8), url="/news/a", headers=H)
    units = [i for i in annotated.result.insertions if i.anchor != "head"]
    assert len(units) == 4 and len(annotated.result.insertions) == 5
    root = html5lib.parse(annotated.body, treebuilder="etree", namespaceHTMLElements=False)
    panel = next(d for d in root.iter("div") if d.get("id") == "adinject-debug-panel")
    summary = " ".join("".join(next(panel.iter("summary")).itertext()).split())
    assert summary == "adinject · 4 inserted · 0 did not land"
    listed = ["".join(li.itertext()) for ol in panel.iter("ol") for li in ol.iter("li")]
    assert len(listed) == 4 and all(item.startswith("ad ") for item in listed)
    notes = ["".join(p.itertext()) for p in panel.iter("p") if p.get("class") == "adinject-debug-note"]
    assert notes == ["Page: the GPT scripts went into <head> (before </head>), wiring the slots below."]
    assert annotated.body.count(b'<div class="adinject-debug-unit"') == 4
