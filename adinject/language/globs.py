"""URL path globs: `*` is within one path segment, `**` any number of whole segments, `?` one character.

`/news/**` matches `/news`, `/news/` and `/news/a/b` (zero or more segments after `/news`), not `/newsletter`.
`/news/*` matches `/news/a` and `/news/` but not `/news/a/b`. Nothing else is special: `[`, `{`, `.` and `+`
are literal characters, because URL paths contain them and ad ops should not have to escape anything.
The query string and fragment are never part of the match.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

DOUBLE_STAR = "**"
_LOOKS_LIKE_QUERY = re.compile(r"\?[^/]*=")


def check_glob(pattern: str) -> str | None:
    """Why `pattern` is not a valid path glob, or None when it is."""
    if not pattern:
        return "a path glob must not be empty (use /** for every page)"
    if not pattern.startswith("/"):
        return f"a path glob must start with / (got {pattern!r}; did you mean {'/' + pattern!r}?)"
    if _LOOKS_LIKE_QUERY.search(pattern):
        # `?` is the one-character wildcard; `?name=` means someone expected to match the query string.
        return f"path globs never see the query string (got {pattern!r}); ? matches one character of the path"
    for segment in pattern.split("/"):
        if DOUBLE_STAR in segment and segment != DOUBLE_STAR:
            return f"** must be a whole path segment, like /news/** (got {segment!r} in {pattern!r})"
    return None


def glob_to_regex(pattern: str) -> str:
    """The regular expression (without anchors) for one glob. Raises ValueError on an invalid glob."""
    problem = check_glob(pattern)
    if problem is not None:
        raise ValueError(problem)
    parts: list[str] = []
    # The pattern starts with "/", so the first split item is empty; every other item is one segment.
    for segment in pattern.split("/")[1:]:
        if segment == DOUBLE_STAR:
            # Zero or more whole segments, each with its leading slash: `/a/**` is `/a` + (`/...`)?.
            parts.append("(?:/.*)?")
        else:
            parts.append("/" + _segment_regex(segment))
    return "".join(parts)


def _segment_regex(segment: str) -> str:
    out: list[str] = []
    for char in segment:
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(char))
    return "".join(out)


def strip_query(path: str) -> str:
    """The path part of a request target: no query string, no fragment; empty becomes `/`."""
    for sep in ("?", "#"):
        cut = path.find(sep)
        if cut >= 0:
            path = path[:cut]
    return path or "/"


def compile_globs(patterns: Iterable[str]) -> Callable[[str], bool]:
    """One predicate for a list of globs: true when the path (query string ignored) matches any of them.

    All globs are joined into a single regular expression, compiled once. An empty list matches nothing.
    """
    regexes = [glob_to_regex(p) for p in patterns]
    if not regexes:
        return lambda path: False
    compiled = re.compile("(?:" + "|".join(regexes) + ")", re.DOTALL)

    def matches(path: str) -> bool:
        return compiled.fullmatch(strip_query(path)) is not None

    return matches


class PathMatcher:
    """A rule's `pages`: matches when the path matches one of `paths` and none of `exclude_paths`."""

    __slots__ = ("_exclude", "_include", "exclude_paths", "paths")

    def __init__(self, paths: Iterable[str], exclude_paths: Iterable[str] = ()) -> None:
        self.paths = tuple(paths)
        self.exclude_paths = tuple(exclude_paths)
        self._include = compile_globs(self.paths)
        self._exclude = compile_globs(self.exclude_paths)

    def matches(self, path: str) -> bool:
        path = strip_query(path)
        return self._include(path) and not self._exclude(path)

    def __repr__(self) -> str:
        return f"PathMatcher(paths={list(self.paths)!r}, exclude_paths={list(self.exclude_paths)!r})"
