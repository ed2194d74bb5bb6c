"""`Rules`: the engine's public face, a thin facade over the rule index, the request decision, planning
and rendering. `load_rules(path).apply(body, url=..., headers=...)`: bytes in, bytes out.

Two steps so that a caller (the middleware's plan cache) can reuse the expensive one: `plan` decodes,
parses and decides where units go; `realize` renders the unit templates for this response and splices their
bytes in. Neither raises: whatever goes wrong, the body comes back unchanged with the reason in `skipped`.

A plan depends on the request only through the request's outcome (`decide`): which targeted rules hold
for this visitor and which variant of each A/B unit they see; its `key` is `request_key`. Everything per
response that may not be cached (the app's context, the response's Content-Security-Policy and its nonce)
goes to `realize`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from adinject.edits import apply_edits
from adinject.engine.index import RuleIndex
from adinject.engine.planning import Plan, plan_bytes
from adinject.engine.rendering import RenderCache, render
from adinject.engine.request import RequestOutcome, decide
from adinject.language.loader import CompiledRules, load_rule_set
from adinject.language.schema import GPT_LIBRARY_HOSTS, Rule, Settings
from adinject.result import ApplyResult, Skip
from adinject.targeting.facts import header

log = logging.getLogger("adinject")


class Rules:
    """Loaded, validated rules, ready to apply to pages. Immutable: a reload builds a new one.

    Thread-safe: nothing is written after `__init__` but `render_cache`, which is thread-safe.
    """

    inactive_code: str | None = None  # live rules place units (see reload's `Inactive`)

    def __init__(self, compiled: CompiledRules, *, render_cache: RenderCache | None = None) -> None:
        self.compiled = compiled
        self.version: str = compiled.version
        self.settings: Settings = compiled.settings
        self.index = RuleIndex(compiled)
        # When these rules were built: a page they shaped is no older (its Last-Modified says so).
        self.loaded_at: float = time.time()
        # `apply` and a `realize` without a cache of the caller's use this one.
        self.render_cache = render_cache if render_cache is not None else RenderCache()

    def __repr__(self) -> str:
        return (
            f"<Rules version={self.version} rules={self.index.rule_count} files={len(self.compiled.files)}>"
        )

    @property
    def bucket_header(self) -> str | None:
        return self.settings.bucket_header

    def matches_url(self, path: str) -> bool:
        return self.index.matches_url(path)

    def rules_for(self, path: str) -> list[Rule]:
        return self.index.rules_for(path)

    def request_headers(self, path: str | None = None) -> frozenset[str]:
        """Request headers (lower-case names) the output for the URL path `path` may depend on: for `Vary`.
        Without a path, those of any page (the union over every rule).

        User-Agent and Sec-CH-UA-Mobile when a rule of the path reads the device, Cookie (and `bucket_header`)
        when one has `percent` or places a unit with variants, Referer when one reads the referrer. A page no
        such rule applies to depends on none of them, and must not say it does (a needless `Vary: cookie`
        makes shared caches keep a copy per visitor).
        """
        if path is None:
            return self.index.reads
        return self.index.reads_of(self.rules_for(path))

    def depends_on_time(self, path: str | None = None) -> bool:
        """Whether a rule of the URL path `path` (any rule, without a path) has a `schedule`: then the same
        request gets other units at another time, and no validator (ETag, Last-Modified) of the app's
        describes the output."""
        if path is None:
            return self.index.timed
        return self.index.timed_of(self.rules_for(path))

    def decide(self, url: str, headers: Mapping[str, str], now: datetime | None = None) -> RequestOutcome:
        """What the request decides for the rules of the URL's path (pass it to `plan` to decide once)."""
        return decide(self.index, self.rules_for(urlsplit(url).path or "/"), url, headers, now)

    def request_key(
        self, url: str, headers: Mapping[str, str], now: datetime | None = None
    ) -> tuple[str, ...]:
        """The request-dependent inputs of the plan for `url`, derived: equal keys give equal plans.

        Not the raw headers: which targeted rules hold (or the reason they do not) and which variant of each
        A/B unit is shown. Two iPhones, or two visitors in the same half of a test, share a key. Use it in a
        plan cache key with the page, the rules version and the path, and pass the same `now` to `plan`.
        """
        return self.decide(url, headers, now).key

    def plan(
        self,
        body: bytes,
        *,
        url: str,
        headers: Mapping[str, str] | None = None,
        explain: bool = False,
        now: datetime | None = None,
        outcome: RequestOutcome | None = None,
    ) -> Plan:
        """Decide where units go. `headers`: the request's, plus the response's Content-Type. `now`: the
        time schedules are read at (default: the current time), the same as given to `request_key`.
        `outcome`: what `decide` gave for this request, when the caller has it already."""
        started = time.perf_counter()
        try:
            plan = self._plan(body, url, headers or {}, explain, now, outcome)
        except Exception as exc:  # the first law: whatever happens, the page goes out unchanged
            log.exception("adinject: planning failed for %s", url)
            plan = Plan(
                skipped=(Skip("error", f"internal error while planning: {exc!r}"),),
                rules_version=self.version,
            )
        # The plan was made by this call and nobody holds it yet: its one measured field is set in place,
        # where `dataclasses.replace` would copy every field (a few microseconds a page).
        object.__setattr__(plan, "duration_ms", (time.perf_counter() - started) * 1000.0)
        return plan

    def _plan(
        self,
        body: bytes,
        url: str,
        headers: Mapping[str, str],
        explain: bool,
        now: datetime | None,
        outcome: RequestOutcome | None,
    ) -> Plan:
        limit = self.settings.max_page_bytes
        if len(body) > limit:
            reason = f"the page is {len(body)} bytes, over max_page_bytes ({limit})"
            return Plan(skipped=(Skip("too_large", reason),), rules_version=self.version)
        path = urlsplit(url).path or "/"
        if outcome is None:
            outcome = decide(self.index, self.rules_for(path), url, headers, now, explain=explain)
        if not outcome.path_rules:
            reason = f"no enabled rule matches the path {path}"
            return Plan(skipped=(Skip("no_rule", reason),), rules_version=self.version)
        content_type = header(headers, "content-type")
        return plan_bytes(body, path, content_type, self.index, outcome, explain=explain)

    def realize(
        self,
        plan: Plan,
        body: bytes,
        *,
        context: Mapping[str, Any] | None = None,
        csp: str | Sequence[str] | None = None,
        render_cache: RenderCache | None = None,
        plan_reused: bool = True,
    ) -> ApplyResult:
        """Render and splice in the planned units. `context`: the app's values for templates. `csp`: the
        response's Content-Security-Policy header value(s), read for the nonce of the GPT scripts.
        `render_cache`: where reusable markup is kept (default: this rules object's own). A page carrying
        its own context (`<script type="application/json" id="adinject-context">`) adds it under `context`.
        `plan_reused=False`: the plan serves this response only (not from a plan cache), so its rendering
        is not kept for a next one."""
        started = time.perf_counter()
        policies = [csp] if isinstance(csp, str) else list(csp or ())
        cache = render_cache if render_cache is not None else self.render_cache
        if plan.context:
            # The page's own context (its #adinject-context element) under the app's: the app's keys win.
            context = {**plan.context, **(context or {})}
        try:
            rendered = render(plan, self.index, context or {}, policies, cache, plan_reused=plan_reused)
            result = ApplyResult(
                apply_edits(body, rendered.edits),
                list(rendered.insertions),
                list(rendered.skipped),
                plan.sniffed.name if plan.sniffed else None,
                list(plan.traces),
            )
        except Exception as exc:
            log.exception("adinject: rendering units failed")
            result = ApplyResult(body, skipped=[*plan.skipped, Skip("error", f"internal error: {exc!r}")])
        result.duration_ms = plan.duration_ms + (time.perf_counter() - started) * 1000.0
        result.reads = plan.reads
        return result

    def apply(
        self,
        body: bytes,
        *,
        url: str = "/",
        headers: Mapping[str, str] | None = None,
        context: Mapping[str, Any] | None = None,
        explain: bool = False,
        now: datetime | None = None,
        csp: str | Sequence[str] | None = None,
    ) -> ApplyResult:
        plan = self.plan(body, url=url, headers=headers, explain=explain, now=now)
        return self.realize(plan, body, context=context, csp=csp, plan_reused=False)


def load_rules(path: str | os.PathLike[str], *, gpt_hosts: Collection[str] = GPT_LIBRARY_HOSTS) -> Rules:
    """Load and validate a rules folder (or one file). Raises RulesError listing every problem.

    `gpt_hosts`: the hosts `settings.gpt_library_url` may name (Google's by default; a path on the site is
    always allowed). The developers' choice, never the rule files'."""
    return Rules(load_rule_set(path, gpt_hosts=gpt_hosts))
