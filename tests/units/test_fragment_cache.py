"""check_fragment's cache is bounded in entries and in the size of the markup it holds (issue 11)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adinject.units import fragment
from adinject.units.fragment import FragmentCache, FragmentError, check_fragment


@pytest.fixture
def small(monkeypatch: pytest.MonkeyPatch) -> Iterator[FragmentCache]:
    cache = FragmentCache(100, max_chars=100, max_entry_chars=60)
    monkeypatch.setattr(fragment, "CHECKED", cache)
    yield cache


def unit(text: str) -> str:
    return f"<div>{text}</div>"  # 11 characters of tags


def test_checked_markup_is_cached(small: FragmentCache) -> None:
    first = check_fragment(unit("a"))
    assert check_fragment(unit("a")) is first and len(small) == 1 and small.chars == 12


def test_markup_over_the_char_bound_evicts_the_oldest(small: FragmentCache) -> None:
    check_fragment(unit("a" * 29))  # 40 characters
    check_fragment(unit("b" * 29))
    check_fragment(unit("a" * 29))  # a is now the most recent
    check_fragment(unit("c" * 29))
    assert unit("b" * 29) not in small
    assert {unit("a" * 29), unit("c" * 29)} == set(small.keys()) and small.chars == 80


def test_huge_markup_is_checked_but_not_kept(small: FragmentCache) -> None:
    check_fragment(unit("a"))
    big = unit("t" * 100)
    assert check_fragment(big).markup == big
    assert big not in small and len(small) == 1


def test_stripped_markup_counts_both_strings(small: FragmentCache) -> None:
    check_fragment("  " + unit("a") + "\n")
    assert small.chars == 15 + 12


def test_unsafe_markup_is_not_cached(small: FragmentCache) -> None:
    with pytest.raises(FragmentError):
        check_fragment("<div>")
    assert len(small) == 0


def test_the_default_bound_holds_with_big_titles() -> None:
    titled = unit("x" * 100_000)  # a unit showing a 100 KB page title
    check_fragment(titled)
    assert titled not in fragment.CHECKED
    cache = FragmentCache()
    for n in range(300):
        cache.put(unit(f"{n} " + "y" * 50_000), check_fragment(unit("z")))
    assert cache.chars <= cache.max_chars == 4_000_000
