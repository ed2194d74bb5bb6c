"""What the tools tell ad ops: capped units apart from missed ones, the kill switch, a missing page file,
and a preview of a fetched page that loads the site's stylesheets and images (`<base href>`)."""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import html5lib
import pytest

from adinject import load_rules
from adinject.cli import main
from adinject.preview import annotate
from tests._support.preview import RULES, page

# Wanted after 1, 3, 5 and 7, at most two of them; and after paragraph 40, which no article here has.
CAPPED_RULES = """\
units: {ad: {html: '<div class="ad">Advertisement</div>'}}
rules:
  - name: news
    pages: {paths: ["/news/**"]}
    container: article
    place: [{unit: ad, after_paragraph: 1, repeat_every: 2, max: 2}, {unit: ad, after_paragraph: 40}]
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(CAPPED_RULES)
    (tmp_path / "page.html").write_bytes(page(7))
    return tmp_path


# --- capped units are not units that did not land


def test_the_preview_lists_capped_units_apart(folder: Path) -> None:
    annotated = annotate(load_rules(folder / "rules"), page(7), url="/news/a")
    text = annotated.body.decode()
    # Wanted after 1, 3, 5, 7: two land, two are capped by max; the one after 40 cannot land at all.
    assert "adinject · 2 inserted · 1 did not land · 2 capped</summary>" in text
    missed, capped = text.split("<h4>Did not land</h4>")[1].split("<h4>Capped")
    assert "out_of_range" in missed and "<code>max</code>" not in missed
    assert "<code>max</code>" in capped.split("<h4>Inserted")[0] and "wanted after ¶5, ¶7" in capped


def test_explain_and_the_preview_summary_count_capped_units_apart(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(folder / "page.html"), "--rules", str(folder / "rules"), "--url", "/news/a"]
    assert main(["explain", *args]) == 0
    out = capsys.readouterr().out
    assert [line.split(":")[0] for line in out.splitlines() if "[max]" in line] == [
        "   ~ capped",
        "   ~ capped",
    ]
    assert "\n2 unit(s) inserted, 1 skipped, 2 capped by max," in out
    assert main(["preview", *args, "-o", str(folder / "out.html")]) == 0
    assert "2 unit(s) inserted, 1 did not land, 2 capped by max" in capsys.readouterr().err


# --- the kill switch


def test_check_warns_when_the_kill_switch_is_on(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(folder / "rules")]) == 0
    assert "kill switch" not in capsys.readouterr().out
    (folder / "rules" / "OFF").touch()
    for path in (folder / "rules", folder / "rules" / "r.yaml"):  # a folder, or one file in it
        assert main(["check", str(path)]) == 0  # the rules are valid: a deploy check must not fail
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith("warning: the kill switch is on (") and "OFF exists" in out[0]
        assert out[-1].startswith("ok: ")


def test_explain_render_and_preview_say_the_kill_switch_is_on(
    folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADINJECT_OFF", "1")
    args = [str(folder / "page.html"), "--rules", str(folder / "rules"), "--url", "/news/a"]
    assert main(["explain", *args]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("KILL SWITCH ON: ADINJECT_OFF is set, so the site serves every page without")
    assert "what the rules would do with it off" in out[0]
    assert out[-1] == "(kill switch on: readers get none of these units)"
    report = folder / "report.json"
    assert main(["render", *args, "--report", str(report)]) == 0
    assert "warning: the kill switch is on: ADINJECT_OFF is set" in capsys.readouterr().err
    assert json.loads(report.read_text())["kill_switch"] == "ADINJECT_OFF is set"
    assert main(["preview", *args, "-o", str(folder / "out.html")]) == 0
    assert "KILL SWITCH ON (ADINJECT_OFF is set): readers get none of them" in capsys.readouterr().err
    assert "The kill switch is on: ADINJECT_OFF is set" in (folder / "out.html").read_text()


# --- a page file that is not there


@pytest.mark.parametrize("command", ["explain", "render", "preview"])
@pytest.mark.parametrize("name", ["missing.html", "."])
def test_a_page_that_cannot_be_read_is_one_line_and_status_2(
    folder: Path, capsys: pytest.CaptureFixture[str], command: str, name: str
) -> None:
    with pytest.raises(SystemExit) as failed:
        main([command, str(folder / name), "--rules", str(folder / "rules")])
    assert failed.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"adinject {command}: cannot read the page ")
    assert "Traceback" not in err


def test_a_context_file_that_is_not_there_or_not_json(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "bad.json").write_text("{nope")
    for context, said in (("none.json", "cannot read the context"), ("bad.json", "is not JSON")):
        with pytest.raises(SystemExit) as failed:
            main(["render", str(folder / "page.html"), "--rules", str(folder / "rules"), "--context",
                  str(folder / context)])  # fmt: skip
        assert failed.value.code == 2
        assert said in capsys.readouterr().err


# --- <base href> for a page fetched from a site


def _head_children(body: bytes) -> tuple[list[str], str | None, bool]:
    """The tags in <head> as a browser builds it, the base's href, and whether the page is in quirks mode."""
    parser = html5lib.HTMLParser(tree=html5lib.getTreeBuilder("dom"), namespaceHTMLElements=False)
    doc = parser.parse(body)
    head = doc.getElementsByTagName("head")[0]
    tags = [n.tagName for n in head.childNodes if n.nodeType == n.ELEMENT_NODE]
    bases = doc.getElementsByTagName("base")
    return tags, (bases[0].getAttribute("href") if bases else None), parser.compatMode != "no quirks"


URL = "https://news.example.com/world/story?id=1&x=<2>"


@pytest.mark.parametrize(
    "source",
    [
        b"<!doctype html><html lang=en><head><meta charset=utf-8><link rel=stylesheet href=/s.css></head>"
        b"<body><article><p>One two three four five.</p></article></body></html>",
        b"<!doctype html><html lang=en><title>T</title><body><article><p>One two three four.</p></article>",
        b"<!-- a comment --><!DOCTYPE html>\n<title>T</title><article><p>One two three four five.</p></article>",
    ],
)
def test_a_fetched_page_gets_a_base_first_in_its_head(source: bytes, tmp_path: Path) -> None:
    rules = load_rules(_rules(tmp_path))
    plain = annotate(rules, source, url="/news/a")
    based = annotate(rules, source, url="/news/a", base_url=URL)
    tags, href, quirks = _head_children(based.body)
    assert (tags[0], href) == ("base", URL)
    assert quirks == _head_children(plain.body)[2] is False
    assert tags[1:] == _head_children(plain.body)[0]  # the page's own head, after the base
    assert based.result.body == plain.result.body  # what readers get is untouched
    assert f'<base href="{html.escape(URL)}">'.encode() in based.body


def test_a_page_with_its_own_base_keeps_it(tmp_path: Path) -> None:
    source = b'<!doctype html><head><base href="https://cdn.example.com/"></head><p>One two three.</p>'
    annotated = annotate(load_rules(_rules(tmp_path)), source, url="/news/a", base_url=URL)
    assert _head_children(annotated.body)[1] == "https://cdn.example.com/"
    assert annotated.body.count(b"<base") == 1


def _rules(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(RULES)
    return path


@pytest.fixture
def site() -> Iterator[str]:
    body = page(7)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/moved":
                self.send_response(301)
                self.send_header("Location", "/news/moved/here/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_preview_from_a_url_writes_a_base(
    site: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.html"
    url = f"{site}/news/story"
    assert main(["preview", "--from", url, "--rules", str(_rules(tmp_path)), "-o", str(out)]) == 0
    assert _head_children(out.read_bytes())[:2] == (["base", "meta", "title"], url)
    saved = tmp_path / "saved.html"
    saved.write_bytes(page(7))
    assert main(["preview", str(saved), "--rules", str(_rules(tmp_path)), "-o", str(out)]) == 0
    assert b"<base" not in out.read_bytes()  # a saved page: where it came from is not known


def test_after_a_redirect_the_base_is_where_the_page_was_served_from(
    site: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.html"
    assert main(["preview", "--from", f"{site}/moved", "--rules", str(_rules(tmp_path)), "-o", str(out)]) == 0
    assert _head_children(out.read_bytes())[1] == f"{site}/news/moved/here/"
