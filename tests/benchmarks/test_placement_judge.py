"""The placement benchmark's judge reads pages as a reader does: small pages where the answer is plain."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests._support.paths import REPO

BENCH = REPO / "benchmarks" / "placement.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("adinject_bench_placement_under_test", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bench = _load()
SLOT = f'<div class="{bench.SLOT_CLASS}"><p>Advertisement</p></div>'
ARTICLE = b"""<html><body>
<p>The council voted on Tuesday to close the old library for a year of repairs.</p>
<p>Residents who use its reading rooms will be sent to the branch across the river.</p>
<p>The repairs are expected to cost about four million dollars in all.</p>
</body></html>"""
PARAS = [
    "<p>The council voted on Tuesday to close the old library for a year of repairs.</p>",
    "<p>Residents who use its reading rooms will be sent to the branch across the river.</p>",
    "<p>The repairs are expected to cost about four million dollars in all.</p>",
]


def judge(body: str) -> object:
    tally = bench.Tally()
    page = f"<html><body>{body}</body></html>".encode()
    bench.judge_page(
        bench.render(bench.parse(page), bench.SLOT_CLASS), bench.Article.read(ARTICLE), tally, "t"
    )
    return tally


def test_a_unit_after_article_text_with_two_paragraphs_after() -> None:
    t = judge(PARAS[0] + SLOT + PARAS[1] + PARAS[2])
    assert (t.units, t.after_article, t.beside_media, t.two_from_end) == (1, 1, 0, 1)


def test_a_unit_after_a_byline_is_not_after_article_text() -> None:
    t = judge(PARAS[0] + "<p>By Jane Doe, Staff Reporter</p>" + SLOT + PARAS[1] + PARAS[2])
    assert (t.units, t.after_article, t.two_from_end) == (1, 0, 0)


def test_media_is_seen_however_deeply_nested() -> None:
    nested = "<div><div><div><iframe src='/v'></iframe></div></div></div>"
    t = judge(PARAS[0] + SLOT + nested + PARAS[1])
    assert t.beside_media == 1
    t = judge(PARAS[0] + "<div><span><img src='/a.jpg'></span></div>" + SLOT + PARAS[1])
    assert t.beside_media == 1


def test_a_heading_above_or_below_is_beside_media_and_a_pixel_is_not() -> None:
    assert judge(PARAS[0] + SLOT + "<h2>Repairs</h2>" + PARAS[1]).beside_media == 1
    assert judge(PARAS[0] + "<img src='/p.gif' width=1 height=1>" + SLOT + PARAS[1]).beside_media == 0


def test_hidden_and_unrendered_text_is_not_read() -> None:
    hidden = "<p style='display:none'>Share this story on every network you know</p><script>var x</script>"
    t = judge(PARAS[0] + hidden + SLOT + PARAS[1])
    assert t.after_article == 1


def test_paragraphs_after_count_only_article_paragraphs_of_five_words() -> None:
    t = judge(PARAS[1] + SLOT + PARAS[2])
    assert (t.after_article, t.two_from_end) == (1, 0)
    article = bench.Article.read(
        b"<body><div>One two three four five six.<br><br>Short one.<br><br>"
        b"Seven eight nine ten eleven twelve.</div><ul><li>a b c d e f</li></ul>"
    )
    assert article.paragraphs_after(0) == 2


def test_lines_the_issue_calls_boilerplate_are_no_article_paragraphs() -> None:
    # Readability keeps these in expected.html; issue 12 says a reader would not call them paragraphs
    # (credits, author bios, print-edition notes, calls to action, related-link lines).
    tail = (
        b"<p>Continue reading the main story</p>"
        b"<p>Corey Kilgannon is a metro reporter covering news and human interest stories.</p>"
        b"<p>A version of this article appears in print on Page A22 of the New York edition.</p>"
        b"<p>Heba Habib contributed to this report.</p>"
        b"<p>Abigail Williams and Beomsu Jo contributed</p>"
        b"<p>Top photo by Joan Bardeletti for the magazine</p>"
        b"<p><a href='/a'>Tunisia sends most foreign fighters to Syria</a></p>"
    )
    article = bench.Article.read(b"<body>" + "".join(PARAS).encode() + tail + b"</body>")
    assert article.paragraphs_after(0) == 3


def test_prose_that_names_a_job_or_holds_a_link_is_still_a_paragraph() -> None:
    article = bench.Article.read(
        b"<body><p>Maria Lopez is a nurse at the county hospital, working nights.</p>"
        b"<p>The plan, <a href='/p'>published in March</a>, has drawn wide criticism from residents.</p>"
        b"<p>The reporter asked the mayor twice about the repairs and got no answer.</p></body>"
    )
    assert article.paragraphs_after(0) == 3
