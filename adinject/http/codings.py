"""Undo and redo a response's Content-Encoding, with a cap on the decoded size.

An encoded body is not HTML bytes: the engine must see the decoded page, and the client must get the coding it
was promised. Decoding is capped because a few kilobytes of gzip can expand a thousandfold; past the cap the
middleware sends the original untouched. Only one coding is handled: a stack of codings ("gzip, br") or one we
do not know is left alone, which is always safe.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable
from typing import Any

# brotli is optional (the `brotli` extra). Decoding it safely needs `output_buffer_limit` (brotli >= 1.2);
# an older binding cannot bound its output, so `br` is then treated like any unknown coding: passed untouched.
_brotli: Any
try:
    import brotli
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None
else:
    _brotli = brotli if hasattr(brotli.Decompressor(), "can_accept_more_data") else None

# Level 6 is zlib's default: most of level 9's ratio at a fraction of its time, which matters on a hot path.
GZIP_LEVEL = 6
# starlette-compress's default; brotli's own default (11) costs tens of milliseconds per page.
BROTLI_QUALITY = 4

# What `encode` accepts: the coding names plus the raw-deflate form some servers send as "deflate".
GZIP = "gzip"
DEFLATE = "deflate"
DEFLATE_RAW = "deflate-raw"
BR = "br"

# Names a Content-Encoding header may use for each coding we undo; "x-gzip" is gzip (RFC 9110 §8.4.1.3).
_ALIASES = {"gzip": GZIP, "x-gzip": GZIP, "deflate": DEFLATE}
if _brotli is not None:
    _ALIASES["br"] = BR


class DecodeError(Exception):
    """The body could not be decoded within the limits; send the original."""


class TooLarge(DecodeError):
    """Decoding would pass the cap on decoded size."""


class Corrupt(DecodeError):
    """The body is not valid in its declared coding (truncated, garbage, trailing junk)."""


def content_coding(values: Iterable[str]) -> str | None:
    """The one coding to undo, from the Content-Encoding header lines.

    Returns "" when the body is not encoded, the coding's name when it is one we handle, and None when we
    cannot handle it (unknown coding, or several stacked) so the response must pass untouched.
    """
    codings = [
        token.strip().lower()
        for value in values
        for token in value.split(",")
        if token.strip() and token.strip().lower() != "identity"
    ]
    if not codings:
        return ""
    if len(codings) > 1:
        return None
    return _ALIASES.get(codings[0])


def decode(coding: str, data: bytes, limit: int) -> tuple[bytes, str]:
    """Decode `data`; return the body and the coding `encode` must redo to give the client the same bytes'
    coding (for "deflate", the zlib or the raw form the app actually sent).

    Raises TooLarge past `limit` decoded bytes and Corrupt for a body that is not valid in its coding.
    """
    if coding == GZIP:
        return _zlib_decode(data, 16 + zlib.MAX_WBITS, limit, members=True), GZIP
    if coding == DEFLATE:
        # "deflate" means the zlib format (RFC 9110 §8.4.1.2), but some servers send raw deflate; the first
        # two bytes of a zlib stream are a checksummed header, so they tell the two apart.
        if len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0:
            return _zlib_decode(data, zlib.MAX_WBITS, limit, members=False), DEFLATE
        return _zlib_decode(data, -zlib.MAX_WBITS, limit, members=False), DEFLATE_RAW
    if coding == BR and _brotli is not None:
        return _brotli_decode(data, limit), BR
    raise ValueError(f"unsupported coding {coding!r}")


def encode(coding: str, data: bytes) -> bytes:
    """Encode `data` in `coding` (as returned by `decode`)."""
    if coding == GZIP:
        # mtime=0 keeps the output a pure function of the body, so equal pages give equal bytes.
        return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
    if coding == DEFLATE:
        return zlib.compress(data, GZIP_LEVEL)
    if coding == DEFLATE_RAW:
        compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        return compressor.compress(data) + compressor.flush()
    if coding == BR and _brotli is not None:
        return bytes(_brotli.compress(data, quality=BROTLI_QUALITY, mode=_brotli.MODE_TEXT))
    raise ValueError(f"unsupported coding {coding!r}")


# The first window of a member after the first (see `_zlib_decode`): small, because members can be tiny.
_FIRST_WINDOW = 64


def _zlib_decode(data: bytes, wbits: int, limit: int, *, members: bool) -> bytes:
    """Decode one zlib/gzip/raw-deflate stream (or, with `members`, gzip members back to back).

    Linear in the body: a decompressor copies every byte it was given but did not use into `unused_data`,
    so handing each member the whole rest of the body would copy it once per member (quadratic: a 2 MB body
    of 20-byte members took seconds). Input goes in windows of a memoryview instead: the first member gets the
    whole body, and each later one a window twice the size of the member before it (at least
    `_FIRST_WINDOW`), doubled while the member goes on. What is fed and copied per member is then bounded by
    a small multiple of its own size and its predecessor's.
    """
    out = bytearray()
    view = memoryview(data)
    size = len(data)
    offset = 0
    window = size
    while True:
        decompressor = zlib.decompressobj(wbits)
        began = offset
        while True:
            end = min(size, offset + window)
            try:
                # max_length bounds the output of this call; it is always >= 1 here (0 means "unbounded").
                out += decompressor.decompress(view[offset:end], limit + 1 - len(out))
            except zlib.error as exc:
                raise Corrupt(str(exc)) from exc
            if len(out) > limit:
                raise TooLarge(f"decodes to more than {limit} bytes")
            if decompressor.eof:
                # Below the cap every byte given was read, up to the end of the stream and no further.
                offset = end - len(decompressor.unused_data)
                break
            if end == size:
                # All input consumed below the cap but the stream never ended: the body was cut short.
                raise Corrupt("truncated stream")
            offset = end
            window *= 2
        if offset == size:
            return bytes(out)
        if data[offset] == 0:
            # Some servers pad with zero bytes; no member starts with one, so the rest is padding or junk.
            if data.count(0, offset) == size - offset:
                return bytes(out)
            raise Corrupt("data after the end of the stream")
        if not members:
            raise Corrupt("data after the end of the stream")
        # gzip allows several members back to back (RFC 1952 §2.2).
        window = max(_FIRST_WINDOW, 2 * (offset - began))


def _brotli_decode(data: bytes, limit: int) -> bytes:
    assert _brotli is not None
    decompressor = _brotli.Decompressor()
    out = bytearray()
    try:
        out += decompressor.process(data, output_buffer_limit=limit + 1)
        # With a limit the decompressor may stop early and hold input back; drain it with empty input.
        while len(out) <= limit and not decompressor.can_accept_more_data():
            more = decompressor.process(b"", output_buffer_limit=limit + 1 - len(out))
            if not more:
                # No progress on empty input: stop rather than spin (is_finished() below then decides).
                break
            out += more
    except _brotli.error as exc:
        raise Corrupt(str(exc)) from exc
    if len(out) > limit:
        raise TooLarge(f"decodes to more than {limit} bytes")
    if not decompressor.is_finished():
        raise Corrupt("truncated stream")
    return bytes(out)
