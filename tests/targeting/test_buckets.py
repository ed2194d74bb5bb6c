"""Sticky buckets, A/B variants and the plan cache's request key."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from adinject.engine import Rules
from adinject.http.bucket import cache_control_with_cookie, ensure_bucket, set_cookie
from adinject.targeting.buckets import (
    choose_variant,
    cookie_bucket,
    experiment_bucket,
    hashed_bucket,
    in_percent,
)
from tests._support.engine import article, rules_from
from tests._support.first_law import check_first_law
from tests._support.targeting import ANDROID_PHONE, DESKTOP, IPAD, IPHONE, IPHONE_OLD, H, headers, when_rules


@pytest.mark.parametrize(
    ("cookie", "bucket"),
    [
        ("adinject_bucket=7", 7),
        ("a=1; adinject_bucket=42; b=2", 42),
        ('adinject_bucket="99"', 99),
        ("adinject_bucket=100", None),
        ("adinject_bucket=-1", None),
        ("adinject_bucket=+1", None),
        ("adinject_bucket= ", None),
        ("adinject_bucket=٣", None),  # a digit, but not ASCII
        ("adinject_bucket=1; adinject_bucket=2", 1),  # the first, as browsers send the most specific first
        ("xadinject_bucket=5", None),
        ("", None),
        (None, None),
    ],
)
def test_cookie_bucket(cookie: str | None, bucket: int | None) -> None:
    assert cookie_bucket(cookie) == bucket


def test_hashed_bucket_is_blake2b_mod_100() -> None:
    # Worked out independently of the module: the first 8 bytes of BLAKE2b-64, big-endian, mod 100.
    for value in ("user-1", "ümlaut", ""):
        digest = hashlib.blake2b(value.encode(), digest_size=8).digest()
        assert hashed_bucket(value) == int(digest.hex(), 16) % 100


def test_each_experiment_permutes_the_buckets() -> None:
    for name in ("r", "redesign", "newsletter-box"):
        assert sorted(experiment_bucket(b, name) for b in range(100)) == list(range(100))
    assert [experiment_bucket(b, "a") for b in range(100)] != [experiment_bucket(b, "b") for b in range(100)]
    assert [experiment_bucket(b, "a") for b in range(100)] != list(range(100))


def test_in_percent_edges() -> None:
    assert in_percent(None, 100, "x") and not in_percent(None, 99, "x")
    assert not any(in_percent(b, 0, "x") for b in range(100))
    assert all(in_percent(b, 100, "x") for b in range(100))


@pytest.mark.parametrize(
    ("weights", "counts"),
    [
        # Variant i takes the positions p with p * total < cumulative_i * 100 (worked out by hand):
        ([("a", 1), ("b", 3)], {"a": 25, "b": 75}),
        ([("a", 1), ("b", 1), ("c", 1)], {"a": 34, "b": 33, "c": 33}),  # p < 33.3, p < 66.7, the rest
        ([("a", 50), ("b", 0), ("c", 50)], {"a": 50, "c": 50}),  # weight 0: paused
        ([("only", 7)], {"only": 100}),
        ([("a", 1), ("b", 199)], {"a": 1, "b": 99}),  # p * 200 < 100: only p = 0
    ],
)
def test_variant_weights_over_every_bucket(weights: list[tuple[str, int]], counts: dict[str, int]) -> None:
    assert Counter(choose_variant(weights, b, "exp") for b in range(100)) == counts


def test_variant_weights_over_many_hashed_visitors() -> None:
    weights = [("control", 1), ("big", 3)]
    seen = Counter(choose_variant(weights, hashed_bucket(f"visitor-{i}"), "exp") for i in range(4000))
    assert 900 <= seen["control"] <= 1100  # 1000 expected
    assert seen["control"] + seen["big"] == 4000


def test_variants_without_a_bucket_and_without_weight() -> None:
    assert choose_variant([("off", 0), ("a", 1), ("b", 1)], None, "exp") == "a"
    with pytest.raises(ValueError):
        choose_variant([("a", 0)], 3, "exp")


VARIANT_RULES = """\
units:
  box:
    variants:
      small:
        weight: 1
        html: '<div class="ad" id="{{ slot.id }}" data-v="{{ slot.variant }}">small</div>'
      large:
        weight: 3
        html: '<div class="ad" id="{{ slot.id }}" data-v="{{ slot.variant }}">large</div>'
rules:
  - name: r
    pages: {paths: ["/news/**"]}
    container: article
    place:
      - {unit: box, after_paragraph: 1}
"""


def test_the_variant_shown_is_in_the_result_and_sticks(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, VARIANT_RULES)
    assert rules.request_headers() == {"cookie"}
    page = article(3)
    shown: Counter[str] = Counter()
    for b in range(100):
        result = rules.apply(page, url="/news/a", headers=headers(cookie=f"adinject_bucket={b}"))
        check_first_law(page, result, mark="ad")
        (insertion,) = result.insertions
        assert f'data-v="{insertion.variant}">{insertion.variant}</div>'.encode() in result.body
        assert result.report()["insertions"][0]["variant"] == insertion.variant
        assert insertion.variant == choose_variant([("small", 1), ("large", 3)], b, "box")
        again = rules.apply(page, url="/news/a", headers=headers(cookie=f"adinject_bucket={b}"))
        assert again.insertions[0].variant == insertion.variant
        shown[insertion.variant] += 1
    assert shown == {"small": 25, "large": 75}
    # No bucket: the first weighted variant.
    assert rules.apply(page, url="/news/a", headers=H).insertions[0].variant == "small"


def test_units_naming_one_experiment_split_alike(tmp_path: Path) -> None:
    text = VARIANT_RULES.replace("  box:\n", "  box:\n    experiment: layout\n")
    text = text.replace(
        "rules:",
        "  other:\n    experiment: layout\n    variants:\n"
        "      x: {weight: 1, html: '<div class=\"ad\">x</div>'}\n"
        "      y: {weight: 3, html: '<div class=\"ad\">y</div>'}\nrules:",
    )
    text += "      - {unit: other, after_paragraph: 2}\n"
    rules = rules_from(tmp_path, text)
    for b in range(100):
        result = rules.apply(article(3), url="/news/a", headers=headers(cookie=f"adinject_bucket={b}"))
        assert [i.variant for i in result.insertions] in (["small", "x"], ["large", "y"])


def test_no_variant_for_a_plain_unit(tmp_path: Path) -> None:
    rules = when_rules(tmp_path, "words: {min: 1}")
    assert rules.apply(article(3), url="/news/a", headers=H).insertions[0].variant == ""


# --- the request key


def test_request_key_is_derived_not_raw(tmp_path: Path) -> None:
    rules = when_rules(tmp_path, "device: [mobile]")
    key = rules.request_key
    phone = key("/news/a", headers(user_agent=IPHONE))
    assert phone == key("/news/a", headers(user_agent=IPHONE_OLD))  # two iPhones share a plan
    assert phone == key("/news/a", headers(user_agent=ANDROID_PHONE))  # any phone does: same outcome
    assert phone == key("/news/a", headers(user_agent=DESKTOP, sec_ch_ua_mobile="?1"))
    assert phone != key("/news/a", headers(user_agent=DESKTOP))
    assert key("/news/a", headers(user_agent=DESKTOP)) != key("/news/a", headers(user_agent=IPAD))
    assert key("/sport/a", headers(user_agent=IPHONE)) == key("/sport/a", headers(user_agent=DESKTOP)) == ()


def test_request_key_for_buckets_has_the_outcome_not_the_bucket(tmp_path: Path) -> None:
    rules = when_rules(tmp_path / "percent", "percent: 50")
    keys = {rules.request_key("/news/a", headers(cookie=f"adinject_bucket={b}")) for b in range(100)}
    assert len(keys) == 2  # in or out: not a hundred keys
    (tmp_path / "variants").mkdir()
    variants = rules_from(tmp_path / "variants", VARIANT_RULES)
    keys = {variants.request_key("/news/a", headers(cookie=f"adinject_bucket={b}")) for b in range(100)}
    assert keys == {("unit\x1fbox\x1fsmall",), ("unit\x1fbox\x1flarge",)}


def test_request_key_follows_schedules_queries_and_referrers(tmp_path: Path) -> None:
    rules = when_rules(tmp_path, 'schedule: {start: "2026-12-01T00:00:00Z"}\nquery: {ref: true}')
    before, after = (
        datetime.fromisoformat("2026-11-30T00:00:00Z"),
        datetime.fromisoformat("2026-12-02T00:00:00Z"),
    )
    assert rules.request_key("/news/a?ref=1", H, before) != rules.request_key("/news/a?ref=1", H, after)
    assert rules.request_key("/news/a?ref=1", H, after) != rules.request_key("/news/a", H, after)
    assert rules.request_key("/news/a?ref=1", H, after) == rules.request_key("/news/a?ref=2&x=y", H, after)
    refs = when_rules(tmp_path / "r", "referrer: {domains: [google.com]}")
    assert refs.request_key("/news/a", headers(referer="https://www.google.com/")) == refs.request_key(
        "/news/a", headers(referer="https://news.google.com/x")
    )
    assert refs.request_key("/news/a", headers(referer="https://www.google.com/")) != refs.request_key(
        "/news/a", H
    )


def test_rules_without_targeting_have_an_empty_key_and_no_headers(tmp_path: Path) -> None:
    rules = rules_from(
        tmp_path,
        """\
units:
  box: {html: '<div class="ad">x</div>'}
rules:
  - {name: r, pages: {paths: ["/news/**"]}, container: article, place: [{unit: box, after_paragraph: 1}]}
""",
    )
    assert rules.request_key("/news/a", headers(user_agent=IPHONE, cookie="adinject_bucket=3")) == ()
    assert rules.request_headers() == frozenset()


def equal_plans(rules: Rules, page: bytes, a: dict[str, str], b: dict[str, str]) -> bool:
    pa, pb = rules.plan(page, url="/news/a", headers=a), rules.plan(page, url="/news/a", headers=b)
    assert pa.request_key == rules.request_key("/news/a", a)
    assert pb.request_key == rules.request_key("/news/a", b)
    return rules.realize(pa, page).body == rules.realize(pb, page).body and pa.skipped == pb.skipped


def test_equal_keys_give_equal_plans_and_different_keys_different_ones(tmp_path: Path) -> None:
    rules = when_rules(tmp_path, "device: [mobile]\npercent: 50")
    page = article(3)
    inside = next(
        b
        for b in range(100)
        if rules.request_key("/news/a", headers(user_agent=IPHONE, cookie=f"adinject_bucket={b}"))[
            0
        ].endswith("ok\x1f")
    )
    outside = next(
        b
        for b in range(100)
        if "when_percent"
        in rules.request_key("/news/a", headers(user_agent=IPHONE, cookie=f"adinject_bucket={b}"))[0]
    )
    iphone_in = headers(user_agent=IPHONE, cookie=f"adinject_bucket={inside}")
    android_in = headers(user_agent=ANDROID_PHONE, cookie=f"adinject_bucket={inside}")
    iphone_out = headers(user_agent=IPHONE, cookie=f"adinject_bucket={outside}")
    desktop_in = headers(user_agent=DESKTOP, cookie=f"adinject_bucket={inside}")
    assert rules.request_key("/news/a", iphone_in) == rules.request_key("/news/a", android_in)
    assert equal_plans(rules, page, iphone_in, android_in)
    for other in (iphone_out, desktop_in):
        assert rules.request_key("/news/a", iphone_in) != rules.request_key("/news/a", other)
        assert not equal_plans(rules, page, iphone_in, other)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("device: [mobile]", {"user-agent", "sec-ch-ua-mobile"}),
        ("percent: 10", {"cookie"}),
        ("referrer: {domains: [google.com]}", {"referer"}),
        ("query: {a: true}", set()),
        ('schedule: {end: "2030-01-01T00:00:00Z"}', set()),
        ('meta: {"article:section": [World]}', set()),
    ],
)
def test_request_headers_name_what_the_output_depends_on(
    tmp_path: Path, when: str, expected: set[str]
) -> None:
    rules = when_rules(tmp_path, when)
    assert rules.request_headers() == expected
    result = rules.apply(article(3), url="/news/a", headers=H)
    assert result.reads == expected


# --- the cookie the middleware sets


def test_ensure_bucket_draws_once_and_keeps_a_valid_cookie() -> None:
    reads = frozenset({"cookie"})
    fresh = ensure_bucket({"user-agent": "x"}, reads, draw=lambda: 42)
    assert fresh.bucket == 42
    assert fresh.headers == {"user-agent": "x", "cookie": "adinject_bucket=42"}
    assert fresh.set_cookie == "adinject_bucket=42; Path=/; Max-Age=31536000; SameSite=Lax"
    kept = ensure_bucket({"cookie": "a=1; adinject_bucket=7"}, reads, draw=lambda: 42)
    assert (kept.bucket, kept.set_cookie, kept.headers["cookie"]) == (7, None, "a=1; adinject_bucket=7")
    broken = ensure_bucket({"cookie": "adinject_bucket=777; a=1"}, reads, secure=True, draw=lambda: 3)
    assert broken.headers["cookie"] == "adinject_bucket=3; adinject_bucket=777; a=1"
    assert cookie_bucket(broken.headers["cookie"]) == 3
    assert broken.set_cookie == set_cookie(3, secure=True) and broken.set_cookie.endswith("; Secure")
    untouched = ensure_bucket({"cookie": "a=1"}, frozenset({"user-agent"}), draw=lambda: 5)
    assert (untouched.set_cookie, untouched.headers) == (None, {"cookie": "a=1"})
    with pytest.raises(ValueError):
        ensure_bucket({}, reads, draw=lambda: 100)


def test_the_engine_sees_the_drawn_bucket(tmp_path: Path) -> None:
    rules = when_rules(tmp_path, "percent: 50")
    inside = next(b for b in range(100) if in_percent_for(b))
    assigned = ensure_bucket(H, rules.request_headers(), draw=lambda: inside)
    assert rules.apply(article(3), url="/news/a", headers=assigned.headers).insertions


def in_percent_for(bucket: int) -> bool:
    return experiment_bucket(bucket, "r") < 50


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, "private"),
        ("max-age=60", "private, max-age=60"),
        ("public, max-age=60, s-maxage=600", "private, max-age=60"),
        ("private, max-age=0", "private, max-age=0"),
        ("no-store", "no-store"),
    ],
)
def test_a_response_setting_the_cookie_is_private(before: str | None, after: str) -> None:
    assert cache_control_with_cookie(before) == after


def test_depends_on_time(tmp_path: Path) -> None:
    assert when_rules(tmp_path / "a", 'schedule: {end: "2030-01-01T00:00:00Z"}').depends_on_time()
    assert not when_rules(tmp_path / "b", "device: [mobile]").depends_on_time()


def test_a_visitor_named_by_the_bucket_header_gets_no_cookie() -> None:
    reads = {"cookie", "x-user-id"}
    named = ensure_bucket({"x-user-id": "u-42"}, reads, draw=lambda: 7, bucket_header="X-User-Id")
    assert named.set_cookie is None
    assert "cookie" not in named.headers
    anonymous = ensure_bucket({}, reads, draw=lambda: 7, bucket_header="X-User-Id")
    assert anonymous.set_cookie is not None
    assert anonymous.headers["cookie"] == "adinject_bucket=7"
