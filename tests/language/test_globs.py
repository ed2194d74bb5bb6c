"""URL path globs: `*` within one segment, `**` any number of whole segments, `?` one character."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adinject.language.globs import PathMatcher, check_glob, compile_globs, glob_to_regex, strip_query


def match(pattern: str, path: str) -> bool:
    return compile_globs([pattern])(path)


@pytest.mark.parametrize("path", ["/news", "/news/", "/news/a", "/news/a/b", "/news/a/b/", "/news/a.html"])
def test_double_star_at_the_end_matches_zero_or_more_segments(path: str) -> None:
    assert match("/news/**", path)


@pytest.mark.parametrize("path", ["/newsletter", "/new", "/", "/world/news", "/news-live/a", "news/a"])
def test_double_star_at_the_end_needs_the_prefix_segment(path: str) -> None:
    assert not match("/news/**", path)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/news/a", True),
        ("/news/", True),  # an empty segment is still one segment
        ("/news/a.html", True),
        ("/news/a/b", False),
        ("/news", False),
        ("/newsa", False),
    ],
)
def test_single_star_stays_within_one_segment(path: str, expected: bool) -> None:
    assert match("/news/*", path) is expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/news/amp", True),
        ("/news/a/amp", True),
        ("/news/a/b/c/amp", True),
        ("/news/a/amp/x", False),
        ("/news/xamp", False),
        ("/amp", False),
    ],
)
def test_double_star_in_the_middle(path: str, expected: bool) -> None:
    assert match("/news/**/amp", path) is expected


@pytest.mark.parametrize(("path", "expected"), [("/amp", True), ("/a/b/amp", True), ("/a/bamp", False)])
def test_double_star_at_the_start(path: str, expected: bool) -> None:
    assert match("/**/amp", path) is expected


def test_star_inside_a_segment() -> None:
    assert match("/news/*-live", "/news/election-live")
    assert match("/news/*-live", "/news/-live")
    assert not match("/news/*-live", "/news/a/b-live")
    assert match("/news/20*/**", "/news/2024/05/story")
    assert not match("/news/20*/**", "/news/1999/05/story")


def test_question_mark_is_one_character_but_never_a_slash() -> None:
    assert match("/v?/x", "/v1/x")
    assert not match("/v?/x", "/v/x")
    assert not match("/v?/x", "/v12/x")
    assert not match("/a?b", "/a/b")


def test_everything_else_is_literal() -> None:
    assert match("/a.b+c(d)[e]{f}$^|", "/a.b+c(d)[e]{f}$^|")
    assert not match("/a.b", "/aXb")
    assert not match("/[ab]", "/a")


def test_exact_path_has_no_implicit_trailing_slash() -> None:
    assert match("/about", "/about")
    assert not match("/about", "/about/")
    assert match("/", "/")
    assert not match("/", "/a")


def test_everything() -> None:
    for path in ("/", "/a", "/a/b/c/", "/?q=1"):
        assert match("/**", path)


def test_query_string_and_fragment_are_ignored() -> None:
    assert match("/news/*", "/news/a?page=2")
    assert match("/news/*", "/news/a#comments")
    assert not match("/news/*", "/news/a/b?x=/")
    assert match("/about", "/about?utm_source=x/y")
    assert strip_query("?a=1") == "/"


def test_several_patterns_are_one_regex() -> None:
    matches = compile_globs(["/news/**", "/world/*"])
    assert matches("/news/x/y")
    assert matches("/world/x")
    assert not matches("/world/x/y")
    assert not matches("/sport")


def test_no_patterns_match_nothing() -> None:
    assert not compile_globs([])("/")


def test_path_matcher_excludes_win() -> None:
    pages = PathMatcher(["/news/**", "/world/**"], ["/news/live/**"])
    assert pages.matches("/news/a")
    assert pages.matches("/world/europe/a")
    assert pages.matches("/news/lively")  # a different segment than `live`
    assert not pages.matches("/news/live")
    assert not pages.matches("/news/live/2024/blog?x=1")
    assert not pages.matches("/sport/a")


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        ("news/**", "must start with /"),
        ("", "must not be empty"),
        ("/news**", "whole path segment"),
        ("/**x/a", "whole path segment"),
        ("/a/***", "whole path segment"),
        ("/search?q=*", "query string"),
    ],
)
def test_invalid_globs(pattern: str, words: str) -> None:
    problem = check_glob(pattern)
    assert problem is not None and words in problem
    with pytest.raises(ValueError, match=re.escape(words)):
        compile_globs([pattern])


@pytest.mark.parametrize("pattern", ["/", "/**", "/news/**", "/a/*/b", "/v?/x", "/**/amp", "/a.html"])
def test_valid_globs(pattern: str) -> None:
    assert check_glob(pattern) is None
    re.compile(glob_to_regex(pattern))


# --- property tests against a reference matcher that works segment by segment


def reference_match(pattern: str, path: str) -> bool:
    """An independent, slow matcher: split on `/`, `**` eats any number of whole segments."""
    return _segments_match(pattern.split("/")[1:], path.split("/")[1:])


def _segments_match(pattern: list[str], path: list[str]) -> bool:
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_segments_match(rest, path[skip:]) for skip in range(len(path) + 1))
    return bool(path) and _chars_match(head, path[0]) and _segments_match(rest, path[1:])


def _chars_match(pattern: str, text: str) -> bool:
    if not pattern:
        return not text
    if pattern[0] == "*":
        return any(_chars_match(pattern[1:], text[skip:]) for skip in range(len(text) + 1))
    if not text:
        return False
    return (pattern[0] == "?" or pattern[0] == text[0]) and _chars_match(pattern[1:], text[1:])


# Small alphabets so that random patterns and paths actually overlap.
path_segment = st.text(alphabet="ab.-", max_size=3)
glob_segment = st.one_of(st.just("**"), st.text(alphabet="ab.*?", max_size=3).filter(lambda s: "**" not in s))
paths = st.lists(path_segment, max_size=5).map(lambda segs: "/" + "/".join(segs))
globs = st.lists(glob_segment, min_size=1, max_size=4).map(lambda segs: "/" + "/".join(segs))


@given(globs, paths)
def test_agrees_with_the_reference_matcher(pattern: str, path: str) -> None:
    assert match(pattern, path) == reference_match(pattern, path)


@given(paths)
def test_a_literal_path_matches_itself(path: str) -> None:
    assert match(path, path) or "*" in path or "?" in path


@given(st.lists(path_segment, min_size=1, max_size=3), st.lists(path_segment, max_size=3))
def test_prefix_double_star_matches_everything_below(prefix: list[str], below: list[str]) -> None:
    base = "/" + "/".join(prefix)
    assert match(base + "/**", "/".join([base, *below]))


@given(st.lists(path_segment, min_size=2, max_size=5))
def test_single_star_never_crosses_a_slash(segments: list[str]) -> None:
    assert not match("/*", "/" + "/".join(segments))


@given(paths, st.text(alphabet="a=&/?#", max_size=6))
def test_query_never_changes_the_answer(path: str, query: str) -> None:
    assert match("/a/**", path + "?" + query) == match("/a/**", path)
