"""Bodies stream through the proxy both ways: a 50 MB download and upload pass with the proxy's memory flat,
and a chunk the origin sends reaches the client before the origin's next one."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from tests.proxy.conftest import Proxy
from tests.proxy.origin import CHUNK, payload

pytestmark = pytest.mark.slow

SIZE = 50 * 1024 * 1024
# What the proxy's resident memory may grow by while 50 MB pass: a few chunks in flight, not the body.
FLAT_KB = 16 * 1024


def test_a_50_mb_download_passes_byte_for_byte_with_flat_memory(proxy: Proxy, origin: str) -> None:
    httpx.get(proxy.url + "/big?bytes=1000000", timeout=30)  # warm: pools, buffers, code paths
    before = proxy.rss_kb()
    digest, size, peak = hashlib.sha256(), 0, before
    with httpx.stream("GET", proxy.url + "/big", timeout=30) as response:
        assert response.headers["content-length"] == str(SIZE)
        for n, chunk in enumerate(response.iter_raw()):
            digest.update(chunk)
            size += len(chunk)
            if n % 64 == 0:
                peak = max(peak, proxy.rss_kb())
    expected = hashlib.sha256(payload(CHUNK) * (SIZE // CHUNK)).hexdigest()
    assert (size, digest.hexdigest()) == (SIZE, expected)
    assert peak - before < FLAT_KB, f"the proxy grew by {peak - before} kB while streaming 50 MB"


def _upload() -> Iterator[bytes]:
    block = payload(CHUNK)
    for _ in range(SIZE // CHUNK):
        yield block


def test_a_50_mb_upload_streams_to_the_origin_with_flat_memory(proxy: Proxy) -> None:
    httpx.post(proxy.url + "/echo", content=b"x" * 100_000, timeout=30)
    before = proxy.rss_kb()
    # A generator: sent chunked, so neither this client nor the proxy can know the length up front.
    response = httpx.post(proxy.url + "/echo", content=_upload(), timeout=60)
    seen = response.json()
    expected = hashlib.sha256(payload(CHUNK) * (SIZE // CHUNK)).hexdigest()
    assert (seen["size"], seen["sha256"]) == (SIZE, expected)
    grown = proxy.rss_kb("VmHWM") - before
    assert grown < FLAT_KB, f"the proxy's peak memory grew by {grown} kB while 50 MB went up"


def test_a_fixed_length_upload_arrives_whole(proxy: Proxy) -> None:
    data = payload(3_000_000)
    seen = httpx.put(proxy.url + "/echo", content=data, timeout=30).json()
    assert (seen["size"], seen["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert any(name == "content-length" and value == str(len(data)) for name, value in seen["headers"])


def test_a_chunk_reaches_the_client_before_the_origin_sends_the_next(proxy: Proxy, origin: str) -> None:
    # The origin sends "first" and holds the rest until it is released: a buffering proxy would show the
    # client nothing (and the origin would give up after 10 s with another ending).
    with httpx.stream("GET", proxy.url + "/drip", timeout=20) as response:
        chunks = response.iter_raw()
        first = next(chunks)
        httpx.get(origin + "/-/release", timeout=10)
        rest = b"".join(chunks)
    assert (first, rest) == (b"first\n", b"second\n")
