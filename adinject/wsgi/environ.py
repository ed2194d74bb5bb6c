"""Between WSGI and the exchanges' ASGI-shaped data: a request scope from the environ, starts both ways.

The exchanges (adinject/http/exchange.py) read a request as an ASGI scope and a response start as an ASGI
message: an int status and a list of (name, value) byte pairs. WSGI has the environ, a status line
("200 OK") and (name, value) string pairs, latin-1 by PEP 3333; these functions convert, and nothing more.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from starlette.types import Message, Scope

from adinject.http.steps import STATE_KEY

# Where a WSGI app leaves unit-template context for this request (Flask: request.environ, Django:
# request.META, which are the environ).
CONTEXT_KEY = "adinject.context"

# The environ keys of the conditional and range headers an exchange may take off the request.
CONDITIONAL_KEYS = {
    b"if-none-match": "HTTP_IF_NONE_MATCH",
    b"if-modified-since": "HTTP_IF_MODIFIED_SINCE",
    b"range": "HTTP_RANGE",
    b"if-range": "HTTP_IF_RANGE",
}

_UNPREFIXED = {"CONTENT_TYPE": b"content-type", "CONTENT_LENGTH": b"content-length"}


class ContextView(Mapping[str, Any]):
    """The exchange's `state`: `{"adinject": environ["adinject.context"]}`, read when it is asked for (the
    app sets it while it responds, after the exchange was made)."""

    __slots__ = ("_environ",)

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self._environ = environ

    def __getitem__(self, key: str) -> Any:
        if key != STATE_KEY or CONTEXT_KEY not in self._environ:
            raise KeyError(key)
        return self._environ[CONTEXT_KEY]

    def __iter__(self) -> Iterator[str]:
        return iter((STATE_KEY,) if CONTEXT_KEY in self._environ else ())

    def __len__(self) -> int:
        return 1 if CONTEXT_KEY in self._environ else 0


def request_scope(environ: Mapping[str, Any]) -> Scope:
    """The request as an ASGI http scope: method, path (SCRIPT_NAME + PATH_INFO, UTF-8 as ASGI decodes it),
    query string, headers and scheme. Every request pays for this: it is kept to one pass over the
    environ."""
    names = _NAMES
    headers = [
        (name, value.encode("latin-1"))
        for key, value in environ.items()
        if (name := names[key] if key in names else _name(key))
    ]
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return {
        "type": "http",
        "method": environ.get("REQUEST_METHOD", "GET").upper(),
        "path": path.encode("latin-1").decode("utf-8", "replace"),
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1"),
        "headers": headers,
        "scheme": environ.get("wsgi.url_scheme", "http"),
    }


# The header name of each environ key, b"" for keys that are not headers: a process sees a few dozen distinct
# keys, so each is worked out once (and the table is bounded, so a client inventing names cannot grow it).
_NAMES: dict[str, bytes] = dict(_UNPREFIXED)
_MAX_NAMES = 1024


def _name(key: str) -> bytes:
    name = key[5:].replace("_", "-").lower().encode("latin-1") if key.startswith("HTTP_") else b""
    if len(_NAMES) < _MAX_NAMES:
        _NAMES[key] = name
    return name


def without_conditionals(environ: dict[str, Any], taken: Mapping[bytes, str]) -> dict[str, Any]:
    """A copy of the environ without the headers the exchange took (`taken`); the environ when none."""
    if not taken:
        return environ
    drop = {CONDITIONAL_KEYS[name] for name in taken if name in CONDITIONAL_KEYS}
    return {key: value for key, value in environ.items() if key not in drop}


def start_message(status: str, headers: Sequence[tuple[str, str]]) -> Message:
    """A WSGI status line and headers as an ASGI start message, names lower-case as ASGI servers send them
    (WSGI apps write `Content-Length`; the exchanges' header helpers match names as ASGI has them)."""
    return {
        "type": "http.response.start",
        "status": int(status[:3]),
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
    }


def without_opt_out(headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The app's headers as it wrote them, less any X-AdInject line (for a response passed through)."""
    return [(name, value) for name, value in headers if name.lower() != "x-adinject"]


def status_line(message: Message, app_status: str) -> str:
    """The WSGI status line for a start: the app's own when the code is the app's (its reason phrase kept)."""
    code: int = message["status"]
    if app_status[:3] == str(code):
        return app_status
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Unknown"


def wsgi_headers(message: Message) -> list[tuple[str, str]]:
    """An ASGI start's headers as WSGI (name, value) strings."""
    return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in message["headers"]]
