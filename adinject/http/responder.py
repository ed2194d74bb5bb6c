"""One response through adinject: the message protocol every responder shares (as Starlette's GZipResponder).

A responder is made per request and holds that response's state, never the middleware:

`ExchangeResponder` is the one the middleware uses: its hooks are an `Exchange`'s (exchange.py, inject.py,
debug.py), the per-request decisions the WSGI middleware makes too; this module is the ASGI protocol only.

* waiting: at `http.response.start`, `start_hook` decides. None forwards the start at once (without the
  app's X-AdInject line) and everything after it as it comes; a start message means hold it.
* holding: body chunks are appended to one buffer (memory about the body's bytes, however small the
  chunks). A complete body goes to `transform`, and the start and body it returns go out as one start and
  one body. Past `max_body_bytes`, or on any other message (pathsend,
  zerocopysend, a second start), what is held goes out unchanged and the rest streams by.
* done: every message is forwarded as it comes.
* answered: `start_hook` set `answer` (a 304 the middleware gives in the app's place): that start went out
  instead of the app's, and the app's body is dropped (one empty final body ends the response).

Fail open: an exception in `start_hook` or `transform` (adinject's own work) sends the original response.
Exceptions from the app, or from the server's `send`, are not caught: they propagate as they would without
adinject (a held start never went out, so the server can still answer 500).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from starlette.types import Message, Receive, Scope, Send

from adinject.http import steps
from adinject.http.exchange import Exchange, count, failed, passed_start
from adinject.http.ranges import Window, send_file_window
from adinject.http.rules_like import RulesLike

if TYPE_CHECKING:
    from adinject.http.middleware import AdInjectMiddleware

Phase = Literal["waiting", "holding", "done", "answered", "slicing", "answered_done"]


class Responder:
    """Hold, cap, release and fail open over one response; subclasses say what to hold and how to rewrite.

    `owner` is the middleware (its options, plan cache, metrics and failure count are shared by every
    request); `rules` the rules this request reads, taken once so that a reload mid-response cannot mix two
    versions.
    """

    __slots__ = (
        "_position",
        "answer",
        "buffer",
        "held",
        "owner",
        "phase",
        "rules",
        "scope",
        "send",
        "size",
        "window",
    )

    def __init__(self, owner: AdInjectMiddleware, rules: RulesLike) -> None:
        self.owner = owner
        self.rules = rules
        self.phase: Phase = "waiting"
        self.held: Message = {}
        # The body held so far, in one buffer: a list of the app's chunks would cost a bytes object (33 bytes
        # and an allocation) per chunk, so a body streamed in tiny chunks held 20-60 times its size.
        self.buffer = bytearray()
        self.size = 0
        self.scope: Scope = {}
        self.send: Send = _unattached
        # A start to send instead of the app's, with no body, when `start_hook` sets it (and returns None);
        # with `window` too, the bytes of the app's body in it follow (a range of a response left alone).
        self.answer: Message | None = None
        self.window: Window | None = None
        self._position = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.send = send
        await self.owner.app(scope, receive, self.send_wrapper)

    # --- the hooks

    def start_hook(self, message: Message) -> Message | None:
        """The start to hold (the app's, or edited) when this response is one to rewrite; None to forward."""
        raise NotImplementedError

    async def transform(self, start: Message, body: bytes) -> tuple[Message, bytes]:
        """The start and body to send for the held start and the complete body."""
        raise NotImplementedError

    def count(self, outcome: str, reason: str = "") -> None:
        count(self.owner, outcome, reason)

    def failed(self, exc: BaseException) -> None:
        """adinject's own work raised: the original response goes out (the caller sends it)."""
        failed(self.owner, self.scope.get("path", ""), exc)

    # --- the protocol

    async def send_wrapper(self, message: Message) -> None:
        if self.phase == "holding":
            await self._hold(message)
        elif self.phase == "waiting" and message["type"] == "http.response.start":
            await self._start(message)
        elif self.phase == "slicing":
            await self._slice(message)
        elif self.phase == "answered":
            # The app's body for the start we replaced: dropped; its end ends our bodiless answer.
            ends = message["type"] in ("http.response.pathsend", "http.response.zerocopysend") or (
                message["type"] == "http.response.body" and not message.get("more_body", False)
            )
            if ends:
                self.phase = "done"
                await self.send({"type": "http.response.body", "body": b"", "more_body": False})
        elif self.phase == "answered_done":
            return  # the rest of a body whose window has been sent
        else:
            # Early hints before the start, trailers, pathsend, anything after we decided: as it comes.
            await self.send(message)

    async def _start(self, message: Message) -> None:
        try:
            held = self.start_hook(message)
        except Exception as exc:
            self.failed(exc)
            held = None
        if held is None:
            if self.answer is not None:
                satisfiable = self.window is not None and self.window.satisfiable
                self.phase = "slicing" if satisfiable else "answered"
                await self.send(self.answer)
                return
            self.phase = "done"
            await self.send(passed_start(message))
            return
        self.held, self.phase = held, "holding"

    async def _slice(self, message: Message) -> None:
        """The app's body within `window`: the answer ends with the window; the rest is dropped."""
        assert self.window is not None
        if message["type"] == "http.response.pathsend":
            # The server would send the file at this path: we send the window of it instead.
            await send_file_window(self.send, message["path"], self.window)
            self.phase = "answered_done"
            return
        if message["type"] != "http.response.body":
            return
        body: bytes = message.get("body", b"")
        start = self._position
        self._position += len(body)
        piece = self.window.piece(start, body)
        done = self._position > self.window.last or not message.get("more_body", False)
        if piece or done:
            await self.send({"type": "http.response.body", "body": piece, "more_body": not done})
        if done:
            self.phase = "answered_done"

    async def _hold(self, message: Message) -> None:
        if message["type"] != "http.response.body":
            # pathsend / zerocopysend / anything else while we hold the start: not a body we can rewrite.
            self.count("unchanged", "not_a_body")
            await self._release(more_body=True)
            await self.send(message)
            return
        body: bytes = message.get("body", b"")
        more_body: bool = message.get("more_body", False)
        self.buffer += body
        self.size += len(body)
        if self.size > self.owner.max_body_bytes:
            # Too big to buffer: what is held goes out, then the rest streams by unchanged.
            self.count("unchanged", "too_big_to_buffer")
            await self._release(more_body=more_body)
        elif not more_body:
            await self._finish()

    async def _release(self, *, more_body: bool) -> None:
        """Send the held start and anything buffered, unchanged; from here on every message goes as it is."""
        self.phase = "done"
        held = self._take_buffer()
        await self.send(self.held)
        if held:
            await self.send({"type": "http.response.body", "body": held, "more_body": more_body})

    def _take_buffer(self) -> bytes:
        """The held body as bytes (one copy), and the buffer emptied so only the copy stays alive."""
        data = bytes(self.buffer)
        self.buffer = bytearray()
        return data

    async def _finish(self) -> None:
        self.phase = "done"
        raw = self._take_buffer()
        try:
            start, body = await self.transform(self.held, raw)
        except Exception as exc:
            self.failed(exc)
            start, body = self.held, raw
        await self.send(start)
        await self.send({"type": "http.response.body", "body": body, "more_body": False})


async def _unattached(message: Message) -> None:
    raise RuntimeError("the responder was not called")  # pragma: no cover


class ExchangeResponder(Responder):
    """The ASGI protocol around an `Exchange`: its decisions are the hooks, its transform driven here."""

    __slots__ = ("exchange",)

    def __init__(self, owner: AdInjectMiddleware, exchange: Exchange) -> None:
        super().__init__(owner, exchange.rules)
        self.exchange = exchange

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(self.exchange.attach(scope), receive, send)

    def start_hook(self, message: Message) -> Message | None:
        held = self.exchange.start(message)
        self.answer, self.window = self.exchange.answer, self.exchange.window
        return held

    async def transform(self, start: Message, body: bytes) -> tuple[Message, bytes]:
        return await steps.run_async(self.exchange.transform(start, body))
