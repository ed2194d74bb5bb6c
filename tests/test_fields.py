"""One parse per header field: Content-Type (adinject.fields, read by the middleware and by the page's charset
sniffing alike), Cache-Control (the candidate test and the bucket cookie's privacy), and the visitor's
bucket (the HTTP layer's cookie decision and targeting read the same headers the same way)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adinject.fields import cache_control, media_type_of, parse_content_type
from adinject.http.bucket import cache_control_with_cookie, ensure_bucket
from adinject.http.candidate import cache_directives
from adinject.http.headers import media_type
from adinject.page.encoding import charset_from_content_type
from adinject.targeting.facts import visitor_bucket


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("text/html", ("text/html", {})),
        ("TEXT/HTML; Charset=UTF-8", ("text/html", {"charset": "UTF-8"})),
        ("text/html ; charset=utf-8", ("text/html", {"charset": "utf-8"})),  # OWS before ';'
        ('text/html; x="a;b,c"; charset="ut\\f-8"', ("text/html", {"x": "a;b,c", "charset": "utf-8"})),
        ("text/html;;charset=gbk", ("text/html", {"charset": "gbk"})),  # an empty parameter is allowed
        ("text/html; charset=a; charset=b", ("text/html", {"charset": "a"})),
        ("text/html; charset =x", ("text/html", {})),  # no whitespace around '=' (RFC 9110 §5.6.6)
        ("text/htmlx", ("text/htmlx", {})),
        ("text", ("", {})),
        ("text/ html", ("", {})),
        ("text/html, text/plain", ("", {})),  # one value: a combined header is split before parsing
        ("", ("", {})),
    ],
)
def test_parse_content_type(value: str, parsed: tuple[str, dict[str, str]]) -> None:
    assert parse_content_type(value) == parsed


@given(st.text(alphabet=st.sampled_from('text/html; charset=utf-8"\\,\t '), max_size=40))
def test_the_middleware_and_the_charset_read_one_content_type_alike(value: str) -> None:
    kind, params = parse_content_type(value)
    assert media_type([value]) == kind
    if "," not in value and kind and kind != "*/*":
        assert charset_from_content_type(value) == params.get("charset")


@given(st.text(alphabet=st.sampled_from('text/html; charset=utf-8"\\,\t \x0cA+'), max_size=40))
def test_the_media_type_alone_is_the_parsers(value: str) -> None:
    # media_type_of skips the parameters for speed; it must not read the type any differently.
    assert media_type_of(value) == parse_content_type(value)[0]


def test_media_type_reads_the_first_line() -> None:
    assert media_type(["text/html; charset=utf-8", "application/json"]) == "text/html"
    assert media_type([]) == ""


def test_cache_control_directives_once_for_every_reader() -> None:
    lines = ["public, max-age=60", "", " No-Transform ,s-maxage=600,,"]
    assert cache_control(lines) == [
        ("public", "public"),
        ("max-age", "max-age=60"),
        ("no-transform", "No-Transform"),
        ("s-maxage", "s-maxage=600"),
    ]
    assert cache_directives(lines) == {"public", "max-age", "no-transform", "s-maxage"}
    # The lines of a response are one list: the cookie's privacy reads them all, and writes one line.
    assert cache_control_with_cookie(lines) == "private, max-age=60, No-Transform"
    assert cache_control_with_cookie(", ".join(lines)) == cache_control_with_cookie(lines)
    assert cache_control_with_cookie(["max-age=1", "private"]) == "max-age=1, private"
    assert cache_control_with_cookie([]) == cache_control_with_cookie(None) == "private"


HEADER_VALUES = st.sampled_from([None, "", "   ", "u-42", " u-7 "])
COOKIES = st.sampled_from(
    [None, "", "a=1", "adinject_bucket=7", "adinject_bucket=777; a=1", "adinject_bucket="]
)


@given(user=HEADER_VALUES, cookie=COOKIES, named_by=st.sampled_from([None, "X-User-Id", "x-user-id"]))
def test_the_cookie_decision_agrees_with_the_bucket_targeting_reads(
    user: str | None, cookie: str | None, named_by: str | None
) -> None:
    """Whatever the request carries, the bucket the HTTP layer reports is the one targeting reads from the
    headers the engine gets, and a cookie is set exactly when targeting would otherwise find no bucket."""
    headers = {k: v for k, v in (("x-user-id", user), ("cookie", cookie)) if v is not None}
    assigned = ensure_bucket(headers, {"cookie", "x-user-id"}, draw=lambda: 3, bucket_header=named_by)
    engine_header = named_by.lower() if named_by else None
    assert assigned.bucket == visitor_bucket(assigned.headers, engine_header)
    assert (assigned.set_cookie is not None) == (visitor_bucket(headers, engine_header) is None)


def test_a_blank_bucket_header_names_nobody() -> None:
    """Targeting ignores a bucket header of only spaces, so the visitor gets a cookie bucket like anyone."""
    blank = ensure_bucket({"x-user-id": "  "}, {"cookie"}, draw=lambda: 3, bucket_header="x-user-id")
    assert blank.set_cookie is not None and blank.bucket == 3
