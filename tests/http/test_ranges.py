"""Ranges of responses the rules leave alone, on URLs whose Range the middleware takes off the request.

The app never sees Range on a URL the rules may modify (a range of the original page joined to a modified
one is a corrupted page). A file under those URLs that is not a page we modify (a video, a PDF) must still
seek: the middleware cuts the range out of the whole response, as the app would have.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from adinject.engine import load_rules
from adinject.http import AdInjectMiddleware
from adinject.http.ranges import Window, if_range_holds, parse_range
from tests._support.http_testkit import RULES_YAML, UNIT_HTML, header, http_scope, run_asgi

VIDEO = bytes(range(256)) * 40  # 10,240 bytes
ETAG = '"v1"'
MODIFIED = "Tue, 01 Jul 2025 10:00:00 GMT"


def video_app(body: bytes = VIDEO, pieces: int = 7) -> object:
    """A 200 with the whole file, in `pieces` body messages, like FileResponse without pathsend."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"video/mp4"),
            (b"content-length", str(len(body)).encode()),
            (b"etag", ETAG.encode()),
            (b"last-modified", MODIFIED.encode()),
            (b"accept-ranges", b"bytes"),
        ]
        assert not any(k.lower() == b"range" for k, _ in scope["headers"])  # taken off
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        step = max(1, len(body) // pieces)
        cuts = list(range(0, len(body), step))
        for i, at in enumerate(cuts):
            last = i == len(cuts) - 1
            await send(
                {
                    "type": "http.response.body",
                    "body": body[at : len(body) if last else at + step],
                    "more_body": not last,
                }
            )

    return app


def middleware(tmp_path: Path, app: object) -> AdInjectMiddleware:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "ads.yaml").write_text(RULES_YAML.format(unit=UNIT_HTML), encoding="utf-8")
    return AdInjectMiddleware(app, rules=load_rules(folder), metrics=False)  # type: ignore[arg-type]


def fetch(mw: AdInjectMiddleware, path: str = "/news/clip.mp4", **headers: str) -> list[Message]:
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return run_asgi(mw, http_scope(path, headers=raw))


def body_of(messages: list[Message]) -> bytes:
    bodies = [m for m in messages if m["type"] == "http.response.body"]
    assert bodies and not bodies[-1].get("more_body", False), "the response must end"
    assert all(m.get("more_body", False) for m in bodies[:-1])
    return b"".join(m.get("body", b"") for m in bodies)


def test_a_file_under_the_rules_urls_still_seeks(tmp_path: Path) -> None:
    sent = fetch(middleware(tmp_path, video_app()), range="bytes=1000-2999")
    assert sent[0]["status"] == 206
    assert header(sent[0], "content-range") == [f"bytes 1000-2999/{len(VIDEO)}"]
    assert header(sent[0], "content-length") == ["2000"]
    assert body_of(sent) == VIDEO[1000:3000]


def test_suffix_and_open_ranges(tmp_path: Path) -> None:
    mw = middleware(tmp_path, video_app())
    assert body_of(fetch(mw, range="bytes=-100")) == VIDEO[-100:]
    assert body_of(fetch(mw, range="bytes=10000-")) == VIDEO[10000:]


def test_if_range_that_no_longer_holds_gets_the_whole_file(tmp_path: Path) -> None:
    mw = middleware(tmp_path, video_app())
    sent = fetch(mw, range="bytes=0-9", if_range='"v0"')
    assert sent[0]["status"] == 200 and body_of(sent) == VIDEO
    sent = fetch(mw, range="bytes=0-9", if_range=ETAG)
    assert sent[0]["status"] == 206 and body_of(sent) == VIDEO[:10]
    sent = fetch(mw, range="bytes=0-9", if_range=MODIFIED)
    assert sent[0]["status"] == 206 and body_of(sent) == VIDEO[:10]


def test_unsatisfiable_and_multiple_ranges(tmp_path: Path) -> None:
    mw = middleware(tmp_path, video_app())
    sent = fetch(mw, range=f"bytes={len(VIDEO)}-")
    assert sent[0]["status"] == 416
    assert header(sent[0], "content-range") == [f"bytes */{len(VIDEO)}"]
    assert body_of(sent) == b""
    sent = fetch(mw, range="bytes=0-1, 5-9")
    assert sent[0]["status"] == 200 and body_of(sent) == VIDEO  # one range only; the whole file is allowed


def test_a_pathsend_file_is_cut_too(tmp_path: Path) -> None:
    # FileResponse on a server with the pathsend extension sends the path, not the bytes.
    video = tmp_path / "clip.mp4"
    video.write_bytes(VIDEO * 20)  # 204,800 bytes: several reads

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        size = str(video.stat().st_size).encode()
        headers = [(b"content-type", b"video/mp4"), (b"content-length", size)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.pathsend", "path": str(video)})

    mw = middleware(tmp_path, app)
    sent = run_asgi(mw, http_scope("/news/clip.mp4", headers=[(b"range", b"bytes=100-150099")]))
    assert sent[0]["status"] == 206
    assert body_of(sent) == (VIDEO * 20)[100:150100]
    assert not any(m["type"] == "http.response.pathsend" for m in sent)


@given(
    first=st.integers(0, len(VIDEO) + 10),
    length=st.integers(0, 3000),
    pieces=st.integers(1, 40),
)
def test_any_window_of_any_split_body(first: int, length: int, pieces: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        sent = fetch(middleware(Path(tmp), video_app(pieces=pieces)), range=f"bytes={first}-{first + length}")
    if first >= len(VIDEO):
        assert sent[0]["status"] == 416
    else:
        assert sent[0]["status"] == 206
        assert body_of(sent) == VIDEO[first : first + length + 1]


def test_parse_range() -> None:
    assert parse_range("bytes=0-9", 100) == Window(0, 9, 100)
    assert parse_range("bytes=90-", 100) == Window(90, 99, 100)
    assert parse_range("bytes=-5", 100) == Window(95, 99, 100)
    assert parse_range("bytes=-500", 100) == Window(0, 99, 100)
    assert parse_range("bytes=50-500", 100) == Window(50, 99, 100)
    assert parse_range("bytes=100-", 100) is not None and not parse_range("bytes=100-", 100).satisfiable  # type: ignore[union-attr]
    for ignored in ("items=0-9", "bytes=9-0", "bytes=0-1,3-4", "bytes=x-9", "bytes=-", "bytes"):
        assert parse_range(ignored, 100) is None, ignored


def test_if_range_needs_a_strong_match() -> None:
    headers = MutableHeaders(raw=[(b"etag", b'W/"v1"'), (b"last-modified", MODIFIED.encode())])
    assert not if_range_holds('W/"v1"', headers)
    assert not if_range_holds('"v1"', headers)  # the response's tag is weak
    assert if_range_holds(MODIFIED, headers)
    assert if_range_holds(None, headers)
