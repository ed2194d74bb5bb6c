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


def test_a_paragraph_repeated_word_for_word_is_matched_in_reading_order() -> None:
    # Five identical paragraphs: a unit after the third has two after it, though its ten preceding words
    # also end the first and the second.
    same = "<p>Lorem ipsum dolor sit amet, consectetur adipisicing elit, sed do eiusmod tempor.</p>"
    tally = bench.Tally()
    page = f"<html><body>{same * 3}{SLOT}{same * 2}</body></html>".encode()
    article = bench.Article.read(f"<body>{same * 5}</body>".encode())
    bench.judge_page(bench.render(bench.parse(page), bench.SLOT_CLASS), article, tally, "t")
    assert (tally.after_article, tally.two_from_end) == (1, 1)


def test_short_bold_or_capital_lines_are_subheadings_not_paragraphs() -> None:
    article = bench.Article.read(
        b"<body>"
        + "".join(PARAS).encode()
        + b"<p><strong><em>6 Days</em> (film, 1h34, Netflix)</strong></p>"
        + b"<p>WHAT THE COUNCIL DECIDED ON TUESDAY NIGHT</p>"
        + b"<p><strong>The council voted on Tuesday</strong> to close the library for a year.</p>"
        + b"</body>"
    )
    # The last line is bold only in part: a paragraph.
    assert article.paragraphs_after(0) == 4


def test_paragraphs_inside_a_span_around_blocks_are_paragraphs() -> None:
    # HubSpot and eHow put blocks inside <span>s; a browser renders them as blocks, and so does the judge.
    article = bench.Article.read(
        b"<body><article><span><span><div>"
        + "".join(PARAS).encode()
        + b"</div></span></span></article></body>"
    )
    assert article.paragraphs_after(0) == 3


def test_paragraphs_of_a_layout_table_are_paragraphs_and_a_cells_own_text_is_not() -> None:
    article = bench.Article.read(
        b"<body><table><tr><td>" + "".join(PARAS).encode() + b"</td>"
        b"<td>Price per ticket in euros, 2019 season</td></tr></table></body>"
    )
    assert article.paragraphs_after(0) == 3
