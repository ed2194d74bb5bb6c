"""Counting from the end on the endings news templates write inside the article body.

Each case is a story of five paragraphs followed by the lines a site's template puts after them, inside the
same body (written from the shapes of AP, Reuters, BBC, the Guardian, the New York Times, CNN, the
Washington Post, The Verge, WordPress blogs, Chinese, German and French news). `after_paragraph: -3` must
leave exactly the story's last two paragraphs after the unit, whatever the trailer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from adinject.engine import Rules
from tests._support.engine import rules_from
from tests._support.first_law import check_first_law

H = {"content-type": "text/html; charset=utf-8"}
UNIT = '<div class="ad">AD</div>'
STORY = [
    "The city council voted on Tuesday to close the old library for a year of repairs to its roof.",
    "Residents who use its reading rooms will be sent to the branch across the river, officials said.",
    "The repairs are expected to cost about four million dollars, most of it from a state grant.",
    "Librarians said the collection would be moved in stages, starting with the rare books in March.",
    "The library is expected to reopen next spring, if the work stays on schedule, the mayor said.",
]

ENDINGS = {
    "ap": "<p>___</p><p>Associated Press writer Jane Doe in Chicago contributed to this report.</p>"
    "<p>More AP coverage: https://apnews.com/hub/libraries</p>",
    "reuters": "<p>(Reporting by Jane Doe in London; Additional reporting by John Roe in Paris; Editing by "
    "Mark Potter and Alison Williams)</p>",
    "bbc": "<p>Follow us on Facebook, on Twitter @BBCNewsEnts, or on Instagram at bbcnewsents.</p>"
    "<p>If you have a story suggestion email entertainment.news@bbc.co.uk.</p>",
    "guardian": "<p><em>This article was amended on 3 May 2019 to correct the spelling of a name.</em></p>",
    "nytimes": "<p>Jane Doe is a metro reporter covering libraries and schools.</p><p>A version of this "
    "article appears in print on Page A22 of the New York edition with the headline: Library to Close.</p>",
    "cnn": "<p>CNN's Jane Doe contributed to this report.</p>",
    "wapo": "<p>Read more:</p><p><a href='/a'>The city's budget, explained in five charts</a></p>"
    "<p><a href='/b'>Why libraries are busier than ever</a></p>",
    "verge": "<p><strong>Related</strong></p><p>Filed under: Politics, Libraries</p>"
    "<p>Sign up for the newsletter Verge Deals to get deals on products we've tested.</p>",
    "blog": "<p>Thanks for reading!</p><p>Posted by Jane Doe on March 10, 2019 at 10:30 am</p>"
    "<p>Share this: <a href='/t'>Twitter</a> <a href='/f'>Facebook</a></p>",
    "tweet": '<blockquote class="twitter-tweet"><p>The library closes for a year. Sad day for readers in '
    "our town today!</p>&mdash; Jane (@jane) <a href='/s'>May 1, 2024</a></blockquote>",
    "chinese": "<p>原标题：市议会投票决定关闭旧图书馆一年</p><p>责任编辑：张三</p>",
    "german": "<p>Mehr zum Thema: Bibliotheken in der Stadt</p><p>Folgen Sie uns auf Twitter und Facebook.</p>",
    "french": "<p>Lire aussi : Les bibliothèques de la ville</p><p>Par Jeanne Dupont</p>",
    "copyright": "<p>Copyright 2019 The Associated Press. All rights reserved. This material may not be "
    "published, broadcast, rewritten or redistributed.</p>",
    "spanish-italian": "<p>Síguenos en Twitter y Facebook para más noticias.</p><p>Leggi anche: le biblioteche "
    "della città</p>",
    "updated": "<p>This story has been updated with additional information.</p><p>Advertisement</p>",
    "subheading": "<p><strong>What happens next</strong></p><p>THE BOTTOM LINE</p>",
    "sign-off": "<p>For a better web!</p><p>Stay tuned.</p>",
    "script": "<p><script>window.ads = window.ads || []; ads.push({slot: 'x', sizes: [[300, 250]]});</script>"
    "</p><p><noscript><img src='/pixel.gif' width=1 height=1></noscript></p>",
}


def _rules(tmp_path: Path) -> Rules:
    return rules_from(
        tmp_path,
        f"units:\n  ad:\n    html: '{UNIT}'\nrules:\n  - name: r\n    container: article\n"
        "    place:\n      - unit: ad\n        after_paragraph: -3\n",
    )


def _check_third_from_the_end(tmp_path: Path, story: list[str], trailer: str) -> None:
    body = "".join(f"<p>{text}</p>" for text in story) + trailer
    page = (
        "<!DOCTYPE html><html><head><meta charset=utf-8><title>T</title></head>"
        f"<body><article>{body}</article></body></html>"
    ).encode()
    result = _rules(tmp_path).apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    # The unit sits between the story's third and fourth paragraphs, read from the output.
    assert f"{story[2]}</p>{UNIT}<p>{story[3]}".encode() in result.body, result.skipped


@pytest.mark.parametrize("ending", list(ENDINGS), ids=list(ENDINGS))
def test_two_story_paragraphs_follow_a_unit_placed_third_from_the_end(tmp_path: Path, ending: str) -> None:
    _check_third_from_the_end(tmp_path, STORY, ENDINGS[ending])


# Japanese and Korean news, in their own words: the story and then the template's lines.
CJK_STORIES = {
    "japanese": [
        "市議会は火曜日、屋根の修理のため旧図書館を一年間閉鎖することを賛成多数で可決した。",
        "閲覧室を利用する住民は、川向こうの分館を案内されると市の担当者は説明した。",
        "修理費は約四億円と見込まれ、その大半を県の補助金で賄う計画だという。",
        "司書によると、蔵書は三月の貴重書を皮切りに段階的に移される予定だ。",
        "工事が予定通り進めば、図書館は来年春に再開する見通しだと市長は述べた。",
    ],
    "korean": [
        "시의회는 화요일 지붕 보수를 위해 옛 도서관을 1년간 폐쇄하는 안을 가결했다고 밝혔다.",
        "열람실을 이용하던 주민들은 강 건너 분관을 이용하게 된다고 시 관계자가 설명했다.",
        "보수 비용은 약 40억 원으로 예상되며 대부분 도 보조금으로 충당할 계획이다.",
        "사서들은 장서를 3월 희귀본부터 단계적으로 옮길 예정이라고 말했다.",
        "공사가 예정대로 진행되면 도서관은 내년 봄 다시 문을 열 것이라고 시장은 말했다.",
    ],
}
CJK_ENDINGS = {
    "japanese-related": ("japanese", "<p>関連記事</p><p><a href='/a'>図書館の予算、五つの図表で解説</a></p>"),
    "japanese-bracketed": ("japanese", "<p>【関連記事】図書館はなぜ混んでいるのか</p><p>（共同）</p>"),
    "japanese-credit": (
        "japanese",
        "<p>写真：市立図書館の外観（市提供）</p><p>無断転載・複製を禁じます。</p>",
    ),
    "korean-byline": ("korean", "<p>홍길동 기자 hong@example.co.kr</p><p>관련기사</p>"),
    "korean-copyright": (
        "korean",
        "<p>사진=연합뉴스</p><p>&lt;저작권자 © 연합뉴스, 무단 전재 및 재배포 금지&gt;</p>",
    ),
    "korean-bracketed": (
        "korean",
        "<p>[관련기사] 도서관 예산, 다섯 개의 도표로 본다</p><p>김철수 특파원</p>",
    ),
    # Lines long enough to count by their words, and closed as sentences are: only what they say shows them.
    "japanese-sentences": (
        "japanese",
        "<p>関連記事：図書館の予算を五つの図表で読み解く。</p><p>（写真は市立図書館の外観、市提供）</p>",
    ),
    "korean-sentences": (
        "korean",
        "<p>사진=연합뉴스 제공, 시립도서관 전경을 촬영했다.</p>"
        "<p>저작권자 © 한국일보, 무단 전재 및 재배포를 금합니다.</p>",
    ),
}


@pytest.mark.parametrize("ending", list(CJK_ENDINGS), ids=list(CJK_ENDINGS))
def test_japanese_and_korean_endings_are_not_counted_either(tmp_path: Path, ending: str) -> None:
    language, trailer = CJK_ENDINGS[ending]
    _check_third_from_the_end(tmp_path, CJK_STORIES[language], trailer)
