"""One WSGI response through adinject: PEP 3333's side of an exchange (adinject/http/exchange.py).

The middleware calls the app with this object's `start_response` and returns the object as the body
iterable, or the app's own iterable, untouched, when the response was passed through before the app
returned (its `wsgi.file_wrapper` and length then reach the server as they are).

* waiting: the app's start goes to the exchange. None passes the response through: the server's
  start_response is called at once (without the app's X-AdInject line) and the body follows as it comes;
  or the exchange set an answer (a 304 in the app's place, a 206/416 cut from the app's body). A start
  means hold.
* holding: the body, from the iterable and from `write()`, goes into one buffer, and the server's
  start_response is not called (the headers are not known yet). When the app's iterable ends, the exchange
  transforms the body and its start and body go out. Past `max_body_bytes` what is held goes out unchanged
  and the rest streams by (done).
* done: every chunk as it comes, one for each the app yields.
* answered / slicing: the app's body is dropped, or cut to the window; iteration stops once nothing more of
  it is needed.

PEP 3333: `close()` of the app's iterable is called exactly once, whenever the server closes this one (at
the end, after an error, on an early client disconnect). A start with `exc_info` replaces a held start (the
app's error page is passed through), or goes to the server, which raises if the headers are already out.
Fail open: an exception in the exchange sends the app's response as it came; exceptions from the app or
from the server are not caught.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from starlette.types import Message

from adinject.http import steps
from adinject.http.exchange import Exchange
from adinject.wsgi.environ import start_message, status_line, without_opt_out, wsgi_headers

if TYPE_CHECKING:
    from wsgiref.types import StartResponse

    from adinject.http.base import AdInjectBase

Phase = Literal["waiting", "holding", "done", "answered", "slicing"]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None] | None
Write = Callable[[bytes], object]


class WSGIResponse:
    """The protocol around one exchange (see the module docstring)."""

    __slots__ = (
        "_app_iter",
        "_chunks",
        "_closed",
        "_ended",
        "_position",
        "app_headers",
        "app_status",
        "buffer",
        "exchange",
        "first",
        "held",
        "owner",
        "phase",
        "server_start",
        "server_write",
        "size",
    )

    def __init__(self, owner: AdInjectBase[Any], exchange: Exchange, server_start: StartResponse) -> None:
        self.owner = owner
        self.exchange = exchange
        self.server_start = server_start
        # The server's write(), once its start_response has been called: from then on the headers are set.
        self.server_write: Write | None = None
        self.phase: Phase = "waiting"
        self.app_status = ""
        self.app_headers: list[tuple[str, str]] = []
        self.held: Message | None = None
        # The body held so far: the first chunk as the app gave it (Django and Flask send a page in one, which
        # is then never copied), and from the second on one buffer (memory about the body's bytes, however
        # small the chunks).
        self.first = b""
        self.buffer: bytearray | None = None
        self.size = 0
        self._position = 0
        self._app_iter: Iterable[bytes] = ()
        self._chunks: Iterator[bytes] | None = None
        self._ended = False
        self._closed = False

    # --- what the app calls

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo = None) -> Write:
        if exc_info is not None:
            try:
                if self.server_write is not None:
                    # A start went to the server: it takes this one, or re-raises if the headers are out.
                    self.phase = "done"
                    self.server_write = self.server_start(status, without_opt_out(headers), exc_info)
                    return self.write
            finally:
                exc_info = None  # no reference cycle through the traceback (PEP 3333)
            # Nothing went out: the app's error response replaces the one held.
            self.held, self.phase = None, "waiting"
            self._take_buffer()
            self.exchange.answer = self.exchange.window = None
        elif self.phase != "waiting":
            raise AssertionError("start_response called a second time without exc_info")
        self.app_status, self.app_headers = status, headers
        self._decide(start_message(status, headers))
        return self.write

    def write(self, data: bytes) -> None:
        """The app's write() callable: the bytes go where the phase says, the server's write if anywhere."""
        out = self._feed(data)
        if out and self.server_write is not None:
            self.server_write(out)

    # --- what the server calls

    def wrap(self, app_iter: Iterable[bytes]) -> Iterable[bytes]:
        """The iterable to give the server for the app's: the app's own when nothing is left to do."""
        if self.phase == "done":
            return app_iter
        self._app_iter = app_iter
        return self

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        while not self._ended and self.phase != "answered":
            if self._chunks is None:
                self._chunks = iter(self._app_iter)
            try:
                chunk = next(self._chunks)
            except StopIteration:
                break
            out = self._feed(chunk)
            if out or self.phase == "done":
                return out
        if self._ended:
            raise StopIteration
        self._ended = True
        if self.phase == "waiting":
            raise RuntimeError("the WSGI app returned its body without calling start_response")
        if self.phase == "holding":
            body = self._finish()
            if body:
                return body
        raise StopIteration

    def close(self) -> None:
        """Close the app's iterable, once, however often the server calls this."""
        if self._closed:
            return
        self._closed = True
        self._ended = True
        close = getattr(self._app_iter, "close", None)
        if close is not None:
            close()

    # --- the protocol

    def _decide(self, message: Message) -> None:
        exchange = self.exchange
        try:
            held = exchange.start(message)
            answer, window = exchange.answer, exchange.window
        except Exception as exc:
            exchange.failed(exc)
            held, answer, window = None, None, None
        if held is not None:
            self.held, self.phase = held, "holding"
        elif answer is not None:
            self.phase = "slicing" if window is not None and window.satisfiable else "answered"
            self._to_server(answer)
        else:
            # Passed through: the app's own header lines, name case and all, less X-AdInject.
            self.phase = "done"
            self.server_write = self.server_start(self.app_status, without_opt_out(self.app_headers))

    def _to_server(self, message: Message) -> None:
        self.server_write = self.server_start(status_line(message, self.app_status), wsgi_headers(message))

    def _feed(self, data: bytes) -> bytes:
        """What to send now for these bytes of the app's body."""
        phase = self.phase
        if phase == "done":
            return data
        if phase == "holding":
            self._hold(data)
            if self.size > self.owner.max_body_bytes:
                # Too big to buffer: what is held goes out, then the rest streams by unchanged.
                self.exchange.count("unchanged", "too_big_to_buffer")
                return self._release()
            return b""
        if phase == "slicing":
            window = self.exchange.window
            assert window is not None
            piece = window.piece(self._position, data)
            self._position += len(data)
            if self._position > window.last:
                self.phase = "answered"  # the window is out: the rest of the app's body is not needed
            return piece
        if phase == "waiting":
            raise AssertionError("the WSGI app sent body bytes before calling start_response")
        return b""

    def _release(self) -> bytes:
        """The held start to the server; the held bytes, unchanged, to send next."""
        assert self.held is not None
        self.phase = "done"
        self._to_server(self.held)
        return self._take_buffer()

    def _hold(self, data: bytes) -> None:
        if self.buffer is not None:
            self.buffer += data
        elif not self.first:
            self.first = bytes(data)  # the object itself when it is bytes
        else:
            self.buffer = bytearray(self.first)
            self.buffer += data
            self.first = b""
        self.size += len(data)

    def _take_buffer(self) -> bytes:
        """The held body as bytes, and nothing held any more."""
        data = self.first if self.buffer is None else bytes(self.buffer)
        self.first, self.buffer, self.size = b"", None, 0
        return data

    def _finish(self) -> bytes:
        """The complete body through the exchange: its start to the server, its body to send."""
        assert self.held is not None
        self.phase = "done"
        held, raw = self.held, self._take_buffer()
        try:
            start, body = steps.run_sync(self.exchange.transform(held, raw))
        except Exception as exc:
            self.exchange.failed(exc)
            start, body = held, raw
        self._to_server(start)
        return body
