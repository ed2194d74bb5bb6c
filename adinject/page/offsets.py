"""Map turbohtml's source offsets back to byte offsets in the original response body.

turbohtml reports `source_location` offsets as code-point indices into the *newline-normalised* text: a
``\\r\\n`` pair counts as one code point (a lone ``\\r`` is one code point anyway). Two steps undo that:

1. normalised offset -> index in the decoded text: add the ``\\r\\n`` pairs that start before it;
2. index in the text -> byte offset: the BOM plus the encoded length of everything before it.

Both steps walk forward from the nearest offset already resolved (a checkpoint), so resolving k offsets in
one `to_bytes` call costs one pass over the text plus O(k log k), and nothing at all is encoded when the
text is ASCII or the encoding is single-byte (there index == byte offset - BOM). Pages with ``\\r\\n`` are
counted with ``str.count`` over each stretch rather than by listing every pair, which keeps the work in C.

For UTF-8, given the original bytes, step 2 runs the other way: it decodes forward from the checkpoint's
byte until it has covered the wanted number of code points. CPython decodes UTF-8 several times faster than
it encodes a string that holds any character above U+00FF (a curly quote is enough), and the forward walk
ends at the offset, where encoding a prefix would first copy it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from typing import Final

from adinject.page.encoding import SINGLE_BYTE, Sniffed, encode_text, escape_errors

__all__ = ["OffsetMap"]

_UTF16: Final = frozenset({"UTF-16BE", "UTF-16LE"})
_WINDOW: Final = 8192  # bytes decoded at most per round of `_utf8_forward`


class OffsetMap:
    """Normalised code-point offsets (as turbohtml reports them) -> byte offsets of the original data.

    `text` must be ``decode(data, sniffed)``, i.e. the decoded data after its BOM; the byte offsets returned
    count from the start of `data`, BOM included. Offsets are valid from 0 to the length of the normalised
    text inclusive; anything else raises IndexError.

    Raises ValueError for encodings where byte offsets cannot be recovered by re-encoding: those without a
    Python codec (replacement, x-user-defined) and the stateful ISO-2022-JP, whose re-encoding would add or
    move escape sequences.
    """

    __slots__ = (
        "_bom",
        "_byte",
        "_crlf",
        "_data",
        "_identity",
        "_norm",
        "_raw",
        "_sniffed",
        "_text",
        "_utf8",
    )

    def __init__(self, text: str, sniffed: Sniffed, data: bytes | None = None) -> None:
        """`data`: the original bytes, optional; for UTF-8 they make the mapping cheaper."""
        if sniffed.codec is None:
            raise ValueError(f"no byte offsets for {sniffed.name}: Python has no codec for it")
        if sniffed.name == "ISO-2022-JP":
            raise ValueError("no byte offsets for ISO-2022-JP: re-encoding does not reproduce its escapes")
        self._text = text
        self._sniffed = sniffed
        self._bom = sniffed.bom_length
        # A lone "\r" needs no correction, so only a CR at all makes pair counting necessary; `in` on a
        # single character is a memchr.
        self._crlf = "\r" in text
        # One byte per code point: byte offset = BOM + index, no encoding. ASCII text is one byte per code
        # point in every ASCII-compatible encoding (str.isascii is O(1) on CPython); UTF-16 is not.
        self._identity = sniffed.name in SINGLE_BYTE or (text.isascii() and sniffed.ascii_compatible)
        self._utf8 = sniffed.name == "UTF-8"
        self._data = data if self._utf8 and not self._identity else None
        # Checkpoints: parallel sorted lists of (normalised offset, text index, byte offset) already resolved.
        self._norm: list[int] = [0]
        self._raw: list[int] = [0]
        self._byte: list[int] = [sniffed.bom_length]

    def to_byte(self, offset: int) -> int:
        """The byte offset in the original data (BOM included) of normalised code-point offset `offset`."""
        return self._resolve(offset)

    def to_bytes(self, offsets: Iterable[int]) -> list[int]:
        """`to_byte` for many offsets, returned in the given order; one forward pass over the text."""
        wanted = list(offsets)
        resolved = {offset: self._resolve(offset) for offset in sorted(set(wanted))}
        return [resolved[offset] for offset in wanted]

    def _resolve(self, offset: int) -> int:
        if offset < 0:
            raise IndexError(f"offset {offset} is negative")
        at = bisect_right(self._norm, offset) - 1
        norm0, raw0, byte0 = self._norm[at], self._raw[at], self._byte[at]
        if norm0 == offset:
            return byte0
        raw = self._index(raw0, offset - norm0)
        if raw > len(self._text):
            raise IndexError(f"offset {offset} is past the end of the text")
        if self._identity:
            byte = self._bom + raw
        else:
            forward = self._utf8_forward(byte0, raw - raw0) if self._data is not None else None
            byte = forward if forward is not None else byte0 + self._encoded_length(self._text[raw0:raw])
        self._norm.insert(at + 1, offset)
        self._raw.insert(at + 1, raw)
        self._byte.insert(at + 1, byte)
        return byte

    def _index(self, start: int, distance: int) -> int:
        """The text index `distance` normalised code points after text index `start` (itself a boundary).

        The answer r satisfies r = start + distance + (pairs "\\r\\n" beginning in [start, r)); a pair
        beginning at r - 1 straddles r and counts, so r never falls between a CR and its LF. The least such
        r is reached by iterating from below, counting only the stretch each round adds.
        """
        end = start + distance
        if not self._crlf:
            return end
        counted_to = start
        pairs = 0
        while True:
            # Pairs beginning at p with counted_to <= p <= end - 1, i.e. lying within [counted_to, end + 1).
            pairs += self._text.count("\r\n", counted_to, end + 1)
            counted_to = end
            new_end = start + distance + pairs
            if new_end == end:
                return end
            end = new_end

    def _utf8_forward(self, start: int, count: int) -> int | None:
        """The byte offset `count` code points after byte `start` (where a character starts), or None.

        Each round decodes at least as many bytes as code points are still wanted, extended over the
        continuation bytes that finish its last character. Decoding is strict: every stretch that decodes
        holds whole, valid characters, so the full decode read it the same way and its end is where a
        character starts. Invalid bytes (which the page's text holds as escapes) give None, and the caller
        encodes instead.
        """
        data = self._data
        assert data is not None
        view = memoryview(data)
        size = len(data)
        at = start
        while count > 0:
            # At most a window per round: the decoded text is thrown away at once, and a small one is made
            # and freed in cache instead of pushing the parsed page out of it.
            end = at + min(count, _WINDOW)
            if end > size:
                return None
            while end < size and 0x80 <= data[end] < 0xC0:
                end += 1
            try:
                count -= len(str(view[at:end], "utf-8"))
            except UnicodeDecodeError:
                return None
            at = end
        return at

    def _encoded_length(self, piece: str) -> int:
        if self._sniffed.name in _UTF16:
            return 2 * len(piece) if piece.isascii() else len(encode_text(piece, self._sniffed))
        if piece.isascii():
            return len(piece)
        if self._utf8:
            # In UTF-8 every escaped byte is >= 0x80, where our escapes are surrogateescape's, and the
            # built-in handler keeps the encoder in C.
            return len(piece.encode("utf-8", "surrogateescape"))
        assert self._sniffed.codec is not None  # checked in __init__
        return len(piece.encode(self._sniffed.codec, escape_errors()))
