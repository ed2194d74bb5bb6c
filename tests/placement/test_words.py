"""Word counts as ad ops mean them: runs of non-space characters, and two CJK characters to a word."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adinject.placement.words import count_words, first_words
from tests._support.engine import rules_from

CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
NON_CJK_WORD = re.compile("[^\\s\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def reference(text: str) -> int:
    """The rule, spelt out with nothing but regexes (count_words takes shortcuts on most text)."""
    return len(NON_CJK_WORD.findall(text)) + (len(CJK.findall(text)) + 1) // 2


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", 0),
        ("   ", 0),
        ("one", 1),
        ("  one  two\tthree\nfour ", 4),
        ("it’s a “quote” — and a dash", 7),  # punctuation above U+00FF, no CJK
        ("non\xa0breaking\u2009thin\u3000ideographic spaces", 5),  # Unicode spaces separate words
        ("café naïve Ünïcödé", 3),
        ("中文", 1),
        ("中文字", 2),  # every two characters, rounded up
        ("日本語のテキスト", 4),
        ("中文 and English", 3),  # 1 for the two ideographs, 2 English words
        ("\uf900\uf901", 1),  # CJK compatibility ideographs
        ("한국어 텍스트", 2),  # Hangul separates words with spaces
        ("bad\udcffbyte here", 2),  # an undecodable byte's escape is part of its word
    ],
)
def test_count_words(text: str, words: int) -> None:
    assert count_words(text) == words
    assert reference(text) == words


ALPHABET = st.sampled_from(
    [
        " ",
        "\t",
        "\n",
        "\xa0",
        "\u2009",
        "\u3000",
        "a",
        "Z",
        "é",
        "’",
        "—",
        "中",
        "文",
        "の",
        "テ",
        "\uf900",
        "한",
        "😀",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(ALPHABET, max_size=60).map("".join))
def test_shortcuts_agree_with_the_rule(text: str) -> None:
    assert count_words(text) == reference(text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=80))
def test_ascii_text_counts_as_str_split_does(text: str) -> None:
    # ASCII text takes its own path; str.split() is the definition of whitespace it must match.
    assert count_words(text) == len(text.split())


def test_first_words() -> None:
    assert first_words("one two three", 2) == "one two …"
    assert first_words("  one  two ", 8) == "one two"


@pytest.mark.parametrize(
    "paragraph",
    [
        "中文字中文字中文字中文字中文字中文字",  # 18 ideographs: 9 words, in UTF-8 bytes
        "&#20013;&#25991;&#23383;" * 6,  # the same, spelt with character references
        "&#x4e2d;&#x6587;&#x5b57;" * 6,
    ],
)
def test_engine_counts_cjk_however_the_page_spells_it(tmp_path: Path, paragraph: str) -> None:
    rules = rules_from(
        tmp_path,
        "units:\n  ad:\n    html: '<div class=\"ad\">AD</div>'\n"
        "rules:\n  - name: r\n    container: article\n    min_paragraph_words: 8\n    min_paragraphs: 1\n"
        "    boilerplate_filter: false\n"  # words are the point here, not prose
        "    place: [{unit: ad, after_paragraph: 1}]\n",
    )
    page = f"<!DOCTYPE html><meta charset=utf-8><article><p>{paragraph}</p><p>x</p></article>".encode()
    result = rules.apply(page, url="/x", headers={"content-type": "text/html"}, explain=True)
    assert [p.words for p in result.traces[0].paragraphs] == [9, 1]
    assert len(result.insertions) == 1
