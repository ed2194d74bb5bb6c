"""What one request decides for the rules of one path: the request's whole influence on a plan.

`decide` is pure given the request facts: which rules the request lets through (device, schedule, percent,
referrer, query), and which variant of each A/B unit this visitor sees. Its `key` is what a plan cache keys
on instead of the raw headers: two iPhones, or two visitors in the same half of a test, share a key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from adinject.engine.index import RuleIndex
from adinject.language.schema import Rule
from adinject.result import Skip
from adinject.targeting.buckets import choose_variant
from adinject.targeting.conditions import request_failure, request_seen, uses_request
from adinject.targeting.facts import RequestFacts, request_facts


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    """The rules of one path this request lets through, and what it sees of them."""

    path_rules: tuple[Rule, ...]  # the enabled rules whose `pages` match the path
    rules: tuple[Rule, ...]  # those whose request conditions hold
    skipped: tuple[Skip, ...]  # those whose request conditions fail, and why
    variants: Mapping[str, str]  # unit name -> the variant this visitor sees
    key: tuple[str, ...]  # equal keys give equal plans (for the same page, path and rules)
    reads: frozenset[str]  # request headers the outcome depends on (for Vary)


def decide(
    index: RuleIndex,
    rules: Sequence[Rule],
    url: str,
    headers: Mapping[str, str],
    now: datetime | None,
    *,
    explain: bool = False,
) -> RequestOutcome:
    """The outcome for `rules` (those of the URL's path). Reads the request only when a rule can differ
    between requests. `explain`: the skips also say what the request showed (the time, the bucket)."""
    if not index.targeted:
        if now is not None and now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return RequestOutcome(tuple(rules), tuple(rules), (), {}, (), frozenset())
    facts = request_facts(url, headers, now=now, bucket_header=index.settings.bucket_header)
    return outcome_for(index, rules, facts, explain=explain)


def outcome_for(
    index: RuleIndex, rules: Sequence[Rule], facts: RequestFacts, *, explain: bool = False
) -> RequestOutcome:
    """Which of `rules` the request lets through, and the variants it sees (pure, given the facts)."""
    passing: list[Rule] = []
    skipped: list[Skip] = []
    key: list[str] = []
    for rule in rules:
        if not uses_request(rule.when):
            passing.append(rule)
            continue
        failure = request_failure(rule, facts)
        code, reason = failure if failure is not None else ("ok", "")
        # The reason too: a cached plan carries its skips' sentences, so they must match the key.
        key.append(f"rule\x1f{rule.name}\x1f{code}\x1f{reason}")
        if failure is None:
            passing.append(rule)
        else:
            # What the request showed goes into the sentence only: the key must not split on the time.
            seen = request_seen(rule, facts, code) if explain else None
            skipped.append(Skip(code, f"{reason} ({seen})" if seen else reason, rule.name))
    variants: dict[str, str] = {}
    for rule in passing:
        for placement in rule.place:
            unit = index.unit(placement.unit)
            if unit is None or not unit.variants or unit.name in variants:
                continue
            weights = [(v.name, v.weight) for v in unit.variants]
            chosen = choose_variant(weights, facts.bucket, unit.spec.experiment or unit.name)
            variants[unit.name] = chosen
            key.append(f"unit\x1f{unit.name}\x1f{chosen}")
    return RequestOutcome(
        tuple(rules), tuple(passing), tuple(skipped), variants, tuple(key), index.reads_of(list(rules))
    )
