"""Fixtures for the HTTP-layer tests: a real uvicorn on a free loopback port, and test rules."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from adinject.engine import Rules
from tests._support.http_testkit import real_rules


class Switchboard:
    """The one ASGI app uvicorn serves; each test plugs in its own app (starting uvicorn per test is slow)."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.app
        if app is None:
            raise RuntimeError("no app plugged in: use the `serve` fixture")
        await app(scope, receive, send)


class LiveServer:
    def __init__(self, board: Switchboard, url: str) -> None:
        self.board = board
        self.url = url


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    """uvicorn (h11) on 127.0.0.1 and a port the OS picked, in a thread; stopped at the end of the session."""
    board = Switchboard()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, and socket.socket() leaves it 0:
    # without this, Nagle's algorithm and delayed ACKs add ~40 ms to every response.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(board, http="h11", lifespan="off", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield LiveServer(board, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def serve(live_server: LiveServer) -> Iterator[Callable[[ASGIApp], httpx.Client]]:
    """`client = serve(app)`: serve `app` on the live uvicorn and get an httpx client for it."""
    clients: list[httpx.Client] = []

    def plug(app: ASGIApp) -> httpx.Client:
        live_server.board.app = app
        client = httpx.Client(base_url=live_server.url, timeout=10)
        clients.append(client)
        return client

    yield plug
    for client in clients:
        client.close()
    live_server.board.app = None


@pytest.fixture
def rules(tmp_path: Path) -> Rules:
    """The real engine with one rule: an ad after paragraph 1 of <article> on /news/**."""
    return real_rules(tmp_path / "rules")
