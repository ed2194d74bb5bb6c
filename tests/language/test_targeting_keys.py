"""The new keys' mistakes, each at its line and column.

Problems point at the key of the value that is wrong (or at a list item); expected columns are found in the
test's own text with `at`, not copied from the loader's output.
"""

from __future__ import annotations

from pathlib import Path

from adinject.language.loader import load_rule_set
from tests._support.language import problems_of, where, write

BASE_UNIT = "units:\n  ad:\n    html: '<div class=\"ad\"></div>'\n"


def at(text: str, line: int, needle: str) -> tuple[int, int]:
    """(line, column), 1-based, of the first `needle` on `line` of `text`."""
    return line, text.splitlines()[line - 1].index(needle) + 1


def rule_with(when: str) -> str:
    # Lines 4-6 are "rules:", "- name: r", "when:"; the conditions start on line 7.
    return (
        BASE_UNIT
        + "rules:\n  - name: r\n    when:\n"
        + when
        + "    place: [{unit: ad, after_paragraph: 1}]\n"
    )


def test_when_keys_are_checked(tmp_path: Path) -> None:
    text = rule_with("      devices: [mobile]\n      device: [phone]\n      percent: 101\n      words: {}\n")
    found = problems_of(write(tmp_path, "r.yaml", text))
    assert where(found) == [
        (*at(text, 7, "devices"), "rules[0].when.devices"),
        (*at(text, 8, "phone"), "rules[0].when.device[0]"),
        (*at(text, 9, "percent"), "rules[0].when.percent"),
        (*at(text, 10, "words"), "rules[0].when.words"),
    ]
    assert [p.message for p in found] == [
        "unknown key 'devices' in when; did you mean 'device'?",
        "should be 'mobile', 'tablet' or 'desktop' (got 'phone')",
        "should be less than or equal to 100 (got 101)",
        "give min, max or both",
    ]


def test_a_when_key_at_the_rule_level_is_pointed_to_when(tmp_path: Path) -> None:
    text = BASE_UNIT + "rules:\n  - name: r\n    percent: 50\n    place: [{unit: ad, after_paragraph: 1}]\n"
    (problem,) = problems_of(write(tmp_path, "r.yaml", text))
    assert (problem.line, problem.col) == at(text, 6, "percent")
    assert problem.message == "unknown key 'percent' in a rule; 'percent' belongs in when"


def test_schedules_need_offsets_zones_and_order(tmp_path: Path) -> None:
    text = rule_with(
        "      schedule:\n        start: '2026-12-01T00:00:00'\n        timezone: Mars/Olympus\n"
    )
    found = problems_of(write(tmp_path, "r.yaml", text))
    assert where(found) == [
        (*at(text, 8, "start"), "rules[0].when.schedule.start"),
        (*at(text, 9, "timezone"), "rules[0].when.schedule.timezone"),
    ]
    assert found[0].message.startswith(
        "should be a date and time with its UTC offset, e.g. 2026-12-01T00:00:00+01:00"
    )
    assert "unknown time zone 'Mars/Olympus'" in found[1].message
    backwards = rule_with("      schedule: {start: 2026-12-02T00:00:00Z, end: 2026-12-01T00:00:00Z}\n")
    (problem,) = problems_of(write(tmp_path, "r.yaml", backwards))
    assert (problem.line, problem.col, problem.message) == (
        *at(backwards, 7, "schedule"),
        "start must be before end",
    )


def test_experiment_needs_percent_and_class_names_have_no_dot(tmp_path: Path) -> None:
    text = rule_with("      experiment: x\n      exclude_classes: [.no-ads, 'two words']\n")
    found = problems_of(write(tmp_path, "r.yaml", text))
    assert [(p.line, p.col, p.message) for p in found] == [
        # A check across keys of `when` is reported at `when`.
        (*at(text, 6, "when"), "experiment only applies together with percent"),
        (*at(text, 8, ".no-ads"), "write the class name without the dot: 'no-ads'"),
        (*at(text, 8, "'two words'"), "'two words' is not a class name (one name, no spaces)"),
    ]


VARIANTS = """\
units:
  box:
    variants:
      a:
        weight: 1
        html: '<div>{{ slot.id }</div>'
      b:
        weight: -1
        html: '<div></div>'
  both:
    html: '<div></div>'
    variants: {a: {weight: 1, html: '<p></p>'}}
  none:
    description: nothing
rules: []
"""


def test_variant_problems(tmp_path: Path) -> None:
    found = problems_of(write(tmp_path, "r.yaml", VARIANTS))
    assert where(found) == [
        (*at(VARIANTS, 6, "'<div>"), "units.box.variants.a.html"),  # a template error: where its text starts
        (*at(VARIANTS, 8, "weight"), "units.box.variants.b.weight"),
        (*at(VARIANTS, 10, "both"), "units.both"),
        (*at(VARIANTS, 13, "none"), "units.none.html"),  # a missing key: at the mapping that lacks it
    ]
    assert found[0].message.startswith("template error:")
    assert found[2].message == "give html or variants, not both"
    assert found[3].message == "required key 'html' is missing"


def test_all_variants_paused(tmp_path: Path) -> None:
    text = "units:\n  box:\n    variants:\n      a: {weight: 0, html: '<p></p>'}\nrules: []\n"
    (problem,) = problems_of(write(tmp_path, "r.yaml", text))
    assert (problem.line, problem.col, problem.message) == (
        *at(text, 2, "box"),
        "at least one variant needs a weight above 0",
    )


GPT = """\
units:
  ad:
    html: '<div class="ad"></div>'
    gpt:
      ad_unit: 1234/news
      sizes: [[300], fluid, [0, 250]]
      targeting: {position_of_the_slot_in_page: x, pos: '01234567890123456789012345678901234567890'}
      prebid:
        - bidder: app nexus
          params: {floor: .nan}
  fluid:
    html: '<div id="{{ slot.id }}"></div>'
    gpt:
      ad_unit: /1234/news
      sizes: [fluid]
      prebid: [{bidder: appnexus}]
rules: []
"""


def test_gpt_problems(tmp_path: Path) -> None:
    found = problems_of(write(tmp_path, "r.yaml", GPT))
    assert where(found) == [
        (*at(GPT, 3, "html"), "units.ad.html"),
        (*at(GPT, 5, "ad_unit"), "units.ad.gpt.ad_unit"),
        (*at(GPT, 6, "[300]"), "units.ad.gpt.sizes[0]"),
        (*at(GPT, 6, "0, 250"), "units.ad.gpt.sizes[2][0]"),
        (*at(GPT, 7, "position_of"), "units.ad.gpt.targeting.position_of_the_slot_in_page"),
        (*at(GPT, 7, "pos:"), "units.ad.gpt.targeting.pos"),
        (*at(GPT, 9, "bidder"), "units.ad.gpt.prebid[0].bidder"),
        (*at(GPT, 10, "params"), "units.ad.gpt.prebid[0].params"),
        (*at(GPT, 16, "prebid"), "units.fluid.gpt.prebid"),
    ]
    messages = [p.message for p in found]
    assert messages[0].startswith('a unit with gpt needs an element with id="{{ slot.id }}"')
    assert messages[1].startswith("should be an ad unit path: a slash, the network code, then the ad unit")
    assert messages[2] == "a size is [width, height] in pixels, or fluid"
    assert messages[3] == "should be greater than or equal to 1 (got 0)"
    assert messages[4].startswith("should be a key of at most 20 letters, digits, _ or -")
    assert messages[5].startswith("should have at most 40 characters")
    assert messages[6] == "should be a Prebid bidder code: letters, digits, _ or - (got 'app nexus')"
    assert messages[7] == "params must be plain values (text, numbers, true/false, lists, mappings)"
    assert messages[8] == "Prebid needs at least one [width, height] size"


def test_settings_keys(tmp_path: Path) -> None:
    text = BASE_UNIT + (
        "settings:\n"
        "  bucket_header: x user id\n"
        "  gpt_library_url: 'javascript:alert(1)'\n"
        "  prebid_timeout_ms: 0\n"
        "  opt_out: {classes: [.paywalled]}\n"
    )
    found = problems_of(write(tmp_path, "r.yaml", text))
    assert where(found) == [
        (*at(text, 5, "bucket_header"), "settings.bucket_header"),
        (*at(text, 6, "gpt_library_url"), "settings.gpt_library_url"),
        (*at(text, 7, "prebid_timeout_ms"), "settings.prebid_timeout_ms"),
        (*at(text, 8, ".paywalled"), "settings.opt_out.classes[0]"),
    ]


def test_good_settings_load(tmp_path: Path) -> None:
    text = BASE_UNIT + "settings:\n  bucket_header: X-User-Id\n  gpt_library_url: /stub/gpt.js\n"
    settings = load_rule_set(write(tmp_path, "r.yaml", text)).settings
    assert (settings.bucket_header, settings.gpt_library_url) == ("x-user-id", "/stub/gpt.js")
