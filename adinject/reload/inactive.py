"""Rules that place nothing, for the times there must be no units: the kill switch, or no valid rules yet."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from adinject.engine import Plan, RenderCache, RequestOutcome, Rules
from adinject.result import ApplyResult, Skip

__all__ = ["Inactive"]


class Inactive:
    """Rules that place nothing: the kill switch is on, or no valid rules have been loaded yet.

    `inner` is the rules that would apply (for the debug view: "this is what readers would get"), or None.
    It matches no URL, so the middleware forwards every response at once, unbuffered.
    """

    __slots__ = ("code", "inner", "loaded_at", "reason", "version")

    # The HTTP layer reads these two of whatever rules are current, with no isinstance or getattr: rules
    # that place nothing name no header that identifies a reader, and say why they place nothing.
    bucket_header: str | None = None

    def __init__(self, inner: Rules | None, code: str, reason: str) -> None:
        self.inner = inner
        self.code = code
        self.reason = reason
        self.version = f"{code}:{inner.version if inner is not None else 'none'}"
        self.loaded_at = time.time()

    def __repr__(self) -> str:
        return f"<Inactive {self.version}: {self.reason}>"

    @property
    def inactive_code(self) -> str | None:
        """Why nothing is placed (`off`, `no_rules`); None on rules that place units."""
        return self.code

    def matches_url(self, path: str) -> bool:
        return False

    def request_headers(self, path: str | None = None) -> frozenset[str]:
        return frozenset()

    def request_key(
        self, url: str, headers: Mapping[str, str], now: datetime | None = None
    ) -> tuple[str, ...]:
        return ()

    def decide(self, url: str, headers: Mapping[str, str], now: datetime | None = None) -> RequestOutcome:
        return RequestOutcome((), (), (), {}, (), frozenset())

    def depends_on_time(self, path: str | None = None) -> bool:
        return False

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
        return Plan(skipped=(Skip(self.code, self.reason),), rules_version=self.version)

    def realize(
        self,
        plan: Plan,
        body: bytes,
        *,
        context: Mapping[str, Any] | None = None,
        csp: str | Sequence[str] | None = None,
        render_cache: RenderCache | None = None,
    ) -> ApplyResult:
        return ApplyResult(body, skipped=list(plan.skipped))

    def apply(self, body: bytes, **_: Any) -> ApplyResult:
        return ApplyResult(body, skipped=[Skip(self.code, self.reason)])
