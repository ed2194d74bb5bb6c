"""Test and benchmark servers listen with TCP_NODELAY: no ~40 ms Nagle delay on responses in pieces."""

from __future__ import annotations

import http.client
import importlib.util
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from tests._support.loopback import loopback_socket
from tests._support.paths import REPO

BENCH = REPO / "benchmarks" / "http.py"


def bench_listening_socket() -> Callable[[], socket.socket]:
    # Loaded under another name: a module called `http` would shadow the standard library's.
    spec = importlib.util.spec_from_file_location("adinject_bench_http_under_test", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    made: Callable[[], socket.socket] = module.listening_socket
    return made


@pytest.mark.parametrize("make", [loopback_socket, bench_listening_socket()], ids=["tests", "benchmarks"])
def test_servers_listen_with_nodelay(make: Callable[[], socket.socket]) -> None:
    with make() as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert sock.getsockname()[0] == "127.0.0.1"


async def _in_pieces(scope: Scope, receive: Receive, send: Send) -> None:
    """A response written in three pieces: what Nagle's algorithm holds back without TCP_NODELAY."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
    await send({"type": "http.response.body", "body": b"<p>one</p>", "more_body": True})
    await send({"type": "http.response.body", "body": b"<p>two</p>"})


@pytest.fixture
def served() -> Iterator[int]:
    sock = loopback_socket()
    server = uvicorn.Server(uvicorn.Config(_in_pieces, log_level="warning", lifespan="off", http="h11"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_responses_in_pieces_are_not_delayed(served: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served, timeout=10)
    times = []
    for _ in range(9):
        began = time.perf_counter()
        connection.request("GET", "/")
        assert connection.getresponse().read() == b"<p>one</p><p>two</p>"
        times.append(time.perf_counter() - began)
    connection.close()
    # With Nagle and delayed ACKs every request on the kept-alive connection takes ~40 ms; without, well
    # under a millisecond. The median keeps one slow scheduling hiccup from deciding.
    assert statistics.median(times) < 0.02, times
