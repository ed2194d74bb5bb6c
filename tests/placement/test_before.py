"""`before_paragraph` and `before_anchor`: a unit right before a counted paragraph or an element."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adinject.engine import Rules
from adinject.language.problems import RulesError
from tests._support.engine import article, rules_from, simple_rules
from tests._support.first_law import check_first_law

H = {"content-type": "text/html; charset=utf-8"}


def precedes(body: bytes) -> list[int | str]:
    """For each unit in the output, what comes right after it in the page text: a paragraph's number, or
    the tag of the element that follows."""
    out: list[int | str] = []
    for m in re.finditer(rb'<div class="ad" id="[^"]*">AD after [^<]*</div>', body):
        after = body[m.end() :].lstrip()
        number = re.match(rb"<p>Paragraph (\d+) ", after)
        out.append(int(number.group(1)) if number else after[1:].split(b">")[0].decode())
    return out


def run(rules: Rules, page: bytes) -> tuple[list[int | str], list[int | None], list[str]]:
    result = rules.apply(page, url="/news/a", headers=H, explain=True)
    check_first_law(page, result, mark="ad")
    return precedes(result.body), [i.paragraph for i in result.insertions], [s.reason for s in result.skipped]


def _folder(tmp_path: Path, name: str) -> Path:
    (tmp_path / name).mkdir()
    return tmp_path / name


def place(line: str, extra: str = "") -> str:
    keys = "".join(f"        {part}\n" for part in line.split("; "))
    return f"      - unit: ad\n{keys}{extra}"


def test_before_paragraphs_counted_from_either_end(tmp_path: Path) -> None:
    rules = simple_rules(tmp_path, place("before_paragraph: [2, -1]"))
    # Each unit is reported as following the paragraph before it, as slot.paragraph and reports count.
    assert run(rules, article(5)) == ([2, 5], [1, 4], [])


def test_before_means_right_before_even_with_something_in_between(tmp_path: Path) -> None:
    rules = simple_rules(tmp_path, place("before_paragraph: 3"))
    page = article(4, between={2: "<h2>Sub</h2>\n<figure><img src=x.jpg></figure>\n"})
    assert run(rules, page) == ([3], [2], [])  # after the figure, not right after paragraph 2


def test_a_paragraph_first_in_a_wrapper_gets_the_unit_before_the_wrapper(tmp_path: Path) -> None:
    rules = simple_rules(tmp_path, place("before_paragraph: 3"))
    page = article(4).replace(b"<p>Paragraph 3 ", b'<div class="wrap"><p>Paragraph 3 ')
    page = page.replace(b"<p>Paragraph 4 ", b"</div><p>Paragraph 4 ")
    assert run(rules, page)[:2] == (['div class="wrap"'], [2])


def test_before_the_first_paragraph(tmp_path: Path) -> None:
    rules = simple_rules(tmp_path, place("before_paragraph: 1"))
    lede = article(3).replace(b"<article>\n", b'<article>\n<div class="kicker">World</div>\n')
    assert run(rules, lede) == ([1], [None], [])
    # Nothing before it inside the container: no end tag to follow, so the unit moves down, and says why.
    (note,) = [i.note for i in rules.apply(article(3), url="/news/a", headers=H).insertions]
    assert note.startswith("right before paragraph 2, shifted from right before paragraph 1: cannot insert")
    skipping = simple_rules(_folder(tmp_path, "skip"), place("before_paragraph: 1; shift: skip"))
    assert run(skipping, article(3))[2] == [
        "cannot insert safely right before paragraph 1: nothing comes before it inside the container, so "
        "there is no end tag to place the unit after"
    ]


def test_skip_first_and_keep_away_apply_before_a_paragraph(tmp_path: Path) -> None:
    lede = article(4).replace(b"<article>\n", b'<article>\n<div class="kicker">World</div>\n')
    rules = simple_rules(tmp_path, place("before_paragraph: 1"), extra="    skip_first: 1\n")
    result = rules.apply(lede, url="/news/a", headers=H)
    # Before paragraph 1 is in the article's first stretch; shifting down leaves skip_first behind.
    assert [i.note for i in result.insertions] == [
        "right before paragraph 3, shifted from right before paragraph 1: before paragraph 1 is within "
        "skip_first (1)"
    ]
    near = simple_rules(_folder(tmp_path, "near"), place("before_paragraph: 2; keep_away_from: [h2]"))
    page = article(4, between={1: "<h2>Sub</h2>\n"})
    shown, _, reasons = run(near, page)
    assert shown == [3] and reasons == []
    result = near.apply(page, url="/news/a", headers=H)
    assert result.insertions[0].note.startswith(
        "right before paragraph 3, shifted from right before paragraph 2: the place right before paragraph 2 "
        "is right after <h2> (keep_away_from)"
    )


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [
        ("before_anchor: h2", [2]),  # the shorthand: the first match
        ("before_anchor: {selector: h2, nth: -1}", [4]),
        ("before_anchor: {selector: h2, nth: [1, 2]}", [2, 4]),
    ],
)
def test_before_an_anchor(tmp_path: Path, anchor: str, expected: list[int]) -> None:
    rules = simple_rules(tmp_path, place(anchor))
    page = article(6, between={2: "<h2>One</h2>\n", 4: "<h2>Two</h2>\n"})
    shown, paragraphs, _ = run(rules, page)
    # Right before each heading: the paragraph the unit follows is the one before the heading.
    assert (shown, paragraphs) == (["h2"] * len(expected), expected)


def test_before_an_anchor_keeps_away_from_what_precedes_it(tmp_path: Path) -> None:
    rules = simple_rules(tmp_path, place("before_anchor: h2; keep_away_from: [figure]"))
    page = article(4, between={2: "<figure><img src=x.jpg></figure>\n<h2>Sub</h2>\n"})
    assert run(rules, page)[2] == ["the place before the anchor is right after <figure> (keep_away_from)"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "before_paragraph: 2; after_paragraph: 3",
            "give one position, not after_paragraph and before_paragraph",
        ),
        ("before_paragraph: 0", "use -1 for before the last"),
        ("before_paragraph: 1.5", "a fractional before_paragraph must be between 0 and 1"),
        ("before_anchor: 'p:::x'", "invalid CSS selector"),
        ("before_anchor: {selector: h2, nht: 2}", "unknown key 'nht' in after_anchor or before_anchor"),
    ],
)
def test_before_keys_are_checked(tmp_path: Path, entry: str, message: str) -> None:
    with pytest.raises(RulesError) as refused:
        simple_rules(tmp_path, place(entry))
    assert any(message in p.message for p in refused.value.problems), refused.value.problems


def test_before_anchor_selector_problems_are_at_the_key(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as refused:
        rules_from(
            tmp_path,
            "units:\n  ad:\n    html: '<div>ad</div>'\nrules:\n  - name: r\n    place:\n"
            "      - unit: ad\n        before_anchor: 'p:::x'\n",
        )
    (problem,) = refused.value.problems
    assert (problem.key, problem.line) == ("rules[0].place[0].before_anchor", 8)
