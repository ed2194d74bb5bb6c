"""Shared pieces of the HTTP-layer tests: pages, rules, a recording ASGI harness, a rules proxy.

A plain module (not conftest) so tests can import the helpers by name; pytest puts this folder on sys.path.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adinject.engine import RenderCache, RequestOutcome, Rules, load_rules
from adinject.result import ApplyResult

UNIT_HTML = '<div class="ad-slot" id="{{ slot.id }}"><p>Advertisement</p></div>'
# Every unit our test rules render: the markup of UNIT_HTML with any slot id.
UNIT_RE = re.compile(rb'<div class="ad-slot" id="[^"<>]*"><p>Advertisement</p></div>')

RULES_YAML = """\
units:
  ad:
    html: '{unit}'
rules:
  - name: r
    pages: {{paths: ["/news/**"]}}
    container: article
    paragraphs: p
    min_paragraph_words: 1
    min_paragraphs: 1
    place:
      - unit: ad
        after_paragraph: 1
"""


def write_rules(folder: Path, *, unit: str = UNIT_HTML) -> Path:
    """A rules folder with one rule: after paragraph 1 of <article> on /news/**."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ads.yaml").write_text(RULES_YAML.format(unit=unit.replace("'", "''")), encoding="utf-8")
    return folder


def real_rules(folder: Path, *, unit: str = UNIT_HTML) -> Rules:
    return load_rules(write_rules(folder, unit=unit))


def page(*, paragraphs: int = 3, filler: int = 0, charset: str | None = "utf-8") -> bytes:
    """An article page in UTF-8 with multi-byte characters in every paragraph (to cut chunks inside them)."""
    meta = f'<meta charset="{charset}">' if charset else ""
    paras = "".join(
        f"<p>Paragraph {n}: café crème, naïve façade — ünïcödé {'words ' * filler}✓.</p>\n"
        for n in range(1, paragraphs + 1)
    )
    html = (
        f"<!doctype html>\n<html><head>{meta}<title>Story</title></head>\n"
        f"<body><header><p>Site header</p></header>\n<article>\n{paras}</article>\n</body></html>\n"
    )
    return html.encode("utf-8")


def units_in(body: bytes) -> list[bytes]:
    return UNIT_RE.findall(body)


def strip_units(body: bytes) -> bytes:
    """The body with every rendered unit removed: equals the original page when only units were inserted."""
    return UNIT_RE.sub(b"", body)


def first_paragraph_end(original: bytes) -> int:
    """Byte offset just after the first paragraph of the <article> (where the test rule places its unit)."""
    return original.index(b"</p>", original.index(b"<article")) + len(b"</p>")


def assert_injected_once(body: bytes, original: bytes) -> None:
    """The body is the original page with exactly one unit, placed right after article paragraph 1."""
    found = list(UNIT_RE.finditer(body))
    assert len(found) == 1, body
    assert strip_units(body) == original
    assert found[0].start() == first_paragraph_end(original)


class RulesProxy:
    """Wraps real Rules to count calls, record threads, fail on demand or claim to read request headers.

    Claimed `reads` act as if the plan depended on those headers' raw values: they join the request key.
    """

    __slots__ = (
        "fail_in",
        "inner",
        "plan_calls",
        "plan_threads",
        "reads",
        "realize_calls",
        "realize_contexts",
    )

    def __init__(
        self,
        inner: Rules,
        *,
        fail_in: str | None = None,
        reads: Iterable[str] = (),
        version: str | None = None,
    ) -> None:
        self.inner = inner
        self.fail_in = fail_in
        self.reads = frozenset(reads)
        self.plan_calls = 0
        self.realize_calls = 0
        self.plan_threads: list[str] = []
        self.realize_contexts: list[Mapping[str, Any] | None] = []

    @property
    def version(self) -> str:
        return self.inner.version

    @property
    def bucket_header(self) -> str | None:
        return self.inner.bucket_header

    @property
    def loaded_at(self) -> float:
        return self.inner.loaded_at

    @property
    def inactive_code(self) -> str | None:
        return self.inner.inactive_code

    def matches_url(self, path: str) -> bool:
        if self.fail_in == "matches_url":
            raise RuntimeError("boom in matches_url")
        return self.inner.matches_url(path)

    def request_headers(self, path: str | None = None) -> frozenset[str]:
        return self.inner.request_headers(path) | self.reads

    def decide(self, url: str, headers: Mapping[str, str], now: datetime | None = None) -> RequestOutcome:
        claimed = tuple(f"{name}={headers.get(name)}" for name in sorted(self.reads))
        outcome = self.inner.decide(url, headers, now)
        return dataclasses.replace(outcome, key=outcome.key + claimed)

    def depends_on_time(self, path: str | None = None) -> bool:
        return self.inner.depends_on_time(path)

    def plan(
        self,
        body: bytes,
        *,
        url: str,
        headers: Mapping[str, str],
        now: datetime | None = None,
        outcome: RequestOutcome | None = None,
    ) -> Any:
        self.plan_calls += 1
        self.plan_threads.append(threading.current_thread().name)
        if self.fail_in == "plan":
            raise RuntimeError("boom in plan")
        return self.inner.plan(body, url=url, headers=headers, now=now, outcome=outcome)

    def realize(
        self,
        plan: Any,
        body: bytes,
        *,
        context: Mapping[str, Any] | None = None,
        csp: str | Sequence[str] | None = None,
        render_cache: RenderCache | None = None,
    ) -> ApplyResult:
        self.realize_calls += 1
        self.realize_contexts.append(context)
        if self.fail_in == "realize":
            raise RuntimeError("boom in realize")
        return self.inner.realize(plan, body, context=context, csp=csp, render_cache=render_cache)


# ---- a raw ASGI harness ------------------------------------------------------------------------------------


def http_scope(
    path: str = "/news/story",
    *,
    method: str = "GET",
    headers: Iterable[tuple[bytes, bytes]] = (),
    state: MutableMapping[str, Any] | None = None,
) -> Scope:
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": list(headers),
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "extensions": {"http.response.pathsend": {}, "http.response.trailers": {}},
    }
    if state is not None:
        scope["state"] = state
    return scope


async def _empty_receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def run_asgi(app: ASGIApp, scope: Scope, receive: Receive = _empty_receive) -> list[Message]:
    """Run one ASGI call to completion and return every message the app (through middleware) sent."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def main() -> None:
        await app(scope, receive, send)

    anyio.run(main)
    return sent


def scripted_app(
    messages: Iterable[Message], *, then: Callable[[], Awaitable[None]] | None = None
) -> ASGIApp:
    """An ASGI app that sends these messages (copies, so tests can compare with the originals) in order."""
    script = list(messages)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for message in script:
            await send(dict(message))
        if then is not None:
            await then()

    return app


def start(
    status: int = 200,
    headers: Iterable[tuple[bytes, bytes]] = ((b"content-type", b"text/html; charset=utf-8"),),
    **extra: Any,
) -> Message:
    return {"type": "http.response.start", "status": status, "headers": list(headers), **extra}


def body(data: bytes, more: bool = False) -> Message:
    return {"type": "http.response.body", "body": data, "more_body": more}


def response_body(messages: Iterable[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


def header(message: Message, name: str) -> list[str]:
    key = name.lower().encode()
    return [v.decode("latin-1") for k, v in message["headers"] if k.lower() == key]


def kinds(messages: Iterable[Message]) -> list[str]:
    return [m["type"] for m in messages]
