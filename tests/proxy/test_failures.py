"""What the proxy does when the origin fails, is slow, or the client leaves: real processes throughout."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from tests._support.processes import free_port
from tests.proxy.conftest import Proxy, ProxyFactory

pytestmark = pytest.mark.slow


def origin_log(origin: str) -> list[str]:
    seen: list[str] = httpx.get(origin + "/-/log", timeout=10).json()
    return seen


def test_an_origin_that_refuses_gets_a_502_page(start_proxy: ProxyFactory) -> None:
    # A port nothing listens on: the connection is refused at once.
    down = start_proxy(f"http://127.0.0.1:{free_port()}")
    response = httpx.get(down.url + "/news/story", timeout=10)
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "502 Bad Gateway" in response.text
    assert "Advertisement" not in response.text  # the proxy's own page, not one the rules touch


def test_a_slow_origin_gets_a_504_after_the_read_timeout(origin: str, start_proxy: ProxyFactory) -> None:
    impatient = start_proxy(origin, "--read-timeout", "0.5")
    response = httpx.get(impatient.url + "/slow?s=10", timeout=20)
    assert response.status_code == 504
    assert "504 Gateway Timeout" in response.text


def test_a_stalled_stream_is_cut(origin: str, start_proxy: ProxyFactory) -> None:
    impatient = start_proxy(origin, "--read-timeout", "0.5")
    with httpx.stream("GET", impatient.url + "/stall?s=10", timeout=20) as response:
        assert response.status_code == 200  # under way when the origin stalled
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()  # the connection closes before the body's end: the client knows it is broken


def test_a_stalled_page_the_middleware_holds_gets_a_504(origin: str, start_proxy: ProxyFactory) -> None:
    # An HTML page under the rules' URLs is held until complete, so nothing has reached the client yet.
    impatient = start_proxy(origin, "--read-timeout", "0.5")
    response = httpx.get(impatient.url + "/news/stall?s=10", timeout=20)
    assert response.status_code == 504
    assert "504 Gateway Timeout" in response.text


def test_a_page_the_origin_breaks_off_gets_a_502(proxy: Proxy) -> None:
    response = httpx.get(proxy.url + "/news/broken", timeout=20)
    assert response.status_code == 502
    assert "502 Bad Gateway" in response.text


def test_a_client_that_leaves_cancels_the_origin_request(proxy: Proxy, origin: str) -> None:
    marker = len(origin_log(origin))
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"GET /slow?s=30 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)  # the request reached the origin
    deadline = time.monotonic() + 10
    while "gone slow" not in origin_log(origin)[marker:]:
        assert time.monotonic() < deadline, "the origin's request was not cancelled"
        time.sleep(0.1)


def test_an_origin_that_stops_reading_the_body_gets_a_504_after_the_write_timeout(
    origin: str, start_proxy: ProxyFactory
) -> None:
    impatient = start_proxy(origin, "--write-timeout", "0.5", "--max-connections", "1")
    host, port = impatient.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=15) as sock:  # the origin answers after 30 s

        def upload() -> None:
            # Far more than the buffers between hold, so the proxy's write to the deaf origin blocks.
            try:
                sock.sendall(b"POST /deaf?s=30 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (1 << 32))
                while True:
                    sock.sendall(b"x" * 65536)
            except OSError:
                pass  # the proxy answered and closed

        threading.Thread(target=upload, daemon=True).start()
        try:
            status = sock.recv(12)
        except TimeoutError:
            status = b"(no answer)"
        except ConnectionResetError:
            status = b"(reset)"  # the close after the answer can overtake it: still not the 30 s wait
        sock.shutdown(socket.SHUT_RDWR)
    assert status in (b"HTTP/1.1 504", b"(reset)")
    # Its one origin connection is free again.
    assert httpx.get(impatient.url + "/echo", timeout=10).status_code == 200


def test_upstream_connections_are_limited(origin: str, start_proxy: ProxyFactory) -> None:
    narrow = start_proxy(origin, "--max-connections", "1", "--pool-timeout", "0.5")
    with httpx.Client(timeout=20) as first, httpx.stream("GET", narrow.url + "/drip", timeout=20) as held:
        chunks = held.iter_raw()  # kept: a dropped iterator closes the response, and the connection
        assert next(chunks) == b"first\n"  # the one origin connection is busy
        busy = first.get(narrow.url + "/echo")
        assert busy.status_code == 503
        httpx.get(origin + "/-/release", timeout=10)
        assert b"".join(chunks) == b"second\n"
        assert first.get(narrow.url + "/echo").status_code == 200


def test_a_websocket_upgrade_is_refused_with_501(proxy: Proxy) -> None:
    response = httpx.get(
        proxy.url + "/socket",
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
        timeout=10,
    )
    assert response.status_code == 501
    assert "not proxied" in response.text


def test_invalid_rules_stop_the_proxy(origin: str, start_proxy: ProxyFactory, tmp_path: object) -> None:
    from pathlib import Path

    broken = Path(str(tmp_path)) / "rules"
    broken.mkdir()
    (broken / "bad.yaml").write_text("rules:\n  - name: x\n    place: 3\n")
    with pytest.raises(RuntimeError, match="exited with status 3"):
        start_proxy(origin, rules=broken)
    assert json.dumps(origin_log(origin))  # the origin is still up
