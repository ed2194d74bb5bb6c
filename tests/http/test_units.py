"""The HTTP layer's pure parts: the candidate decision, content codings, the plan cache, header edits."""

from __future__ import annotations

import gzip
import threading
import zlib
from pathlib import Path
from typing import Any

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import MutableHeaders
from starlette.types import Message

from adinject.http import AdInjectMiddleware, codings
from adinject.http.cache import PlanCache
from adinject.http.candidate import cache_directives, is_fragment_request, refusal
from adinject.http.headers import add_vary, mark_rewritten, server_timing, strong_etag
from adinject.language.problems import RulesError
from tests._support.http_testkit import (
    RulesProxy,
    body,
    http_scope,
    page,
    real_rules,
    run_asgi,
    scripted_app,
    start,
    write_rules,
)

HTML = (b"content-type", b"text/html; charset=utf-8")


def _news_only(path: str) -> bool:
    return path.startswith("/news/")


# ---- candidate ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "path", "reason"),
    [
        (start(200, [HTML]), "/news/a", None),
        (start(200, [(b"Content-Type", b"TEXT/HTML")]), "/news/a", None),
        (start(200, [(b"content-type", b"text/html;charset=iso-8859-1")]), "/news/a", None),
        (start(200, [HTML, (b"content-encoding", b"gzip")]), "/news/a", None),
        (start(200, [HTML, (b"content-encoding", b"identity")]), "/news/a", None),
        (start(200, [HTML, (b"x-adinject", b"on")]), "/news/a", None),
        (start(200, [HTML, (b"cache-control", b"public, max-age=60")]), "/news/a", None),
        (start(200, [HTML]), "/about", "url"),
        (start(101, [HTML]), "/news/a", "status"),
        (start(103, [HTML]), "/news/a", "status"),
        (start(204, [HTML]), "/news/a", "status"),
        (start(206, [HTML, (b"content-range", b"bytes 0-9/100")]), "/news/a", "status"),
        (start(304, [HTML]), "/news/a", "status"),
        (start(404, [HTML]), "/news/a", "status"),
        (start(200, [HTML], trailers=True), "/news/a", "trailers"),
        (start(200, []), "/news/a", "media-type"),
        (start(200, [(b"content-type", b"text/event-stream")]), "/news/a", "media-type"),
        (start(200, [(b"content-type", b"application/json")]), "/news/a", "media-type"),
        (start(200, [(b"content-type", b"text/htmlx")]), "/news/a", "media-type"),
        (start(200, [HTML, (b"content-range", b"bytes 0-9/100")]), "/news/a", "content-range"),
        (start(200, [HTML, (b"cache-control", b"max-age=0,no-transform")]), "/news/a", "no-transform"),
        (
            start(200, [HTML, (b"cache-control", b"public"), (b"Cache-Control", b"No-Transform")]),
            "/news/a",
            "no-transform",
        ),
        (start(200, [HTML, (b"X-AdInject", b"Off")]), "/news/a", "opted-out"),
        (start(200, [HTML, (b"content-encoding", b"zstd")]), "/news/a", "content-encoding"),
        (start(200, [HTML, (b"content-encoding", b"gzip, br")]), "/news/a", "content-encoding"),
        (
            start(200, [HTML, (b"content-encoding", b"gzip"), (b"content-encoding", b"gzip")]),
            "/news/a",
            "content-encoding",
        ),
    ],
)
def test_refusal(message: Message, path: str, reason: str | None) -> None:
    assert refusal(message, path, _news_only) == reason


def test_cache_directives_are_whole_tokens() -> None:
    assert cache_directives(['public, max-age=60, "no-transform"x', "No-Transform=1"]) == {
        "public",
        "max-age",
        '"no-transform"x',
        "no-transform",
    }
    assert "no-transform" not in cache_directives(["no-transformation, x-no-transform"])


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, False),
        ({"hx-request": "true"}, True),
        ({"hx-request": "True", "hx-boosted": "true"}, False),
        ({"hx-request": "false"}, False),
        ({"turbo-frame": "comments"}, True),
        ({"turbo-frame": ""}, False),
    ],
)
def test_fragment_requests(headers: dict[str, str], fragment: bool) -> None:
    assert is_fragment_request(headers) is fragment


# ---- codings -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "coding"),
    [
        ([], ""),
        (["identity"], ""),
        (["GZIP"], "gzip"),
        (["x-gzip"], "gzip"),
        (["deflate"], "deflate"),
        (["br"], "br"),
        ([" gzip , identity "], "gzip"),
        (["gzip, br"], None),
        (["gzip", "gzip"], None),
        (["zstd"], None),
        (["compress"], None),
    ],
)
def test_content_coding(values: list[str], coding: str | None) -> None:
    assert codings.content_coding(values) == coding


VARIANTS = {
    "gzip": ("gzip", gzip.decompress),
    "deflate": ("deflate", zlib.decompress),
    "deflate-raw": ("deflate", lambda d: zlib.decompress(d, -zlib.MAX_WBITS)),
    "br": ("br", brotli.decompress),
}


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=3000), variant=st.sampled_from(sorted(VARIANTS)))
def test_encode_then_decode_round_trips_in_the_same_variant(data: bytes, variant: str) -> None:
    label, independent_decode = VARIANTS[variant]
    encoded = codings.encode(variant, data)
    assert independent_decode(encoded) == data
    assert codings.decode(label, encoded, len(data)) == (data, variant)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_decode_cap_is_exact(variant: str) -> None:
    data = b"<p>ad</p>" * 5000
    encoded = codings.encode(variant, data)
    label = VARIANTS[variant][0]
    assert codings.decode(label, encoded, len(data))[0] == data
    with pytest.raises(codings.TooLarge):
        codings.decode(label, encoded, len(data) - 1)


@pytest.mark.slow
@pytest.mark.parametrize("label", ["gzip", "deflate", "br"])
def test_bombs_stop_at_the_cap(label: str) -> None:
    zeros = b"\0" * 50_000_000
    bomb = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress}[label](zeros)
    assert len(bomb) < 100_000
    with pytest.raises(codings.TooLarge):
        codings.decode(label, bomb, 1_000_000)


def test_gzip_members_and_zero_padding() -> None:
    two = gzip.compress(b"<p>one</p>") + gzip.compress(b"<p>two</p>")
    assert codings.decode("gzip", two, 100) == (b"<p>one</p><p>two</p>", "gzip")
    assert codings.decode("gzip", gzip.compress(b"x") + b"\0" * 8, 100) == (b"x", "gzip")


def test_many_gzip_members_decode_in_order() -> None:
    parts = [f"<p>{n}</p>".encode() * (n % 7) for n in range(3000)]
    # Tiny members, empty members, one big member in the middle, then zero padding.
    data = b"".join(gzip.compress(part, mtime=0) for part in parts[:1500])
    data += gzip.compress(b"<p>big</p>" * 20000) + b"".join(gzip.compress(part) for part in parts[1500:])
    expected = b"".join(parts[:1500]) + b"<p>big</p>" * 20000 + b"".join(parts[1500:])
    assert codings.decode("gzip", data + b"\0" * 3, len(expected)) == (expected, "gzip")
    with pytest.raises(codings.TooLarge):
        codings.decode("gzip", data, len(expected) - 1)
    for bad in (data[:-1], data + b"\0\0x", data + b"\x1f", data + gzip.compress(b"x")[:-4]):
        with pytest.raises(codings.Corrupt):
            codings.decode("gzip", bad, len(expected) + 10)


class _CountingDecompressor:
    """A zlib decompressor that counts the bytes it is given and the bytes it hands back as unused."""

    def __init__(self, inner: Any, counts: dict[str, int]) -> None:
        self.inner, self.counts = inner, counts

    def decompress(self, data: Any, max_length: int = 0) -> bytes:
        self.counts["fed"] += len(data)
        out: bytes = self.inner.decompress(data, max_length)
        self.counts["copied"] += len(self.inner.unused_data) + len(self.inner.unconsumed_tail)
        return out

    @property
    def eof(self) -> bool:
        return bool(self.inner.eof)

    @property
    def unused_data(self) -> bytes:
        return bytes(self.inner.unused_data)

    @property
    def unconsumed_tail(self) -> bytes:
        return bytes(self.inner.unconsumed_tail)


@pytest.mark.parametrize("member", [gzip.compress(b"", mtime=0), gzip.compress(b"<p>x</p>", mtime=0)])
def test_gzip_members_decode_in_linear_work(monkeypatch: pytest.MonkeyPatch, member: bytes) -> None:
    """Regression: each member was given the whole rest of the body, which zlib copies into `unused_data`:
    quadratic (a 2 MB body of 20-byte members took seconds). Counted, not timed: the bytes fed to zlib and
    copied back must stay within a constant factor of the body, whatever the number of members."""
    real = zlib.decompressobj
    counts = {"fed": 0, "copied": 0}
    monkeypatch.setattr(zlib, "decompressobj", lambda wbits: _CountingDecompressor(real(wbits), counts))
    per_byte = []
    for n in (1000, 4000):
        counts.update(fed=0, copied=0)
        data = member * n
        decoded, _ = codings.decode("gzip", data, 1_000_000)
        assert decoded == gzip.decompress(member) * n
        # The first member is given the whole body (one copy of it); every later one a small window.
        assert counts["fed"] + counts["copied"] <= 10 * len(data)
        per_byte.append((counts["fed"] + counts["copied"]) / len(data))
    assert per_byte[1] <= per_byte[0] * 1.1


@pytest.mark.parametrize(
    ("label", "body"),
    [
        ("gzip", gzip.compress(b"<p>x</p>" * 100)[:-10]),
        ("gzip", b"not gzip at all"),
        ("gzip", gzip.compress(b"<p>x</p>") + b"trailing junk"),
        ("deflate", zlib.compress(b"<p>x</p>") + b"junk"),
        ("deflate", zlib.compress(b"<p>x</p>" * 100)[:-6]),
        ("br", brotli.compress(b"<p>x</p>" * 100)[:-3]),
        ("br", b"\xff\xff\xff\xff"),
    ],
)
def test_corrupt_bodies(label: str, body: bytes) -> None:
    with pytest.raises(codings.Corrupt):
        codings.decode(label, body, 1_000_000)


# ---- plan cache --------------------------------------------------------------------------------------------


def test_cache_is_lru() -> None:
    cache: PlanCache[str] = PlanCache(2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("c", "C")
    assert "b" not in cache and "a" in cache and "c" in cache
    assert len(cache) == 2
    assert (cache.hits, cache.misses) == (1, 0)
    assert cache.get("b") is None and cache.misses == 1


def test_cache_key_parts() -> None:
    cache: PlanCache[str] = PlanCache(8)
    base: dict[str, Any] = {"version": "v1", "path": "/news/a", "header_values": ("Firefox",)}
    key = cache.key(b"<p>page</p>", **base)
    assert key == cache.key(b"<p>page</p>", **base)
    assert key != cache.key(b"<p>page!</p>", **base)
    assert key != cache.key(b"<p>page</p>", **{**base, "version": "v2"})
    assert key != cache.key(b"<p>page</p>", **{**base, "path": "/news/b"})
    assert key != cache.key(b"<p>page</p>", **{**base, "header_values": ("Chrome",)})
    assert key != cache.key(b"<p>page</p>", **{**base, "header_values": (None,)})
    assert key != cache.key(b"<p>page</p>", content_type="text/html; charset=utf-16", **base)
    # With a strong ETag the bytes are not hashed, but their length still counts.
    tagged = cache.key(b"<p>page</p>", etag='"e1"', **base)
    assert tagged == cache.key(b"<p>PAGE</p>", etag='"e1"', **base)
    assert tagged != cache.key(b"<p>pages</p>", etag='"e1"', **base)
    assert tagged != cache.key(b"<p>page</p>", etag='"e2"', **base)


def test_cache_from_many_threads_stays_bounded_and_consistent() -> None:
    cache: PlanCache[int] = PlanCache(50)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for n in range(2000):
                key = (offset + n) % 120
                got = cache.get(key)
                assert got is None or got == key * 2
                cache.put(key, key * 2)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i * 7,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) == 50


def test_cache_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PlanCache(0)


# ---- header helpers ----------------------------------------------------------------------------------------


def test_strong_etag() -> None:
    assert strong_etag([(b"etag", b'"abc"')]) == '"abc"'
    assert strong_etag([(b"etag", b'W/"abc"')]) is None
    assert strong_etag([(b"etag", b'"a"'), (b"etag", b'"b"')]) is None
    assert strong_etag([]) is None


def test_mark_rewritten_and_vary() -> None:
    lm = b"Tue, 01 Jul 2025 10:00:00 GMT"
    headers = MutableHeaders(raw=[(b"etag", b'"x"'), (b"last-modified", lm), (b"accept-ranges", b"bytes")])
    mark_rewritten(headers, depends_on_request=False, version='v"1 2', loaded_at=0.0)
    assert headers.raw == [(b"etag", b'W/"x-v12"'), (b"last-modified", lm)]
    mark_rewritten(headers, depends_on_request=True)
    assert headers.raw == []
    add_vary(headers, ["User-Agent", "sec-ch-ua"])
    add_vary(headers, ["user-agent"])
    assert headers.getlist("vary") == ["sec-ch-ua, user-agent"]


def test_server_timing_value() -> None:
    assert server_timing(0.4249, 2) == 'adinject;dur=0.42;desc="2 units"'
    assert server_timing(3, 1) == 'adinject;dur=3.00;desc="1 unit"'
    assert server_timing(0, 0) == 'adinject;dur=0.00;desc="0 units"'


# ---- construction ------------------------------------------------------------------------------------------


async def _app(scope: Any, receive: Any, send: Any) -> None:
    pass


@pytest.mark.parametrize(
    "option", ["max_body_bytes", "cache_size", "thread_threshold_bytes", "max_decoded_bytes"]
)
def test_negative_options_are_refused(tmp_path: Path, option: str) -> None:
    with pytest.raises(ValueError, match=option):
        options: dict[str, Any] = {option: -1}
        AdInjectMiddleware(_app, rules=write_rules(tmp_path), **options)


def test_defaults(tmp_path: Path) -> None:
    middleware = AdInjectMiddleware(_app, rules=write_rules(tmp_path))
    assert (middleware.max_body_bytes, middleware.max_decoded_bytes) == (5_000_000, 5_000_000)
    assert middleware.thread_threshold_bytes == 256 * 1024
    assert middleware.server_timing is True
    assert middleware.cache is not None and middleware.cache.maxsize == 256
    assert middleware.failures == 0
    assert middleware.rules.matches_url("/news/a") and not middleware.rules.matches_url("/about")


def test_broken_rules_are_recorded_at_startup_not_raised(tmp_path: Path) -> None:
    """Changed with issue 11: the constructor used to raise RulesError; it now records the problems, which
    fail the lifespan start-up (tests/http/test_startup.py). Arguments of the wrong kind still raise."""
    (tmp_path / "bad.yaml").write_text("rules: [{name: r, place: 3}]\n", encoding="utf-8")
    middleware = AdInjectMiddleware(_app, rules=tmp_path, reload=False)
    assert isinstance(middleware.startup_error, RulesError)
    assert "bad.yaml:1:" in str(middleware.startup_error)
    with pytest.raises(TypeError, match="rules must be"):
        AdInjectMiddleware(_app, rules=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be negative"):
        AdInjectMiddleware(_app, rules=tmp_path, reload=False, max_body_bytes=-1)


def test_cache_is_bounded_in_bytes_too() -> None:
    cache: PlanCache[str] = PlanCache(100, max_bytes=1000)
    cache.put("a", "A", 400)
    cache.put("b", "B", 400)
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("c", "C", 400)
    assert "b" not in cache and "a" in cache and "c" in cache, "the least recently used went first"
    assert cache.bytes == 800
    cache.put("a", "A2", 100)  # replacing an entry counts its new size only
    assert cache.bytes == 500 and cache.get("a") == "A2"
    cache.put("d", "D", 600)
    assert "c" not in cache and set("ad") <= {k for k in "abcd" if k in cache} and cache.bytes == 700


def test_a_plan_bigger_than_the_byte_bound_is_not_kept() -> None:
    cache: PlanCache[str] = PlanCache(100, max_bytes=1000)
    cache.put("a", "A", 600)
    cache.put("huge", "H", 1001)
    assert "huge" not in cache and "a" in cache and cache.bytes == 600
    cache.put("a", "A", 5000)  # an entry that grew past the bound is dropped, not kept stale
    assert "a" not in cache and cache.bytes == 0 and len(cache) == 0


def test_the_middleware_counts_a_plan_as_its_page_length(tmp_path: Path) -> None:
    rules = RulesProxy(real_rules(tmp_path / "rules"))
    data = page()
    app = scripted_app([start(200), body(data)])
    assert AdInjectMiddleware(app, rules=rules, metrics=False).cache.max_bytes == 64_000_000  # type: ignore[union-attr]
    assert AdInjectMiddleware(app, rules=rules, metrics=False, cache_bytes=0).cache is None
    small = AdInjectMiddleware(app, rules=rules, metrics=False, cache_bytes=len(data) - 1)
    run_asgi(small, http_scope())
    run_asgi(small, http_scope())
    assert rules.plan_calls == 2 and small.cache is not None and len(small.cache) == 0, "too big to keep"
    enough = AdInjectMiddleware(app, rules=rules, metrics=False, cache_bytes=len(data))
    run_asgi(enough, http_scope())
    run_asgi(enough, http_scope())
    assert rules.plan_calls == 3 and enough.cache is not None and enough.cache.bytes == len(data)
