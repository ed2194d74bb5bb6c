"""A small, strict WSGI server in a function, for the WSGI middleware's tests.

`run_wsgi(app, environ)` does what gunicorn's sync worker does (and checks what PEP 3333 asks of the app
side): call the app, insist that start_response came before the first item (even an empty one: gunicorn
and wsgiref send the headers then), take write() bytes and items in order, and call close() once, also when
iteration raised or was stopped early (`stop_after`, a client gone). Apps that count their close() calls
come from `Body` and `chunked_app`.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

Headers = list[tuple[str, str]]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None] | None

HTML = ("Content-Type", "text/html; charset=utf-8")


def environ(
    path: str = "/news/story",
    *,
    method: str = "GET",
    query: str = "",
    headers: dict[str, str] | None = None,
    scheme: str = "http",
) -> dict[str, Any]:
    """A WSGI environ for a request (header names as HTTP sends them)."""
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        env[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    return env


@dataclass
class Result:
    status: str = ""
    headers: Headers = field(default_factory=list)
    items: list[bytes] = field(default_factory=list)  # what went out, write() bytes and items, in order
    starts: int = 0  # start_response calls that set the status

    @property
    def body(self) -> bytes:
        return b"".join(self.items)

    @property
    def code(self) -> int:
        return int(self.status[:3])

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


def run_wsgi(
    app: Callable[..., Iterable[bytes]], env: dict[str, Any], *, stop_after: int | None = None
) -> Result:
    result = Result()
    sent = [False]

    def write(data: bytes) -> None:
        assert result.status, "write() before start_response"
        assert isinstance(data, bytes)
        sent[0] = sent[0] or bool(data)
        result.items.append(data)

    def start_response(status: str, headers: Headers, exc_info: ExcInfo = None) -> Callable[[bytes], None]:
        if exc_info is not None and exc_info[0] is not None:
            if sent[0]:
                raise exc_info[1].with_traceback(exc_info[2])
        elif result.status:
            raise AssertionError("start_response called twice without exc_info")
        assert isinstance(status, str) and all(isinstance(k, str) and isinstance(v, str) for k, v in headers)
        result.status, result.headers = status, list(headers)
        result.starts += 1
        return write

    iterable = app(env, start_response)
    try:
        for n, item in enumerate(iterable):
            assert result.status, "an item before start_response"
            assert isinstance(item, bytes)
            sent[0] = sent[0] or bool(item)
            result.items.append(item)
            if stop_after is not None and n + 1 >= stop_after:
                break
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    assert result.status, "no start_response at all"
    return result


class Body:
    """An app's body iterable that counts close() calls, and can raise after some chunks."""

    def __init__(self, chunks: Sequence[bytes], *, raise_after: int | None = None) -> None:
        self.chunks = list(chunks)
        self.raise_after = raise_after
        self.closed = 0
        self.taken = 0

    def __iter__(self) -> Iterator[bytes]:
        for n, chunk in enumerate(self.chunks):
            if self.raise_after is not None and n >= self.raise_after:
                raise RuntimeError("the app broke mid-body")
            self.taken += 1
            yield chunk
        if self.raise_after is not None and self.raise_after >= len(self.chunks):
            raise RuntimeError("the app broke at the end")

    def close(self) -> None:
        self.closed += 1


def chunked_app(
    chunks: Sequence[bytes],
    headers: Headers | None = None,
    *,
    status: str = "200 OK",
    raise_after: int | None = None,
    seen: list[dict[str, Any]] | None = None,
) -> tuple[Callable[..., Iterable[bytes]], list[Body]]:
    """An app answering every request with `chunks`; the Body of each call goes into the list returned."""
    bodies: list[Body] = []

    def app(env: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if seen is not None:
            seen.append(env)
        start_response(status, list(headers if headers is not None else [HTML]))
        body = Body(chunks, raise_after=raise_after)
        bodies.append(body)
        return body

    return app, bodies
