"""The scripts adinject adds for GPT and Prebid.js: one set in <head> per page, one display call per slot.

In <head>: the GPT library (unless the page loads it) and one inline script that, through `googletag.cmd`
(so it works whether or not the library has arrived, and alongside a page's own GPT setup), defines every
slot adinject inserted, sets page-level targeting (`section`, `keywords`), turns on lazy loading when a unit
asks, and enables services. With Prebid bidders, the same script queues `pbjs.addAdUnits` with the slots'
div ids as codes and runs one auction for them; their display calls wait for it (or for a fail-safe timer,
so a missing Prebid.js never keeps ads off the page).

Every value goes through `js()`; the scripts carry `data-adinject` and the page's nonce when it has one, and
`_script` refuses any inline script text with a `<` or a non-ASCII character in it (see jsvalue.py).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from adinject.gpt.jsvalue import js
from adinject.language.schema import Gpt

# Ad Manager's limits on key-value targeting (longer values are cut, extra ones dropped).
MAX_VALUE_LENGTH = 40
MAX_KEYWORDS = 20
# Prebid's own example waits three times the auction timeout before showing ads without bids.
FAILSAFE_FACTOR = 3


@dataclass(frozen=True, slots=True)
class WiredSlot:
    slot_id: str
    gpt: Gpt


def _script(body: str, nonce: str | None) -> str:
    if "<" in body or not body.isascii():
        raise ValueError("an inline script must not contain '<' or non-ASCII characters")
    return f"<script data-adinject{_nonce(nonce)}>{body}</script>"


def _nonce(nonce: str | None) -> str:
    return f' nonce="{html.escape(nonce, quote=True)}"' if nonce else ""


def display_script(slot_id: str, *, prebid: bool, nonce: str | None) -> str:
    """The inline script that displays one slot, where the slot stands."""
    call = f"googletag.cmd.push(function(){{googletag.display({js(slot_id)});}});"
    if prebid:
        call = f"window.adinjectPrebid.then(function(){{{call}}});"
    return _script(call, nonce)


def _cut(value: str) -> str:
    return value.strip()[:MAX_VALUE_LENGTH]


def head_markup(
    slots: Sequence[WiredSlot],
    *,
    section: str | None,
    keywords: Sequence[str],
    library_url: str | None,
    nonce: str | None,
    prebid_timeout_ms: int,
) -> str:
    """The <head> insertion: the library's <script> (None: the page loads it) and the setup script."""
    lines = [
        "window.googletag=window.googletag||{cmd:[]};",
        "googletag.cmd.push(function(){",
        "var pubads=googletag.pubads();",
        "function define(path,sizes,id,targeting){",
        "var slot=googletag.defineSlot(path,sizes,id);",
        "if(!slot){return;}",  # the id is taken by one of the page's own slots: leave it alone
        "slot.addService(pubads);",
        "for(var key in targeting){slot.setTargeting(key,targeting[key]);}",
        "}",
    ]
    for slot in slots:
        gpt = slot.gpt
        args = [gpt.ad_unit, [list(s) if not isinstance(s, str) else s for s in gpt.sizes], slot.slot_id]
        targeting = {key: values[0] if len(values) == 1 else values for key, values in gpt.targeting.items()}
        lines.append(f"define({','.join(js(a) for a in args)},{js(targeting)});")
    if section and _cut(section):
        lines.append(f"pubads.setTargeting({js('section')},{js(_cut(section))});")
    words = list(dict.fromkeys(_cut(k) for k in keywords if _cut(k)))[:MAX_KEYWORDS]
    if words:
        lines.append(f"pubads.setTargeting({js('keywords')},{js(words)});")
    lazy = next((s.gpt.lazy_load for s in slots if s.gpt.lazy_load is not None), None)
    if lazy is not None:
        config = {
            key: value
            for key, value in (
                ("fetchMarginPercent", lazy.fetch_margin_percent),
                ("renderMarginPercent", lazy.render_margin_percent),
                ("mobileScaling", lazy.mobile_scaling),
            )
            if value is not None
        }
        lines.append(f"pubads.enableLazyLoad({js(config)});")
    lines += ["googletag.enableServices();", "});"]
    bidding = [slot for slot in slots if slot.gpt.prebid]
    if bidding:
        lines += _prebid_lines(bidding, prebid_timeout_ms)
    out = ""
    if library_url is not None:
        out += (
            f'<script async src="{html.escape(library_url, quote=True)}" crossorigin="anonymous" '
            f"data-adinject{_nonce(nonce)}></script>"
        )
    return out + _script("\n".join(lines), nonce)


def _prebid_lines(slots: Sequence[WiredSlot], timeout_ms: int) -> list[str]:
    codes = [slot.slot_id for slot in slots]
    units = [
        {
            "code": slot.slot_id,
            "mediaTypes": {"banner": {"sizes": [list(s) for s in slot.gpt.sizes if not isinstance(s, str)]}},
            "bids": [{"bidder": bid.bidder, "params": bid.params} for bid in slot.gpt.prebid],
        }
        for slot in slots
    ]
    return [
        "window.pbjs=window.pbjs||{};pbjs.que=pbjs.que||[];",
        "window.adinjectPrebid=new Promise(function(done){",
        f"var codes={js(codes)};",
        "var finished=false;",
        "function finish(){",
        "if(finished){return;}",
        "finished=true;",
        "googletag.cmd.push(function(){",
        'if(typeof pbjs.setTargetingForGPTAsync==="function"){pbjs.setTargetingForGPTAsync(codes);}',
        "done();",
        "});",
        "}",
        "pbjs.que.push(function(){",
        f"pbjs.addAdUnits({js(units)});",
        f"pbjs.requestBids({{adUnitCodes:codes,timeout:{int(timeout_ms)},bidsBackHandler:finish}});",
        "});",
        f"setTimeout(finish,{int(timeout_ms) * FAILSAFE_FACTOR});",
        "});",
    ]
