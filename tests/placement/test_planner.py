"""Placement semantics, each against a page whose paragraphs are numbered in their own text."""

from __future__ import annotations

from pathlib import Path

import pytest
from turbohtml import parse

from adinject.engine import Rules
from adinject.placement.container import marked_article
from adinject.placement.paragraphs import br_runs
from tests._support.engine import (
    article,
    everywhere_rules,
    follows,
    placed_after,
    rules_from,
    simple_rules,
)
from tests._support.first_law import check_first_law
from tests._support.paths import FIXTURES

H = {"content-type": "text/html; charset=utf-8"}


def run(rules: Rules, page: bytes, url: str = "/news/a") -> tuple[list[int], list[str]]:
    result = rules.apply(page, url=url, headers=H)
    check_first_law(page, result, mark="ad")
    return follows(result.body), [s.code for s in result.skipped]


def test_issue_example_after_3_then_every_5(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, (FIXTURES / "news.yaml").read_text())
    page = (
        article(15, words=30)
        .replace(b"<article>", b'<article><div class="article-body">')
        .replace(b"</article>", b"</div></article>")
    )
    result = rules.apply(page, url="/world/story", headers=H)
    check_first_law(page, result, mark="ad-slot")
    assert [i.paragraph for i in result.insertions] == [3, 8, 13]
    assert [i.slot_id for i in result.insertions] == [
        "adinject-advertisement-1",
        "adinject-advertisement-2",
        "adinject-advertisement-3",
    ]


def test_excluded_path_and_unmatched_path(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, (FIXTURES / "news.yaml").read_text())
    page = article(15, words=30)
    for url in ("/news/live/now", "/sport/x"):
        result = rules.apply(page, url=url, headers=H)
        assert result.body == page
        assert [s.code for s in result.skipped] == ["no_rule"]


def test_negative_counts_from_the_end(tmp_path: Path) -> None:
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: -2\n")
    assert run(rules, article(7))[0] == [6]


def test_minus_one_is_after_the_last_unless_not_after_last(tmp_path: Path) -> None:
    assert run(simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: -1\n"), article(5))[0] == [
        5
    ]
    rules = simple_rules(
        tmp_path, "      - unit: ad\n        after_paragraph: -1\n        not_after_last: true\n"
    )
    units, codes = run(rules, article(5))
    assert units == []
    assert codes == ["range"]


def test_fraction_is_the_middle(tmp_path: Path) -> None:
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 0.5\n")
    assert run(rules, article(9))[0] == [5]
    assert run(rules, article(10))[0] == [5]
    assert run(rules, article(3))[0] == [2]


def test_list_of_positions(tmp_path: Path) -> None:
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: [6, 1, 3]\n")
    assert run(rules, article(8))[0] == [1, 3, 6]


def test_repeat_every_and_max(tmp_path: Path) -> None:
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 2\n        repeat_every: 3\n")
    assert run(rules, article(12))[0] == [2, 5, 8, 11]
    rules = simple_rules(
        tmp_path, "      - unit: ad\n        after_paragraph: 2\n        repeat_every: 3\n        max: 2\n"
    )
    units, codes = run(rules, article(12))
    assert units == [2, 5]
    assert codes == ["max", "max"]


def test_keep_away_shifts_down_and_says_so(tmp_path: Path) -> None:
    rules = simple_rules(
        tmp_path, "      - unit: ad\n        after_paragraph: 3\n        keep_away_from: [h2, img]\n"
    )
    page = article(8, between={3: "<h2>Next section</h2>\n", 4: '<p><img src="x.png" alt=""></p>\n'})
    result = rules.apply(page, url="/news/a", headers=H)
    check_first_law(page, result, mark="ad")
    # after 3 the unit would touch the <h2> that follows; after 4 it would touch the <p><img></p> that
    # follows (not a counted paragraph, but an image the unit must keep away from); after 5 is clear
    assert follows(result.body) == [5]
    assert "shifted from after paragraph 3" in result.insertions[0].note


def test_keep_away_shift_up_and_skip(tmp_path: Path) -> None:
    place = "      - unit: ad\n        after_paragraph: 3\n        keep_away_from: [h2]\n        shift: {}\n"
    page = article(8, between={3: "<h2>Next</h2>\n"})
    assert run(simple_rules(tmp_path, place.format("up")), page)[0] == [2]
    units, codes = run(simple_rules(tmp_path, place.format("skip")), page)
    assert units == []
    assert codes == ["keep_away"]


def test_min_words_between_counts_counted_words(tmp_path: Path) -> None:
    place = "      - unit: ad\n        after_paragraph: 1\n        repeat_every: 1\n        min_words_between: 25\n"
    # ten words a paragraph: 25 words between units means three paragraphs apart
    assert run(simple_rules(tmp_path, place), article(10))[0] == [1, 4, 7, 10]


def test_min_words_after(tmp_path: Path) -> None:
    place = "      - unit: ad\n        after_paragraph: [2, 8]\n        min_words_after: 25\n"
    units, codes = run(simple_rules(tmp_path, place), article(10))
    assert units == [2]
    assert codes == ["after_words"]


def test_skip_first_and_last(tmp_path: Path) -> None:
    extra = "    skip_first: 2\n    skip_last: 2\n"
    place = "      - unit: ad\n        after_paragraph: 1\n        repeat_every: 1\n"
    assert run(simple_rules(tmp_path, place, extra=extra), article(8))[0] == [3, 4, 5, 6]


def test_short_paragraphs_are_not_counted(tmp_path: Path) -> None:
    extra = "    min_paragraph_words: 5\n"
    page = article(6).replace(b"<p>Paragraph 2 ", b"<p>Short.</p><p>Paragraph 2 ")
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: [1, 2]\n", extra=extra)
    result = rules.apply(page, url="/news/a", headers=H)
    check_first_law(page, result, mark="ad")
    assert follows(result.body) == [1, 2]
    # the unit after counted paragraph 1 sits right after "Paragraph 1", before "Short."
    assert b"w1x7.</p><div" in result.body


def test_ignore_inside_and_min_paragraphs(tmp_path: Path) -> None:
    page = article(5, between={2: "<blockquote><p>Quoted words here and there</p></blockquote>\n"})
    extra = "    ignore_inside: [blockquote]\n    min_paragraphs: 5\n"
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 3\n", extra=extra)
    assert run(rules, page)[0] == [3]
    extra = "    ignore_inside: [blockquote]\n    min_paragraphs: 6\n"
    units, codes = run(
        simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 3\n", extra=extra), page
    )
    assert units == []
    assert codes == ["min_paragraphs"]


def test_article_word_limits(tmp_path: Path) -> None:
    place = "      - unit: ad\n        after_paragraph: 1\n"
    assert run(simple_rules(tmp_path, place, extra="    min_words: 100\n"), article(9))[1] == ["min_words"]
    assert run(simple_rules(tmp_path, place, extra="    min_words: 100\n"), article(10))[0] == [1]
    assert run(simple_rules(tmp_path, place, extra="    max_words: 50\n"), article(6))[1] == ["max_words"]


def test_paragraph_text_filters(tmp_path: Path) -> None:
    page = article(4).replace(b"Paragraph 2 ", b"Paragraph 2 Related: ")
    extra = "    paragraph_text: {not_contains: ['related:']}\n"
    # paragraph 2 is not counted, so counted paragraph 2 is "Paragraph 3"
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 2\n", extra=extra)
    result = rules.apply(page, url="/news/a", headers=H)
    assert follows(result.body) == [3]
    assert placed_after(result.body) == [2]


def test_two_rules_never_share_a_boundary(tmp_path: Path) -> None:
    text = """\
units:
  ad:
    html: '<div class="ad" id="{{ slot.id }}">AD after {{ slot.paragraph }}</div>'
rules:
  - name: first
    container: article
    place: [{unit: ad, after_paragraph: 3}]
  - name: second
    container: article
    place: [{unit: ad, after_paragraph: 3}]
"""
    result = rules_from(tmp_path, text).apply(article(6), url="/x", headers=H)
    check_first_law(article(6), result, mark="ad")
    assert [(i.rule, i.paragraph) for i in result.insertions] == [("first", 3), ("second", 4)]
    assert "taken by rule 'first'" in result.insertions[1].note


def test_max_units_per_page_across_rules(tmp_path: Path) -> None:
    text = """\
settings: {max_units_per_page: 3}
units:
  ad:
    html: '<div class="ad" id="{{ slot.id }}">AD after {{ slot.paragraph }}</div>'
rules:
  - name: a
    container: article
    place: [{unit: ad, after_paragraph: 1, repeat_every: 4}]
  - name: b
    container: article
    place: [{unit: ad, after_paragraph: 3, repeat_every: 4}]
"""
    result = rules_from(tmp_path, text).apply(article(12), url="/x", headers=H)
    # rules apply in file order: "a" takes all three (1, 5, 9) before "b" is considered
    assert follows(result.body) == [1, 5, 9]
    assert sorted(s.code for s in result.skipped) == ["page_max"] * 3


def test_after_anchor_heading_and_image(tmp_path: Path) -> None:
    page = article(
        6,
        between={2: "<h2>One</h2>\n", 4: "<h2>Two</h2>\n<p><a href=/x><img src=a.png></a></p>\n"},
    )
    place = "      - unit: ad\n        after_anchor: {selector: h2, nth: -1}\n"
    result = simple_rules(tmp_path, place).apply(page, url="/news/a", headers=H)
    check_first_law(page, result, mark="ad")
    assert b"<h2>Two</h2><div" in result.body
    place = "      - unit: ad\n        after_anchor: {selector: img}\n"
    result = simple_rules(tmp_path, place).apply(page, url="/news/a", headers=H)
    check_first_law(page, result, mark="ad")
    # the image sits in <a> in <p>: the unit goes after the <p>
    assert b'<img src=a.png></a></p><div class="ad"' in result.body


def test_no_container(tmp_path: Path) -> None:
    result = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 1\n").apply(
        b"<p>no article here</p>", url="/news/a", headers=H
    )
    assert [s.code for s in result.skipped] == ["no_container"]


def test_implied_paragraph_ends(tmp_path: Path) -> None:
    page = b"<!DOCTYPE html><article><p>One two three.<p>Four five six.<div>x</div><p>Seven eight.</article>"
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 1\n        repeat_every: 1\n")
    result = rules.apply(page, url="/news/a", headers=H)
    check_first_law(page, result, mark="ad")
    assert [i.paragraph for i in result.insertions] == [1, 2, 3]
    assert b'One two three.<div class="ad"' in result.body


def test_unit_must_close_an_unclosed_paragraph(tmp_path: Path) -> None:
    page = b"<!DOCTYPE html><article><p>One two three.<p>Four five six.</article>"
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 1\n", unit="<span>AD</span>")
    result = rules.apply(page, url="/news/a", headers=H)
    assert result.body == page
    assert [s.code for s in result.skipped] == ["unsafe"]


def test_unsafe_places_are_refused_with_reasons(tmp_path: Path) -> None:
    cases = {
        b"<article><table><tr><td>x</td></tr></table><p>One two.</p></article>": "ok",
        # A paragraph wrapped in <b> is followed by the unit after the </b> (see tests/placement/test_shapes.py)
        b"<article><b><p>One two.</p></b></article>": "ok",
        b"<article><p><b>One.</p><p>Two three.</p></article>": "re-opened",
        b"<article><select><option><p>one</p></select><p>x</p></article>": "",
    }
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 1\n")
    for page, expected in cases.items():
        result = rules.apply(page, url="/news/a", headers=H)
        check_first_law(page, result, mark="ad")
        reasons = " ".join(s.reason for s in result.skipped)
        if expected == "ok":
            assert result.insertions, reasons
        elif expected:
            assert not result.insertions
            assert expected in reasons


def test_auto_takes_a_marked_article_body_at_its_word_only_when_it_holds_most_paragraphs(
    tmp_path: Path,
) -> None:
    text = """\
units:
  ad:
    html: '<div class="ad" id="{{ slot.id }}">AD after {{ slot.paragraph }}</div>'
rules:
  - name: r
    container: auto
    place: [{unit: ad, after_paragraph: 1}]
"""
    rules = rules_from(tmp_path, text)
    body = "".join(
        f"<p>Story paragraph {i} has plenty of words to count as prose here.</p>" for i in range(1, 7)
    )
    teasers = "".join(
        f"<p>Teaser {i} with enough words to look like a paragraph too.</p>" for i in range(1, 4)
    )
    page = (
        f'<body><div class="sidebar">{teasers}</div><div itemprop="articleBody">{body}</div></body>'.encode()
    )
    result = rules.apply(page, url="/x", headers=H, explain=True)
    assert result.traces[0].container == "auto"
    assert b'Story paragraph 1 has plenty of words to count as prose here.</p><div class="ad"' in result.body
    # the marked element holding a minority of the paragraphs is not trusted blindly: scoring decides
    small = f'<body><div itemprop="articleBody"><p>Lead only, one paragraph of words here.</p></div><main>{body}{teasers}</main></body>'.encode()
    result = rules.apply(small, url="/x", headers=H)
    assert b"Story paragraph 1 has plenty of words to count as prose here.</p><div" in result.body


def test_marked_article_is_an_ancestor_of_the_middle_paragraph(tmp_path: Path) -> None:
    story = "".join(f"<p>Story {i} words words words words words.</p>" for i in range(1, 9))
    teaser = "<article class=teaser><p>Teaser one.</p><p>Teaser two.</p></article>"
    # An <article> teaser earlier in the page does not hide the story's own <article>...
    doc = parse(f"<body>{teaser}<article id=story>{story}</article></body>")
    found = marked_article(doc, "p")
    assert found is not None and found.attrs.get("id") == "story"
    # ...nested marked elements give the innermost that holds enough, and the selectors keep their order
    # (articleBody before CMS classes before <article>)...
    doc = parse(
        f"<body><article id=outer><div class=entry-content id=cls>"
        f"<div itemprop=articleBody id=inner>{story}</div></div></article></body>"
    )
    found = marked_article(doc, "p")
    assert found is not None and found.attrs.get("id") == "inner"
    doc = parse(f"<body><article id=outer><div class=post-body id=cls>{story}</div></article></body>")
    found = marked_article(doc, "p")
    assert found is not None and found.attrs.get("id") == "cls"
    # ...and one holding too few of the page's paragraphs is not taken.
    doc = parse(f"<body><article>{story[:200]}</article><div>{story}</div></body>")
    assert marked_article(doc, "p") is None


@pytest.mark.parametrize(
    ("markup", "runs"),
    [
        (
            "<div>One run of words<br><br>Two run of words<br><br>tail</div>",
            ["One run of words", "Two run of words", "tail"],  # the last run ends with the block
        ),
        (
            "<div>One run<br> <!-- a comment --> \n<br>Two</div>",
            ["One run", "Two"],
        ),  # whitespace and comments between
        ("<div>Lines<br>broken<br>once each</div>", []),  # no blank line: no run
        ("<div>a<br>text<br><br></div>", ["a text"]),  # a single break continues the run
        ("<p>In a paragraph<br><br>not a run</p>", []),
        ("<div>Before <b>bold</b><br><span>x</span><br>after</div>", []),
    ],
)
def test_br_runs(markup: str, runs: list[str]) -> None:
    doc = parse(f"<body>{markup}</body>")
    assert [text.strip() for _, text in br_runs(doc)] == runs
    body = doc.select_one("body")
    assert body is not None
    assert [text.strip() for _, text in br_runs(body)] == runs


BLOCKS_WHOSE_TEXT_REOPENS_NOTHING = [
    "<table><tr><td>cell text</td></tr></table>",
    "<table><caption>caption text</caption></table>",
    "<script>var text = 1</script>",
    "<textarea>text</textarea>",
    "<select><option>option text</option></select>",
    "<iframe>text</iframe>",
    "<noscript>text</noscript>",
    "<svg><text>svg text</text></svg>",
    "<object>object text</object>",
    "<marquee>marquee text</marquee>",
]


@pytest.mark.parametrize("inside", BLOCKS_WHOSE_TEXT_REOPENS_NOTHING)
@pytest.mark.parametrize("tail", ["", "tail text"])
def test_a_formatting_element_left_open_before_a_block_without_body_text(
    tmp_path: Path, inside: str, tail: str
) -> None:
    # <b> is closed by </p> but stays in the list of active formatting elements. The <div> after it holds
    # text only where the parser re-opens nothing (a cell, raw text, a select...), so no clone shows the
    # open <b>; a unit after </div> would be re-opened inside it. Regression: this placed the unit.
    rules = rules_from(
        tmp_path,
        "units:\n  u:\n    html: '<div class=\"ad\">AD</div>'\n"
        "rules:\n  - name: r\n    container: body\n    paragraphs: div\n"
        "    min_paragraph_words: 0\n    min_paragraphs: 1\n    place: [{unit: u, after_paragraph: 1}]\n",
    )
    page = f"<!DOCTYPE html><body><p><b>bold</p><div>{inside}</div>{tail}</body>".encode()
    result = rules.apply(page, url="/x", headers=H)
    check_first_law(page, result, mark="ad")


@pytest.mark.parametrize(
    "body",
    [
        # An <a> inside SVG is a foreign element: it does not drop the HTML <a> left open before it.
        "<div><a href=x>link<svg><a href=y>s</a></svg></div>after",
        "<div><a href=x>link <svg><a>s</a></svg> text</div><p>after</p>",
        # <object>/<marquee> clear what they left open only at their own end tag, not at a </table>.
        "<table><marquee><br><em>x</table><textarea>t</textarea>",
        "<table><object><br><em>x</table><textarea>t</textarea>",
        "<table><marquee><br><a href=x><em><iframe>x</iframe></table><textarea>t</textarea>",
        # Built one way by the 2025 parser and another by older ones (most browsers still):
        "<select><p>x</p><textarea>t</textarea>more words<select><br>z",  # a select holding more than options
        "<p>text<dialog><br>in dialog</dialog>more</p>",  # a <dialog> closing an open <p>
        "<p><span>text<dialog><img>x</dialog></span>",
        # A <p> without </p> ends at its parent's end tag, but a <button> (or <span>) inside it is open
        # there still.
        "<ul><li><p>text<button>b</li></ul>",
        "<div><p>text<span>s</div>",
    ],
)
def test_found_by_fuzzing_unit_everywhere(tmp_path: Path, body: str) -> None:
    # Random documents with a unit asked after every element of ten kinds, checked against html5lib
    # (a parser of the older generation): each of these placed a unit the browser moved or re-opened into.
    rules = rules_from(tmp_path, everywhere_rules('<div class="ad"><p>AD</p></div>'))
    page = f"<!DOCTYPE html><body>{body}</body>".encode()
    result = rules.apply(page, url="/", headers=H)
    check_first_law(page, result, mark="ad")


def test_placing_without_explaining_skips_the_lines_the_rule_leaves_out(tmp_path: Path) -> None:
    """Only explaining lists the paragraphs a rule's settings leave out; placing never builds them, and
    places exactly where explaining says."""
    from turbohtml import parse

    from adinject.placement.paragraphs import collect
    from tests._support.engine import simple_rules

    rules = simple_rules(
        tmp_path, "      - unit: ad\n        after_paragraph: 2\n", extra="    min_paragraph_words: 5\n"
    )
    prose = "<p>The council voted on Tuesday to close the old library for a year of repairs to its roof.</p>"
    body = f"<article>{prose}<p>Short line.</p><p hidden>{prose[3:]}<ul><li>{prose[3:-4]}</li></ul>{prose}"
    doc = parse(f"<body>{body}</article>", source_locations=True)
    container = doc.select_one("article")
    assert container is not None
    rule = rules.compiled.rules[0]
    everything = collect(container, rule)
    placing = collect(container, rule, left_out=False)
    assert [c.counted for c in everything] == [True, False, False, True]
    assert [c.el for c in placing] == [c.el for c in everything if c.counted]
    page = f"<!DOCTYPE html><html><body>{body}</article></body></html>".encode()
    headers = {"content-type": "text/html"}
    plain = rules.apply(page, url="/news/a", headers=headers)
    explained = rules.apply(page, url="/news/a", headers=headers, explain=True)
    assert plain.body == explained.body and [i.paragraph for i in plain.insertions] == [2]
