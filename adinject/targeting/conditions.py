"""A rule's `when:` evaluated against facts: pure functions, no I/O, no clock.

Conditions fall in three groups by what they need, and the engine checks each group as soon as it has the
facts for it, so a rule that cannot apply costs as little as possible:

* request conditions (device, schedule, percent, referrer, query): before the page is parsed;
* page conditions (meta, exclude_meta, the page-wide opt-out meta): once the page's <meta> tags are known;
* article conditions (words, exclude_classes, the page-wide opt-out classes): once the rule's container is
  found and its paragraphs counted.

A failure is a (code, reason) pair. Request failures also go into the plan cache key (`Rules.request_key`),
so their reasons never carry high-cardinality values such as the visitor's bucket: equal keys must mean equal
plans, and a bucket in the reason would split the cache a hundredfold for nothing.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from adinject.language.schema import OptOut, Referrer, Rule, Schedule, When
from adinject.targeting.buckets import in_percent
from adinject.targeting.facts import RequestFacts

Failure = tuple[str, str]

# <meta> names whose content is a comma-separated list: each item is a value of its own.
LIST_VALUED = frozenset({"keywords", "news_keywords", "article:tag"})
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OFF_CLASS = "adinject-off"


def normalize(value: str) -> str:
    """How values are compared: case-insensitively, with runs of whitespace as one space."""
    return " ".join(value.split()).casefold()


def meta_values(meta: Mapping[str, Sequence[str]], name: str) -> list[str]:
    """Every value the page gives for a <meta name|property> (names compare case-insensitively)."""
    key = name.lower()
    raw = meta.get(key, ())
    if key in LIST_VALUED:
        return [item.strip() for value in raw for item in value.split(",") if item.strip()]
    return [value.strip() for value in raw if value.strip()]


def values_match(wanted: bool | Sequence[str], present: Sequence[str]) -> bool:
    if wanted is True:
        return bool(present)
    if wanted is False:
        return not present
    have = {normalize(value) for value in present}
    return any(normalize(value) in have for value in wanted)


# --- request conditions


def uses_request(when: When | None) -> bool:
    """Whether a rule's outcome can differ between two requests for the same page."""
    return when is not None and (
        when.device is not None
        or when.schedule is not None
        or when.percent is not None
        or when.referrer is not None
        or when.query is not None
    )


def schedule_active(schedule: Schedule, now: datetime) -> bool:
    if schedule.start is not None and now < schedule.start:
        return False
    if schedule.end is not None and now >= schedule.end:
        return False
    if schedule.weekdays is not None:
        local = now.astimezone(zoneinfo.ZoneInfo(schedule.timezone))
        return _WEEKDAYS[local.weekday()] in schedule.weekdays
    return True


def host_in(host: str, domains: Iterable[str]) -> bool:
    """`host` is one of `domains` or a subdomain of one (news.google.com is in google.com)."""
    return any(
        host == d or host.endswith("." + d) for d in (domain.lower().rstrip(".") for domain in domains)
    )


def referrer_failure(referrer: Referrer, host: str | None) -> Failure | None:
    if referrer.domains and (host is None or not host_in(host, referrer.domains)):
        return "when_referrer", f"the visitor did not come from {', '.join(referrer.domains)}"
    if referrer.exclude_domains and host is not None and host_in(host, referrer.exclude_domains):
        return "when_referrer", f"the visitor came from {', '.join(referrer.exclude_domains)} (excluded)"
    return None


def request_failure(rule: Rule, facts: RequestFacts) -> Failure | None:
    """Why the request rules `rule` out (device, schedule, percent, referrer, query), or None."""
    when = rule.when
    if when is None:
        return None
    if when.device is not None and facts.device not in when.device:
        return (
            "when_device",
            f"the visitor's device is {facts.device}; the rule is for {', '.join(when.device)}",
        )
    if when.schedule is not None and not schedule_active(when.schedule, facts.now):
        return "when_schedule", "outside the rule's schedule"
    if when.percent is not None and not in_percent(facts.bucket, when.percent, when.experiment or rule.name):
        return "when_percent", f"the visitor is not in the rule's {when.percent}%"
    if when.referrer is not None:
        failed = referrer_failure(when.referrer, facts.referrer_host)
        if failed is not None:
            return failed
    if when.query is not None:
        for name, wanted in when.query.items():
            if not values_match(wanted, facts.query.get(name, ())):
                return "when_query", f"the URL's query parameter {name!r} does not match"
    return None


# --- page conditions


def page_opt_out(opt_out: OptOut, meta: Mapping[str, Sequence[str]]) -> str | None:
    """Why the settings' opt-out keeps every unit off this page, or None."""
    for name, wanted in opt_out.meta.items():
        if values_match(wanted, meta_values(meta, name)):
            return f"the page's <meta> {name!r} matches settings.opt_out"
    return None


def page_failure(when: When | None, meta: Mapping[str, Sequence[str]]) -> Failure | None:
    """Why the page's <meta> tags rule the rule out (`meta`, `exclude_meta`), or None."""
    if when is None:
        return None
    for name, wanted in (when.meta or {}).items():
        if not values_match(wanted, meta_values(meta, name)):
            return "when_meta", f"the page's <meta> {name!r} does not match"
    for name, wanted in (when.exclude_meta or {}).items():
        if values_match(wanted, meta_values(meta, name)):
            return "when_excluded", f"the page's <meta> {name!r} matches exclude_meta"
    return None


# --- article conditions


def article_failure(
    when: When | None, words: int, classes: Iterable[str], opt_out_classes: Sequence[str] = ()
) -> Failure | None:
    """Why the rule's article rules it out: an opt-out class around the container, or its word count.

    `classes` are the classes of the container and every element around it.
    """
    have = set(classes)
    for cls in (OFF_CLASS, *opt_out_classes):
        if cls in have:
            return "opted_out", f"the article is marked with the class {cls!r}"
    if when is None:
        return None
    for cls in when.exclude_classes:
        if cls in have:
            return "when_excluded", f"the article is marked with the class {cls!r} (exclude_classes)"
    if when.words is not None:
        if when.words.min is not None and words < when.words.min:
            return "when_words", f"{words} counted words, fewer than when.words.min ({when.words.min})"
        if when.words.max is not None and words > when.words.max:
            return "when_words", f"{words} counted words, more than when.words.max ({when.words.max})"
    return None
