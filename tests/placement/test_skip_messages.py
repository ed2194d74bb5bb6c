"""Skip messages speak of the paragraph they are about: no number carried over from another position."""

from __future__ import annotations

import re
from pathlib import Path

from tests._support.engine import article, simple_rules


def test_targets_after_an_exhausted_search_name_their_own_paragraph(tmp_path: Path) -> None:
    # A <b> that never closes in paragraph 26: no unit can go after paragraph 26 or any later one.
    page = article(35, between={25: "<p>Bold <b>opens here and never closes</p>\n"})
    rules = simple_rules(tmp_path, "      - {unit: ad, after_paragraph: 3, repeat_every: 3, max: 20}\n")
    result = rules.apply(page, url="/news/a", explain=True)
    skips = [s for s in result.skipped if s.unit is not None]
    assert [s.paragraph for s in skips] == [27, 30, 33, 36][: len(skips)] and len(skips) >= 3
    first, *later = skips
    assert first.reason.startswith("cannot insert safely after paragraph 27")
    for skip in later:
        # The only paragraph numbers in the sentence: the wanted one, and the search it relies on.
        assert set(map(int, re.findall(r"paragraph (\d+)", skip.reason))) == {skip.paragraph, 27}
        assert f"after paragraph {skip.paragraph} or further down" in skip.reason
        assert skip.code == first.code


def test_a_search_that_ran_to_the_end_says_so(tmp_path: Path) -> None:
    page = article(6, between={k: "<h2>Sub</h2>\n" for k in (3, 4, 5, 6)})
    rules = simple_rules(tmp_path, "      - {unit: ad, after_paragraph: 3, keep_away_from: [h2]}\n")
    (skip,) = rules.apply(page, url="/news/a").skipped
    assert skip.reason == "paragraph 3 is followed by <h2> (keep_away_from); nor after any later paragraph"
