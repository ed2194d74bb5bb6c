"""The header rules of RFC 9110 §7.6 through a real proxy process in front of a real origin."""

from __future__ import annotations

import httpx
import pytest

from tests.proxy.conftest import Proxy, ProxyFactory

pytestmark = pytest.mark.slow


def echoed(proxy: Proxy, path: str = "/echo", **kwargs: object) -> dict[str, object]:
    response = httpx.get(proxy.url + path, timeout=10, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200
    seen: dict[str, object] = response.json()
    return seen


def names(seen: dict[str, object]) -> list[str]:
    return [name for name, _ in seen["headers"]]  # type: ignore[attr-defined]


def values(seen: dict[str, object], name: str) -> list[str]:
    return [value for key, value in seen["headers"] if key == name]  # type: ignore[attr-defined]


def test_hop_by_hop_request_headers_are_dropped_and_end_to_end_ones_kept(proxy: Proxy) -> None:
    seen = echoed(
        proxy,
        headers={
            "Connection": "keep-alive, X-Client-Private",
            "X-Client-Private": "secret",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Trailer": "X-Checksum",
            "Proxy-Authorization": "Basic Zm9vOmJhcg==",
            "Proxy-Connection": "keep-alive",
            "X-End-To-End": "kept",
        },
    )
    sent = names(seen)
    for hop in ("x-client-private", "keep-alive", "te", "trailer", "proxy-authorization", "proxy-connection"):
        assert hop not in sent
    assert values(seen, "x-end-to-end") == ["kept"]
    assert values(seen, "via") == ["1.1 adinject"]


def test_hop_by_hop_response_headers_are_dropped(proxy: Proxy, origin: str) -> None:
    direct = httpx.get(origin + "/hop", timeout=10)
    assert direct.headers["x-origin-private"] == "1"  # the origin does send them
    response = httpx.get(proxy.url + "/hop", timeout=10)
    assert response.text == "hop\n"
    for hop in ("x-origin-private", "proxy-authenticate", "keep-alive"):
        assert hop not in response.headers
    assert response.headers["x-end-to-end"] == "kept"


def test_host_is_passed_on_and_can_be_rewritten(proxy: Proxy, origin: str, start_proxy: ProxyFactory) -> None:
    assert values(echoed(proxy, headers={"Host": "news.example.org"}), "host") == ["news.example.org"]
    rewriting = start_proxy(origin, "--rewrite-host")
    seen = echoed(rewriting, headers={"Host": "news.example.org"})
    assert values(seen, "host") == [origin.removeprefix("http://")]
    assert values(seen, "x-forwarded-host") == ["news.example.org"]


def test_forwarding_headers_are_set_by_the_proxy(proxy: Proxy) -> None:
    seen = echoed(proxy, headers={"Host": "news.example.org"})
    assert values(seen, "x-forwarded-for") == ["127.0.0.1"]
    assert values(seen, "x-forwarded-proto") == ["http"]
    assert values(seen, "x-forwarded-host") == ["news.example.org"]
    assert values(seen, "forwarded") == ['for=127.0.0.1;proto=http;host="news.example.org"']


SPOOFED = {
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "spoofed.example",
    "Forwarded": "for=203.0.113.9;proto=https",
    "Host": "news.example.org",
}


def test_a_trusted_client_s_forwarding_headers_are_kept_and_appended_to(proxy: Proxy) -> None:
    # The default --forwarded-allow-ips is 127.0.0.1, the test client's address (a load balancer's, say).
    seen = echoed(proxy, headers=SPOOFED)
    assert values(seen, "x-forwarded-for") == ["203.0.113.9, 127.0.0.1"]
    assert values(seen, "x-forwarded-proto") == ["https"]
    assert values(seen, "x-forwarded-host") == ["spoofed.example"]
    assert values(seen, "forwarded") == [
        'for=203.0.113.9;proto=https, for=127.0.0.1;proto=http;host="news.example.org"'
    ]


def test_an_untrusted_client_cannot_spoof_forwarding_headers(origin: str, start_proxy: ProxyFactory) -> None:
    # Only 192.0.2.1 (a documentation address: no traffic goes there) is trusted, not this client.
    strict = start_proxy(origin, "--forwarded-allow-ips", "192.0.2.1")
    seen = echoed(strict, headers=SPOOFED)
    assert values(seen, "x-forwarded-for") == ["127.0.0.1"]
    assert values(seen, "x-forwarded-proto") == ["http"]
    assert values(seen, "x-forwarded-host") == ["news.example.org"]
    assert values(seen, "forwarded") == ['for=127.0.0.1;proto=http;host="news.example.org"']


def test_redirects_and_cookies_pass_untouched(proxy: Proxy, origin: str) -> None:
    direct = httpx.get(origin + "/redirect", timeout=10)
    response = httpx.get(proxy.url + "/redirect", timeout=10)
    assert response.status_code == 302
    assert response.headers["location"] == "/elsewhere?x=1"
    assert response.headers.get_list("set-cookie") == direct.headers.get_list("set-cookie")
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/; HttpOnly", "b=2; Path=/; Secure"]
    # The proxy keeps no cookie jar: the next visitor's request carries no cookie the origin set before.
    assert "cookie" not in names(echoed(proxy))


def test_method_path_query_and_accept_encoding_reach_the_origin(proxy: Proxy) -> None:
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"):
        response = httpx.request(method, proxy.url + "/a%2Fb/c%20d?x=1&y=%C3%A9", timeout=10)
        seen = response.json()
        assert (seen["method"], seen["raw_path"], seen["query"]) == (method, "/a%2Fb/c%20d", "x=1&y=%C3%A9")
    assert values(echoed(proxy, headers={"Accept-Encoding": "br, gzip"}), "accept-encoding") == ["br, gzip"]


def test_a_request_without_accept_encoding_gets_none_added(proxy: Proxy) -> None:
    with httpx.Client(timeout=10) as client:
        request = client.build_request("GET", proxy.url + "/echo")
        del request.headers["accept-encoding"]
        del request.headers["user-agent"]
        seen = client.send(request).json()
    assert "accept-encoding" not in names(seen)
    assert "user-agent" not in names(seen)


def test_the_health_path_is_answered_by_the_proxy_and_metrics_are_off_by_default(
    proxy: Proxy, origin: str, start_proxy: ProxyFactory
) -> None:
    health = httpx.get(proxy.url + "/-/healthz", timeout=10)
    assert (health.status_code, health.text) == (200, "ok\n")
    # Not a route of the proxy's by default: forwarded, so the origin's echo answers it.
    assert httpx.get(proxy.url + "/-/metrics", timeout=10).json()["raw_path"] == "/-/metrics"
    metered = start_proxy(origin, "--metrics-path", "/-/metrics")
    httpx.get(metered.url + "/news/story", timeout=10)
    metrics = httpx.get(metered.url + "/-/metrics/", timeout=10, follow_redirects=True)
    assert "adinject_pages_total" in metrics.text
