"""Articles built otherwise, on small pages: <div> paragraphs, list-item paragraphs, bodies inside a <span>
or a <form>, the last text run of a <br><br> block, and keep_away_from seeing through wrappers.

Every output goes through the first law (html5lib reads it); what a unit follows is read from the output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adinject.engine import Rules
from adinject.language.loader import load_rule_set
from adinject.language.problems import RulesError
from adinject.placement import safety
from tests._support.engine import rules_from, sentences_before_units
from tests._support.first_law import check_first_law

H = {"content-type": "text/html; charset=utf-8"}
UNIT = '<div class="ad">AD</div>'


def _rules(tmp_path: Path, body: str, *, settings: str = "") -> Rules:
    return rules_from(tmp_path, f"units:\n  ad:\n    html: '{UNIT}'\n{settings}rules:\n{body}")


def _words(i: int, n: int = 14) -> str:
    return f"Sentence {i} says " + " ".join(f"w{i}x{j}," for j in range(n)) + " and ends."


def _page(body: str) -> bytes:
    return (
        "<!DOCTYPE html><html><head><meta charset=utf-8><title>T</title></head><body>"
        f'<header><a href="/">Home</a></header>{body}<footer>About us</footer></body></html>'
    ).encode()


AUTO = """\
  - name: auto
    container: auto
    min_paragraph_words: 8
    place:
      - unit: ad
        after_paragraph: {where}
        repeat_every: {every}
"""


def _after(body: bytes) -> list[str]:
    return sentences_before_units(body, UNIT)


def test_auto_counts_div_paragraphs_and_places_after_them(tmp_path: Path) -> None:
    # CNN's shape: a first <p>, then the story in <div class="zn-body__paragraph">s holding text and links.
    divs = "".join(
        f'<div class="zn-body__paragraph">{_words(i)} <a href="/x">a link</a> more.</div>'
        for i in range(2, 9)
    )
    page = _page(
        f'<article><div class="l-container"><p class="zn-body__paragraph">{_words(1)}</p>{divs}</div>'
    )
    result = _rules(tmp_path, AUTO.format(where=2, every=3)).apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    assert _after(result.body) == ["2", "5", "8"]
    assert b'</div><div class="ad">AD</div><div class="zn-body__paragraph">Sentence 3' in result.body


def test_div_paragraphs_do_not_count_where_p_paragraphs_make_the_body(tmp_path: Path) -> None:
    paras = "".join(f"<p>{_words(i)}</p>" for i in range(1, 9))
    boxes = "".join(f"<div>Box {i} {_words(100 + i)}</div>" for i in range(3))
    page = _page(f'<div class="story-body">{paras}{boxes}</div>')
    result = _rules(tmp_path, AUTO.format(where=1, every=1)).apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    assert _after(result.body) == [str(i) for i in range(1, 9)]


def test_list_item_paragraphs_place_after_the_list_with_a_reason(tmp_path: Path) -> None:
    items = "".join(f"<li>{_words(i)}</li>" for i in range(2, 6))
    page = _page(
        f'<div class="story"><p>{_words(1)}</p><ul>{items}</ul><p>{_words(6)}</p><p>{_words(7)}</p></div>'
    )
    rule = """\
  - name: items
    container: .story
    paragraphs: "p, li"
    ignore_inside: [blockquote]
    place:
      - unit: ad
        after_paragraph: 3
"""
    result = _rules(tmp_path, rule).apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    assert b'</ul><div class="ad">AD</div>' in result.body
    [ins] = result.insertions
    assert ins.paragraph == 5  # the list's last item
    assert "inside <ul>" in ins.note and "after that <ul>" in ins.note
    # The last item of the list is placed after the list directly, with nothing to explain.
    result = _rules(tmp_path, rule.replace("after_paragraph: 3", "after_paragraph: 5")).apply(
        page, url="/a", headers=H
    )
    assert [(i.paragraph, i.note) for i in result.insertions] == [(5, "")]


def test_body_in_a_span_gets_its_unit_after_the_span(tmp_path: Path) -> None:
    # HubSpot's shape: the whole post body is a <span>; a unit cannot go inside it.
    paras = "".join(f"<p>{_words(i)}</p>" for i in range(1, 7))
    page = _page(
        f'<div class="post"><span id="hs_cos_wrapper_post_body" class="hs_cos_wrapper">{paras}</span>'
        "<p>Comments are closed for this post, and that is that.</p></div>"
    )
    result = _rules(tmp_path, AUTO.format(where=2, every=10)).apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    assert b'</span><div class="ad">AD</div>' in result.body
    [ins] = result.insertions
    assert ins.paragraph == 6
    assert 'inside <span id="hs_cos_wrapper_post_body">' in ins.note


def test_body_in_a_form_is_placed_as_usual(tmp_path: Path) -> None:
    # Al Jazeera's (ASP.NET's) shape: the whole page inside one <form>, closed or not.
    paras = "".join(f"<p>{_words(i)}</p>" for i in range(1, 7))
    for end in ("</form>", ""):
        page = _page(
            f'<form id="aspnetForm" method="post"><div class="main"><h1>Title</h1>'
            f'<div class="article-p-wrapper">{paras}</div></div>{end}'
        )
        result = _rules(tmp_path, AUTO.format(where=2, every=2)).apply(page, url="/a", headers=H)
        check_first_law(page, result, mark="ad")
        assert _after(result.body) == ["2", "4", "6"]


def test_auto_prefers_the_article_over_comments_and_footer_lines(tmp_path: Path) -> None:
    article = f"<article><ul>{''.join(f'<li>{_words(i)}</li>' for i in range(1, 5))}</ul></article>"
    comments = (
        '<section><div class="content"><div class="comment-respond"><form>'
        + "".join(f"<p>{_words(50 + i)}</p>" for i in range(4))
        + "</form></div></div></section>"
    )
    footer = (
        f'<footer><nav><div class="small-links"><p>{_words(90)}</p><p>{_words(91)}</p></div></nav></footer>'
    )
    page = _page(article + comments + footer)
    result = _rules(tmp_path, AUTO.format(where=1, every=1)).apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    assert result.insertions == []
    assert [s.code for s in result.skipped] == ["no_container"]


BR = """\
  - name: br
    container: .post-body
    place:
      - unit: ad
        after_paragraph: {where}
"""


@pytest.mark.parametrize(
    "tail",
    [
        "",
        "<br>",
        "\n  <!-- end -->\n",
        # Blogger's templates end the post with a clearing <div>; others with a script: neither shows a reader
        # anything, so neither ends the run.
        "\n<div style='clear: both;'></div>\n",
        "<script>track()</script>",
    ],
)
def test_the_last_br_run_is_a_paragraph_with_a_unit_after_its_block(tmp_path: Path, tail: str) -> None:
    runs = "<br><br>\n".join(f"{_words(i)} <b>bold</b>" for i in range(1, 5))
    page = _page(f'<div class="post-body">{runs}{tail}</div><p>Share this</p>')
    result = _rules(tmp_path, BR.format(where=-1)).apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    [ins] = result.insertions
    assert ins.paragraph == 4
    assert f"<b>bold</b>{tail}</div>{UNIT}".encode() in result.body
    # Counting from the end starts at that run: -2 is after the third run's blank line.
    result = _rules(tmp_path, BR.format(where=-2)).apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    assert _after(result.body) == ["3"]
    assert f"<br><br>{UNIT}\nSentence 4".encode() in result.body


@pytest.mark.parametrize(
    "block", ["<div>Signed, the editors of this page</div>", "<hr>", "<img src=sig.png>"]
)
def test_a_run_ended_by_a_block_a_reader_sees_is_no_paragraph(tmp_path: Path, block: str) -> None:
    runs = "<br><br>\n".join(_words(i) for i in range(1, 4))
    page = _page(f'<div class="post-body">{runs}{block}</div>')
    result = _rules(tmp_path, BR.format(where=-1)).apply(page, url="/a", headers=H, explain=True)
    check_first_law(page, result, mark="ad")
    # The third run ends at a block with text, not at a blank line or the block's end: uncounted, so the
    # last counted paragraph is the second run.
    assert [i.paragraph for i in result.insertions] == [2]
    assert _after(result.body) == ["2"]


def test_a_block_ended_by_a_blank_line_has_no_extra_run(tmp_path: Path) -> None:
    runs = "".join(f"{_words(i)}<br><br>" for i in range(1, 4))
    page = _page(f'<div class="post-body">{runs}</div>')
    result = _rules(tmp_path, BR.format(where=-1)).apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    assert [i.paragraph for i in result.insertions] == [3]
    assert f"<br><br>{UNIT}</div>".encode() in result.body


KEEP = """\
  - name: keep
    container: article
    place:
      - unit: ad
        after_paragraph: 2
        keep_away_from: [img, iframe, h2]
        shift: skip
"""


@pytest.mark.parametrize(
    ("between", "touches"),
    [
        ('<div class="embed"><div><div><iframe src="/v"></iframe></div></div></div>', "iframe"),
        ('<div class="spacer"></div>\n<!-- x --><div><span hidden>Hidden</span><img src=a.png></div>', "img"),
        ('<div><script>var x;</script><div style="display:none">Hidden words</div><h2>Next</h2></div>', "h2"),
        # A thematic break is a thin line: the heading after it is what the unit sits next to.
        ("<hr />\n<h2>Next part</h2>", "h2"),
        ('<div style="visibility: hidden">Hidden words</div><h2>Next part</h2>', "h2"),
        ("<div><p>Visible text first</p><img src=a.png></div>", None),
        ("<div><span>Caption text</span> <div><img src=a.png></div></div>", None),
    ],
)
def test_keep_away_sees_what_follows_however_deeply_nested(
    tmp_path: Path, between: str, touches: str | None
) -> None:
    page = _page(f"<article><p>{_words(1)}</p><p>{_words(2)}</p>{between}<p>{_words(3)}</p></article>")
    result = _rules(tmp_path, KEEP).apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    if touches is None:
        assert _after(result.body) == ["2"]
    else:
        assert result.insertions == []
        [skip] = result.skipped
        assert skip.code == "keep_away" and f"followed by <{touches}>" in skip.reason


def test_keep_away_sees_the_last_thing_of_the_block_above(tmp_path: Path) -> None:
    second = (
        f'<div class="p"><p>{_words(2)}</p><div><figure><div><img src=b.png></div></figure>\n</div></div>'
    )
    page = _page(f"<article><p>{_words(1)}</p>{second}<p>{_words(3)}</p></article>")
    rule = KEEP.replace("container: article", 'container: article\n    paragraphs: "p, div.p"')
    result = _rules(tmp_path, rule).apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    [skip] = result.skipped
    assert skip.code == "keep_away" and "right after <img>" in skip.reason


def test_keep_away_looks_past_the_end_of_the_paragraphs_block(tmp_path: Path) -> None:
    page = _page(
        f"<article><div><p>{_words(1)}</p><p>{_words(2)}</p></div><div><h2>Related</h2></div></article>"
    )
    result = _rules(tmp_path, KEEP).apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    [skip] = result.skipped
    assert skip.code == "keep_away" and "followed by <h2>" in skip.reason


def test_keep_away_cost_stops_at_the_first_rendered_thing(tmp_path: Path) -> None:
    # Thousands of empty wrappers between every two paragraphs: each look is bounded, and the page plans.
    empties = "<div></div>" * 3000
    paras = "".join(f"<p>{_words(i)}</p>{empties}" for i in range(1, 30))
    page = _page(f"<article>{paras}<img src=a.png></article>")
    rule = KEEP.replace("after_paragraph: 2", "after_paragraph: 1\n        repeat_every: 1").replace(
        "shift: skip", "shift: down"
    )
    result = _rules(tmp_path, rule).apply(page, url="/a", headers=H)
    # The image 3000 empty boxes below the last paragraph is past what one look reads: all 29 are placed.
    assert len(result.insertions) == 29


SLOTS = """\
settings:
  page_ad_slots: ".ad-slot, [id^=div-gpt-ad]"
"""


def test_page_ad_slots_are_kept_away_from_by_every_rule(tmp_path: Path) -> None:
    between = {1: '<div id="div-gpt-ad-123"></div>', 3: '<div class="wrap"><div class="ad-slot"></div></div>'}
    paras = "".join(f"<p>{_words(i)}</p>{between.get(i, '')}" for i in range(1, 7))
    page = _page(f"<article>{paras}</article>")
    rule = "  - name: every\n    container: article\n    place:\n      - unit: ad\n        after_paragraph: 1\n        repeat_every: 1\n"
    result = _rules(tmp_path, rule, settings=SLOTS).apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    assert [i.paragraph for i in result.insertions] == [2, 4, 5, 6]
    notes = [i.note for i in result.insertions]
    assert "followed by <div> (the page's own ad slot (settings.page_ad_slots))" in notes[0]
    # Without the setting, the page's slots are just boxes.
    result = _rules(tmp_path, rule).apply(page, url="/a", headers=H)
    assert [i.paragraph for i in result.insertions] == [1, 2, 3, 4, 5, 6]


def test_page_ad_slots_selector_is_checked(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text('settings:\n  page_ad_slots: "div[["\n')
    with pytest.raises(RulesError) as raised:
        load_rule_set(tmp_path / "r.yaml")
    assert any(p.key == "settings.page_ad_slots" for p in raised.value.problems)


def test_each_boundary_is_looked_at_once_however_often_units_shift(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every paragraph is followed by an image: every unit shifts down to the end, asking about the same
    # boundaries again and again. Each is looked at once (above and below), so the page stays linear.
    looks = 0
    original = safety._look

    def counting(*args: object, **kwargs: object) -> object:
        nonlocal looks
        looks += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(safety, "_look", counting)
    n = 200
    paras = "".join(f"<p>{_words(i)}</p><div><img src=a.png></div>" for i in range(1, n + 1))
    page = _page(f"<article>{paras}</article>")
    rule = KEEP.replace("after_paragraph: 2", "after_paragraph: 1\n        repeat_every: 1").replace(
        "shift: skip", "shift: down"
    )
    result = _rules(tmp_path, rule).apply(page, url="/a", headers=H)
    assert result.insertions == []
    assert {s.code for s in result.skipped} <= {"keep_away", "shift_limit"}
    assert looks <= 2 * n


def test_auto_prefers_the_article_over_a_deals_widget(tmp_path: Path) -> None:
    # Sentences with a comma or two, as prose and deal blurbs both have.
    deals = "".join(
        f"<p>SAVE $379.00 on deal {i}, the best price we have seen on this laptop all year.</p>"
        for i in range(7)
    )
    story = "".join(
        f"<p>Sentence {i} of the story, which goes on for a while about what happened and why it matters.</p>"
        for i in range(1, 6)
    )
    page = _page(f'<div class="top-deals">{deals}</div><div>{story}</div>')
    result = _rules(tmp_path, AUTO.format(where=1, every=1)).apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    assert _after(result.body) == ["1", "2", "3", "4", "5"]


def test_an_opinion_piece_named_commentary_is_still_the_article(tmp_path: Path) -> None:
    story = "".join(f"<p>{_words(i)}</p>" for i in range(1, 5))
    page = _page(f'<div class="commentary-body">{story}</div>')
    result = _rules(tmp_path, AUTO.format(where=1, every=1)).apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    assert _after(result.body) == ["1", "2", "3", "4"]


def test_a_block_of_br_runs_among_few_paragraphs_counts_each_run_once(tmp_path: Path) -> None:
    # Few <p>s, so auto looks for <div>s of text too: the block of runs split by blank lines is counted
    # run by run (its last run once), never again as a <div> paragraph.
    runs = "<br><br>".join(f"{_words(i)} <i>it</i>" for i in range(2, 5))
    other = f"<div>{_words(5)}</div><div>{_words(6)}</div>"
    page = _page(f'<div class="story"><p>{_words(1)}</p><div class="runs">{runs}</div>{other}</div>')
    result = _rules(tmp_path, AUTO.format(where=1, every=1)).apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    assert _after(result.body) == ["1", "2", "3", "4", "5", "6"]
    assert [i.paragraph for i in result.insertions] == [1, 2, 3, 4, 5, 6]
