"""The rule file's schema, as pydantic models.

These models are the single source of truth for the rule language: the loader validates YAML against them,
the placement layer reads them, and `rules/schema.json` is generated from them
(`python -m adinject.language.schema`).
Every model forbids unknown keys, so a typo is an error rather than a rule that silently does nothing.
"""

from __future__ import annotations

import json
import zoneinfo
from collections.abc import Collection
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

AUTO = "auto"
DEVICES = ("mobile", "tablet", "desktop")
Device = Literal["mobile", "tablet", "desktop"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
GPT_LIBRARY_URL = "https://securepagead2.googlesyndication.com/tag/js/gpt.js"
GPT_LIBRARY_URL_PATTERN = r"^(https?://|/)[^\s\"'<>\\]*$"
# Where Google serves gpt.js from: the hosts `settings.gpt_library_url` may name by default. The library runs
# with the page's CSP nonce, so a rule file must not be able to point it at any other host.
GPT_LIBRARY_HOSTS = frozenset(
    {
        "securepagead2.googlesyndication.com",
        "pagead2.googlesyndication.com",
        "securepubads.g.doubleclick.net",
        "www.googletagservices.com",
    }
)


def gpt_library_url_problem(url: str, hosts: Collection[str] = GPT_LIBRARY_HOSTS) -> str | None:
    """Why `url` may not be `settings.gpt_library_url`, or None: an https:// address on one of `hosts`, or a
    path on the site itself (one leading `/`). The one place this is decided, so that the developers who mount
    the middleware can pass more hosts."""
    if url.startswith("/"):
        if url.startswith(("//", "/\\")):
            return "a path on the site starts with a single / (//host is another site)"
        return None
    parts = urlsplit(url)
    allowed = ", ".join(sorted(hosts))
    if parts.scheme != "https":
        return f"should be an https:// address on one of Google's GPT hosts ({allowed}) or a path on the site"
    if parts.username is not None or parts.password is not None or parts.port not in (None, 443):
        return "should be a plain https:// address, without a user, password or port"
    if (parts.hostname or "") not in hosts:
        return (
            f"{parts.hostname!r} is not a GPT host: GPT runs with the page's rights, so it may only come "
            f"from {allowed}, or from a path on the site (starting with /); ask the site's developers to "
            "allow another host (the middleware's gpt_library_hosts)"
        )
    return None


# A Google Ad Manager ad unit path: /network code (or "parent,child" for Multiple Customer Management), then
# ad unit codes. Quotes, angle brackets, backslashes and whitespace never belong in one.
_AD_UNIT_PATH = r"^/[0-9]+(,[0-9]+)?(/[^/\s\"'<>\\]+)+$"
_HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
_DOMAIN = r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$"
_NAME = r"^[A-Za-z0-9_-]+$"
# Google Ad Manager's limits on key-values: key names of at most 20 characters, values of at most 40.
_TARGETING_KEY = r"^[A-Za-z0-9_-]{1,20}$"
_TARGETING_VALUE_MAX = 40


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_text(value: Any) -> Any:
    """YAML reads `true`, `2026` and `1.5` as a boolean and numbers; in a list of values they are text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _values(value: Any) -> Any:
    # `true`/`false` alone keep their meaning (present / absent); a single value is a list of one.
    if isinstance(value, bool):
        return value
    if isinstance(value, list):
        return [_as_text(item) for item in value]
    return [_as_text(value)]


Values = Annotated[
    bool | list[str],
    BeforeValidator(_values),
    Field(
        description=(
            "The values that match (any one of them; case and surrounding spaces ignored), or true "
            "(present, any value) or false (absent)."
        )
    ),
]


class Pages(_Strict):
    """Which URLs a rule applies to."""

    paths: list[str] = Field(
        default_factory=lambda: ["/**"],
        description="Globs on the URL path: * is one path segment, ** any number of segments.",
    )
    exclude_paths: list[str] = Field(
        default_factory=list, description="Globs of paths the rule never applies to."
    )


class ParagraphText(_Strict):
    """Filters on a paragraph's text (case-insensitive substrings)."""

    contains: list[str] = Field(
        default_factory=list, description="Count a paragraph only if it contains one of these."
    )
    not_contains: list[str] = Field(
        default_factory=list, description="Never count a paragraph containing one of these."
    )


class Anchor(_Strict):
    """Place after the Nth element matching a selector, instead of after the Nth paragraph."""

    selector: str = Field(description="CSS selector of the anchor elements, matched inside the container.")
    nth: int | list[int] = Field(
        default=1, description="Which match (1-based; negative counts from the end)."
    )


def _anchor_shorthand(value: Any) -> Any:
    # `before_anchor: h2` is `before_anchor: {selector: h2}`: the first match is the usual wish.
    return {"selector": value} if isinstance(value, str) else value


AnchorOrSelector = Annotated[Anchor, BeforeValidator(_anchor_shorthand)]


Position = Annotated[
    int | float, Field(description="A paragraph number, negative from the end, or a fraction.")
]


class Placement(_Strict):
    """Where one unit goes, relative to the rule's counted paragraphs."""

    unit: str = Field(description="Name of a unit defined under `units`.")
    after_paragraph: int | float | list[int | float] | None = Field(
        default=None,
        description=(
            "Counted paragraph(s) to place after: 3 is after the third, -1 after the last, 0.5 in the middle "
            "(a fraction of the counted paragraphs), or a list of these."
        ),
    )
    after_anchor: AnchorOrSelector | None = Field(
        default=None, description="Place after the Nth element matching a selector (a heading, an image)."
    )
    before_paragraph: int | float | list[int | float] | None = Field(
        default=None,
        description=(
            "Counted paragraph(s) to place right before: 1 is before the first, -1 before the last, 0.5 in "
            "the middle, or a list of these."
        ),
    )
    before_anchor: AnchorOrSelector | None = Field(
        default=None,
        description="Place right before the Nth element matching a selector (a selector alone: the first).",
    )
    repeat_every: int | None = Field(
        default=None, ge=1, description="After the first position, again every N counted paragraphs."
    )
    max: int | None = Field(default=None, ge=0, description="At most this many of this placement per page.")
    keep_away_from: list[str] = Field(
        default_factory=list,
        description="Selectors the unit must not sit directly before or after (what a reader sees right "
        "above and below it, however deeply nested); the unit shifts instead.",
    )
    shift: Literal["down", "up", "skip"] = Field(
        default="down",
        description="When keep_away_from is hit: look further down, further up, or skip this position.",
    )
    min_words_between: int = Field(
        default=0, ge=0, description="Counted words required between two units of this rule."
    )
    min_paragraphs_between: int = Field(
        default=0, ge=0, description="Counted paragraphs required between two units of this rule."
    )
    min_words_after: int = Field(
        default=0, ge=0, description="Counted words that must follow the unit before the article ends."
    )
    not_after_last: bool = Field(default=False, description="Never place after the final counted paragraph.")

    @property
    def paragraphs(self) -> int | float | list[int | float] | None:
        """The counted-paragraph positions asked for, after or before (whichever is given)."""
        return self.after_paragraph if self.after_paragraph is not None else self.before_paragraph

    @property
    def anchor(self) -> Anchor | None:
        """The anchor asked for, after or before (whichever is given)."""
        return self.after_anchor if self.after_anchor is not None else self.before_anchor

    @property
    def before(self) -> bool:
        """The unit goes right before its paragraph or anchor, not after."""
        return self.before_paragraph is not None or self.before_anchor is not None

    @model_validator(mode="after")
    def _one_position(self) -> Placement:
        given = [
            key
            for key in ("after_paragraph", "after_anchor", "before_paragraph", "before_anchor")
            if getattr(self, key) is not None
        ]
        if not given:
            raise ValueError("give after_paragraph or after_anchor (or before_paragraph or before_anchor)")
        if len(given) > 1:
            raise ValueError(f"give one position, not {' and '.join(given)}")
        key = given[0]
        for pos in _positions(self.paragraphs):
            if isinstance(pos, float) and not 0.0 < pos < 1.0:
                raise ValueError(f"a fractional {key} must be between 0 and 1 (0.5 is the middle)")
            if pos == 0:
                last = "after the last" if key == "after_paragraph" else "before the last"
                raise ValueError(f"paragraphs are numbered from 1 (use -1 for {last})")
        return self


def _positions(value: int | float | list[int | float] | None) -> list[int | float]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


class Range(_Strict):
    """A lower and/or upper bound, both included."""

    min: int | None = Field(default=None, ge=0, description="At least this many.")
    max: int | None = Field(default=None, ge=0, description="At most this many.")

    @model_validator(mode="after")
    def _bounds(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is more than max ({self.max})")
        return self


class Schedule(_Strict):
    """When a rule runs: between two moments, and/or on some days of the week."""

    start: AwareDatetime | None = Field(
        default=None,
        description="From this moment on, with its UTC offset: 2026-12-01T00:00:00+01:00 (included).",
    )
    end: AwareDatetime | None = Field(
        default=None, description="Until this moment, with its UTC offset (excluded)."
    )
    weekdays: list[Weekday] | None = Field(
        default=None, min_length=1, description="Only on these days (mon ... sun), in `timezone`."
    )
    timezone: str = Field(
        default="UTC", description="IANA time zone the weekdays are counted in, e.g. Europe/Berlin."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)"
            ) from None
        return value

    @model_validator(mode="after")
    def _window(self) -> Schedule:
        if self.start is None and self.end is None and self.weekdays is None:
            raise ValueError("give start, end, weekdays or a combination")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class Referrer(_Strict):
    """Where the visitor came from: the host of the Referer header."""

    domains: list[Annotated[str, Field(pattern=_DOMAIN)]] = Field(
        default_factory=list,
        description="Holds when the referrer's host is one of these domains or a subdomain of one.",
    )
    exclude_domains: list[Annotated[str, Field(pattern=_DOMAIN)]] = Field(
        default_factory=list, description="Never when the referrer's host is one of these or a subdomain."
    )

    @model_validator(mode="after")
    def _something(self) -> Referrer:
        if not self.domains and not self.exclude_domains:
            raise ValueError("give domains, exclude_domains or both")
        return self


def _one_or_more(value: Any) -> Any:
    # `device: mobile` reads as ad ops mean it: a list of one.
    return [value] if isinstance(value, str) else value


class When(_Strict):
    """Targeting: every condition given must hold for the rule to apply (see rules/TARGETING.md)."""

    device: (
        Annotated[list[Device], BeforeValidator(_one_or_more, json_schema_input_type=Device | list[Device])]
        | None
    ) = Field(
        default=None,
        min_length=1,
        description="The visitor's device: mobile, tablet, desktop (Sec-CH-UA-Mobile, else the User-Agent).",
    )
    meta: dict[str, Values] | None = Field(
        default=None,
        description=(
            'The page\'s <meta name|property> values, e.g. {"article:section": [World]}; every name '
            "given must match."
        ),
    )
    exclude_meta: dict[str, Values] | None = Field(
        default=None, description="The rule does not apply when any of these <meta> names matches."
    )
    exclude_classes: list[str] = Field(
        default_factory=list,
        description="The rule does not apply when its container, or an element around it, has one of these "
        "classes.",
    )
    words: Range | None = Field(default=None, description="Counted words of the article: {min, max}.")
    schedule: Schedule | None = Field(
        default=None, description="Between two moments and/or on some weekdays."
    )
    percent: int | None = Field(
        default=None, ge=0, le=100, description="A sticky share of visitors (0-100), by the visitor's bucket."
    )
    experiment: str | None = Field(
        default=None,
        pattern=_NAME,
        description="Rules naming the same experiment pick the same visitors for the same percent; default: "
        "the rule's name.",
    )
    referrer: Referrer | None = Field(default=None, description="The domain the visitor came from.")
    query: dict[str, Values] | None = Field(
        default=None,
        description="URL query parameters, e.g. {utm_source: [newsletter]}; every parameter given matches.",
    )

    @model_validator(mode="after")
    def _experiment_needs_percent(self) -> When:
        if self.experiment is not None and self.percent is None:
            raise ValueError("experiment only applies together with percent")
        return self


class Variant(_Strict):
    """One version of a unit in an A/B test."""

    weight: int = Field(ge=0, description="Share of visitors, relative to the other variants' weights.")
    html: str = Field(description="Jinja2 template of this variant's markup (the same variables as `html`).")
    description: str | None = Field(default=None, description="A note for people; not used by the engine.")


class LazyLoad(_Strict):
    """GPT lazy loading (googletag.pubads().enableLazyLoad); a key left out keeps GPT's default."""

    fetch_margin_percent: int | None = Field(
        default=None, ge=0, description="Fetch the ad when the slot is this % of a viewport away."
    )
    render_margin_percent: int | None = Field(
        default=None, ge=0, description="Render the ad when the slot is this % of a viewport away."
    )
    mobile_scaling: float | None = Field(
        default=None, gt=0, description="Multiply both margins by this on mobile devices."
    )


class Bid(_Strict):
    """One Prebid.js bidder for a slot, as in a Prebid ad unit's `bids`."""

    bidder: str = Field(pattern=_NAME, description="The Prebid bidder code, e.g. appnexus.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="The bidder's parameters, passed to Prebid as they are."
    )


def _size(value: Any) -> Any:
    if value == "fluid":
        return value
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return value
    raise ValueError("a size is [width, height] in pixels, or fluid")


def _as_list(value: Any) -> Any:
    return [_as_text(item) for item in value] if isinstance(value, list) else [_as_text(value)]


Size = Annotated[
    tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] | Literal["fluid"],
    BeforeValidator(_size),
    Field(description="[width, height] in pixels, or fluid."),
]
# One value or a list of them; always a list once read.
TargetingValue = Annotated[
    list[Annotated[str, Field(max_length=_TARGETING_VALUE_MAX)]],
    BeforeValidator(_as_list, json_schema_input_type=str | list[str]),
]


class Gpt(_Strict):
    """Wire the unit's slot for Google Publisher Tag (and optionally Prebid.js)."""

    ad_unit: str = Field(
        pattern=_AD_UNIT_PATH, description="The Ad Manager ad unit path, e.g. /1234/news/in-article."
    )
    sizes: list[Size] = Field(min_length=1, description="Creative sizes: [[300, 250], [336, 280]].")
    lazy_load: LazyLoad | None = Field(
        default=None, description="Ask GPT to load ads only as they near the viewport (page-wide)."
    )
    targeting: dict[Annotated[str, Field(pattern=_TARGETING_KEY)], TargetingValue] = Field(
        default_factory=dict, description="Slot-level key-values, e.g. {pos: in-article}."
    )
    prebid: list[Bid] = Field(
        default_factory=list, description="Prebid.js bidders for this slot (pbjs.addAdUnits)."
    )

    @property
    def min_height(self) -> int | None:
        """The smallest creative height: the height to reserve against layout shift."""
        heights = [size[1] for size in self.sizes if not isinstance(size, str)]
        return min(heights) if heights else None


class Promotions(_Strict):
    """Fill the unit from a data file of house promotions, chosen by the page's section and tags."""

    file: str = Field(description="A YAML or JSON file in the rules folder, e.g. promotions.yaml.")
    count: int = Field(default=1, ge=1, le=20, description="How many promotions the template gets.")


MISSING_MARKUP = "required key 'html' is missing"


class Unit(_Strict):
    """A piece of markup the engine inserts: an ad slot, a recirculation box, a newsletter sign-up."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["html"]}, {"required": ["variants"]}]}
    )

    html: str | None = Field(
        default=None,
        description=(
            "Jinja2 template of the unit's markup (sandboxed, autoescaped). Variables: slot.id, slot.number, "
            "slot.paragraph, slot.rule, slot.unit, slot.variant, page.path, page.title, page.meta, context, "
            "promotions. Give html or variants."
        ),
    )
    variants: dict[Annotated[str, Field(pattern=_NAME)], Variant] | None = Field(
        default=None,
        min_length=1,
        description="Weighted versions of the unit for A/B tests, by name; each visitor sticks to one.",
    )
    experiment: str | None = Field(
        default=None,
        pattern=_NAME,
        description="Units naming the same experiment split visitors the same way; default: the unit's name.",
    )
    gpt: Gpt | None = Field(default=None, description="Wire the slot for Google Publisher Tag.")
    promotions: Promotions | None = Field(
        default=None, description="House promotions from a data file, as the template variable `promotions`."
    )
    description: str | None = Field(default=None, description="A note for people; not used by the engine.")

    @model_validator(mode="after")
    def _markup(self) -> Unit:
        if self.html is None and self.variants is None:
            raise ValueError(MISSING_MARKUP)
        if self.html is not None and self.variants is not None:
            raise ValueError("give html or variants, not both")
        if self.variants is not None and sum(v.weight for v in self.variants.values()) == 0:
            raise ValueError("at least one variant needs a weight above 0")
        if self.experiment is not None and self.variants is None:
            raise ValueError("experiment only applies to a unit with variants")
        return self


class Rule(_Strict):
    """One placement rule: which pages, which paragraphs count, and where units go."""

    name: str = Field(description="Shown in reports, metrics and slot ids; unique across the rules folder.")
    enabled: bool = Field(default=True, description="false turns the rule off without deleting it.")
    pages: Pages = Field(default_factory=Pages, description="Which URL paths the rule applies to.")
    container: str | list[str] = Field(
        default=AUTO,
        description=(
            "CSS selector of the article body, or a list tried in order (the first that matches wins); "
            "`auto` finds the article body by content density."
        ),
    )
    paragraphs: str = Field(default="p", description="CSS selector of what counts as a paragraph.")
    br_paragraphs: bool = Field(
        default=True,
        description=(
            "Also count text separated by a blank line (<br><br>) as paragraphs, as readers see it; the unit "
            "then goes after the blank line (after the block, for its last run). Applies only when "
            "`paragraphs` is p."
        ),
    )
    ignore_inside: list[str] = Field(
        default_factory=lambda: ["figure", "table", "aside", "li"],
        description="Paragraphs inside an element matching one of these selectors are not counted.",
    )
    min_paragraph_words: int = Field(default=5, ge=0, description="Shorter paragraphs are not counted.")
    max_paragraph_words: int | None = Field(
        default=None, ge=1, description="Longer paragraphs are not counted."
    )
    paragraph_text: ParagraphText | None = Field(default=None, description="Filters on a paragraph's text.")
    boilerplate_filter: bool = Field(
        default=True,
        description=(
            "Count only paragraphs that read as the article's prose: leave out datelines, bylines and "
            "credits, tag and related-link lines, calls to action, disclosures, captions and short "
            "subheadings. false counts them as paragraphs."
        ),
    )
    max_link_density: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description=(
            "A paragraph whose text is more than this share link text is a related-link line and is not "
            "counted; 1 turns this off. Part of boilerplate_filter."
        ),
    )
    min_paragraphs: int = Field(
        default=1, ge=0, description="Fewer counted paragraphs: no units from this rule."
    )
    max_paragraphs: int | None = Field(default=None, ge=1, description="More counted paragraphs: no units.")
    min_words: int = Field(default=0, ge=0, description="Fewer counted words in the article: no units.")
    max_words: int | None = Field(
        default=None, ge=1, description="More counted words in the article: no units."
    )
    skip_first: int = Field(
        default=0, ge=0, description="No unit after any of the first N counted paragraphs."
    )
    skip_last: int = Field(default=0, ge=0, description="No unit after any of the last N counted paragraphs.")
    max_units: int | None = Field(
        default=None, ge=0, description="At most this many units from this rule per page."
    )
    when: When | None = Field(
        default=None, description="Targeting: devices, pages, dates, visitors; all conditions must hold."
    )
    place: list[Placement] = Field(min_length=1, description="The units this rule places, in order.")

    @property
    def containers(self) -> list[str]:
        return [self.container] if isinstance(self.container, str) else list(self.container)


class OptOut(_Strict):
    """Page-wide opt-outs every rule honours, on top of <meta name="adinject" content="off">."""

    meta: dict[str, Values] = Field(
        default_factory=dict, description="No units on a page where one of these <meta> names matches."
    )
    classes: list[str] = Field(
        default_factory=list,
        description="No units from a rule whose container, or an element around it, has one of these.",
    )


class Settings(_Strict):
    """Page-wide limits and settings that hold across every rule."""

    max_units_per_page: int | None = Field(
        default=None, ge=0, description="At most this many units per page."
    )
    max_page_bytes: int = Field(default=5_000_000, ge=1, description="Larger pages pass through unchanged.")
    bucket_header: str | None = Field(
        default=None,
        pattern=_HEADER_NAME,
        description="A request header (e.g. x-user-id) whose value's hash is the visitor's bucket; without "
        "it, or when a request lacks it, the adinject_bucket cookie.",
    )
    gpt_library_url: str = Field(
        default=GPT_LIBRARY_URL,
        pattern=GPT_LIBRARY_URL_PATTERN,
        description="Where the GPT library is loaded from.",
    )
    prebid_timeout_ms: int = Field(
        default=1000, ge=1, le=10_000, description="How long the Prebid auction may take before ads load."
    )
    opt_out: OptOut = Field(default_factory=OptOut, description="Page-wide opt-outs for every rule.")
    exclude_paths: list[str] = Field(
        default_factory=list,
        description="Globs of paths no rule applies to (added to every rule's pages.exclude_paths); "
        "/**/opinion/** is a section anywhere in a path.",
    )
    page_ad_slots: str | None = Field(
        default=None,
        min_length=1,
        description='A CSS selector for the page\'s own ad slots (e.g. ".ad, [id^=div-gpt-ad]"): no unit of '
        "any rule goes right above or below one, as if every place entry's keep_away_from named it.",
    )

    @field_validator("bucket_header")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None


class RuleFile(_Strict):
    """One YAML file in the rules folder."""

    units: dict[str, Unit] = Field(default_factory=dict, description="Named units, referred to by `place`.")
    rules: list[Rule] = Field(default_factory=list, description="Placement rules, applied in file order.")
    settings: Settings | None = Field(
        default=None, description="Page-wide limits (at most one file sets them)."
    )


class Promotion(_Strict):
    """One house promotion in a promotions data file."""

    title: str = Field(min_length=1, description="The headline.")
    url: str = Field(min_length=1, description="Where it links to.")
    text: str | None = Field(default=None, description="A line of copy under the title.")
    image: str | None = Field(default=None, description="An image URL.")
    image_alt: str = Field(default="", description="The image's alternative text.")
    label: str | None = Field(default=None, description="A kicker such as 'From our newsletters'.")
    sections: list[str] = Field(
        default_factory=list, description="Shown on pages whose article:section is one of these."
    )
    tags: list[str] = Field(
        default_factory=list, description="Shown on pages sharing a tag (article:tag, keywords) with these."
    )


class PromotionFile(_Strict):
    """A data file of house promotions, referred to by a unit's `promotions.file`."""

    promotions: list[Promotion] = Field(min_length=1, description="The promotions, best first.")


def json_schema() -> dict[str, object]:
    schema = RuleFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "adinject rule file"
    return schema


if __name__ == "__main__":
    print(json.dumps(json_schema(), indent=2))
