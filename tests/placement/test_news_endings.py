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


@pytest.mark.parametrize("ending", list(ENDINGS), ids=list(ENDINGS))
def test_two_story_paragraphs_follow_a_unit_placed_third_from_the_end(tmp_path: Path, ending: str) -> None:
    body = "".join(f"<p>{text}</p>" for text in STORY) + ENDINGS[ending]
    page = (
        "<!DOCTYPE html><html><head><meta charset=utf-8><title>T</title></head>"
        f"<body><article>{body}</article></body></html>"
    ).encode()
    result = _rules(tmp_path).apply(page, url="/a", headers=H)
    check_first_law(page, result, mark="ad")
    # The unit sits between the story's third and fourth paragraphs, read from the output.
    assert f"{STORY[2]}</p>{UNIT}<p>{STORY[3]}".encode() in result.body, result.skipped
