"""What counts as a paragraph around quotations, embedded posts, hidden passages and code, on small pages.

Quotations are article text and count, but a unit never goes inside one; embedded social posts and pull
quotes are blockquotes that are not the article; text a reader never sees (hidden, code) never counts.
Every output goes through the first law; what a unit follows is read from the output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adinject.engine import Rules
from adinject.result import ApplyResult
from tests._support.engine import rules_from, sentences_before_units
from tests._support.first_law import check_first_law

H = {"content-type": "text/html; charset=utf-8"}
UNIT = '<div class="ad">AD</div>'


def _rules(tmp_path: Path, place: str, extra: str = "") -> Rules:
    return rules_from(
        tmp_path,
        f"units:\n  ad:\n    html: '{UNIT}'\nrules:\n  - name: r\n    container: article\n{extra}"
        f"    place:\n      - unit: ad\n{place}",
    )


def _p(i: int) -> str:
    return f"<p>Sentence {i} is a paragraph of the story with enough words in it.</p>"


def _page(body: str) -> bytes:
    return (
        "<!DOCTYPE html><html><head><meta charset=utf-8><title>T</title></head>"
        f"<body><article>{body}</article></body></html>"
    ).encode()


def _after(body: bytes) -> list[str]:
    return sentences_before_units(body, UNIT)


def _counted(rules: Rules, page: bytes) -> list[tuple[str, str | None]]:
    result = rules.apply(page, url="/a", headers=H, explain=True)
    return [(p.first_words, p.left_out) for p in result.traces[0].paragraphs]


QUOTE = f"{_p(1)}{_p(2)}<blockquote>{_p(3)}{_p(4)}</blockquote>{_p(5)}{_p(6)}"


def _placed(tmp_path: Path, place: str, body: str = QUOTE, *, explain: bool = False) -> ApplyResult:
    """The page of `body` with the placement `place` applied, its first law checked."""
    page = _page(body)
    result = _rules(tmp_path, place).apply(page, url="/a", headers=H, explain=explain)
    check_first_law(page, result, mark="ad")
    return result


def test_a_quotations_paragraphs_count(tmp_path: Path) -> None:
    found = _counted(_rules(tmp_path, "        after_paragraph: 1\n"), _page(QUOTE))
    assert [reason for _, reason in found] == [None] * 6


def test_a_unit_after_a_quotes_last_paragraph_goes_after_the_quote(tmp_path: Path) -> None:
    result = _placed(tmp_path, "        after_paragraph: 4\n")
    assert [i.paragraph for i in result.insertions] == [4]
    assert f"</blockquote>{UNIT}".encode() in result.body


def test_counting_from_the_end_reaches_into_a_quote_and_places_after_it(tmp_path: Path) -> None:
    # Two paragraphs after the quote: "-3" is the quote's last paragraph, and the unit follows the quote.
    result = _placed(tmp_path, "        after_paragraph: -3\n")
    assert f"</blockquote>{UNIT}{_p(5)}".encode() in result.body


def test_a_unit_is_never_placed_between_a_quotes_paragraphs(tmp_path: Path) -> None:
    result = _placed(tmp_path, "        after_paragraph: 3\n        shift: skip\n")
    assert result.insertions == []
    [skip] = result.skipped
    assert "inside a quote" in skip.reason and "after the quote" in skip.reason
    # Shifting down (the default) reaches the quote's last paragraph, whose place is after the quote.
    result = _placed(tmp_path, "        after_paragraph: 3\n")
    assert f"</blockquote>{UNIT}".encode() in result.body


def test_before_a_quotes_first_paragraph_is_before_the_quote(tmp_path: Path) -> None:
    result = _placed(tmp_path, "        before_paragraph: 3\n")
    assert f"{UNIT}<blockquote>".encode() in result.body
    result = _placed(tmp_path, "        before_paragraph: 4\n        shift: skip\n")
    assert result.insertions == []
    assert "before the quote" in result.skipped[0].reason


def test_an_article_body_that_is_a_blockquote_takes_units_inside(tmp_path: Path) -> None:
    # Some blog engines mark the post body up as <blockquote class="entry-content">: that is the container,
    # not a quotation in it.
    page = (
        "<!DOCTYPE html><html><head><meta charset=utf-8><title>T</title></head><body>"
        f'<blockquote class="entry-content">{_p(1)}{_p(2)}{_p(3)}</blockquote></body></html>'
    ).encode()
    rules = rules_from(
        tmp_path,
        f"units:\n  ad:\n    html: '{UNIT}'\nrules:\n  - name: r\n    container: blockquote.entry-content\n"
        "    place:\n      - unit: ad\n        after_paragraph: 1\n",
    )
    result = rules.apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    assert _after(result.body) == ["1"]
    assert f"{UNIT}{_p(2)}".encode() in result.body


@pytest.mark.parametrize(
    ("attrs", "kind"),
    [
        ('class="twitter-tweet"', "an embedded social post"),
        ('class="instagram-media" data-instgrm-version="14"', "an embedded social post"),
        ('class="tiktok-embed" cite="https://www.tiktok.com/@x/video/1"', "an embedded social post"),
        ('class="graf--pullquote pullquote"', "a pull quote"),
    ],
)
def test_embedded_posts_and_pull_quotes_are_not_the_article(tmp_path: Path, attrs: str, kind: str) -> None:
    body = (
        f"{_p(1)}{_p(2)}<blockquote {attrs}><p>Just landed in Paris, what a day it has been for us all!</p>"
    )
    body += f"— Someone (@someone) May 1, 2024</blockquote>{_p(3)}"
    found = _counted(_rules(tmp_path, "        after_paragraph: 1\n"), _page(body))
    assert [reason is None for _, reason in found] == [True, True, False, True]
    assert kind in (found[2][1] or "")
    # Off with the boilerplate filter: every quotation counts.
    found = _counted(
        _rules(tmp_path, "        after_paragraph: 1\n", "    boilerplate_filter: false\n"), _page(body)
    )
    assert [reason for _, reason in found] == [None] * 4


@pytest.mark.parametrize(
    "wrapped",
    [
        '<div class="pullquote"><blockquote><p>{line}</p></blockquote></div>',
        '<div class="c-twitter-tweet"><p>{line}</p></div>',
    ],
)
def test_a_pull_quote_or_post_named_by_its_wrapper_is_not_the_article(tmp_path: Path, wrapped: str) -> None:
    line = "Just landed in Paris, what a day it has been for us all!"
    body = f"{_p(1)}{_p(2)}{wrapped.format(line=line)}{_p(3)}"
    found = _counted(_rules(tmp_path, "        after_paragraph: 1\n"), _page(body))
    assert [reason is None for _, reason in found] == [True, True, False, True]
    # A wrapper whose class only contains "embed" may be the article's own: its paragraphs count.
    body = f'<div class="embedded-story">{_p(1)}{_p(2)}</div>{_p(3)}'
    found = _counted(_rules(tmp_path, "        after_paragraph: 1\n"), _page(body))
    assert [reason for _, reason in found] == [None, None, None]


def test_ignore_inside_blockquote_still_leaves_every_quote_out(tmp_path: Path) -> None:
    rules = _rules(tmp_path, "        after_paragraph: 1\n", "    ignore_inside: [blockquote]\n")
    found = _counted(rules, _page(QUOTE))
    assert [reason is None for _, reason in found] == [True, True, False, False, True, True]


@pytest.mark.parametrize(
    "style", ["visibility: hidden", "visibility:hidden", "display: none", "color: red; visibility: hidden;"]
)
def test_paragraphs_hidden_by_style_are_not_counted(tmp_path: Path, style: str) -> None:
    body = f'{_p(1)}<div style="{style}">{_p(2)}{_p(3)}</div>{_p(4)}{_p(5)}'
    found = _counted(_rules(tmp_path, "        after_paragraph: 1\n"), _page(body))
    assert [reason is None for _, reason in found] == [True, False, False, True, True]
    assert "hidden from readers" in (found[1][1] or "")


def test_code_inside_a_paragraph_is_no_part_of_its_text(tmp_path: Path) -> None:
    script = (
        "<script>var related_video_info = {" + ", ".join(f"k{i}: {i}" for i in range(300)) + "};</script>"
    )
    body = (
        f"{_p(1)}{_p(2)}<p>{script}</p><p>Short <style>p {{ color: red; margin: 0 0 1em 0 }}</style>words.</p>"
        f"<p><noscript><img src=x.gif width=1 height=1></noscript> Sentence 3 goes on in prose words.</p>{_p(4)}"
    )
    result = _placed(tmp_path, "        after_paragraph: -2\n", body, explain=True)
    words = [(p.words, p.left_out) for p in result.traces[0].paragraphs]
    # The script's <p> shows no word; the styled one two; the <noscript> one its seven words of prose.
    assert [w for w, _ in words] == [13, 13, 0, 2, 7, 13]
    assert [reason is None for _, reason in words] == [True, True, False, False, True, True]
    # Counting from the end: "-2" is the paragraph of Sentence 3, not a script counted as a paragraph.
    assert _after(result.body) == ["3"]


def test_short_lines_are_not_counted_by_default(tmp_path: Path) -> None:
    body = f"{_p(1)}{_p(2)}<p>That is user experience.</p><p>Thanks for reading!</p>"
    found = _counted(_rules(tmp_path, "        after_paragraph: 1\n"), _page(body))
    assert [reason for _, reason in found][2:] == [
        "4 words, fewer than min_paragraph_words (5)",
        "3 words, fewer than min_paragraph_words (5)",
    ]
    found = _counted(
        _rules(tmp_path, "        after_paragraph: 1\n", "    min_paragraph_words: 1\n"), _page(body)
    )
    assert [reason for _, reason in found] == [None] * 4
