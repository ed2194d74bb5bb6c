"""Property tests of the first law: random rules, and real pages cut and mutated at random.

Whatever the rule parameters and however broken the markup, the output is the input plus whole units,
each parsed by html5lib where it was meant, and `apply` never fails.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adinject.engine import Rules, load_rules
from tests._support.corpus import readability_pages
from tests._support.engine import MARKUP_PIECES, article, everywhere_rules, rules_from
from tests._support.first_law import TEST_UNIT, check_first_law

SMALL_PAGES = [p for p in readability_pages() if (p / "source.html").stat().st_size < 60_000][:40]

positions = st.one_of(
    st.integers(-12, 15).filter(lambda v: v != 0),
    st.floats(0.05, 0.95),
    st.lists(st.integers(-12, 15).filter(lambda v: v != 0), min_size=1, max_size=4),
)
placements = st.fixed_dictionaries(
    {
        "unit": st.just("u"),
        "after_paragraph": positions,
        "repeat_every": st.one_of(st.none(), st.integers(1, 5)),
        "max": st.one_of(st.none(), st.integers(0, 6)),
        "keep_away_from": st.lists(
            st.sampled_from(["h2", "h3", "img", "figure", "iframe", "blockquote"]), unique=True
        ),
        "shift": st.sampled_from(["down", "up", "skip"]),
        "min_words_between": st.integers(0, 200),
        "not_after_last": st.booleans(),
    }
)
rule_specs = st.fixed_dictionaries(
    {
        "name": st.just("r"),
        "container": st.sampled_from([["auto"], ["article", "auto"], ["body"], ["main", "body"]]),
        "paragraphs": st.sampled_from(["p", "p, li", "p, div", "p, h2"]),
        "ignore_inside": st.lists(
            st.sampled_from(["blockquote", "figure", "table", "aside", "li"]), unique=True
        ),
        "min_paragraph_words": st.integers(0, 20),
        "boilerplate_filter": st.booleans(),
        "min_paragraphs": st.integers(0, 6),
        "skip_first": st.integers(0, 3),
        "skip_last": st.integers(0, 3),
        "place": st.lists(placements, min_size=1, max_size=3),
    }
)
MUTATIONS = [
    b"<b>",
    b"</p>",
    b"<table>",
    b"</div>",
    b"<svg>",
    b"<template>",
    b"<p>",
    b"<a href=x>",
    b"</a>",
    b"<select>",
    b"<!--",
    b"<script>",
    b"</body>",
    b"<i>",
    b"</table>",
    b"<math>",
    b"<noscript>",
    b"<font>",
    b"<textarea>",
    b"<li>",
    b"\r\n",
    b"\xc3",
    b"<form>",
    b"<frameset>",
    b"<plaintext>",
]


def _rules(spec: dict[str, Any]) -> Rules:
    folder = Path(tempfile.mkdtemp(prefix="adinject-prop-"))
    doc = {"units": {"u": {"html": TEST_UNIT}}, "rules": [spec]}
    (folder / "r.yaml").write_text(json.dumps(doc))  # JSON is YAML
    return load_rules(folder)


def _check(rules: Rules, page: bytes) -> None:
    result = rules.apply(page, url="/x", headers={"content-type": "text/html"})
    assert not any(s.code == "error" for s in result.skipped), result.skipped
    check_first_law(page, result, encoding=result.encoding)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=rule_specs, n=st.integers(0, 30), heading_every=st.integers(2, 7))
def test_random_rules_on_a_synthetic_article(spec: dict[str, Any], n: int, heading_every: int) -> None:
    between = {k: "<h2>Section</h2>\n" for k in range(1, n + 1) if k % heading_every == 0}
    between.update({k: "<figure><img src=x.png></figure>\n" for k in range(1, n + 1) if k % 5 == 0})
    _check(_rules(spec), article(n, words=12, between=between))


@pytest.mark.corpus
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=rule_specs, data=st.data())
def test_random_rules_on_real_pages(spec: dict[str, Any], data: st.DataObject) -> None:
    if not SMALL_PAGES:
        pytest.skip("shared corpus not found")
    page = data.draw(st.sampled_from(SMALL_PAGES))
    _check(_rules(spec), (page / "source.html").read_bytes())


@pytest.mark.corpus
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_real_pages_cut_and_mutated(data: st.DataObject) -> None:
    if not SMALL_PAGES:
        pytest.skip("shared corpus not found")
    source = (data.draw(st.sampled_from(SMALL_PAGES)) / "source.html").read_bytes()
    cut = data.draw(st.integers(0, len(source)))
    page = bytearray(source[:cut] if data.draw(st.booleans()) else source)
    for _ in range(data.draw(st.integers(0, 12))):
        at = data.draw(st.integers(0, len(page)))
        page[at:at] = data.draw(st.sampled_from(MUTATIONS))
    spec = {
        "name": "dense",
        "container": ["auto", "body"],
        "paragraphs": data.draw(st.sampled_from(["p", "p, h2, img", "li"])),
        "ignore_inside": [],
        "min_paragraph_words": 0,
        "min_paragraphs": 1,
        "boilerplate_filter": False,  # units after every element, prose or not
        "place": [{"unit": "u", "after_paragraph": 1, "repeat_every": 1}],
    }
    _check(_rules(spec), bytes(page))


@pytest.fixture(scope="module")
def everywhere(tmp_path_factory: pytest.TempPathFactory) -> Rules:
    return rules_from(tmp_path_factory.mktemp("everywhere"), everywhere_rules(TEST_UNIT))


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(st.sampled_from(MARKUP_PIECES), min_size=3, max_size=30))
def test_units_everywhere_in_random_markup(everywhere: Rules, pieces: list[str]) -> None:
    page = ("<!DOCTYPE html><body>" + "".join(pieces)).encode()
    result = everywhere.apply(page, url="/", headers={"content-type": "text/html; charset=utf-8"})
    assert not any(s.code == "error" for s in result.skipped), result.skipped
    check_first_law(page, result, encoding="utf-8")
