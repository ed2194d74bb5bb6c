"""Parsers for HTTP field values, shared by the HTTP layer and the page's encoding sniffing (no imports).

Each field is parsed by one function here, so that the question "is this `text/html`?" (the middleware) and
"which charset does the header name?" (page/encoding.py) read the same Content-Type the same way, and every
use of Cache-Control splits it alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

__all__ = ["cache_control", "collect_quoted_string", "media_type_of", "parse_content_type"]

_HTTP_WS: Final = "\t\n\r "
_TOKEN_RE: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_QUOTED_STRING_TOKEN_RE: Final = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


def collect_quoted_string(value: str, position: int, *, extract: bool) -> tuple[str, int]:
    """Fetch "collect an HTTP quoted string" from the opening quote at `position`: (string, position after).

    With `extract` the quoted-pairs are unescaped and the quotes dropped (RFC 9110 §5.6.4); without it the
    text is returned as written, quotes included. An unterminated string ends at the end of `value`.
    """
    start = position
    out: list[str] = []
    position += 1
    while True:
        end = position
        while end < len(value) and value[end] not in '"\\':
            end += 1
        out.append(value[position:end])
        position = end
        if position >= len(value):
            break
        quote_or_backslash = value[position]
        position += 1
        if quote_or_backslash == "\\":
            if position >= len(value):
                out.append("\\")
                break
            out.append(value[position])
            position += 1
        else:
            break
    if extract:
        return "".join(out), position
    return value[start:position], position


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """One Content-Type value as (media type, parameters); ("", {}) when it is not a media type at all.

    RFC 9110 §8.3.1: `type "/" subtype *( OWS ";" OWS parameter )`, each parameter `name=value` with a
    token or quoted-string value. The media type and the parameter names come back lower-case, values as
    written (a quoted string unescaped). Where a value strays from that grammar it is read as browsers read
    it (WHATWG MIME Sniffing "parse a MIME type": the first of a repeated parameter wins, a malformed
    parameter is dropped, an unterminated quoted string ends at the end), because the browser's reading is
    what decides how a page is decoded. A comma-combined header is split first (see page/encoding.py).
    """
    value = value.strip(_HTTP_WS)
    essence, semicolon = _essence(value)
    if not essence:
        return "", {}
    return essence, _parameters(value, semicolon)


def media_type_of(value: str) -> str:
    """`parse_content_type(value)[0]` without reading the parameters (every response asks this)."""
    return _essence(value.strip(_HTTP_WS))[0]


def _essence(value: str) -> tuple[str, int]:
    """The lower-case `type/subtype` of a stripped value ("" when it is none) and where its `;` is."""
    slash = value.find("/")
    if slash < 0:
        return "", 0
    type_ = value[:slash]
    semicolon = value.find(";", slash + 1)
    if semicolon < 0:
        semicolon = len(value)
    subtype = value[slash + 1 : semicolon].rstrip(_HTTP_WS)
    if not _TOKEN_RE.fullmatch(type_) or not _TOKEN_RE.fullmatch(subtype):
        return "", 0
    return f"{type_.lower()}/{subtype.lower()}", semicolon


def _parameters(value: str, position: int) -> dict[str, str]:
    """The `;`-separated parameters of a media type, from the first `;` at `position`."""
    params: dict[str, str] = {}
    while position < len(value):
        position += 1  # the ';'
        while position < len(value) and value[position] in _HTTP_WS:
            position += 1
        end = position
        while end < len(value) and value[end] not in ";=":
            end += 1
        name = value[position:end].lower()
        position = end
        if position < len(value):
            if value[position] == ";":
                continue
            position += 1  # the '='
        if position >= len(value):
            break
        if value[position] == '"':
            param_value, position = collect_quoted_string(value, position, extract=True)
            while position < len(value) and value[position] != ";":
                position += 1
        else:
            end = value.find(";", position)
            if end < 0:
                end = len(value)
            param_value = value[position:end].rstrip(_HTTP_WS)
            position = end
            if not param_value:
                continue
        # The first occurrence of a parameter wins; invalid names or values are dropped silently.
        if (
            name
            and _TOKEN_RE.fullmatch(name)
            and _QUOTED_STRING_TOKEN_RE.fullmatch(param_value)
            and name not in params
        ):
            params[name] = param_value
    return params


def cache_control(values: Iterable[str]) -> list[tuple[str, str]]:
    """The directives of Cache-Control field lines as (lower-case name, the directive as written, stripped).

    Several lines are one comma-separated list (RFC 9110 §5.3); names are compared whole, never by substring
    (`no-transform-ish` is not `no-transform`).
    """
    return [
        (token.partition("=")[0].strip().lower(), token.strip())
        for value in values
        for token in value.split(",")
        if token.strip()
    ]
