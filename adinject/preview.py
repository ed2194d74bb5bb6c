"""The annotated page: the page as the engine saw it, for a browser (`adinject preview`, and the debug view).

Every counted paragraph gets its number and word count in the margin, every paragraph left out is greyed
with the reason, the container is outlined, each unit is outlined and labelled with its rule, and a panel
lists every unit that did not land and why.

Like the engine, this never re-serializes the page: it splices a few extra bytes into the engine's output at
offsets the engine computed, so what the browser shows is exactly the page readers get plus the markers:

* a paragraph or container is marked with `data-adinject-*` attributes added right after its tag name
  (`<p` becomes `<p data-adinject-p="counted" ...`): an attribute changes no tree, and CSS draws the labels
  from it with `attr()`;
* a paragraph that is a run of text ended by a blank line (`<br><br>`) has no element of its own: an empty
  `<span>` before its closing `<br>` carries the label;
* each unit is wrapped in a `<div>`: units only go where the engine proved a block element may start (see
  placement/safety.py), so the wrapper parses where the unit did. The GPT scripts the engine puts in
  `<head>` (unit "gpt", anchor "head") are not a unit in the article but page-level wiring: they go in
  unwrapped (a `<div>` there would end the head) and the panel lists them with the page's notes;
* one `<style>` and the panel go just before `</body>` (at the very end when the page has none).

The normal response path never runs any of this.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from adinject.edits import Edit, apply_edits, in_order
from adinject.engine import Plan, Rules, locate_body_end
from adinject.language.globs import PathMatcher, compile_globs
from adinject.language.schema import Rule
from adinject.page.encoding import Sniffed, encode_fragment, read_page, sniff_and_decode
from adinject.page.html_sets import VOID
from adinject.page.model import parse_text
from adinject.page.offsets import OffsetMap
from adinject.result import ApplyResult, Insertion, Skip
from adinject.targeting.facts import header

__all__ = ["Annotated", "annotate", "rule_states", "unit_insertions"]

_TAG = re.compile(rb"<([A-Za-z][^\t\n\f\r />]*)")
_END_TAG = re.compile(rb"</[A-Za-z]")


@dataclass
class Annotated:
    """The annotated page and the engine's result for it (what readers would get: `result.body`)."""

    body: bytes
    result: ApplyResult
    notes: list[str] = field(default_factory=list)


def annotate(
    rules: Rules | None,
    body: bytes,
    *,
    url: str = "/",
    headers: Mapping[str, str] | None = None,
    context: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
    now: datetime | None = None,
    csp: str | Sequence[str] | None = None,
    base_url: str | None = None,
) -> Annotated:
    """Run `rules` on `body` as the middleware would, and return the page with the engine's view drawn in.

    `url` is the request's URL with its query string (`query:` conditions read it); `now` the time schedules
    are read at (default: now); `csp` the response's Content-Security-Policy header value(s), for the GPT
    scripts' nonce. `notes` are sentences shown at the top of the panel (the debug view says there why
    readers get something else, e.g. the kill switch). With `rules=None` the page gets the panel only.
    `base_url`: where the page was fetched from; a page without a `<base href>` gets one pointing there, so
    that a preview saved to disk still loads its relative stylesheets and images (never in a served page).
    """
    headers = dict(headers or {})
    if rules is None:
        result = ApplyResult(body, skipped=[Skip("no_rules", "no valid rules are loaded")])
        plan = Plan(skipped=tuple(result.skipped))
        version = "none"
    else:
        plan = rules.plan(body, url=url, headers=headers, explain=True, now=now)
        result = rules.realize(plan, body, context=context, csp=csp, plan_reused=False)
        version = rules.version
    # As the engine reads the page (an undeclared page that is valid UTF-8 is UTF-8), when it did not.
    sniffed = plan.sniffed or sniff_and_decode(body, header(headers, "content-type"))[0]
    out = Annotated(body, result, list(notes))
    if sniffed.codec is None:
        return out  # no codec to write our markup in: the page goes out as the engine left it
    edits = [*_unit_edits(result, sniffed), *_marker_edits(body, plan, sniffed)]
    if base_url is not None:
        edits.extend(_base_edit(body, sniffed, header(headers, "content-type"), base_url))
    # No whitespace between the pieces: text outside our elements would be a node of the page's own.
    panel = (
        _STYLE.strip()
        + _SCRIPT.strip()
        + _panel(rules, result, url=url, version=version, encoding=sniffed.name, notes=notes)
    )
    # The engine found </body> as the parser sees it (not one inside a script); without one, the end.
    end = plan.body_end
    if end is None and not plan.units:
        # No rule parsed this page (none matched it): the only parse of it.
        end = locate_body_end(body, header(headers, "content-type"))
    end = end if end is not None else len(body)
    edits.append(Edit(end, encode_fragment(panel, sniffed), order=2))
    out.body = apply_edits(body, in_order(edits))
    return out


# --- the <base> of a page fetched from elsewhere


def _base_edit(body: bytes, sniffed: Sniffed, content_type: str | None, base_url: str) -> list[Edit]:
    """A `<base href>` for a page that has none: right after its `<head>` tag, else after its `<html>` tag,
    else before its first tag (after any doctype and comments, so the page keeps its rendering mode)."""
    decoded = read_page(body, content_type)
    if decoded.text is None:
        return []
    doc = parse_text(decoded.text, escaped=decoded.escaped)
    if doc.select_one("base[href]") is not None:
        return []  # the page's own base decides its URLs, in the preview as on the site
    at: int | None = None
    for tag in ("head", "html"):
        el = doc.select_one(tag)
        loc = el.source_location if el is not None else None
        if loc is not None and loc.start_tag is not None:
            at = loc.start_tag.end_offset
            break
    if at is None:
        starts = (loc.start_tag for el in doc.select("*") if (loc := el.source_location) is not None)
        first = next((tag for tag in starts if tag is not None), None)
        at = first.start_offset if first is not None else 0
    try:
        offset = OffsetMap(decoded.text, decoded.sniffed, body).to_byte(at)
    except ValueError:
        return []  # an encoding whose byte offsets cannot be recovered (ISO-2022-JP): no base, no guess
    return [Edit(offset, encode_fragment(f'<base href="{_attr(base_url)}">', sniffed), order=-1)]


# --- units: the engine's output bytes, each wrapped


def _unit_edits(result: ApplyResult, sniffed: Sniffed) -> list[Edit]:
    chunks: list[Edit] = []
    shift = 0  # bytes the engine inserted before this unit: its position in the output is offset + shift
    for ins in sorted(result.insertions, key=lambda i: i.offset):
        start = ins.offset + shift
        unit = result.body[start : start + ins.length]
        shift += ins.length
        if ins.anchor == "head":
            # Scripts the engine put in <head> (GPT): a <div> there would end the head. In as they are.
            chunks.append(Edit(ins.offset, unit))
            continue
        label = _attr(f"{ins.unit} · rule {ins.rule} · {_where(ins)}")
        opening = encode_fragment(f'<div class="adinject-debug-unit" data-adinject-label="{label}">', sniffed)
        chunks.append(Edit(ins.offset, opening + unit + encode_fragment("</div>", sniffed)))
    return chunks


def unit_insertions(result: ApplyResult) -> list[Insertion]:
    """The units inserted into the article: every insertion but the page-level GPT scripts in <head>."""
    return [ins for ins in result.insertions if ins.anchor != "head"]


def _where(ins: Insertion) -> str:
    if ins.anchor == "head":
        return ins.note or "in <head>"
    if ins.anchor != "paragraph":
        return ins.note or "after an anchor"
    return f"after ¶{ins.paragraph}" if ins.paragraph else "before the first paragraph"


# --- paragraphs and containers: attributes after the tag name


@dataclass
class _Mark:
    labels: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    counted: bool = False
    containers: list[str] = field(default_factory=list)


def _marker_edits(body: bytes, plan: Plan, sniffed: Sniffed) -> list[Edit]:
    traces = list(plan.traces)
    if not traces:
        return []
    several = len(traces) > 1
    marks: dict[int, _Mark] = {}
    for trace in traces:
        prefix = f"{trace.rule}: " if several else ""
        if trace.container_offset is not None:
            found = trace.container if trace.container == "auto" else f"found by '{trace.container}'"
            marks.setdefault(trace.container_offset, _Mark()).containers.append(
                f"{prefix}<{trace.container_tag}> {found}"
            )
        for info in trace.paragraphs:
            # The engine reports the byte offset of the paragraph's start tag (-1 for a paragraph it could
            # not place in the source).
            if info.offset < 0:
                continue
            mark = marks.setdefault(info.offset, _Mark())
            if info.number is not None:
                mark.counted = True
                mark.labels.append(f"{prefix}¶{info.number} · {info.words}w")
            else:
                mark.labels.append(f"{prefix}– · {info.words}w")
                mark.reasons.append(f"{prefix}{info.left_out}")
    chunks: list[Edit] = []
    for offset, mark in sorted(marks.items()):
        found_tag = _TAG.match(body, offset)
        if found_tag is None:
            if mark.labels and not mark.containers and _END_TAG.match(body, offset):
                # The last run of text of a block split by blank lines ends at the block's end tag: the
                # label goes right before it, as before the <br> ending any other run.
                chunks.append(_run_label(offset, _paragraph_attrs(mark), sniffed))
            continue  # else not a tag where the engine said: draw nothing rather than something wrong
        tag = found_tag.group(1).decode("ascii", "replace").lower()
        attrs = _paragraph_attrs(mark)
        if mark.containers:
            attrs.append(f'data-adinject-container="{_attr("; ".join(mark.containers))}"')
        if tag in VOID:
            # A <br> ending a run of text: no attribute can show on it, so a label goes before it.
            if mark.labels:
                chunks.append(_run_label(offset, attrs, sniffed))
            continue
        chunks.append(Edit(found_tag.end(1), encode_fragment(" " + " ".join(attrs), sniffed), order=1))
    return chunks


def _run_label(offset: int, attrs: list[str], sniffed: Sniffed) -> Edit:
    """An empty <span> carrying a run of text's label, for a run with no element of its own."""
    span = f'<span class="adinject-debug-run" {" ".join(attrs)}></span>'
    return Edit(offset, encode_fragment(span, sniffed), order=1)


def _paragraph_attrs(mark: _Mark) -> list[str]:
    attrs = []
    if mark.labels:
        attrs.append(f'data-adinject-p="{"counted" if mark.counted else "out"}"')
        attrs.append(f'data-adinject-label="{_attr(" | ".join(mark.labels))}"')
    if mark.reasons and not mark.counted:
        attrs.append(f'data-adinject-why="{_attr("; ".join(mark.reasons))}"')
    return attrs


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def _text(text: str) -> str:
    return html.escape(text, quote=False)


# --- the panel


def _panel(
    rules: Rules | None, result: ApplyResult, *, url: str, version: str, encoding: str, notes: Sequence[str]
) -> str:
    missed = [s for s in result.skipped if s.missed]
    capped = [s for s in result.skipped if s.capped]
    units = unit_insertions(result)
    parts = [
        '<div id="adinject-debug-panel" role="complementary" aria-label="adinject preview">',
        "<details open>",
        f"<summary>adinject · {len(units)} inserted · {len(missed)} did not land"
        f"{f' · {len(capped)} capped' if capped else ''}</summary>",
        '<div class="adinject-debug-body">',
        f'<p class="adinject-debug-meta">{_text(url)}<br>rules {_text(version)} · {_text(encoding)} · '
        f"{result.duration_ms:.2f} ms</p>",
        *_page_notes(result, notes),
        "<h4>Did not land</h4>",
        *_missed(missed),
        *(["<h4>Capped (max reached: not wanted on this page)</h4>", *_skip_list(capped)] if capped else []),
        "<h4>Inserted</h4>",
        *_inserted(units),
        "<h4>Rules</h4><ul>",
        *_rule_states(rules, result, url),
        "</ul>",
        '<p class="adinject-debug-legend">'
        '<span class="adinject-debug-key-p">¶3 · 41w</span> counted paragraph '
        '<span class="adinject-debug-key-out">– · 2w</span> left out '
        '<span class="adinject-debug-key-c">container</span> '
        '<span class="adinject-debug-key-u">unit</span></p>',
        "</div></details></div>",
    ]
    return "\n".join(parts)


def _page_notes(result: ApplyResult, notes: Sequence[str]) -> list[str]:
    parts = [f'<p class="adinject-debug-note">{_text(note)}</p>' for note in notes]
    for ins in result.insertions:
        if ins.anchor == "head":
            parts.append(
                f'<p class="adinject-debug-note">Page: the GPT scripts went into &lt;head&gt; '
                f"({_text(_where(ins))}), wiring the slots below.</p>"
            )
    for skip in result.skipped:
        if skip.rule is None:
            parts.append(
                f'<p class="adinject-debug-note">Page: {_text(skip.reason)} <code>{skip.code}</code></p>'
            )
    return parts


def _missed(missed: list[Skip]) -> list[str]:
    if not missed:
        return ['<p class="adinject-debug-dim">Every unit the rules wanted landed.</p>']
    return _skip_list(missed)


def _skip_list(skips: list[Skip]) -> list[str]:
    parts = ["<ul>"]
    # The same unit skipped for the same reason at several positions (a `max` reached, say) is one line.
    grouped: dict[tuple[str, str, str, str], list[int]] = {}
    for skip in skips:
        key = (skip.unit or "", skip.rule or "", skip.reason, skip.code)
        grouped.setdefault(key, []).extend([skip.paragraph] if skip.paragraph else [])
    for (unit, by, reason, code), paragraphs in grouped.items():
        wanted = f", wanted after {', '.join(f'¶{n}' for n in paragraphs)}" if paragraphs else ""
        parts.append(
            f'<li><b>{_text(unit)}</b> <span class="adinject-debug-dim">rule {_text(by)}{wanted}</span>'
            f"<br>{_text(reason)} <code>{code}</code></li>"
        )
    parts.append("</ul>")
    return parts


def _inserted(units: list[Insertion]) -> list[str]:
    if not units:
        return ['<p class="adinject-debug-dim">No unit on this page.</p>']
    items = [
        f'<li><b>{_text(ins.unit)}</b> <span class="adinject-debug-dim">rule {_text(ins.rule)}, '
        f"{_text(_where(ins))}, #{_text(ins.slot_id)}</span></li>"
        for ins in units
    ]
    return ["<ol>", *items, "</ol>"]


def _rule_states(rules: Rules | None, result: ApplyResult, url: str) -> list[str]:
    rule_skips = {s.rule: s for s in result.skipped if s.rule is not None and s.unit is None}
    traces = {t.rule: t for t in result.traces}
    parts: list[str] = []
    for rule, said in rule_states(rules, result, url) if rules is not None else ():
        trace = traces.get(rule.name)
        if trace is None:
            state = _text(said)
        elif trace.container is None:
            state = "matches; no container found"
        else:
            counted = sum(1 for p in trace.paragraphs if p.number is not None)
            state = (
                f"matches; container &lt;{_text(trace.container_tag or '?')}&gt; "
                f"({_text(trace.container)}); {counted} paragraphs counted, {trace.counted_words} words"
            )
        gate = rule_skips.get(rule.name)
        if trace is not None and gate is not None and gate.code != "no_container":
            state += f"; placed nothing: {_text(gate.reason)} <code>{gate.code}</code>"
        parts.append(f'<li><b>{_text(rule.name)}</b> <span class="adinject-debug-dim">{state}</span></li>')
    return parts


def rule_states(rules: Rules, result: ApplyResult, url: str = "/") -> list[tuple[Rule, str]]:
    """Each rule and what became of it on this page: disabled, not for this URL (or only because of the
    site-wide `settings.exclude_paths`), or matched (and when a `when:` condition ruled it out before it
    looked at the article, which condition and what it saw; or the page was left alone as a whole)."""
    path = urlsplit(url).path or "/"
    for_url = {rule.name for rule in rules.rules_for(path)}
    site_excluded = compile_globs(rules.settings.exclude_paths)(path)
    traced = {t.rule for t in result.traces}
    # A rule-level skip of a rule without a trace: a request or page condition failed before planning.
    ruled_out = {s.rule: s for s in result.skipped if s.rule is not None and s.unit is None}
    page = next((s for s in result.skipped if s.rule is None), None)
    states: list[tuple[Rule, str]] = []
    for rule in rules.compiled.rules:
        skip = ruled_out.get(rule.name)
        if not rule.enabled:
            state = "disabled"
        elif rule.name not in for_url:
            excluded = site_excluded and PathMatcher(rule.pages.paths, rule.pages.exclude_paths).matches(path)
            state = "does not match this URL" + (
                ": its path is in settings.exclude_paths" if excluded else ""
            )
        elif rule.name in traced:
            state = "matches this URL"
        elif skip is not None:
            state = f"matches this URL, but {_condition(skip.code)} failed: {skip.reason} [{skip.code}]"
        elif page is not None:
            state = f"matches this URL, but the page was left alone: {page.reason} [{page.code}]"
        else:
            state = "matches this URL"
        states.append((rule, state))
    return states


def _condition(code: str) -> str:
    """The `when:` key behind a skip code, as ad ops wrote it: `when_device` is `when.device`."""
    if code == "when_excluded":
        return "when.exclude_meta"
    if code.startswith("when_"):
        return f"when.{code.removeprefix('when_')}"
    return "the page-wide opt-out" if code == "opted_out" else "a condition"


# The style and script. Everything is keyed on data-adinject-* attributes and adinject-debug-* names, so
# nothing of the page's own styling is touched except where a marker sits; !important because the page's CSS
# is not ours to predict.
_STYLE = """<style id="adinject-debug-style">
[data-adinject-p]{position:relative!important}
[data-adinject-p]::before,.adinject-debug-unit::before{content:attr(data-adinject-label)!important;
 position:absolute!important;display:block!important;z-index:2147483000!important;margin:0!important;
 padding:0 5px!important;width:auto!important;height:auto!important;float:none!important;opacity:1!important;
 font:600 11px/16px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace!important;color:#fff!important;
 text-indent:0!important;letter-spacing:0!important;text-transform:none!important;font-style:normal!important;
 white-space:nowrap!important;border-radius:3px!important;border:0!important;box-shadow:none!important;
 text-align:left!important;transform:none!important}
[data-adinject-p]::before{top:0!important;right:calc(100% + 10px)!important;left:auto!important;
 background:#1967d2!important}
[data-adinject-p="counted"]{box-shadow:-4px 0 0 #1967d2!important}
[data-adinject-p="out"]{box-shadow:-4px 0 0 #9aa0a6!important;
 background:repeating-linear-gradient(135deg,#f1f3f4 0 6px,#e8eaed 6px 12px)!important}
[data-adinject-p="out"],[data-adinject-p="out"] *{color:#80868b!important}
[data-adinject-p="out"] img{filter:grayscale(1) opacity(.5)!important}
[data-adinject-p="out"]::before{background:#80868b!important}
[data-adinject-why]::after{content:"left out: " attr(data-adinject-why)!important;display:block!important;
 font:11px/15px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace!important;color:#a50e0e!important;
 background:#fce8e6!important;padding:1px 4px!important;margin:2px 0 0!important;white-space:normal!important;
 text-indent:0!important;font-style:normal!important;text-transform:none!important;letter-spacing:0!important}
.adinject-debug-run{position:static!important;box-shadow:none!important}
.adinject-debug-run::before,[data-adinject-inside]::before{position:static!important;display:inline-block!important;
 margin:0 6px 0 0!important;vertical-align:baseline!important}
.adinject-debug-run::before{content:"▲ " attr(data-adinject-label)!important}
[data-adinject-container]{outline:2px dashed #188038!important;outline-offset:6px!important}
[data-adinject-container]::before{content:"container: " attr(data-adinject-container)!important;
 display:block!important;font:600 11px/16px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace!important;
 color:#0d652d!important;background:#e6f4ea!important;padding:1px 5px!important;margin:0 0 6px!important;
 text-indent:0!important;letter-spacing:0!important;text-transform:none!important;font-style:normal!important;
 white-space:normal!important;text-align:left!important;float:none!important;position:static!important}
.adinject-debug-unit{display:block!important;position:relative!important;outline:3px solid #e8710a!important;
 outline-offset:2px!important;margin-top:26px!important;margin-bottom:8px!important;clear:both!important}
.adinject-debug-unit::before{bottom:100%!important;left:-3px!important;margin-bottom:4px!important;
 background:#e8710a!important}
#adinject-debug-panel{position:fixed!important;right:12px!important;bottom:12px!important;
 z-index:2147483647!important;width:340px!important;max-width:calc(100vw - 24px)!important;
 max-height:70vh!important;overflow:auto!important;background:#fff!important;color:#202124!important;
 border:1px solid #dadce0!important;border-radius:8px!important;
 box-shadow:0 4px 16px rgba(0,0,0,.25)!important;
 font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif!important;text-align:left!important}
#adinject-debug-panel *{all:revert;font-family:inherit;color:inherit;line-height:1.45;box-sizing:border-box}
#adinject-debug-panel summary{cursor:pointer;padding:8px 12px;font-weight:700;background:#202124;color:#fff;
 list-style-position:inside}
#adinject-debug-panel .adinject-debug-body{padding:4px 12px 10px}
#adinject-debug-panel h4{font-size:12px;text-transform:uppercase;letter-spacing:.04em;margin:10px 0 4px;
 color:#5f6368}
#adinject-debug-panel ul,#adinject-debug-panel ol{margin:0;padding-left:18px}
#adinject-debug-panel li{margin:0 0 5px}
#adinject-debug-panel p{margin:4px 0}
#adinject-debug-panel code{font:11px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f1f3f4;
 padding:0 3px;border-radius:3px}
#adinject-debug-panel .adinject-debug-meta{font:11px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;
 color:#5f6368;word-break:break-all}
#adinject-debug-panel .adinject-debug-note{background:#fef7e0;border-left:3px solid #f9ab00;padding:4px 8px}
#adinject-debug-panel .adinject-debug-dim{color:#5f6368}
#adinject-debug-panel .adinject-debug-legend span{display:inline-block;font:600 11px/16px monospace;
 padding:0 5px;border-radius:3px;margin:2px 2px 2px 0}
#adinject-debug-panel .adinject-debug-key-p{background:#1967d2;color:#fff}
#adinject-debug-panel .adinject-debug-key-out{background:#80868b;color:#fff}
#adinject-debug-panel .adinject-debug-key-c{outline:2px dashed #188038;color:#0d652d}
#adinject-debug-panel .adinject-debug-key-u{outline:3px solid #e8710a;color:#e8710a}
</style>
"""

_SCRIPT = """
<script id="adinject-debug-script">
/* A paragraph too close to the window's left edge has no margin for its label: draw the label inline. */
(function () {
  function fit() {
    document.querySelectorAll("[data-adinject-p]:not(.adinject-debug-run)").forEach(function (el) {
      var need = (el.getAttribute("data-adinject-label") || "").length * 7 + 16;
      if (el.getBoundingClientRect().left < need) el.setAttribute("data-adinject-inside", "");
      else el.removeAttribute("data-adinject-inside");
    });
  }
  fit();
  addEventListener("load", fit);
  addEventListener("resize", fit);
})();
</script>
"""
