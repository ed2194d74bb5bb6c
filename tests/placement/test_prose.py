"""Paragraphs are article text: each kind of line a template puts in an article body is left out of the
count with a reason naming the signal, prose around it is still counted, and the judgement can be tuned."""

from __future__ import annotations

from pathlib import Path

import pytest

from adinject.cli import main
from adinject.engine import Rules
from tests._support.engine import UNIT_RE, rules_from, simple_rules
from tests._support.first_law import check_first_law

H = {"content-type": "text/html"}
PROSE = [
    "<p>The council voted on Tuesday to close the old library for a year of repairs to its roof.</p>",
    "<p>Residents who use its reading rooms will be sent to the branch across the river instead.</p>",
    "<p>The repairs are expected to cost about four million dollars, most of it from the state.</p>",
    "<p>A public meeting on the plans is set for next month at the town hall, officials said.</p>",
]
ONE_UNIT = "      - unit: ad\n        after_paragraph: 1\n"


def page(body: str) -> bytes:
    return f"<!DOCTYPE html><html><head><title>T</title></head><body><article>{body}</article></body></html>".encode()


def verdicts(rules: Rules, body: str) -> list[tuple[str, str | None]]:
    """Each candidate paragraph's first words and why it was left out (None: counted)."""
    result = rules.apply(page(body), url="/news/a", headers=H, explain=True)
    return [(p.first_words, p.left_out) for p in result.traces[0].paragraphs]


def reason_for(rules: Rules, line: str) -> str | None:
    """Why `line`, set between two prose paragraphs, is left out (None: counted)."""
    found = verdicts(rules, PROSE[0] + line + PROSE[1])
    assert len(found) == 3, found
    assert found[0][1] is None and found[2][1] is None, found
    return found[1][1]


@pytest.fixture
def rules(tmp_path: Path) -> Rules:
    return simple_rules(tmp_path, ONE_UNIT)


@pytest.mark.parametrize(
    ("line", "signal"),
    [
        ("<p>Updated 0339 GMT (1139 HKT) November 18, 2019</p>", "dateline or timestamp"),
        ("<p>- Nov. 18th 2019 8:54 am PT</p>", "dateline or timestamp"),
        ("<p>Published: 12:34 PM ET, Mon March 3, 2025</p>", "dateline or timestamp"),
        ("<p>By Ryan Reed</p>", "byline or credit"),
        ("<p>By <a href='/staff/jd'>Jane Doe</a> and John Roe in Paris</p>", "byline or credit"),
        ("<p>Ryan Reed Reporter</p>", "byline or credit"),
        ("<p>Photo: Jane Doe/AP</p>", "photo or source credit"),
        ("<p>写真：市立図書館の外観を撮影したもの。</p>", "photo or source credit"),
        ("<p>사진=연합뉴스 제공, 시립도서관 전경을 촬영했다.</p>", "photo or source credit"),
        ("<p>無断転載・複製を禁じます。記事の内容は取材時のものです。</p>", "disclosure, rights"),
        ("<p>저작권자 © 한국일보, 무단 전재 및 재배포를 금합니다.</p>", "disclosure, rights"),
        ("<p>関連記事：図書館の予算を五つの図表で読み解く。</p>", "related-link line"),
        ("<p>관련기사: 도서관 예산을 다섯 개의 도표로 읽는다.</p>", "related-link line"),
        ("<p>（写真は市立図書館の外観、市提供）</p>", "note or credit in brackets"),
        ("<p>(Graphic: Reuters - here)</p>", "note or credit in brackets"),
        ("<p>Filed under: Politics, Elections</p>", "tag or category line"),
        ("<p>Tags: <span>budget</span>, <span>libraries</span></p>", "tag or category line"),
        ("<p>You may also like</p>", "related-link line"),
        ("<p>Read more: The city's budget, explained in five charts.</p>", "related-link line"),
        ("<p><a href='/a'>Five things we learned from the vote</a></p>", "link text, over max_link_density"),
        ("<p>Follow Newsbeat on Instagram, Facebook and Twitter.</p>", "call to action"),
        ("<p>Subscribe to the Daily Briefing YouTube Channel.</p>", "call to action"),
        ("<p>Like this story? Share it with a friend.</p>", "call to action"),
        ("<p>Sign up for our newsletter to get the news every morning.</p>", "call to action"),
        ("<p>We may earn a commission when you buy through links on our site.</p>", "disclosure"),
        ("<p>If you buy something from a link in this story, we may earn a commission.</p>", "disclosure"),
        ("<p>The Associated Press contributed to this report.</p>", "credit line"),
        ("<p>Laurie Oakes is the Nine Network political editor.</p>", "author bio or credit line"),
        ("<p>Steven Mufson covers the White House.</p>", "author bio or credit line"),
        ("<p>Nelson D. Schwartz has covered economics since 2012.</p>", "author bio or credit line"),
        (
            "<p>Stella Kim reported from Seoul, and Jennifer Jett from Hong Kong.</p>",
            "author bio or credit line",
        ),
        (
            "<p>Mama Robotnik is a video game historian living somewhere in the British Empire.</p>",
            "author bio or credit line",
        ),
        ("<p>For more news, follow us on Twitter and Facebook.</p>", "call to action"),
        ("<p>This article originally appeared on The Atlantic.</p>", "disclosure"),
        ("<p>Originally published at www.example.com on November 18, 2011.</p>", "disclosure"),
        (
            "<p>A version of this article appears in print on Page A7 of the New York edition.</p>",
            "disclosure",
        ),
        ("<p>© 2024 The Daily Example. All rights reserved.</p>", "disclosure"),
        ("<p>Disclosure: The author owns shares in the company.</p>", "disclosure"),
        ("<p>Terms of Use | Privacy Policy</p>", "disclosure"),
        ("<p>Copyright © 2019 The Associated Press. All rights reserved.</p>", "disclosure"),
        ("<p>Correction: An earlier version misspelled the mayor's name.</p>", "correction or editor's note"),
        ("<p>Advertisement</p>", "label line"),
        (
            "<p>(Reporting by Jane Doe in London and John Roe in Paris; Additional reporting by Ann Lee; "
            "Editing by Mark Potter and Alison Williams)</p>",
            "note or credit in brackets",
        ),
        (
            "<p>Image copyright Getty Images Image caption The queen arrived at noon</p>",
            "photo or source credit",
        ),
        ("<p>This article was amended on 3 May 2019 to correct the spelling of a name.</p>", "correction"),
        ("<p>Got a confidential news tip? We want to hear from you.</p>", "call to action"),
        ("<p>Contact Jane Doe at jdoe@example.com or on Twitter.</p>", "call to action"),
        ("<p>Read the full story at The Atlantic.</p>", "call to action"),
        ("<p>原标题：他晚于阿姆斯特朗登月 却是首个敢在月球喝酒的人</p>", "photo or source credit"),
        ("<p>责任编辑：张三 王五</p>", "photo or source credit"),
        ("<p class='caption'>The library's reading room, in 1931.</p>", "its class says caption"),
        ("<p class='article-footnote'>1. The figures are for the 2019 budget year only.</p>", "footnote"),
        ("<p class='copyright-line'>The Daily Example, 2024, reprinted by permission.</p>", "copyright"),
        ("<p>THE DEAL</p>", "all-capitals"),
        ("<p><strong>Why it matters</strong></p>", "bold line"),
        ("<p>What the council decided</p>", "without closing punctuation"),
        ("<p>___</p>", "no letters"),
        ("<p>$915</p>", "no letters"),
    ],
)
def test_each_kind_of_non_article_line_is_left_out_with_its_signal(
    rules: Rules, line: str, signal: str
) -> None:
    reason = reason_for(rules, line)
    assert reason is not None, line
    assert reason.startswith("not article prose: ")
    assert signal in reason


def test_a_caption_is_an_italic_line_right_under_an_image(rules: Rules) -> None:
    caption = "<p><em>The reading room at dawn, seen from the gallery.</em></p>"
    found = verdicts(rules, PROSE[0] + "<p><img src='/room.jpg' alt=''></p>" + caption + PROSE[1])
    assert found[0][1] is None and found[3][1] is None  # found[1] is the image's <p>: no words
    assert found[2][1] is not None and "caption (an italic line right under an image)" in found[2][1]
    # The same italic line with no image above it is an aside of the story: counted.
    assert reason_for(rules, caption) is None


@pytest.mark.parametrize(
    "line",
    [
        "<p>By Tuesday, the storm had passed and the town began to clean up the streets.</p>",
        "<p>関連する予算は、来月の市議会で審議される見通しだと市の担当者は述べた。</p>",
        "<p>관련해 시는 다음 달 추가 예산을 편성할 계획이라고 밝혔다.</p>",
        "<p>사진을 찍으러 온 주민들은 도서관 앞에서 오래 머물렀다.</p>",
        "<p>Share prices fell five percent on Monday after the report.</p>",
        "<p>Follow the money, the investigator told the committee.</p>",
        "<p>Updated figures released on Monday show unemployment fell to 5 percent.</p>",
        "<p>Copyright law in Europe changed sharply last year, the report found.</p>",
        "<p>Disclosure of the documents was ordered by the court in March.</p>",
        "<p>Privacy policy experts said the change would affect millions of users.</p>",
        "<p>“No,” she said.</p>",
        # A person's job named the way a bio opens, but no newsroom role: the story's own prose.
        "<p>Maria Lopez is a nurse at the county hospital and has worked nights for a decade.</p>",
        "<p>The Senate is a body that rarely moves quickly on budget bills of this size.</p>",
        "<p>He declined to comment.</p>",
        "<p>Read the report, and you will see why the council hesitated for so long.</p>",
        "<p>More than 200 people came to the meeting: most of them opposed the plan.</p>",
        "<p>The plan, <a href='/plan'>published in March</a>, has drawn wide criticism from residents.</p>",
        "<p><strong>The council voted on Tuesday to close the old library for a year.</strong></p>",
        "<p>On this world, the human Samus Aran was born. [M1]</p>",
        "<p>El consejo votó el martes cerrar la biblioteca durante un año.</p>",
        "<p>议会周二投票决定关闭旧图书馆一年，以便修缮屋顶。</p>",
        "<p>来源于此的说法很多，专家们对此意见不一。</p>",
        "<p>(He declined to comment on the report, which was published by the ministry on Friday.)</p>",
        "<p>Contact tracing at the hospital began on Monday, officials said.</p>",
        # An update long enough to be the story going on, not a note about it.
        "<p>Update: Since this story was published, the company has said it will refund every customer who "
        "bought the device before March, and that it is working with regulators in three countries on a "
        "recall.</p>",
        # Thai: a paragraph of a few space-separated runs, with no closing punctuation.
        "<p>สภาเมืองลงมติเมื่อวันอังคารให้ปิดห้องสมุดเก่าเป็นเวลาหนึ่งปีเพื่อซ่อมแซมหลังคา "
        "ผู้ที่ใช้ห้องอ่านหนังสือจะถูกส่งไปยังสาขาที่อยู่อีกฝั่งของแม่น้ำแทน ตามที่เจ้าหน้าที่ระบุ</p>",
    ],
)
def test_prose_that_looks_a_little_like_boilerplate_is_counted(rules: Rules, line: str) -> None:
    assert reason_for(rules, line) is None


def test_a_sentence_cut_in_two_by_markup_is_not_a_subheading(rules: Rules) -> None:
    # "… either" ends without punctuation because the sentence goes on in the next block.
    found = verdicts(
        rules,
        PROSE[0] + "<p>Your options are limited: either</p><p>wait a year, or use the other branch.</p>",
    )
    assert [reason for _, reason in found] == [None, None, None]
    # Followed by a capital, the same short line reads as a heading.
    assert reason_for(rules, "<p>Your options are limited: either</p>") is not None


def test_a_label_above_link_lines_is_no_sentence_going_on(rules: Rules) -> None:
    # "Links" has no closing punctuation and the next line starts in lower case, but that line is a link,
    # not the rest of a sentence: the label is a label.
    links = "".join(f"<p><a href='/{i}'>link</a></p>" for i in range(3))
    found = verdicts(rules, PROSE[0] + "<p>Links</p>" + links + PROSE[1])
    assert found[1][1] is not None and "without closing punctuation" in found[1][1]
    assert [reason is None for _, reason in found] == [True, False, False, False, False, True]


def test_a_terse_line_takes_its_neighbours_verdict(rules: Rules) -> None:
    # Among prose, a short exclamation is part of the story; among left-out lines it is one of them.
    assert reason_for(rules, "<p>Rectangles!</p>") is None
    found = verdicts(rules, PROSE[0] + "<p>Advertisement</p><p>Rectangles!</p><p>THE DEAL</p>")
    assert found[2][1] is not None and "no article prose next to it" in found[2][1]


def test_max_link_density_is_tunable(tmp_path: Path) -> None:
    line = "<p>The plan was <a href='/a'>published in March</a> and has drawn criticism from residents.</p>"
    strict = simple_rules(tmp_path, ONE_UNIT, extra="    max_link_density: 0.2\n")
    reason = reason_for(strict, line)
    assert reason is not None and "link text, over max_link_density 0.2" in reason
    assert reason_for(simple_rules(tmp_path, ONE_UNIT), line) is None  # 0.5 by default
    off = simple_rules(tmp_path, ONE_UNIT, extra="    max_link_density: 1\n")
    linked = (
        "<p><a href='/a'>Five things we learned from the vote on the library, and what comes next.</a></p>"
    )
    assert reason_for(off, linked) is None
    assert "100% link text" in (reason_for(simple_rules(tmp_path, ONE_UNIT), linked) or "")


def test_the_filter_can_be_turned_off(tmp_path: Path) -> None:
    rules = simple_rules(tmp_path, ONE_UNIT, extra="    boilerplate_filter: false\n")
    for line in ("<p>By Ryan Reed</p>", "<p>Advertisement</p>", "<p><a href='/a'>Five things</a></p>"):
        assert reason_for(rules, line) is None


def test_units_follow_the_story_not_the_dateline_with_an_explicit_container(rules: Rules) -> None:
    body = "<p>By Ryan Reed</p><p>Updated 0339 GMT (1139 HKT) November 18, 2019</p>" + "".join(PROSE)
    source = page(body)
    result = rules.apply(source, url="/news/a", headers=H)
    check_first_law(source, result, mark="ad")
    assert [i.paragraph for i in result.insertions] == [1]
    assert b'roof.</p><div class="ad"' in result.body


def test_counting_from_the_end_skips_the_trailing_lines(tmp_path: Path) -> None:
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: -3\n")
    tail = (
        "<p>Follow Newsbeat on Instagram, Facebook and Twitter.</p><p>(Graphic: Reuters - here)</p>"
        "<p>___</p><p>More AP news: https://apnews.com/hub/libraries</p><p><b>Read next</b></p>"
    )
    source = page("".join(PROSE) + tail)
    result = rules.apply(source, url="/news/a", headers=H)
    check_first_law(source, result, mark="ad")
    after = result.body[UNIT_RE.search(result.body).end() :]  # type: ignore[union-attr]
    # Exactly two paragraphs of the story follow the unit: the third and fourth.
    assert after.startswith(PROSE[2].encode() + PROSE[3].encode())


def test_auto_containers_are_judged_too(tmp_path: Path) -> None:
    rules = rules_from(
        tmp_path,
        'units:\n  ad:\n    html: \'<div class="ad" id="{{ slot.id }}">AD after {{ slot.paragraph }}</div>\'\n'
        "rules:\n  - name: r\n    container: auto\n    min_paragraph_words: 1\n"
        "    place: [{unit: ad, after_paragraph: 1}]\n",
    )
    found = verdicts(rules, "<p>Advertisement</p>" + "".join(PROSE))
    assert found[0][1] is not None and "label line" in found[0][1]
    assert all(reason is None for _, reason in found[1:])


def test_explain_shows_why_a_line_was_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "r.yaml").write_text(
        "units:\n  ad:\n    html: '<div class=\"ad\">AD</div>'\n"
        "rules:\n  - name: r\n    container: article\n    min_paragraph_words: 1\n"
        "    place: [{unit: ad, after_paragraph: 1}]\n"
    )
    file = tmp_path / "page.html"
    file.write_bytes(
        page("<p>By Ryan Reed</p><p><a href='/a'>Five things we learned</a></p>" + "".join(PROSE))
    )
    assert main(["explain", str(file), "--rules", str(folder), "--url", "/news/a"]) == 0
    out = capsys.readouterr().out
    assert "[left out: not article prose: byline or credit line (starts 'By Ryan Reed')]" in out
    assert "[left out: not article prose: 100% link text, over max_link_density 0.5]" in out


def test_a_page_of_undecided_lines_is_judged_in_linear_time(rules: Rules) -> None:
    # Ten thousand lines that each wait for a neighbour's verdict. Smoothing that walked the page once per
    # line took minutes here and ran into the suite's timeout; and with no prose near any of them, none
    # of the lines is counted.
    body = "<p>one two three four five six seven</p>" * 10_000
    result = rules.apply(page(body), url="/news/a", headers=H, explain=True)
    reasons = {p.left_out for p in result.traces[0].paragraphs}
    assert reasons == {"not article prose: short line with no article prose next to it"}


def test_link_text_counts_by_what_a_reader_sees_of_it(tmp_path: Path) -> None:
    # Source whitespace inside a link is no link text: only its visible characters are weighed.
    spaced = "pub" + "\n" * 12 + "lished"
    line = (
        f"<p>The plan was <a href='/a'>{spaced}</a> in March and has drawn criticism from residents on "
        "both sides of the river, who say the town never asked them what they wanted.</p>"
    )
    strict = simple_rules(tmp_path, ONE_UNIT, extra="    max_link_density: 0.12\n")
    assert reason_for(strict, line) is None
    stricter = simple_rules(tmp_path, ONE_UNIT, extra="    max_link_density: 0.05\n")
    assert "link text, over max_link_density 0.05" in (reason_for(stricter, line) or "")
