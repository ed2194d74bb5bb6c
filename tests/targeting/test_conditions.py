"""Each `when:` condition through the engine: the unit lands when it holds, and the skip says why when not."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from adinject.engine import Rules
from adinject.language.schema import Schedule
from adinject.targeting.buckets import experiment_bucket
from adinject.targeting.conditions import host_in, meta_values, schedule_active, values_match
from tests._support.engine import article, placed_after, rules_from
from tests._support.first_law import check_first_law
from tests._support.targeting import ANDROID_PHONE, DESKTOP, IPAD, IPHONE, H, headers, when_rules


def outcome(rules: Rules, page: bytes, url: str = "/news/a", **kw: object) -> tuple[list[int], list[str]]:
    result = rules.apply(page, url=url, **kw)  # type: ignore[arg-type]
    check_first_law(page, result, mark="ad")
    return placed_after(result.body), [s.code for s in result.skipped]


# --- device


@pytest.mark.parametrize(
    ("wanted", "request_headers", "lands"),
    [
        ("[mobile]", headers(user_agent=IPHONE), True),
        ("[mobile]", headers(user_agent=ANDROID_PHONE), True),
        ("[mobile]", headers(user_agent=DESKTOP), False),
        ("[mobile]", headers(user_agent=DESKTOP, sec_ch_ua_mobile="?1"), True),
        ("[mobile]", headers(user_agent=IPAD), False),
        ("[tablet, desktop]", headers(user_agent=IPAD), True),
        ("[desktop]", H, True),  # no User-Agent: desktop
        ("[desktop]", headers(**{"User_Agent": IPHONE}), False),  # header names in any case
        # One device written without brackets, as ad ops write it: a list of one.
        ("mobile", headers(user_agent=IPHONE), True),
        ("mobile", headers(user_agent=DESKTOP), False),
    ],
)
def test_device(tmp_path: Path, wanted: str, request_headers: dict[str, str], lands: bool) -> None:
    rules = when_rules(tmp_path, f"device: {wanted}")
    placed, codes = outcome(rules, article(3), headers=request_headers)
    assert (placed, codes) == (([1], []) if lands else ([], ["when_device"]))


def test_device_skip_reason(tmp_path: Path) -> None:
    rules = when_rules(tmp_path, "device: [mobile, tablet]")
    (skip,) = rules.apply(article(3), url="/news/a", headers=headers(user_agent=DESKTOP)).skipped
    assert (skip.rule, skip.reason) == (
        "r",
        "the visitor's device is desktop; the rule is for mobile, tablet",
    )


# --- meta


def page_with(head: str) -> bytes:
    return article(3, head=head)


@pytest.mark.parametrize(
    ("condition", "head", "lands"),
    [
        (
            '{"article:section": [World, Politics]}',
            '<meta property="article:section" content=" world ">',
            True,
        ),
        (
            '{"article:section": [World, Politics]}',
            '<meta property="article:section" content="Sport">',
            False,
        ),
        ('{"article:section": [World]}', "", False),
        ('{"article:section": World}', '<meta property="article:section" content="World">', True),
        ('{"article:section": true}', '<meta property="article:section" content="Sport">', True),
        ('{"article:section": true}', "", False),
        ('{"article:section": false}', "", True),
        ("{keywords: [b]}", '<meta name="keywords" content="a, b ,c">', True),
        ("{Keywords: [b]}", '<meta name="KEYWORDS" content="a,b">', True),
        (
            '{"article:tag": [Elections]}',
            '<meta property="article:tag" content="Europe"><meta property="article:tag" content="elections">',
            True,
        ),
        (
            '{"og:type": [2026]}',
            '<meta property="og:type" content="2026">',
            True,
        ),  # YAML's number is the text
        ('{"og:title": [a]}', '<meta property="og:title" content="a, b">', False),  # not a list-valued name
        # Every name must match.
        (
            '{"article:section": [World], "og:type": [article]}',
            '<meta property="article:section" content="World">',
            False,
        ),
    ],
)
def test_meta(tmp_path: Path, condition: str, head: str, lands: bool) -> None:
    rules = when_rules(tmp_path, f"meta: {condition}")
    placed, codes = outcome(rules, page_with(head), headers=H)
    assert (placed, codes) == (([1], []) if lands else ([], ["when_meta"]))


def test_exclude_meta_opts_an_article_out_of_a_rule(tmp_path: Path) -> None:
    rules = when_rules(tmp_path, 'exclude_meta: {"article:opinion": true, sensitive: ["yes", true]}')
    assert outcome(rules, page_with(""), headers=H) == ([1], [])
    assert outcome(rules, page_with('<meta property="article:opinion" content="x">'), headers=H) == (
        [],
        ["when_excluded"],
    )
    assert outcome(rules, page_with('<meta name="sensitive" content="TRUE">'), headers=H) == (
        [],
        ["when_excluded"],
    )
    assert outcome(rules, page_with('<meta name="sensitive" content="no">'), headers=H) == ([1], [])


# --- opt-out classes, and the page-wide opt-outs in settings


def test_exclude_classes_on_the_container_or_around_it(tmp_path: Path) -> None:
    rules = when_rules(tmp_path, "exclude_classes: [no-ads, sponsored]")
    plain = article(3)
    assert outcome(rules, plain, headers=H) == ([1], [])
    on_container = plain.replace(b"<article>", b'<article class="story no-ads">')
    assert outcome(rules, on_container, headers=H) == ([], ["when_excluded"])
    on_body = plain.replace(b"<body>", b'<body class="sponsored">')
    assert outcome(rules, on_body, headers=H) == ([], ["when_excluded"])
    inside = plain.replace(
        b"<p>Paragraph 2", b'<p class="no-ads">Paragraph 2'
    )  # a paragraph, not the article
    assert outcome(rules, inside, headers=H) == ([1], [])


def test_exclude_classes_with_characters_css_would_quote(tmp_path: Path) -> None:
    # Class names are matched as written, whatever characters they hold (the check is a selector inside).
    rules = when_rules(tmp_path, """exclude_classes: ['md:no-ads', 'a"b\\c', 'UPPER']""")
    plain = article(3)
    for cls, excluded in (
        (b"md:no-ads", True),
        (b"a&quot;b\\c", True),
        (b"UPPER", True),
        (b"upper", False),  # case matters, as in class selectors of a standards-mode page
        (b"md", False),
    ):
        page = plain.replace(b"<body>", b'<body class="x ' + cls + b'">')
        assert outcome(rules, page, headers=H) == (([], ["when_excluded"]) if excluded else ([1], [])), cls


def test_the_adinject_off_class_opts_out_of_every_rule(tmp_path: Path) -> None:
    rules = when_rules(tmp_path, "words: {min: 0}")
    page = article(3).replace(b"<article>", b'<article class="adinject-off">')
    result = rules.apply(page, url="/news/a", headers=H)
    assert result.body == page
    assert [(s.code, s.reason) for s in result.skipped] == [
        ("opted_out", "the article is marked with the class 'adinject-off'")
    ]


def test_settings_opt_out_by_meta_and_class(tmp_path: Path) -> None:
    settings = 'settings:\n  opt_out: {meta: {"article:content_tier": [locked]}, classes: [paywalled]}\n'
    rules = when_rules(tmp_path, "words: {min: 0}", extra=settings)
    locked = page_with('<meta property="article:content_tier" content="Locked">')
    result = rules.apply(locked, url="/news/a", headers=H)
    assert [(s.code, s.rule) for s in result.skipped] == [("opted_out", None)]
    assert outcome(rules, article(3).replace(b"<body>", b'<body class="x paywalled">'), headers=H) == (
        [],
        ["opted_out"],
    )
    assert outcome(rules, page_with('<meta property="article:content_tier" content="free">'), headers=H) == (
        [1],
        [],
    )


# --- words


@pytest.mark.parametrize(
    ("words", "lands"),
    [
        ("{min: 30}", True),
        ("{min: 31}", False),
        ("{max: 30}", True),
        ("{max: 29}", False),
        ("{min: 10, max: 40}", True),
    ],
)
def test_words_counts_the_articles_counted_words(tmp_path: Path, words: str, lands: bool) -> None:
    # Three paragraphs of ten words each: 30 counted words.
    rules = when_rules(tmp_path, f"words: {words}")
    result = rules.apply(article(3), url="/news/a", headers=H)
    assert placed_after(result.body) == ([1] if lands else [])
    if not lands:
        (skip,) = result.skipped
        assert skip.code == "when_words" and "30 counted words" in skip.reason


# --- schedule


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("now", "lands"),
    [
        ("2026-11-30T23:59:59+01:00", False),
        ("2026-11-30T23:00:00+00:00", True),  # = 2026-12-01T00:00+01:00: the start is included
        ("2026-12-15T12:00:00+00:00", True),
        ("2026-12-31T22:59:59+00:00", True),
        ("2026-12-31T23:00:00+00:00", False),  # = the end, which is excluded
    ],
)
def test_schedule_window(tmp_path: Path, now: str, lands: bool) -> None:
    rules = when_rules(
        tmp_path, 'schedule: {start: "2026-12-01T00:00:00+01:00", end: "2027-01-01T00:00:00+01:00"}'
    )
    placed, codes = outcome(rules, article(3), headers=H, now=at(now))
    assert (placed, codes) == (([1], []) if lands else ([], ["when_schedule"]))


def test_schedule_weekdays_are_counted_in_the_time_zone() -> None:
    # 2024-01-01 was a Monday, so 2024-01-06 a Saturday: 23:30 UTC is already Sunday 00:30 in Berlin.
    saturday_night = at("2024-01-06T23:30:00+00:00")
    berlin = Schedule(weekdays=["sun"], timezone="Europe/Berlin")
    utc = Schedule(weekdays=["sun"])
    assert schedule_active(berlin, saturday_night)
    assert not schedule_active(utc, saturday_night)
    assert schedule_active(Schedule(weekdays=["sat"]), saturday_night)
    weekdays = Schedule(weekdays=["mon", "tue", "wed", "thu", "fri"], start=at("2024-01-01T00:00:00+00:00"))
    assert not schedule_active(weekdays, saturday_night)
    assert schedule_active(weekdays, at("2024-01-05T10:00:00+00:00"))  # a Friday
    assert not schedule_active(weekdays, at("2023-12-29T10:00:00+00:00"))  # a Friday before the start


def test_unquoted_yaml_timestamps_work_too(tmp_path: Path) -> None:
    rules = when_rules(tmp_path, "schedule: {start: 2026-12-01T00:00:00+01:00}")
    assert outcome(rules, article(3), headers=H, now=at("2026-12-02T00:00:00+00:00")) == ([1], [])
    assert outcome(rules, article(3), headers=H, now=at("2026-11-02T00:00:00+00:00")) == (
        [],
        ["when_schedule"],
    )


def test_now_defaults_to_the_current_time(tmp_path: Path) -> None:
    past = when_rules(tmp_path, 'schedule: {end: "2001-01-01T00:00:00Z"}')
    assert outcome(past, article(3), headers=H) == ([], ["when_schedule"])
    with pytest.raises(ValueError, match="timezone"):
        past.request_key("/news/a", H, datetime(2030, 1, 1))


# --- percent


def buckets_in(rules: Rules, url: str = "/news/a") -> set[int]:
    page = article(3)
    return {
        b
        for b in range(100)
        if placed_after(rules.apply(page, url=url, headers=headers(cookie=f"adinject_bucket={b}")).body)
    }


def test_percent_takes_exactly_that_many_buckets(tmp_path: Path) -> None:
    for percent in (0, 1, 30, 50, 99, 100):
        rules = when_rules(tmp_path / str(percent), f"percent: {percent}")
        chosen = buckets_in(rules)
        assert len(chosen) == percent
        # The rule's own permutation of the buckets, computed here from its definition: the first `percent`.
        assert chosen == {b for b in range(100) if experiment_bucket(b, "r") < percent}


def test_percent_without_a_bucket(tmp_path: Path) -> None:
    assert outcome(when_rules(tmp_path / "a", "percent: 99"), article(3), headers=H) == ([], ["when_percent"])
    assert outcome(when_rules(tmp_path / "b", "percent: 100"), article(3), headers=H) == ([1], [])
    garbage = headers(cookie="adinject_bucket=+1; other=2")
    assert outcome(when_rules(tmp_path / "c", "percent: 99"), article(3), headers=garbage)[0] == []


def test_experiments_are_independent_unless_named_alike(tmp_path: Path) -> None:
    first = buckets_in(when_rules(tmp_path / "a", "percent: 50", name="first"))
    second = buckets_in(when_rules(tmp_path / "b", "percent: 50", name="second"))
    assert len(first) == len(second) == 50
    # Independent halves share about a quarter of the buckets, not all (or none) of them.
    assert 15 <= len(first & second) <= 35
    shared_a = buckets_in(when_rules(tmp_path / "c", "percent: 50\nexperiment: redesign", name="first"))
    shared_b = buckets_in(when_rules(tmp_path / "d", "percent: 50\nexperiment: redesign", name="second"))
    assert shared_a == shared_b
    smaller = buckets_in(when_rules(tmp_path / "e", "percent: 20\nexperiment: redesign", name="third"))
    assert smaller < shared_a  # the same experiment: 20% is inside its 50%


def test_the_bucket_header_is_hashed_and_falls_back_to_the_cookie(tmp_path: Path) -> None:
    rules = when_rules(tmp_path, "percent: 50", extra="settings:\n  bucket_header: X-User-ID\n")
    assert rules.request_headers() == {"cookie", "x-user-id"}
    users = [f"user-{i}" for i in range(400)]
    inside = [
        u
        for u in users
        if placed_after(rules.apply(article(3), url="/news/a", headers=headers(x_user_id=u)).body)
    ]
    assert 160 <= len(inside) <= 240  # about half of 400
    again = [
        u
        for u in users
        if placed_after(rules.apply(article(3), url="/news/a", headers=headers(x_user_id=u)).body)
    ]
    assert inside == again  # sticky
    # The header wins over the cookie; without the header, the cookie.
    member = inside[0]
    outside_bucket = next(b for b in range(100) if experiment_bucket(b, "r") >= 50)
    both = headers(x_user_id=member, cookie=f"adinject_bucket={outside_bucket}")
    assert outcome(rules, article(3), headers=both)[0] == [1]
    assert outcome(rules, article(3), headers=headers(cookie=f"adinject_bucket={outside_bucket}"))[0] == []


# --- referrer


@pytest.mark.parametrize(
    ("referer", "lands"),
    [
        ("https://www.google.com/", True),
        ("https://news.google.com/articles/x", True),
        ("https://google.com", True),
        ("https://google.com.evil.example/", False),
        ("https://notgoogle.com/", False),
        ("https://t.co/abc", True),
        ("https://m.facebook.com/", False),  # excluded (and not in domains)
        ("not a url", False),
        (None, False),
    ],
)
def test_referrer_domains(tmp_path: Path, referer: str | None, lands: bool) -> None:
    rules = when_rules(tmp_path, "referrer: {domains: [google.com, t.co], exclude_domains: [facebook.com]}")
    request = headers(referer=referer) if referer is not None else H
    assert outcome(rules, article(3), headers=request) == (([1], []) if lands else ([], ["when_referrer"]))


def test_referrer_exclude_only(tmp_path: Path) -> None:
    rules = when_rules(tmp_path, "referrer: {exclude_domains: [facebook.com]}")
    assert outcome(rules, article(3), headers=H) == ([1], [])  # no referrer is not from facebook
    assert outcome(rules, article(3), headers=headers(referer="https://l.facebook.com/l.php"))[1] == [
        "when_referrer"
    ]
    assert rules.request_headers() == {"referer"}


def test_host_in() -> None:
    assert host_in("a.b.example.com", ["example.com"])
    assert host_in("example.com", ["Example.com."])
    assert not host_in("badexample.com", ["example.com"])


# --- query


@pytest.mark.parametrize(
    ("url", "lands"),
    [
        ("/news/a?utm_source=Newsletter&utm_medium=email&preview=", True),
        ("/news/a?utm_source=newsletter&preview=1", True),
        ("/news/a?utm_source=twitter&preview=1", False),
        ("/news/a?preview=1", False),
        ("/news/a?utm_source=newsletter", False),  # preview must be present
        ("/news/a?utm_source=newsletter&preview=1&nocache=1", False),  # nocache must be absent
    ],
)
def test_query(tmp_path: Path, url: str, lands: bool) -> None:
    rules = when_rules(tmp_path, "query: {utm_source: [newsletter, partner], preview: true, nocache: false}")
    assert outcome(rules, article(3), url=url, headers=H) == (([1], []) if lands else ([], ["when_query"]))


# --- all together, and the pure helpers


def test_every_condition_must_hold(tmp_path: Path) -> None:
    rules = when_rules(tmp_path, 'device: [mobile]\nmeta: {"article:section": [World]}\nwords: {min: 5}')
    world = page_with('<meta property="article:section" content="World">')
    assert outcome(rules, world, headers=headers(user_agent=IPHONE)) == ([1], [])
    assert outcome(rules, world, headers=headers(user_agent=DESKTOP))[1] == ["when_device"]
    assert outcome(rules, page_with(""), headers=headers(user_agent=IPHONE))[1] == ["when_meta"]


def test_a_rule_ruled_out_leaves_the_page_to_the_next(tmp_path: Path) -> None:
    rules = rules_from(
        tmp_path,
        """\
units:
  ad: {html: '<div class="ad" id="{{ slot.id }}">AD after {{ slot.paragraph }}</div>'}
rules:
  - name: phones
    pages: {paths: ["/news/**"]}
    container: article
    when: {device: [mobile]}
    place: [{unit: ad, after_paragraph: 1}]
  - name: everyone-else
    pages: {paths: ["/news/**"]}
    container: article
    place: [{unit: ad, after_paragraph: 2}]
""",
    )
    assert outcome(rules, article(3), headers=headers(user_agent=IPHONE)) == ([1, 2], [])
    phone_skipped = rules.apply(article(3), url="/news/a", headers=headers(user_agent=DESKTOP))
    assert placed_after(phone_skipped.body) == [2]
    assert [(s.code, s.rule) for s in phone_skipped.skipped] == [("when_device", "phones")]


def test_meta_values_and_matching() -> None:
    meta = {"keywords": ("a, b", " c "), "og:title": ("x, y",)}
    assert meta_values(meta, "KEYWORDS") == ["a", "b", "c"]
    assert meta_values(meta, "og:title") == ["x, y"]
    assert values_match(["  X,  Y "], meta_values(meta, "og:title"))
    assert values_match(True, ["v"]) and not values_match(True, [])
    assert values_match(False, []) and not values_match(False, ["v"])
