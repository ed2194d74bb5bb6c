"""The debug view: the annotated page (adinject/preview.py) for a request that carries the debug token.

`?adinject=debug` gets the annotated page and `?adinject=original` the app's page untouched (what
`adinject preview --from` needs, since the page a live site sends already has its units). Both only with the
token, in the `X-AdInject-Debug` header or the `adinject_debug` cookie; without it the parameter does
nothing at all, so it cannot be used to switch ads off or to read the rules. Both answers are
`Cache-Control: no-store`: a shared cache must never hand them to readers.
"""

from __future__ import annotations

import hmac
from typing import Literal
from urllib.parse import parse_qsl

from starlette.datastructures import MutableHeaders
from starlette.requests import cookie_parser
from starlette.types import Scope

from adinject.engine import Rules
from adinject.http.headers import request_headers
from adinject.http.rules_like import RulesLike
from adinject.reload import Inactive, LiveRules

DebugMode = Literal["debug", "original"]

PARAM = "adinject"
HEADER = "x-adinject-debug"
COOKIE = "adinject_debug"
_NEEDLE = PARAM.encode() + b"="


def debug_mode(token: str | None, scope: Scope) -> DebugMode | None:
    """The mode the request asks for, if it carries `token`; None otherwise (and always without a token).

    Cheap for ordinary requests: one substring test on the query string.
    """
    query_string: bytes = scope.get("query_string", b"")
    if not token or _NEEDLE not in query_string:
        return None
    wanted = None
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key == PARAM:
            wanted = value
    if wanted not in ("debug", "original"):
        return None
    headers = request_headers(scope)
    given = headers.get(HEADER)
    if given is None and "cookie" in headers:
        given = cookie_parser(headers["cookie"]).get(COOKIE)
    # Constant-time comparison: the token must not leak one character at a time through response timing.
    if given is None or not hmac.compare_digest(given.strip().encode(), token.encode()):
        return None
    return "debug" if wanted == "debug" else "original"


def no_store(headers: MutableHeaders) -> None:
    """Headers for a debug answer: never stored, never validated against the app's page."""
    headers["cache-control"] = "no-store"
    del headers["etag"]
    del headers["last-modified"]
    del headers["expires"]


def explainable(rules: RulesLike, live: LiveRules | None) -> tuple[Rules | None, list[str]]:
    """The rules to draw the page with, and notes on why readers get something else.

    Drawing needs the engine's own `Rules` (`preview.annotate` plans with `explain=True`); inactive rules
    (`inactive_code` set) draw with the rules they stand in for, when they are adinject's `Inactive`.
    """
    notes: list[str] = []
    code = rules.inactive_code
    drawn = rules.inner if isinstance(rules, Inactive) else rules
    engine = drawn if isinstance(drawn, Rules) else None
    if code == "off":
        reason = rules.reason if isinstance(rules, Inactive) else "the kill switch is on"
        notes.append(f"Readers get this page without units: {reason}. Shown is what the rules would do.")
    elif code is not None:
        notes.append("No valid rules are loaded: readers get this page without units.")
    elif engine is None:
        notes.append(f"The debug view needs adinject's own rules, not a {type(rules).__name__}.")
    if live is not None and live.last_error is not None:
        problems = live.last_error.problems
        notes.append(
            f"The latest change to the rules was refused ({len(problems)} problem"
            f"{'' if len(problems) == 1 else 's'}); the rules shown are the last good ones:"
        )
        notes.extend(str(p) for p in problems[:20])
    return engine, notes
