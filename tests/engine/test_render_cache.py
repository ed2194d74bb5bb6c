"""RenderCache is bounded in entries and in bytes (issue 11, "linear and bounded")."""

from __future__ import annotations

import pytest

from adinject.edits import Edit
from adinject.engine import RenderCache
from adinject.engine.rendering import ENTRY_OVERHEAD, Rendered, weigh
from adinject.result import Skip


def by_length(value: object) -> int:
    assert isinstance(value, str)
    return len(value)


def test_entries_over_the_byte_bound_evict_the_oldest() -> None:
    cache = RenderCache(100, max_bytes=10, weigh=by_length)
    cache.put("a", "xxxx")
    cache.put("b", "yyyy")
    assert cache.get("a") == "xxxx"  # a is now the most recent
    cache.put("c", "zzzz")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("xxxx", None, "zzzz")
    assert cache.bytes == 8 and len(cache) == 2
    cache.put("a", "x")  # replacing counts the new value only
    assert cache.bytes == 5


def test_a_value_bigger_than_the_bound_is_not_kept() -> None:
    cache = RenderCache(100, max_bytes=10, weigh=by_length)
    cache.put("a", "xxxx")
    assert cache.get_or_make("huge", lambda: "h" * 11) == "h" * 11
    assert cache.get("huge") is None and cache.get("a") == "xxxx" and cache.bytes == 4


def test_the_entry_bound_still_holds() -> None:
    cache = RenderCache(2, max_bytes=1000, weigh=by_length)
    for key in "abc":
        cache.put(key, key)
    assert len(cache) == 2 and cache.get("a") is None and cache.bytes == 2
    off = RenderCache(0)
    off.put("a", "a")
    assert len(off) == 0
    with pytest.raises(ValueError):
        RenderCache(1, max_bytes=-1)


def test_rendered_values_weigh_their_markup() -> None:
    markup = "<div>" + "a" * 5000 + "</div>"
    made = (markup, None, None)
    assert weigh(made) == ENTRY_OVERHEAD + len(markup)
    skip = Skip("budget", "too big")
    assert weigh(skip) == ENTRY_OVERHEAD + len("too big")
    rendered = Rendered(edits=(Edit(0, b"x" * 300), Edit(9, b"y" * 700)), skipped=(skip,))
    assert weigh(rendered) == ENTRY_OVERHEAD + 1000 + len("too big")
    # The default bound keeps what a page's units may weigh many times over, and not a gigabyte.
    cache = RenderCache()
    for n in range(20):
        cache.put(n, ("m" * 60_000, None, None))
    assert cache.bytes <= cache.max_bytes == 16_000_000 and len(cache) == 20
    for n in range(20, 400):
        cache.put(n, ("m" * 60_000, None, None))
    assert cache.bytes <= 16_000_000 and len(cache) < 300
