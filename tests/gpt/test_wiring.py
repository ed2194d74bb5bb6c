"""GPT wiring: read back with html5lib (the reference parser), and run in Node against a recording googletag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests._support.first_law import check_first_law
from tests._support.gpt import (
    GPT_JS,
    H,
    adinject_scripts,
    defined,
    displayed,
    gpt_rules,
    node,
    page,
    run_in_node,
    scripts,
    setup_script,
)

SIZES = [[300, 250], [336, 280]]
# after_paragraph 2, repeat_every 2 on 8 paragraphs: after 2, 4, 6 and 8.
IDS = [f"adinject-ad-{n}" for n in (1, 2, 3, 4)]

needs_node = pytest.mark.skipif(node() is None, reason="Node.js is not installed (apt-get install nodejs)")


def test_every_inserted_slot_is_defined_once_and_displayed_once_where_it_stands(tmp_path: Path) -> None:
    rules = gpt_rules(tmp_path)
    source = page(8)
    result = rules.apply(source, url="/news/a", headers=H)
    check_first_law(source, result, mark="ad-slot")
    assert [i.unit for i in result.insertions] == ["gpt", "ad", "ad", "ad", "ad"]
    assert [i.slot_id for i in result.insertions[1:]] == IDS
    head = result.insertions[0]
    assert (head.anchor, head.note, head.paragraph) == ("head", "before </head>", None)
    assert head.offset == source.index(b"</head>")
    setup = setup_script(result.body)
    assert defined(setup.text) == [["/1234/news/in-article", SIZES, i, {}] for i in IDS]
    # Each display call sits inside the element it displays, in page order.
    assert displayed(result.body) == [(i, i) for i in IDS]
    libraries = [s for s in scripts(result.body) if s.attrs.get("src") == GPT_JS]
    assert len(libraries) == 1 and libraries[0].in_head
    assert "async" in libraries[0].attrs and libraries[0].attrs["crossorigin"] == "anonymous"
    assert result.skipped == []


@needs_node
def test_the_scripts_run_define_target_and_display_each_slot_once(tmp_path: Path) -> None:
    gpt = "      lazy_load: {fetch_margin_percent: 200, render_margin_percent: 100}\n"
    gpt += "      targeting: {pos: in-article}\n"
    rules = gpt_rules(tmp_path, gpt=gpt)
    head = '<meta property="article:tag" content="Elections"><meta name="keywords" content="vote, Europe">'
    result = rules.apply(page(8, head=head), url="/news/a", headers=H)
    inline = [s.text for s in adinject_scripts(result.body) if "src" not in s.attrs]
    calls = run_in_node(inline)
    assert calls["define"] == [["/1234/news/in-article", SIZES, i] for i in IDS]
    assert calls["display"] == IDS
    assert calls["slot"] == [[i, "pos", "in-article"] for i in IDS]
    assert calls["page"] == [["section", "World"], ["keywords", ["Elections", "vote", "Europe"]]]
    assert calls["lazy"] == [{"fetchMarginPercent": 200, "renderMarginPercent": 100}]
    assert calls["services"] == 1


def test_no_lazy_loading_or_targeting_unless_asked(tmp_path: Path) -> None:
    result = gpt_rules(tmp_path).apply(page(4, section=None), url="/news/a", headers=H)
    text = setup_script(result.body).text
    assert "enableLazyLoad" not in text
    assert 'setTargeting("section"' not in text and "keywords" not in text
    assert "googletag.enableServices();" in text


@pytest.mark.parametrize(
    "loader",
    [
        f'<script async src="{GPT_JS}"></script>',
        '<script src="//www.googletagservices.com/tag/js/gpt.js"></script>',
        '<script async src="https://securepagead2.googlesyndication.com/tag/js/gpt.js?network-code=1"></script>',
    ],
)
def test_the_library_is_not_loaded_twice(tmp_path: Path, loader: str) -> None:
    own_setup = (
        "<script>window.googletag=window.googletag||{cmd:[]};googletag.cmd.push(function(){"
        "googletag.defineSlot('/1234/top',[728,90],'top').addService(googletag.pubads());"
        "googletag.pubads().enableSingleRequest();googletag.enableServices();});</script>"
    )
    source = page(4, head=loader + own_setup)
    result = gpt_rules(tmp_path).apply(source, url="/news/a", headers=H)
    check_first_law(source, result, mark="ad-slot")
    all_scripts = scripts(result.body)
    assert sum(1 for s in all_scripts if "gpt.js" in s.attrs.get("src", "")) == 1
    assert [s for s in adinject_scripts(result.body) if "src" in s.attrs] == []
    # adinject's setup comes after the page's own (so its enableSingleRequest precedes enableServices).
    head_texts = [s.text for s in all_scripts if s.in_head and "src" not in s.attrs]
    assert head_texts[0].startswith(
        "window.googletag=window.googletag||{cmd:[]};googletag.cmd.push(function(){googletag.defineSlot('/1234/top'"
    )
    assert "define(" in head_texts[1]


def test_the_configured_library_url_is_used_and_recognised(tmp_path: Path) -> None:
    rules = gpt_rules(tmp_path, settings='settings:\n  gpt_library_url: "/stub/gpt.js"\n')
    result = rules.apply(page(4), url="/news/a", headers=H)
    assert [s.attrs["src"] for s in adinject_scripts(result.body) if "src" in s.attrs] == ["/stub/gpt.js"]
    again = rules.apply(page(4, head='<script src="/stub/gpt.js"></script>'), url="/news/a", headers=H)
    assert [s for s in adinject_scripts(again.body) if "src" in s.attrs] == []


@pytest.mark.parametrize(
    ("csp", "meta", "nonce"),
    [
        ("script-src 'nonce-R4nd0m+/=' 'strict-dynamic'", None, "R4nd0m+/="),
        ("default-src 'self'; script-src 'nonce-fromScriptSrc'", None, "fromScriptSrc"),
        ("script-src 'nonce-fromScriptSrc'; script-src-elem 'nonce-fromElem'", None, "fromElem"),
        ("default-src 'nonce-fromDefault'; img-src *", None, "fromDefault"),
        (None, "script-src 'nonce-fromMeta'", "fromMeta"),
        ("img-src 'self'", "script-src 'nonce-fromMeta' 'unsafe-inline'", "fromMeta"),
        # Two policies: both must allow the script, so the one nonce they share.
        ("script-src 'nonce-a' 'nonce-shared', script-src 'nonce-shared'", None, "shared"),
    ],
)
def test_every_inline_script_carries_the_pages_nonce(
    tmp_path: Path, csp: str | None, meta: str | None, nonce: str
) -> None:
    head = f'<meta http-equiv="Content-Security-Policy" content="{meta}">' if meta else ""
    source = page(6, head=head)
    result = gpt_rules(tmp_path).apply(source, url="/news/a", headers=H, csp=csp)
    check_first_law(source, result, mark="ad-slot")
    added = adinject_scripts(result.body)
    assert len(added) == 2 + 3  # library, setup, three display calls
    assert {s.attrs.get("nonce") for s in added} == {nonce}


def test_no_nonce_is_invented_when_inline_script_is_allowed(tmp_path: Path) -> None:
    csp = "script-src 'self' 'unsafe-inline' https://securepagead2.googlesyndication.com"
    result = gpt_rules(tmp_path).apply(page(4), url="/news/a", headers=H, csp=csp)
    added = adinject_scripts(result.body)
    assert len(added) == 2 + 2
    assert all("nonce" not in s.attrs for s in added)
    # And without any policy at all.
    bare = gpt_rules(tmp_path).apply(page(4), url="/news/a", headers=H)
    assert all("nonce" not in s.attrs for s in adinject_scripts(bare.body))


@pytest.mark.parametrize(
    "csp",
    [
        "script-src 'self'",
        "default-src 'none'",
        "script-src 'self' 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' 'unsafe-inline'",
        "script-src 'strict-dynamic' 'unsafe-inline'",
        "script-src 'nonce-one', script-src 'nonce-two'",  # no nonce satisfies both policies
        "script-src 'unsafe-inline' https://cdn.example.com",  # inline allowed, the GPT library is not
    ],
)
def test_a_csp_that_forbids_the_scripts_skips_the_wiring_not_the_units(tmp_path: Path, csp: str) -> None:
    source = page(6)
    result = gpt_rules(tmp_path).apply(source, url="/news/a", headers=H, csp=csp)
    check_first_law(source, result, mark="ad-slot")
    assert [i.unit for i in result.insertions] == ["ad", "ad", "ad"]
    assert adinject_scripts(result.body) == []
    assert scripts(result.body) == []
    (skip,) = result.skipped
    assert (skip.code, skip.unit) == ("gpt_csp", "gpt")
    assert "Content-Security-Polic" in skip.reason


def test_a_page_that_loads_gpt_itself_needs_no_host_allowance(tmp_path: Path) -> None:
    # Another of Google's GPT hosts than the default (rule files may name no other host).
    csp = "script-src 'unsafe-inline' https://securepubads.g.doubleclick.net"
    url = "https://securepubads.g.doubleclick.net/tag/js/gpt.js"
    source = page(4, head=f'<script src="{url}"></script>')
    rules = gpt_rules(tmp_path, settings=f'settings:\n  gpt_library_url: "{url}"\n')
    result = rules.apply(source, url="/news/a", headers=H, csp=csp)
    assert [i.unit for i in result.insertions] == ["gpt", "ad", "ad"]


HOSTILE = "</script><script>alert(1)//"


def test_page_values_cannot_break_out_of_the_script(tmp_path: Path) -> None:
    section = HOSTILE.replace("<", "&lt;").replace(">", "&gt;")  # as a page writes it in an attribute
    head = '<meta name="keywords" content="a&lt;!--b, &lt;/SCRIPT&gt;c, line\u2028sep">'
    source = page(4, section=section, head=head)
    result = gpt_rules(tmp_path).apply(source, url="/news/a", headers=H)
    check_first_law(source, result, mark="ad-slot")
    # html5lib finds exactly the scripts adinject meant to add, and no other.
    assert len(scripts(result.body)) == 2 + 2
    setup = setup_script(result.body).text
    assert "<" not in setup and ">" not in setup and setup.isascii()
    line = next(x for x in setup.splitlines() if x.startswith('pubads.setTargeting("section",'))
    assert json.loads(line.removeprefix('pubads.setTargeting("section",').removesuffix(");")) == HOSTILE


@needs_node
def test_hostile_values_arrive_in_gpt_as_the_page_wrote_them(tmp_path: Path) -> None:
    section = "</script><script>x"  # html-escaped below; within GPT's 40 characters
    head = '<meta name="keywords" content="a&lt;!--b, &lt;/SCRIPT&gt;c, line\u2028sep">'
    source = page(4, section=section.replace("<", "&lt;").replace(">", "&gt;"), head=head)
    result = gpt_rules(tmp_path).apply(source, url="/news/a", headers=H)
    calls = run_in_node([s.text for s in adinject_scripts(result.body) if "src" not in s.attrs])
    assert calls["page"] == [["section", section], ["keywords", ["a<!--b", "</SCRIPT>c", "line\u2028sep"]]]


def test_values_are_cut_to_ad_managers_limits(tmp_path: Path) -> None:
    keywords = ", ".join(f"k{i}" for i in range(30))
    source = page(4, section="S" * 60, head=f'<meta name="keywords" content="{keywords}">')
    setup = setup_script(gpt_rules(tmp_path).apply(source, url="/news/a", headers=H).body).text
    assert f'pubads.setTargeting("section","{"S" * 40}");' in setup
    assert (
        f'pubads.setTargeting("keywords",{json.dumps([f"k{i}" for i in range(20)], separators=(",", ":"))});'
        in setup
    )


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ('<div class="ad-slot" id="{{ slot.id }}"></div>', 'style="min-height:250px"'),
        (
            '<div class="ad-slot" id="{{ slot.id }}" style="color: red;"></div>',
            'style="color: red;min-height:250px"',
        ),
        (
            '<div class="ad-slot" id="{{ slot.id }}" style="min-height:300px"></div>',
            'style="min-height:300px"',
        ),
        ('<div class="ad-slot" id="{{ slot.id }}" style="HEIGHT: 90px"></div>', 'style="HEIGHT: 90px"'),
        # The slot inside a wrapper: the slot's <div> gets the height, the script goes in the wrapper.
        (
            '<aside class="ad-slot"><p>Ad</p><div id="{{ slot.id }}" data-x=\'a"b\'></div></aside>',
            '<div id="adinject-ad-1" data-x="a&quot;b" style="min-height:250px"></div>',
        ),
    ],
)
def test_min_height_defaults_to_the_smallest_creative(tmp_path: Path, unit: str, expected: str) -> None:
    source = page(3)
    result = gpt_rules(tmp_path, unit=unit, place="after_paragraph: 1").apply(
        source, url="/news/a", headers=H
    )
    check_first_law(source, result, mark="ad-slot")
    assert expected in result.body.decode()
    assert displayed(result.body) == [("adinject-ad-1", None if "<aside" in unit else "adinject-ad-1")]
    assert result.body.decode().count("min-height") == expected.count("min-height")


def test_fluid_only_reserves_nothing(tmp_path: Path) -> None:
    rules = gpt_rules(
        tmp_path, unit='<div class="ad-slot" id="{{ slot.id }}"></div>', place="after_paragraph: 1"
    )
    text = (tmp_path / "rules" / "rules.yaml").read_text().replace("[[300, 250], [336, 280]]", "[fluid]")
    (tmp_path / "rules" / "rules.yaml").write_text(text)
    from adinject.engine import load_rules

    rules = load_rules(tmp_path / "rules")
    result = rules.apply(page(3), url="/news/a", headers=H)
    assert b"min-height" not in result.body
    assert defined(setup_script(result.body).text)[0][1] == ["fluid"]


def test_without_end_of_head_the_scripts_go_after_the_head_start_tag(tmp_path: Path) -> None:
    source = page(4).replace(b"</head>", b"")
    result = gpt_rules(tmp_path).apply(source, url="/news/a", headers=H)
    check_first_law(source, result, mark="ad-slot")
    head = result.insertions[0]
    assert (head.unit, head.note, head.offset) == ("gpt", "after <head>", source.index(b"<head>") + 6)
    assert [s.in_head for s in adinject_scripts(result.body) if s.parent_id is None] == [True, True]


def test_a_head_the_parser_made_up_gets_no_wiring_but_the_units(tmp_path: Path) -> None:
    source = page(4, doc_head=False)
    result = gpt_rules(tmp_path).apply(source, url="/news/a", headers=H)
    check_first_law(source, result, mark="ad-slot")
    assert [i.unit for i in result.insertions] == ["ad", "ad"]
    assert adinject_scripts(result.body) == []
    assert [(s.code, s.unit) for s in result.skipped] == [("gpt_no_head", "gpt")]
    assert b"min-height:250px" in result.body  # the height is still reserved


def test_a_noscript_in_head_does_not_confuse_the_end_of_head(tmp_path: Path) -> None:
    # Inside <noscript> (raw text with scripting on, as browsers run) a "</head>" is not the end of <head>.
    # (<template> would be the other case, but html5lib, the judge here, predates templates in <head>.)
    source = page(4, head="<noscript></head><p>x</p></noscript>")
    result = gpt_rules(tmp_path).apply(source, url="/news/a", headers=H)
    check_first_law(source, result, mark="ad-slot")
    head = result.insertions[0]
    assert (head.unit, head.note, head.offset) == ("gpt", "before </head>", source.rindex(b"</head>"))


def test_a_meta_charset_after_the_insertion_point_is_never_pushed(tmp_path: Path) -> None:
    # No </head>: the scripts would go right after <head>, before the <meta> that declares the encoding.
    source = (
        b"<!DOCTYPE html><html><head><meta charset=windows-1252><title>T</title>"
        b'<meta property="article:section" content="Caf\xe9"><body><article>\n'
        + b"".join(
            f"<p>Paragraph {i} one two three four five six seven eight.</p>\n".encode() for i in range(4)
        )
        + b"</article></body></html>"
    )
    result = gpt_rules(tmp_path).apply(source, url="/news/a", headers={"content-type": "text/html"})
    check_first_law(source, result, mark="ad-slot", encoding="windows-1252")
    assert [(s.code, s.unit) for s in result.skipped] == [("gpt_no_head", "gpt")]
    assert "encoding" in result.skipped[0].reason
    # With </head> the <meta> comes before the scripts: wired, and the section's é is a JavaScript escape.
    closed = source.replace(b"<body>", b"</head><body>")
    wired = gpt_rules(tmp_path).apply(closed, url="/news/a", headers={"content-type": "text/html"})
    check_first_law(closed, wired, mark="ad-slot", encoding="windows-1252")
    assert b'pubads.setTargeting("section","Caf\\u00e9");' in wired.body


def test_a_template_without_the_slot_id_goes_in_unwired(tmp_path: Path) -> None:
    unit = '<div class="ad-slot" data-slot="{{ slot.id }}"><p>Ad</p></div>'
    source = page(3)
    result = gpt_rules(tmp_path, unit=unit, place="after_paragraph: 1").apply(
        source, url="/news/a", headers=H
    )
    check_first_law(source, result, mark="ad-slot")
    assert [i.unit for i in result.insertions] == ["ad"]  # and no head insertion: nothing to define
    assert adinject_scripts(result.body) == []
    (skip,) = result.skipped
    assert skip.code == "gpt_slot" and 'id="adinject-ad-1"' in skip.reason


def test_prebid_bidders_become_ad_units_with_the_slot_ids_as_codes(tmp_path: Path) -> None:
    gpt = (
        "      prebid:\n"
        "        - bidder: appnexus\n          params: {placementId: 13144370}\n"
        "        - bidder: rubicon\n          params: {accountId: 1, siteId: 2, zoneId: 3, note: '</script>'}\n"
    )
    rules = gpt_rules(tmp_path, gpt=gpt, settings="settings:\n  prebid_timeout_ms: 800\n")
    source = page(6)
    result = rules.apply(source, url="/news/a", headers=H)
    check_first_law(source, result, mark="ad-slot")
    setup = setup_script(result.body).text
    line = next(x for x in setup.splitlines() if x.startswith("pbjs.addAdUnits("))
    units = json.loads(line.removeprefix("pbjs.addAdUnits(").removesuffix(");"))
    bids = [
        {"bidder": "appnexus", "params": {"placementId": 13144370}},
        {"bidder": "rubicon", "params": {"accountId": 1, "siteId": 2, "zoneId": 3, "note": "</script>"}},
    ]
    assert units == [{"code": i, "mediaTypes": {"banner": {"sizes": SIZES}}, "bids": bids} for i in IDS[:3]]
    assert "timeout:800" in setup and "setTimeout(finish,2400);" in setup
    assert [
        s.text.startswith("window.adinjectPrebid.then(") for s in adinject_scripts(result.body) if s.parent_id
    ] == [True] * 3


@needs_node
def test_prebid_slots_are_displayed_once_the_auction_is_back(tmp_path: Path) -> None:
    gpt = "      prebid:\n        - bidder: appnexus\n          params: {placementId: 1}\n"
    result = gpt_rules(tmp_path, gpt=gpt).apply(page(4), url="/news/a", headers=H)
    calls = run_in_node([s.text for s in adinject_scripts(result.body) if "src" not in s.attrs])
    assert calls["auctions"] == [{"codes": IDS[:2], "timeout": 1000}]
    assert [u["code"] for u in calls["adUnits"]] == IDS[:2]
    assert calls["prebidTargeting"] == IDS[:2]
    assert calls["display"] == IDS[:2]
    assert calls["define"] == [["/1234/news/in-article", SIZES, i] for i in IDS[:2]]


def test_one_head_insertion_for_several_gpt_units_and_rules(tmp_path: Path) -> None:
    from tests._support.engine import rules_from

    rules = rules_from(
        tmp_path,
        """\
units:
  top:
    html: '<div class="ad-slot" id="{{ slot.id }}"></div>'
    gpt: {ad_unit: /1234/news/top, sizes: [[728, 90]]}
  box:
    html: '<div class="ad-slot" id="{{ slot.id }}"></div>'
    gpt: {ad_unit: /1234/news/box, sizes: [[300, 600], [300, 250]], lazy_load: {mobile_scaling: 2.0}}
  plain:
    html: '<div class="ad-slot plain"><p>House ad</p></div>'
rules:
  - name: first
    pages: {paths: ["/news/**"]}
    container: article
    place:
      - {unit: top, after_paragraph: 1}
      - {unit: plain, after_paragraph: 2}
  - name: second
    pages: {paths: ["/news/**"]}
    container: article
    place:
      - {unit: box, after_paragraph: 3}
""",
    )
    source = page(5)
    result = rules.apply(source, url="/news/a", headers=H)
    check_first_law(source, result, mark="ad-slot")
    assert [i.unit for i in result.insertions] == ["gpt", "top", "plain", "box"]
    setup = setup_script(result.body).text
    assert defined(setup) == [
        ["/1234/news/top", [[728, 90]], "adinject-top-1", {}],
        ["/1234/news/box", [[300, 600], [300, 250]], "adinject-box-1", {}],
    ]
    assert 'pubads.enableLazyLoad({"mobileScaling":2.0});' in setup
    assert b'id="adinject-box-1" style="min-height:250px"' in result.body
    assert displayed(result.body) == [
        ("adinject-top-1", "adinject-top-1"),
        ("adinject-box-1", "adinject-box-1"),
    ]


def test_the_cli_passes_csp_headers_through(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--csp` gives render, explain and preview the policy a server would send as a header."""
    from adinject.cli import main

    gpt_rules(tmp_path)
    rules = str(tmp_path / "rules")
    source = tmp_path / "page.html"
    source.write_bytes(page(4))
    nonce = ["--csp", "script-src 'nonce-fromCli' 'strict-dynamic'", "--csp", "img-src 'self'"]

    assert main(["render", str(source), "--rules", rules, "--url", "/news/a", *nonce]) == 0
    rendered = capsys.readouterr().out.encode()
    assert len(adinject_scripts(rendered)) == 2 + 2
    assert {s.attrs.get("nonce") for s in adinject_scripts(rendered)} == {"fromCli"}

    assert (
        main(["explain", str(source), "--rules", rules, "--url", "/news/a", "--csp", "script-src 'self'"])
        == 0
    )
    explained = capsys.readouterr().out
    assert "[gpt_csp]" in explained
    assert main(["explain", str(source), "--rules", rules, "--url", "/news/a"]) == 0
    explained = capsys.readouterr().out
    # The GPT scripts are page-level, not a unit: two ads, and one line for the scripts.
    assert "page: GPT scripts inserted before </head>" in explained
    assert "\n2 unit(s) inserted" in explained

    out = tmp_path / "preview.html"
    assert main(["preview", str(source), "--rules", rules, "--url", "/news/a", "-o", str(out), *nonce]) == 0
    previewed = out.read_bytes()
    assert {s.attrs.get("nonce") for s in adinject_scripts(previewed)} == {"fromCli"}
    assert "2 unit(s) inserted" in capsys.readouterr().err
