"""Is an app clearly WSGI, or clearly ASGI? So each middleware can refuse the other kind when it is built.

Passed the wrong kind, a middleware would fail only at the first request (`__call__() missing 1 required
positional argument: 'send'`). Only the clear cases are refused; anything unsure is accepted:

* ASGI: an `async def` callable (a function, or an object whose `__call__` is one: Starlette, FastAPI,
  Django's ASGIHandler), or one that takes exactly three positional arguments (scope, receive, send).
* WSGI: a plain (not async) callable that takes exactly two positional arguments (environ, start_response):
  Flask, Django's WSGIHandler, a WSGI function.
"""

from __future__ import annotations

import inspect
from typing import Literal

Protocol = Literal["ASGI", "WSGI"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _is_async(app: object) -> bool:
    call = getattr(app, "__call__", None)  # noqa: B004 - the bound __call__ of an object, not callable()
    return inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(call)


def _positional_count(app: object) -> int | None:
    """How many positional arguments `app` takes, all of them required; None when that is not a clear
    number (a *args, defaults, no signature)."""
    try:
        parameters = inspect.signature(app).parameters.values()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    count = 0
    for parameter in parameters:
        if parameter.kind == inspect.Parameter.VAR_POSITIONAL:
            return None
        if parameter.kind in _POSITIONAL:
            if parameter.default is not inspect.Parameter.empty:
                return None
            count += 1
    return count


def looks_asgi(app: object) -> bool:
    """True when `app` is clearly an ASGI app (see the module docstring)."""
    if not callable(app):
        return False
    return _is_async(app) or _positional_count(app) == 3


def looks_wsgi(app: object) -> bool:
    """True when `app` is clearly a WSGI app (see the module docstring)."""
    if not callable(app) or _is_async(app):
        return False
    return _positional_count(app) == 2


_OTHER = {
    "ASGI": ("WSGI", looks_wsgi, "it takes environ and start_response", "adinject.AdInjectWSGIMiddleware"),
    "WSGI": ("ASGI", looks_asgi, "async, or it takes scope, receive and send", "adinject.AdInjectMiddleware"),
}


def refuse_other_kind(app: object, protocol: Protocol) -> None:
    """Raise TypeError, naming the middleware to use, when `app` is clearly not a `protocol` app."""
    other, looks, why, middleware = _OTHER[protocol]
    if looks(app):
        raise TypeError(
            f"{type(app).__name__} looks like an {other} app ({why}): wrap it in {middleware}, "
            f"not the {protocol} middleware"
        )
