"""Rendering units: template variables, escaping, failures, encodings, and pages the engine must leave alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adinject.cli import main as cli_main
from tests._support.engine import article, rules_from, simple_rules
from tests._support.first_law import check_first_law

H = {"content-type": "text/html; charset=utf-8"}
PLACE = "      - unit: ad\n        after_paragraph: 1\n        repeat_every: 2\n"


def test_template_variables(tmp_path: Path) -> None:
    unit = (
        '<div class="ad" id="{{ slot.id }}" data-n="{{ slot.number }}" data-p="{{ slot.paragraph }}" '
        'data-path="{{ page.path }}" data-title="{{ page.title }}" '
        "data-section=\"{{ page.meta['article:section'] }}\" "
        'data-ctx="{{ context.tier }}"></div>'
    )
    rules = simple_rules(tmp_path, PLACE, unit=unit.replace("'", "''"))
    head = '<meta property="article:section" content="World">'
    page = article(4, head=head).replace(b"<title>T</title>", b"<title>A &amp; B</title>")
    result = rules.apply(page, url="/news/a?x=1", headers=H, context={"tier": "gold"})
    check_first_law(page, result, mark="ad")
    assert result.body.count(b'data-path="/news/a"') == 2
    assert b'id="adinject-ad-1" data-n="1" data-p="1"' in result.body
    assert b'id="adinject-ad-2" data-n="2" data-p="3"' in result.body
    assert b'data-title="A &amp; B"' in result.body  # decoded from the page, escaped again
    assert b'data-section="World"' in result.body
    assert b'data-ctx="gold"' in result.body


def test_rendered_markup_is_reused_only_where_the_slot_decides_it(tmp_path: Path) -> None:
    # Units reading only `slot` are rendered once per slot and remembered; a unit that also reads the page
    # must not carry one page's title to the next.
    rules = rules_from(
        tmp_path,
        """\
units:
  ad:
    html: '<div class="ad" id="{{ slot.id }}"></div>'
  titled:
    html: '<div class="ad" data-title="{{ page.title }}" id="{{ slot.id }}"></div>'
rules:
  - name: r
    pages: {paths: ["/news/**"]}
    container: article
    min_paragraph_words: 1
    min_paragraphs: 1
    place:
      - {unit: ad, after_paragraph: 1, repeat_every: 2}
      - {unit: titled, after_paragraph: 2}
""",
    )
    for title in (b"First", b"Second", b"First"):
        page = article(4).replace(b"<title>T</title>", b"<title>" + title + b"</title>")
        result = rules.apply(page, url="/news/a", headers=H)
        check_first_law(page, result, mark="ad")
        assert result.body.count(b'<div class="ad" id="adinject-ad-') == 2
        assert b'id="adinject-ad-1"' in result.body and b'id="adinject-ad-2"' in result.body
        assert b'data-title="' + title + b'" id="adinject-titled-1"' in result.body


def test_values_from_the_page_and_context_are_escaped(tmp_path: Path) -> None:
    unit = '<div class="ad" title="{{ page.title }}">{{ context.name }}</div>'
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 1\n", unit=unit)
    page = article(2).replace(
        b"<title>T</title>", b'<title>"&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>'
    )
    result = rules.apply(page, url="/news/a", headers=H, context={"name": "<img src=x onerror=alert(1)>"})
    check_first_law(page, result, mark="ad")
    inserted = result.body[
        result.insertions[0].offset : result.insertions[0].offset + result.insertions[0].length
    ]
    assert b"<script" not in inserted
    assert b"<img" not in inserted
    assert b"&lt;img src=x onerror=alert(1)&gt;" in inserted
    assert b'title="&#34;&gt;&lt;script&gt;' in inserted


def test_template_error_at_render_skips_the_unit_not_the_page(tmp_path: Path) -> None:
    unit = '<div class="ad">{{ 1 // context.zero }}</div>'
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 1\n", unit=unit)
    page = article(3)
    result = rules.apply(page, url="/news/a", headers=H, context={"zero": 0})
    assert result.body == page
    assert [s.code for s in result.skipped] == ["render_failed"]
    assert "division" in result.skipped[0].reason


def test_unbalanced_unit_markup_is_refused(tmp_path: Path) -> None:
    unit = '<div class="ad"><b>{{ context.x }}</div>'
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 1\n", unit=unit)
    result = rules.apply(article(3), url="/news/a", headers=H, context={"x": "y"})
    assert result.body == article(3)
    assert [s.code for s in result.skipped] == ["bad_markup"]


def test_sandbox_blocks_unsafe_attribute_access(tmp_path: Path) -> None:
    unit = '<div class="ad">{{ context.__class__.__mro__ }}</div>'
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 1\n", unit=unit)
    result = rules.apply(article(3), url="/news/a", headers=H, context={})
    assert b"object" not in result.body


def test_legacy_encoding_gets_units_in_its_own_encoding(tmp_path: Path) -> None:
    unit = '<div class="ad">Café € 中</div>'
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 1\n", unit=unit)
    page = article(2).replace(b"<meta charset=utf-8>", b"<meta charset=windows-1252>") + "é".encode("cp1252")
    result = rules.apply(page, url="/news/a", headers={"content-type": "text/html"})
    check_first_law(page, result, encoding="windows-1252", mark="ad")
    assert b'<div class="ad">Caf\xe9 \x80 &#20013;</div>' in result.body


def test_header_charset_wins_over_meta(tmp_path: Path) -> None:
    rules = simple_rules(
        tmp_path, "      - unit: ad\n        after_paragraph: 1\n", unit='<div class="ad">é</div>'
    )
    page = article(2)  # declares utf-8 in <meta>
    result = rules.apply(page, url="/news/a", headers={"content-type": "text/html; charset=iso-8859-1"})
    assert result.encoding == "windows-1252"
    assert b'<div class="ad">\xe9</div>' in result.body


def test_bom_and_crlf_and_multibyte(tmp_path: Path) -> None:
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 1\n        repeat_every: 1\n")
    page = "\ufeff<!DOCTYPE html>\r\n<article>\r\n<p>Ünïcödé 中文 😀 one.</p>\r\n<p>two 😀\r\nthree.</p>\r\n</article>"
    data = page.encode("utf-8")
    result = rules.apply(data, url="/news/a", headers={"content-type": "text/html"})
    check_first_law(data, result, mark="ad")
    assert result.encoding == "UTF-8"
    assert len(result.insertions) == 2
    assert "😀 one.</p><div".encode() in result.body


def test_utf16_pages_are_left_alone(tmp_path: Path) -> None:
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 1\n")
    data = "<article><p>one two</p><p>three</p></article>".encode("utf-16")
    result = rules.apply(data, url="/news/a", headers={"content-type": "text/html"})
    assert result.body == data
    assert [s.code for s in result.skipped] == ["encoding"]


def test_large_pages_pass_unchanged(tmp_path: Path) -> None:
    text = (
        "settings: {max_page_bytes: 1000}\nunits:\n  ad:\n    html: '<div class=\"ad\">x</div>'\n"
        "rules:\n  - name: r\n    container: article\n    place: [{unit: ad, after_paragraph: 1}]\n"
    )
    rules = rules_from(tmp_path, text)
    page = article(50)
    result = rules.apply(page, url="/", headers=H)
    assert result.body == page
    assert [s.code for s in result.skipped] == ["too_large"]
    assert rules.apply(article(2), url="/", headers=H).insertions


@pytest.mark.parametrize(
    ("head", "off"),
    [
        ('<meta name="adinject" content="off">', True),
        ('<meta property="adinject" content=" OFF ">', True),
        ('<meta name="description" content="x"><meta name="adinject" content="off">', True),
        ('<meta name="adinject" content="on">', False),
        ('<meta name="adinject-x" content="off">', False),
        ('<meta name="adinject">', False),
    ],
)
def test_meta_opt_out(tmp_path: Path, head: str, off: bool) -> None:
    # The unit reads nothing of the page, so planning skips the page's meta tags, except this one.
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 1\n")
    page = article(3, head=head)
    result = rules.apply(page, url="/news/a", headers=H)
    if off:
        assert result.body == page
        assert [s.code for s in result.skipped] == ["opted_out"]
    else:
        assert len(result.insertions) == 1


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_apply_never_raises_on_garbage(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    rules = _garbage_rules(tmp_path_factory)
    for ct in (
        "text/html",
        "text/html; charset=bogus",
        "text/html; charset=utf-16le",
        "text/html; charset=gbk",
    ):
        result = rules.apply(b"<article><p>a b c</p>" + data, url="/news/a", headers={"content-type": ct})
        assert not any(s.code == "error" for s in result.skipped)
        check_first_law(b"<article><p>a b c</p>" + data, result, encoding=result.encoding, mark="ad")


_CACHE: dict[str, object] = {}


def _garbage_rules(factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    if "rules" not in _CACHE:
        _CACHE["rules"] = simple_rules(factory.mktemp("g"), PLACE)
    return _CACHE["rules"]


def test_cli_check_render_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    simple_rules(tmp_path, PLACE)
    folder = tmp_path / "rules"
    page = tmp_path / "page.html"
    page.write_bytes(article(4))
    assert cli_main(["check", str(folder)]) == 0
    assert "ok: 1 file(s), 1 rule(s), 1 unit(s)" in capsys.readouterr().out

    report = tmp_path / "report.json"
    assert (
        cli_main(["render", str(page), "--rules", str(folder), "--url", "/news/x", "--report", str(report)])
        == 0
    )
    data = json.loads(report.read_text())
    assert [i["paragraph"] for i in data["insertions"]] == [1, 3]

    assert cli_main(["explain", str(page), "--rules", str(folder), "--url", "/news/x"]) == 0
    out = capsys.readouterr().out
    assert "container: <article> found by 'article'" in out
    assert "   1    10w  Paragraph 1 w1x0" in out
    assert "+ ad #adinject-ad-2 after paragraph 3" in out

    (folder / "rules.yaml").write_text(
        "units: {}\nrules:\n  - name: r\n    place: [{unit: nope, after_paragraph: x}]\n"
    )
    assert cli_main(["check", str(folder)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{folder / 'rules.yaml'}:4:") for line in lines)


def test_a_unit_that_renders_nothing_is_skipped_quietly(tmp_path: Path) -> None:
    unit = '{% if context.related %}<aside class="ad">{{ context.related }}</aside>{% endif %}'
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 1\n", unit=unit)
    result = rules.apply(article(3), url="/news/a", headers=H, context={})
    assert result.body == article(3)
    assert [s.code for s in result.skipped] == ["empty"]
    shown = rules.apply(article(3), url="/news/a", headers=H, context={"related": "More"})
    assert b'<aside class="ad">More</aside>' in shown.body


def test_explain_offsets_are_byte_offsets(tmp_path: Path) -> None:
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 1\n")
    data = "\ufeff<article>\r\n<p>Ünïcödé 中文 😀 one</p>\r\n<p>two</p>\r\n</article>".encode()
    result = rules.apply(data, url="/news/a", headers={"content-type": "text/html"}, explain=True)
    trace = result.traces[0]
    assert trace.container_offset is not None
    assert data[trace.container_offset :].startswith(b"<article>")
    assert [data[p.offset : p.offset + 3] for p in trace.paragraphs] == [b"<p>", b"<p>"]
    assert data[trace.paragraphs[1].offset :].startswith(b"<p>two")


def test_a_reused_plan_renders_the_same_units(tmp_path: Path) -> None:
    # Units that read only the page are rendered once per plan; units that read `context` every time.
    rules = simple_rules(tmp_path, PLACE)
    page = article(5)
    plan = rules.plan(page, url="/news/a", headers=H)
    first = rules.realize(plan, page)
    again = rules.realize(plan, page)
    assert again.body == first.body
    assert again.insertions == first.insertions
    assert b'id="adinject-ad-2">AD after 3</div>' in again.body

    per_request = simple_rules(tmp_path, PLACE, unit='<div class="ad">{{ context.n }}</div>')
    plan = per_request.plan(page, url="/news/a", headers=H)
    assert b'<div class="ad">1</div>' in per_request.realize(plan, page, context={"n": 1}).body
    assert b'<div class="ad">2</div>' in per_request.realize(plan, page, context={"n": 2}).body


def test_units_with_forms_never_nest_in_a_page_form(tmp_path: Path) -> None:
    from markupsafe import Markup

    unit = '<div class="ad"><form action="/signup"><input name="email"></form></div>'
    rules = simple_rules(tmp_path, "      - unit: ad\n        after_paragraph: 1\n", unit=unit)
    plain = article(3)
    result = rules.apply(plain, url="/news/a", headers=H)
    check_first_law(plain, result, mark="ad")
    assert len(result.insertions) == 1
    wrapped = plain.replace(b"<body>", b"<body><form action=/search>").replace(b"</body>", b"</form></body>")
    result = rules.apply(wrapped, url="/news/a", headers=H)
    assert result.body == wrapped
    assert "<form>" in result.skipped[0].reason
    # a unit whose template has no form but is handed one by the app was never checked: refused
    sneaky = simple_rules(
        tmp_path,
        "      - unit: ad\n        after_paragraph: 1\n",
        unit='<div class="ad">{{ context.x }}</div>',
    )
    result = sneaky.apply(plain, url="/news/a", headers=H, context={"x": Markup("<form></form>")})
    assert result.body == plain
    assert [s.code for s in result.skipped] == ["unsafe"]


def test_planning_leaves_the_cyclic_collector_alone(tmp_path: Path) -> None:
    # CPython's collector is process-wide: a library must not switch it behind the host app's back.
    import gc

    rules = simple_rules(tmp_path, PLACE)
    seen: list[bool] = []
    gc.callbacks.append(lambda phase, info: seen.append(gc.isenabled()))
    try:
        assert gc.isenabled()
        for _ in range(50):
            rules.apply(article(40), url="/news/a", headers=H)
            assert gc.isenabled()
        gc.collect()
    finally:
        gc.callbacks.pop()
    assert seen and all(seen)


def test_an_undecodable_byte_in_an_attribute_name_keeps_the_units(tmp_path: Path) -> None:
    # turbohtml raises reading the location of an element whose attribute name holds a lone surrogate (the
    # escape of an undecodable byte); one such byte in the container used to drop every unit on the page.
    rules = simple_rules(tmp_path, PLACE)
    page = article(4).replace(b"<p>", b'<p \xff\xfe="x">', 2)
    assert page.count(b"\xff") == 2
    result = rules.apply(page, url="/news/a", headers=H)
    assert [s.code for s in result.skipped if s.code == "error"] == []
    assert len(result.insertions) == 2
    check_first_law(page, result, mark="ad")


def test_the_render_cache_is_the_callers(tmp_path: Path) -> None:
    # Plans are immutable (a plan cache shares them across threads); reusable markup goes to the cache the
    # caller passes, and a plan rendered with another cache renders afresh, to the same bytes.
    from adinject.engine import RenderCache

    rules = simple_rules(tmp_path, PLACE)
    page = article(4)
    plan = rules.plan(page, url="/news/a", headers=H)
    mine = RenderCache()
    first = rules.realize(plan, page, render_cache=mine)
    assert len(mine) > 0
    assert len(rules.render_cache) == 0
    again = rules.realize(plan, page)
    assert again.body == first.body and again.insertions == first.insertions
    assert len(rules.render_cache) > 0
    tiny = RenderCache(maxsize=1)
    rules.realize(plan, page, render_cache=tiny)
    assert len(tiny) == 1


def test_apply_keeps_the_units_markup_but_not_a_page_it_will_never_see_again(tmp_path: Path) -> None:
    # apply() makes its plan for one call: keeping that plan's rendering would only push out entries that
    # are read (the units' markup, and the renderings of plans a plan cache hands out again).
    rules = simple_rules(tmp_path, PLACE)
    page = article(4)
    rules.apply(page, url="/news/a", headers=H)
    kept = rules.render_cache._lru.keys()  # a list, least recently used first
    assert {key[0] for key in kept if isinstance(key, tuple)} == {"slot"}
    plan = rules.plan(page, url="/news/a", headers=H)
    rules.realize(plan, page)  # a plan that may come again (from a plan cache): its rendering is kept
    kept = rules.render_cache._lru.keys()
    assert "plan" in {key[0] for key in kept if isinstance(key, tuple)}
