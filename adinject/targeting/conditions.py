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

import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from adinject.language.schema import OptOut, Referrer, Rule, Schedule, When
from adinject.targeting.buckets import in_percent
from adinject.targeting.facts import DEVICE_HEADERS, REFERRER_HEADER, RequestFacts

Failure = tuple[str, str]
Stage = Literal["request", "page", "article"]
RequestCheck = Callable[[Rule, When, RequestFacts], "Failure | None"]
Seen = Callable[[When, RequestFacts], str]

# <meta> names whose content is a list: each item is a value of its own. CMSs separate keywords with commas
# or semicolons (both are common in the wild), so both split.
LIST_VALUED = frozenset({"keywords", "news_keywords", "article:tag"})
_LIST_SEPARATORS = re.compile(r"[,;]")
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
        return [item.strip() for value in raw for item in _LIST_SEPARATORS.split(value) if item.strip()]
    return [value.strip() for value in raw if value.strip()]


def values_match(wanted: bool | Sequence[str], present: Sequence[str]) -> bool:
    if wanted is True:
        return bool(present)
    if wanted is False:
        return not present
    have = {normalize(value) for value in present}
    return any(normalize(value) in have for value in wanted)


# --- the condition table


@dataclass(frozen=True, slots=True)
class Condition:
    """One `when:` key: when it can be checked, what it reads, and (for request conditions) the check.

    Everything the rest of adinject needs to know about conditions is derived from this table: which rules
    depend on the request (the plan-cache key), which request headers a rule's output depends on (`Vary`),
    whether it needs the visitor's bucket (the bucket cookie), and whether it depends on the time.
    """

    key: str  # the `when:` key
    stage: Stage
    reads: tuple[str, ...] = ()  # request headers it is read from
    bucket: bool = False  # reads the visitor's bucket (the cookie, or `bucket_header`)
    timed: bool = False  # the same request can get another answer at another time
    check: RequestCheck | None = None  # request conditions only: why the request rules the rule out
    # Request conditions only: what the request showed, for `explain`. Kept out of the failure's reason,
    # which is part of the plan-cache key: the time or the visitor's bucket there would split the cache.
    seen: Seen | None = None

    def present(self, when: When) -> bool:
        # A request condition counts once given, even as `query: {}` (it was written, so it is checked);
        # `exclude_classes` defaults to an empty list, which sets nothing.
        value = getattr(when, self.key)
        return value is not None and (self.stage == "request" or value != [])


def _device(rule: Rule, when: When, facts: RequestFacts) -> Failure | None:
    if when.device is not None and facts.device not in when.device:
        return (
            "when_device",
            f"the visitor's device is {facts.device}; the rule is for {', '.join(when.device)}",
        )
    return None


def _schedule(rule: Rule, when: When, facts: RequestFacts) -> Failure | None:
    if when.schedule is not None and not schedule_active(when.schedule, facts.now):
        return "when_schedule", "outside the rule's schedule"
    return None


def _percent(rule: Rule, when: When, facts: RequestFacts) -> Failure | None:
    if when.percent is not None and not in_percent(facts.bucket, when.percent, when.experiment or rule.name):
        return "when_percent", f"the visitor is not in the rule's {when.percent}%"
    return None


def _referrer(rule: Rule, when: When, facts: RequestFacts) -> Failure | None:
    return referrer_failure(when.referrer, facts.referrer_host) if when.referrer is not None else None


def _query(rule: Rule, when: When, facts: RequestFacts) -> Failure | None:
    for name, wanted in (when.query or {}).items():
        if not values_match(wanted, facts.query.get(name, ())):
            return "when_query", f"the URL's query parameter {name!r} does not match"
    return None


def _seen_schedule(when: When, facts: RequestFacts) -> str:
    schedule = when.schedule
    assert schedule is not None  # only asked about a schedule that failed
    now = facts.now
    said = f"now is {now.isoformat(timespec='seconds')}"
    if schedule.weekdays is not None:
        local = now.astimezone(zoneinfo.ZoneInfo(schedule.timezone))
        said += f", a {_WEEKDAYS[local.weekday()]} in {schedule.timezone}"
    window = [
        *([f"start {schedule.start.isoformat()}"] if schedule.start is not None else []),
        *([f"end {schedule.end.isoformat()}"] if schedule.end is not None else []),
        *([f"weekdays {', '.join(schedule.weekdays)}"] if schedule.weekdays is not None else []),
    ]
    return f"{said}; the schedule has {', '.join(window)}"


def _seen_percent(when: When, facts: RequestFacts) -> str:
    if facts.bucket is None:
        return "the visitor has no bucket (no adinject_bucket cookie or bucket header)"
    return f"the visitor's bucket is {facts.bucket}"


def _seen_referrer(when: When, facts: RequestFacts) -> str:
    host = facts.referrer_host
    return f"the referrer's host is {host}" if host else "the request has no referrer"


def _seen_query(when: When, facts: RequestFacts) -> str:
    said = []
    for name in when.query or {}:
        values = facts.query.get(name)
        said.append(f"{name}={', '.join(repr(v) for v in values)}" if values else f"{name} absent")
    return "the URL's query has " + "; ".join(said)


# In the order they are checked (the first failure is the reason given).
CONDITIONS: tuple[Condition, ...] = (
    Condition("device", "request", reads=DEVICE_HEADERS, check=_device),
    Condition("schedule", "request", timed=True, check=_schedule, seen=_seen_schedule),
    Condition("percent", "request", bucket=True, check=_percent, seen=_seen_percent),
    Condition("referrer", "request", reads=(REFERRER_HEADER,), check=_referrer, seen=_seen_referrer),
    # The query: read from the URL, which every cache keys on anyway.
    Condition("query", "request", check=_query, seen=_seen_query),
    Condition("meta", "page"),
    Condition("exclude_meta", "page"),
    Condition("exclude_classes", "article"),
    Condition("words", "article"),
)
_REQUEST = tuple(c for c in CONDITIONS if c.stage == "request")


def conditions_of(when: When | None, stage: Stage | None = None) -> tuple[Condition, ...]:
    """The conditions `when` sets (of one stage, or all)."""
    if when is None:
        return ()
    return tuple(c for c in CONDITIONS if (stage is None or c.stage == stage) and c.present(when))


def uses_request(when: When | None) -> bool:
    """Whether a rule's outcome can differ between two requests for the same page."""
    return bool(conditions_of(when, "request"))


def uses_bucket(when: When | None) -> bool:
    """Whether the rule reads the visitor's bucket."""
    return any(c.bucket for c in conditions_of(when))


def depends_on_time(when: When | None) -> bool:
    return any(c.timed for c in conditions_of(when))


def request_reads(when: When | None, bucket_reads: frozenset[str]) -> frozenset[str]:
    """The request headers the rule's conditions read: what its output depends on, for `Vary`.
    `bucket_reads`: the headers the bucket is read from (see `facts.bucket_headers`)."""
    reads: set[str] = set()
    for condition in conditions_of(when):
        reads.update(condition.reads)
        if condition.bucket:
            reads |= bucket_reads
    return frozenset(reads)


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
    for condition in _REQUEST:
        assert condition.check is not None  # every request condition has one
        failure = condition.check(rule, when, facts)
        if failure is not None:
            return failure
    return None


def request_seen(rule: Rule, facts: RequestFacts, code: str) -> str | None:
    """What the request showed of the condition that failed with `code`, for `explain` (None when the reason
    already says it: the device)."""
    when = rule.when
    for condition in _REQUEST:
        if when is not None and code == f"when_{condition.key}" and condition.seen is not None:
            return condition.seen(when, facts)
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
        present = meta_values(meta, name)
        if not values_match(wanted, present):
            return "when_meta", f"the page's <meta> {name!r} does not match: {_said(wanted, present)}"
    for name, wanted in (when.exclude_meta or {}).items():
        present = meta_values(meta, name)
        if values_match(wanted, present):
            said = _said(wanted, present)
            return "when_excluded", f"the page's <meta> {name!r} matches exclude_meta: {said}"
    return None


# A page's <meta> values quoted in a reason, each cut short: keywords lists run long.
_SAID_VALUES = 10
_SAID_CHARS = 60


def _said(wanted: bool | Sequence[str], present: Sequence[str]) -> str:
    """What the page has and what the condition wants, for a reason ad ops read."""
    if not present:
        has = "the page has none"
    else:
        shown = [repr(v if len(v) <= _SAID_CHARS else v[:_SAID_CHARS] + "…") for v in present[:_SAID_VALUES]]
        more = f" and {len(present) - _SAID_VALUES} more" if len(present) > _SAID_VALUES else ""
        has = f"the page has {', '.join(shown)}{more}"
    if wanted is True:
        return f"{has}; the condition wants it present"
    if wanted is False:
        return f"{has}; the condition wants it absent"
    return f"{has}; the condition lists {', '.join(repr(v) for v in wanted)}"


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
