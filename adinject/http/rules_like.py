"""The rules as the HTTP layer sees them: `adinject.engine.Rules`, `reload.Inactive`, or a wrapper of them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from adinject.engine import RenderCache, RequestOutcome
from adinject.result import ApplyResult


class RulesLike(Protocol):
    """What the middleware needs of `adinject.engine.Rules` (any object with these members will do).

    `bucket_header` is the request header that names a visitor for `percent` and A/B variants (the rules'
    `settings.bucket_header`), or None. `inactive_code` is None for rules that are live, and a short code
    when they place nothing on purpose (`reload.Inactive`: "off" for the kill switch): it is the reason the
    metrics give for every page left alone. `version` and `loaded_at` go into a modified page's validators.
    """

    @property
    def version(self) -> str: ...

    @property
    def bucket_header(self) -> str | None: ...

    @property
    def loaded_at(self) -> float:
        """When these rules were built (seconds since the epoch): a page they shaped is no older."""
        ...

    @property
    def inactive_code(self) -> str | None: ...

    def matches_url(self, path: str) -> bool: ...

    def request_headers(self, path: str | None = None) -> frozenset[str]:
        """The request headers the output for URL path `path` reads (for `Vary`); any page's without one."""
        ...

    def decide(self, url: str, headers: Mapping[str, str], now: datetime | None = None) -> RequestOutcome:
        """What the request decides for the rules of its URL; its `key` goes in the plan cache key, and the
        outcome itself to `plan`, so a request is decided once."""
        ...

    def depends_on_time(self, path: str | None = None) -> bool:
        """Whether the output for URL path `path` (any page's, without one) depends on the time."""
        ...

    def plan(
        self,
        body: bytes,
        *,
        url: str,
        headers: Mapping[str, str],
        now: datetime | None = None,
        outcome: RequestOutcome | None = None,
    ) -> Any: ...

    def realize(
        self,
        plan: Any,
        body: bytes,
        *,
        context: Mapping[str, Any] | None = None,
        csp: str | Sequence[str] | None = None,
        render_cache: RenderCache | None = None,
    ) -> ApplyResult: ...
