"""The GPT wiring's parts on their own: CSP reading, JS literals, <head> sites, slot markup."""

from __future__ import annotations

import json

import pytest
from turbohtml import parse

from adinject.gpt.csp import allows_url, parse_policies, script_permit
from adinject.gpt.head import HeadSite, head_site, loads_gpt
from adinject.gpt.jsvalue import js
from adinject.gpt.script import display_script
from adinject.gpt.slot import SlotError, wire_slot

GPT = "https://securepagead2.googlesyndication.com/tag/js/gpt.js"


def test_policies_split_on_commas_and_keep_the_first_of_a_repeated_directive() -> None:
    assert parse_policies(["script-src a; SCRIPT-SRC b; img-src c, default-src 'none'", ""]) == [
        {"script-src": ["a"], "img-src": ["c"]},
        {"default-src": ["'none'"]},
    ]


@pytest.mark.parametrize(
    ("policies", "allowed", "nonce"),
    [
        ([], True, None),
        (["img-src 'self'"], True, None),  # scripts unrestricted
        (["script-src 'NONCE-abc'"], True, "abc"),  # the keyword is case-insensitive, the value is not
        (["script-src 'nonce-a b'"], False, None),  # not a nonce-source: no nonce, no 'unsafe-inline'
        (["script-src 'nonce-<x>'"], False, None),
        (["script-src-elem 'unsafe-inline' *; script-src 'none'"], True, None),  # -elem governs <script>
        (["default-src 'unsafe-inline' https:"], True, None),
        (["default-src 'unsafe-inline' 'strict-dynamic' https:"], False, None),
        (["script-src 'nonce-x'", "default-src 'nonce-y' 'nonce-x'"], True, "x"),
        (["script-src 'nonce-x'", "default-src 'nonce-y'"], False, None),
        (["script-src 'nonce-x'", "script-src 'self'"], False, None),
    ],
)
def test_script_permit(policies: list[str], allowed: bool, nonce: str | None) -> None:
    permit = script_permit(policies, library_url=GPT)
    assert (permit.allowed, permit.nonce) == (allowed, nonce)
    assert bool(permit.reason) == (not allowed)


@pytest.mark.parametrize(
    ("sources", "url", "allowed"),
    [
        (["*"], GPT, True),
        (["https:"], GPT, True),
        (["http:"], GPT, True),  # http: also allows https
        (["securepagead2.googlesyndication.com"], GPT, True),
        (["https://securepagead2.googlesyndication.com"], GPT, True),
        (["*.googlesyndication.com"], GPT, True),
        (["*.securepagead2.googlesyndication.com"], GPT, False),
        (["https://securepagead2.googlesyndication.com/tag/"], GPT, True),
        (["https://securepagead2.googlesyndication.com/tag/js/gpt.js"], GPT, True),
        (["https://securepagead2.googlesyndication.com/other/"], GPT, False),
        (["securepagead2.googlesyndication.com:8443"], GPT, False),
        (["securepagead2.googlesyndication.com:443"], GPT, True),
        (["googlesyndication.com"], GPT, False),
        (["'self'"], GPT, False),
        (["'self'"], "/stub/gpt.js", True),
        (["https:"], "/stub/gpt.js", False),
    ],
)
def test_allows_url(sources: list[str], url: str, allowed: bool) -> None:
    assert allows_url(sources, url) is allowed


@pytest.mark.parametrize(
    "value",
    ["</script><script>alert(1)//", "<!--<script>", "a\u2028b\u2029c", "é€😀", "&amp;", "\\\"'", "\udc80"],
)
def test_js_literals_have_no_html_in_them_and_keep_their_value(value: str) -> None:
    literal = js(value)
    assert literal.isascii()
    assert not set(literal) & set("<>&")
    assert json.loads(literal) == value
    nested = js({"k<": [value, 1, True, None]})
    assert json.loads(nested) == {"k<": [value, 1, True, None]} and "<" not in nested


def test_js_refuses_nan() -> None:
    with pytest.raises(ValueError):
        js(float("nan"))


def test_inline_scripts_refuse_markup_and_carry_the_nonce() -> None:
    assert display_script("a-1", prebid=False, nonce=None) == (
        '<script data-adinject>googletag.cmd.push(function(){googletag.display("a-1");});</script>'
    )
    assert 'nonce="n0nce"' in display_script("a-1", prebid=True, nonce="n0nce")
    assert "\\u003c/script\\u003e" in display_script("</script>", prebid=False, nonce=None)


@pytest.mark.parametrize(
    ("html", "site"),
    [
        ("<!DOCTYPE html><html><head><title>x</title></head><body>", HeadSite(43, "before </head>")),
        ("<html><HEAD><title>x</title></HEAD >", HeadSite(28, "before </head>")),
        ("<head><title>x</title><body>", HeadSite(6, "after <head>")),
        # The </head> inside <template> is ignored by the parser; the real one is the second.
        ("<head><template></head></template></head><body>", HeadSite(34, "before </head>")),
        # <head> closed by a body element: its </head> later is ignored, so only the start tag is safe.
        ("<head><title>x</title><div></div></head>", HeadSite(6, "after <head>")),
    ],
)
def test_head_site(html: str, site: HeadSite) -> None:
    assert head_site(parse(html, source_locations=True, scripting=True)) == site


def test_no_head_site_when_the_parser_made_head_up() -> None:
    for html in ("<title>x</title><p>a", "<title>x</title></head><p>a", ""):
        assert isinstance(head_site(parse(html, source_locations=True, scripting=True)), str)


def test_loads_gpt() -> None:
    assert loads_gpt([GPT], GPT)
    assert loads_gpt(["//securepagead2.googlesyndication.com/tag/js/gpt.js"], "/x.js")
    assert loads_gpt(["https://www.googletagservices.com/tag/js/gpt.js"], "/x.js")
    assert loads_gpt([" /x.js "], "/x.js")
    assert not loads_gpt(["https://example.com/tag/js/gpt.js", "/y.js", "http://[bad"], "/x.js")


def test_wire_slot_counts_offsets_in_normalised_newlines() -> None:
    markup = '<aside class="u">\r\n  <p>Ad</p>\r\n  <div id="s-1"\r\n data-a="1"></div>\r\n</aside>'
    out = wire_slot(markup, "s-1", min_height=90, script="<script>go()</script>")
    assert out == (
        '<aside class="u">\n  <p>Ad</p>\n  <div id="s-1" data-a="1" style="min-height:90px"></div>\n'
        "<script>go()</script></aside>"
    )


def test_wire_slot_needs_the_id_and_an_end_tag() -> None:
    with pytest.raises(SlotError, match='id="s-1"'):
        wire_slot('<div id="s-2"></div>', "s-1", min_height=None, script=None)
    with pytest.raises(SlotError, match="no end tag"):
        wire_slot('<p id="s-1">x', "s-1", min_height=None, script="<script></script>")
    # No script asked for: no end tag needed.
    assert wire_slot('<p id="s-1">x', "s-1", min_height=None, script=None) == '<p id="s-1">x'
