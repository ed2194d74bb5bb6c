"""Which encoding a page is in, decided the way a browser decides it, and byte-exact decoding.

The order is the HTML standard's "determining the character encoding" with a fixed default in place of
autodetection (we must agree with the browser whenever the page says what it is, and guessing is where
browsers disagree with each other anyway):

1. a byte order mark (UTF-8 ``EF BB BF``, UTF-16BE ``FE FF``, UTF-16LE ``FF FE``) wins over everything;
2. the ``charset`` parameter of the Content-Type header, parsed as Fetch's "extract a MIME type" does;
3. the ``<meta>`` prescan of the first 1024 bytes (HTML "prescan a byte stream to determine its encoding"),
   followed by the ``<?xml ... encoding="..."?>`` declaration ("get an XML encoding") when it finds nothing;
4. the caller's default (windows-1252, the browsers' default for most locales).

A label nobody knows is ignored and the next step decides, as in browsers.

Decoding must let every byte round-trip, because the response we send is the original bytes with units
spliced in: `decode` escapes each undecodable byte ``b`` as the lone surrogate ``U+DC00 + b``. For bytes
>= 0x80 that is exactly Python's ``surrogateescape``; it also covers bytes < 0x80 inside an invalid
sequence (an unpaired surrogate in UTF-16, a broken ISO-2022-JP escape), where ``surrogateescape`` raises.
`encode_text` is the inverse. turbohtml accepts lone surrogates in its input and counts each as one code
point, so the escapes keep offsets exact; a browser would show U+FFFD there instead, which changes nothing
about where tags are.
"""

from __future__ import annotations

import codecs
import functools
import re
from dataclasses import dataclass
from typing import Final, Literal

from adinject.fields import collect_quoted_string, parse_content_type

__all__ = [
    "ESCAPE_ERRORS",
    "SINGLE_BYTE",
    "Decoded",
    "Sniffed",
    "charset_from_content_type",
    "decode",
    "decode_marked",
    "encode_fragment",
    "encode_text",
    "escape_errors",
    "lookup_label",
    "prescan",
    "read_page",
    "sniff",
]

Source = Literal["bom", "header", "meta", "default"]


@dataclass(frozen=True, slots=True)
class Sniffed:
    """The encoding a browser would use for a page, and how we decode and encode it."""

    name: str
    """WHATWG canonical name, e.g. "UTF-8", "windows-1252", "Shift_JIS", "UTF-16LE"."""
    codec: str | None
    """Python codec closest to the WHATWG encoding; None when there is none (replacement, x-user-defined)."""
    bom_length: int
    """Bytes of byte order mark at the start of the data (0, 2 or 3); `decode` skips them."""
    source: Source
    """Which step decided: "bom", "header", "meta" (a <meta> or an XML declaration) or "default"."""
    ascii_compatible: bool
    """False where inserting ASCII bytes between characters is unsafe: UTF-16, ISO-2022-JP, replacement."""


# --------------------------------------------------------------------------------------------------------
# The WHATWG Encoding Standard's table of encodings and labels, with the closest Python codec.
#
# Codec choices that are not obvious:
# - windows-1252 also owns the labels ascii, us-ascii, iso-8859-1 and latin1: browsers decode all of them as
#   windows-1252 (0x80-0x9F are the Windows punctuation, not C1 controls), so Python's "latin-1" would be
#   wrong for them.
# - GBK: the WHATWG GBK decoder *is* the gb18030 decoder (only its encoder differs, and a browser decodes what
#   Python's gb18030 encoder writes), so "gb18030", not Python's narrower "gbk".
# - Big5: WHATWG Big5 is Big5 with the HKSCS extensions, i.e. "big5hkscs".
# - Shift_JIS: WHATWG Shift_JIS is Microsoft's windows-31j (NEC and IBM extensions; labels ms932 and
#   windows-31j map here), i.e. "cp932"; Python's "shift_jis" lacks the extensions.
# - EUC-KR: WHATWG EUC-KR is the Unified Hangul Code superset (label windows-949), i.e. "cp949".
# - ISO-2022-JP: the WHATWG decoder also accepts half-width katakana (ESC ( I), which Python's "iso2022_jp"
#   rejects and "iso2022_jp_ext" accepts.
# - KOI8-U: WHATWG's is KOI8-RU (0xAE/0xBE are ў/Ў); Python's koi8_u differs in those two bytes only, and
#   is still one byte per character, which is all the offset mapping needs.
# - x-mac-cyrillic is the Mac Ukrainian variant; "mac_cyrillic" differs in three bytes, same caveat.
# - "replacement" (ISO-2022-KR, HZ, ISO-2022-CN labels) decodes to a single U+FFFD in browsers and
#   x-user-defined has no Python codec: codec None, callers must leave such pages alone.
#
# Every Python codec below that is marked single-byte decodes each byte to exactly one code point (with the
# escapes) and encodes each code point to one byte, which lets `offsets` map offsets without encoding.
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Encoding:
    name: str
    codec: str | None
    labels: tuple[str, ...]
    single_byte: bool = False
    ascii_compatible: bool = True


def _single(name: str, codec: str, labels: str) -> _Encoding:
    return _Encoding(name, codec, tuple(labels.split()), single_byte=True)


def _multi(name: str, codec: str | None, labels: str, *, ascii_compatible: bool = True) -> _Encoding:
    return _Encoding(name, codec, tuple(labels.split()), ascii_compatible=ascii_compatible)


_TABLE: Final[tuple[_Encoding, ...]] = (
    # The Encoding
    _multi("UTF-8", "utf-8", "unicode-1-1-utf-8 unicode11utf8 unicode20utf8 utf-8 utf8 x-unicode20utf8"),
    # Legacy single-byte encodings
    _single("IBM866", "cp866", "866 cp866 csibm866 ibm866"),
    _single(
        "ISO-8859-2",
        "iso8859-2",
        "csisolatin2 iso-8859-2 iso-ir-101 iso8859-2 iso88592 iso_8859-2 iso_8859-2:1987 l2 latin2",
    ),
    _single(
        "ISO-8859-3",
        "iso8859-3",
        "csisolatin3 iso-8859-3 iso-ir-109 iso8859-3 iso88593 iso_8859-3 iso_8859-3:1988 l3 latin3",
    ),
    _single(
        "ISO-8859-4",
        "iso8859-4",
        "csisolatin4 iso-8859-4 iso-ir-110 iso8859-4 iso88594 iso_8859-4 iso_8859-4:1988 l4 latin4",
    ),
    _single(
        "ISO-8859-5",
        "iso8859-5",
        "csisolatincyrillic cyrillic iso-8859-5 iso-ir-144 iso8859-5 iso88595 iso_8859-5 iso_8859-5:1988",
    ),
    _single(
        "ISO-8859-6",
        "iso8859-6",
        "arabic asmo-708 csiso88596e csiso88596i csisolatinarabic ecma-114 iso-8859-6 iso-8859-6-e "
        "iso-8859-6-i iso-ir-127 iso8859-6 iso88596 iso_8859-6 iso_8859-6:1987",
    ),
    _single(
        "ISO-8859-7",
        "iso8859-7",
        "csisolatingreek ecma-118 elot_928 greek greek8 iso-8859-7 iso-ir-126 iso8859-7 iso88597 "
        "iso_8859-7 iso_8859-7:1987 sun_eu_greek",
    ),
    _single(
        "ISO-8859-8",
        "iso8859-8",
        "csiso88598e csisolatinhebrew hebrew iso-8859-8 iso-8859-8-e iso-ir-138 iso8859-8 iso88598 "
        "iso_8859-8 iso_8859-8:1988 visual",
    ),
    # Logical-order Hebrew: same bytes as ISO-8859-8, only the rendering direction differs.
    _single("ISO-8859-8-I", "iso8859-8", "csiso88598i iso-8859-8-i logical"),
    _single("ISO-8859-10", "iso8859-10", "csisolatin6 iso-8859-10 iso-ir-157 iso8859-10 iso885910 l6 latin6"),
    _single("ISO-8859-13", "iso8859-13", "iso-8859-13 iso8859-13 iso885913"),
    _single("ISO-8859-14", "iso8859-14", "iso-8859-14 iso8859-14 iso885914"),
    _single("ISO-8859-15", "iso8859-15", "csisolatin9 iso-8859-15 iso8859-15 iso885915 iso_8859-15 l9"),
    _single("ISO-8859-16", "iso8859-16", "iso-8859-16"),
    _single("KOI8-R", "koi8-r", "cskoi8r koi koi8 koi8-r koi8_r"),
    _single("KOI8-U", "koi8-u", "koi8-ru koi8-u"),
    _single("macintosh", "mac-roman", "csmacintosh mac macintosh x-mac-roman"),
    _single("windows-874", "cp874", "dos-874 iso-8859-11 iso8859-11 iso885911 tis-620 windows-874"),
    _single("windows-1250", "cp1250", "cp1250 windows-1250 x-cp1250"),
    _single("windows-1251", "cp1251", "cp1251 windows-1251 x-cp1251"),
    _single(
        "windows-1252",
        "cp1252",
        "ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100 iso8859-1 iso88591 "
        "iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii windows-1252 x-cp1252",
    ),
    _single("windows-1253", "cp1253", "cp1253 windows-1253 x-cp1253"),
    _single(
        "windows-1254",
        "cp1254",
        "cp1254 csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 iso_8859-9 iso_8859-9:1989 l5 latin5 "
        "windows-1254 x-cp1254",
    ),
    _single("windows-1255", "cp1255", "cp1255 windows-1255 x-cp1255"),
    _single("windows-1256", "cp1256", "cp1256 windows-1256 x-cp1256"),
    _single("windows-1257", "cp1257", "cp1257 windows-1257 x-cp1257"),
    _single("windows-1258", "cp1258", "cp1258 windows-1258 x-cp1258"),
    _single("x-mac-cyrillic", "mac-cyrillic", "x-mac-cyrillic x-mac-ukrainian"),
    # Legacy multi-byte Chinese (simplified) encodings
    _multi(
        "GBK",
        "gb18030",
        "chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 gbk iso-ir-58 x-gbk",
    ),
    _multi("gb18030", "gb18030", "gb18030"),
    # Legacy multi-byte Chinese (traditional) encodings
    _multi("Big5", "big5hkscs", "big5 big5-hkscs cn-big5 csbig5 x-x-big5"),
    # Legacy multi-byte Japanese encodings
    _multi("EUC-JP", "euc_jp", "cseucpkdfmtjapanese euc-jp x-euc-jp"),
    # Stateful: escape sequences switch the meaning of ASCII bytes, so nothing may be inserted blindly.
    _multi("ISO-2022-JP", "iso2022_jp_ext", "csiso2022jp iso-2022-jp", ascii_compatible=False),
    _multi("Shift_JIS", "cp932", "csshiftjis ms932 ms_kanji shift-jis shift_jis sjis windows-31j x-sjis"),
    # Legacy multi-byte Korean encodings
    _multi(
        "EUC-KR",
        "cp949",
        "cseuckr csksc56011987 euc-kr iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989 ksc5601 ksc_5601 "
        "windows-949",
    ),
    # Legacy miscellaneous encodings. "replacement" is deliberately not one of its own labels.
    _multi(
        "replacement",
        None,
        "csiso2022kr hz-gb-2312 iso-2022-cn iso-2022-cn-ext iso-2022-kr",
        ascii_compatible=False,
    ),
    _multi("UTF-16BE", "utf-16-be", "unicodefffe utf-16be", ascii_compatible=False),
    _multi(
        "UTF-16LE",
        "utf-16-le",
        "csunicode iso-10646-ucs-2 ucs-2 unicode unicodefeff utf-16 utf-16le",
        ascii_compatible=False,
    ),
    # Bytes 0x80-0xFF map to U+F780-U+F7FF; no Python codec, and only reachable from a Content-Type header
    # (a <meta> naming it means windows-1252).
    _multi("x-user-defined", None, "x-user-defined"),
)

_BY_NAME: Final[dict[str, _Encoding]] = {enc.name: enc for enc in _TABLE}
_BY_LABEL: Final[dict[str, str]] = {label: enc.name for enc in _TABLE for label in enc.labels}

SINGLE_BYTE: Final[frozenset[str]] = frozenset(enc.name for enc in _TABLE if enc.single_byte)
"""Canonical names whose codec maps every byte to exactly one code point and back."""

# "ASCII whitespace" of the Encoding Standard's get-an-encoding and of the HTML prescan.
_ASCII_WS: Final = "\t\n\x0c\r "
_ASCII_WS_BYTES: Final = b"\t\n\x0c\r "


def lookup_label(label: str) -> str | None:
    """WHATWG "get an encoding": the canonical name for `label`, or None when no encoding has that label.

    Leading and trailing ASCII whitespace is ignored and matching is ASCII case-insensitive (only A-Z fold,
    so a non-ASCII look-alike never matches).
    """
    label = label.strip(_ASCII_WS)
    if not label.isascii():
        return None
    return _BY_LABEL.get(label.lower())


# --------------------------------------------------------------------------------------------------------
# Content-Type: Fetch "extract a MIME type" over the header value (several values may have been combined
# with commas), each value parsed by adinject.fields.parse_content_type (MIME Sniffing's "parse a MIME type").
# --------------------------------------------------------------------------------------------------------

_HTTP_TAB_OR_SPACE: Final = "\t "


def _split_header_values(value: str) -> list[str]:
    """Fetch "get, decode, and split": commas separate values except inside quoted strings."""
    values: list[str] = []
    position = 0
    pending: list[str] = []
    while True:
        end = position
        while end < len(value) and value[end] not in '",':
            end += 1
        pending.append(value[position:end])
        position = end
        if position < len(value) and value[position] == '"':
            quoted, position = collect_quoted_string(value, position, extract=False)
            pending.append(quoted)
            if position < len(value):
                continue
        values.append("".join(pending).strip(_HTTP_TAB_OR_SPACE))
        pending = []
        if position >= len(value):
            return values
        position += 1  # the comma


def charset_from_content_type(value: str) -> str | None:
    """The ``charset`` parameter of a Content-Type header value (the label as written), or None.

    Follows Fetch's "extract a MIME type": quoted values with backslash escapes, case-insensitive parameter
    names, the first ``charset`` of a value winning, and for a comma-combined header the last parsable MIME
    type deciding (keeping an earlier charset only while the essence stays the same, and skipping ``*/*``).
    """
    if "charset" not in value.lower():
        return None  # the usual "text/html": without the word there is no charset parameter to find
    charset: str | None = None  # Fetch's `charset` variable: carried across values with the same essence
    essence: str | None = None
    result: str | None = None  # the charset parameter of the MIME type that ends up chosen
    for part in _split_header_values(value):
        part_essence, params = parse_content_type(part)
        if not part_essence or part_essence == "*/*":
            continue
        if part_essence != essence:
            charset = params.get("charset")
            essence = part_essence
            result = charset
        else:
            # A repeated essence keeps its own charset, or inherits the one first seen for that essence.
            result = params.get("charset", charset)
    return result


# --------------------------------------------------------------------------------------------------------
# The <meta> prescan (HTML "prescan a byte stream to determine its encoding") and the XML declaration.
# --------------------------------------------------------------------------------------------------------

_PRESCAN_LIMIT: Final = 1024
_WS_OR_SLASH: Final = b"\t\n\x0c\r /"
_LETTERS: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_END_OF_DATA: Final = -1


def _get_attribute(buf: bytes, pos: int) -> tuple[tuple[bytes, bytes] | None, int]:
    """HTML "get an attribute" (while sniffing): ((name, value) or None, position after it).

    Names and values come back ASCII-lowercased, as the algorithm builds them. Running out of bytes gives
    (None, _END_OF_DATA): the unfinished attribute is dropped and the prescan stops after this tag.
    """
    n = len(buf)
    while pos < n and buf[pos] in _WS_OR_SLASH:
        pos += 1
    if pos >= n:
        return None, _END_OF_DATA
    if buf[pos] == 0x3E:  # '>': there is no attribute
        return None, pos
    # Attribute name: up to '=' (once the name is non-empty), whitespace, '/' or '>'.
    start = pos
    pos += 1  # the first byte is part of the name whatever it is, even '='
    while pos < n and buf[pos] not in b"=\t\n\x0c\r />":
        pos += 1
    if pos >= n:
        return None, _END_OF_DATA
    name = buf[start:pos].lower()
    if buf[pos] in b"/>":
        return (name, b""), pos
    if buf[pos] != 0x3D:  # whitespace: "spaces" step, then maybe '='
        while pos < n and buf[pos] in _ASCII_WS_BYTES:
            pos += 1
        if pos >= n:
            return None, _END_OF_DATA
        if buf[pos] != 0x3D:
            return (name, b""), pos
    pos += 1  # past '='
    while pos < n and buf[pos] in _ASCII_WS_BYTES:
        pos += 1
    if pos >= n:
        return None, _END_OF_DATA
    first = buf[pos]
    if first in b"\"'":
        end = buf.find(bytes((first,)), pos + 1)
        if end < 0:
            return None, _END_OF_DATA
        return (name, buf[pos + 1 : end].lower()), end + 1
    if first == 0x3E:
        return (name, b""), pos
    start = pos
    pos += 1
    while pos < n and buf[pos] not in b"\t\n\x0c\r >":
        pos += 1
    if pos >= n:
        return None, _END_OF_DATA
    return (name, buf[start:pos].lower()), pos


def _charset_from_meta_content(content: bytes) -> str | None:
    """HTML "algorithm for extracting a character encoding from a meta element" (on a content= value)."""
    s = content.lower()
    n = len(s)
    pos = 0
    while True:
        found = s.find(b"charset", pos)
        if found < 0:
            return None
        pos = found + 7
        while pos < n and s[pos] in _ASCII_WS_BYTES:
            pos += 1
        if pos < n and s[pos] == 0x3D:
            pos += 1
            break
        # Not "charset=": look for the next occurrence from here.
    while pos < n and s[pos] in _ASCII_WS_BYTES:
        pos += 1
    if pos >= n:
        return None
    first = s[pos]
    if first in b"\"'":
        end = s.find(bytes((first,)), pos + 1)
        if end < 0:  # an unmatched quote means no encoding at all
            return None
        return lookup_label(s[pos + 1 : end].decode("latin-1"))
    end = pos
    while end < n and s[end] not in b"\t\n\x0c\r ;":
        end += 1
    return lookup_label(s[pos:end].decode("latin-1"))


def _prescan_meta(buf: bytes, pos: int) -> tuple[str | None, int]:
    """The <meta> branch of the prescan, `pos` at the byte after "<meta". Returns (encoding, position)."""
    seen: set[bytes] = set()
    got_pragma = False
    need_pragma: bool | None = None
    charset: str | None = None  # None is both "null" and "failure"; need_pragma tells them apart
    while True:
        attribute, pos = _get_attribute(buf, pos)
        if attribute is None:
            break
        name, value = attribute
        if name in seen:
            continue
        seen.add(name)
        if name == b"http-equiv":
            if value == b"content-type":
                got_pragma = True
        elif name == b"content":
            if need_pragma is None:  # "if charset is still set to null"
                extracted = _charset_from_meta_content(value)
                if extracted is not None:
                    charset = extracted
                    need_pragma = True
        elif name == b"charset":
            charset = lookup_label(value.decode("latin-1"))
            need_pragma = False
    if need_pragma is None or (need_pragma and not got_pragma) or charset is None:
        return None, pos
    if charset in ("UTF-16BE", "UTF-16LE"):
        # The bytes we are reading are ASCII, so the page cannot really be UTF-16.
        return "UTF-8", pos
    if charset == "x-user-defined":
        return "windows-1252", pos
    return charset, pos


def _xml_declaration_encoding(buf: bytes) -> str | None:
    """HTML "get an XML encoding": the encoding="..." of a leading <?xml ...?> declaration, or None."""
    if not buf.startswith(b"<?xml"):
        return None
    end = buf.find(b">")
    if end < 0:
        return None
    decl = buf[:end]
    found = decl.find(b"encoding")
    if found < 0:
        return None
    pos = found + 8
    while pos < len(decl) and decl[pos] <= 0x20:
        pos += 1
    if pos >= len(decl) or decl[pos] != 0x3D:
        return None
    pos += 1
    while pos < len(decl) and decl[pos] <= 0x20:
        pos += 1
    if pos >= len(decl) or decl[pos] not in b"\"'":
        return None
    close = decl.find(bytes((decl[pos],)), pos + 1)
    if close < 0:
        return None
    potential = decl[pos + 1 : close]
    if any(byte <= 0x20 for byte in potential):
        return None
    name = lookup_label(potential.decode("latin-1"))
    if name in ("UTF-16BE", "UTF-16LE"):
        return "UTF-8"
    return name


def _skip_tag(buf: bytes, pos: int) -> int:
    """Past a tag other than <meta> at `pos`: its name, then its attributes (so a '>' inside a quoted value
    is skipped). The position of its '>', or _END_OF_DATA."""
    n = len(buf)
    end = pos + 2
    while end < n and buf[end] not in b"\t\n\x0c\r >":
        end += 1
    if end >= n:
        return _END_OF_DATA
    pos = end
    while True:
        attribute, pos = _get_attribute(buf, pos)
        if attribute is None:
            return pos


def prescan(data: bytes) -> str | None:
    """The encoding declared in the first 1024 bytes of `data`, or None.

    HTML "prescan a byte stream to determine its encoding" (comments skipped, ``<meta charset>`` and
    ``<meta http-equiv=content-type content=...>``, other tags' attributes skipped, ``<!``/``</``/``<?``
    skipped to ``>``), then, when that finds nothing, "get an XML encoding".
    """
    buf = data[:_PRESCAN_LIMIT]
    # A UTF-16 "<?x" without BOM: the only way the prescan can name UTF-16.
    if buf.startswith(b"<\x00?\x00x\x00"):
        return "UTF-16LE"
    if buf.startswith(b"\x00<\x00?\x00x"):
        return "UTF-16BE"
    if b"charset" not in buf.lower():
        # Both ways a <meta> declares an encoding spell "charset" (the attribute, or inside content=): a
        # page without the word can skip the byte-by-byte walk, which is most of this function's cost.
        return _xml_declaration_encoding(buf)
    n = len(buf)
    pos = 0
    while True:
        # Every branch starts at a '<'; any other byte is "do nothing", so jump straight to the next one.
        pos = buf.find(b"<", pos)
        if pos < 0:
            break
        if buf.startswith(b"<!--", pos):
            # The '>' of the first "-->" after "<!", whose dashes may be those of "<!--" itself ("<!-->").
            end = buf.find(b"-->", pos + 2)
            if end < 0:
                break
            pos = end + 3
            continue
        if pos + 5 < n and buf[pos + 1 : pos + 5].lower() == b"meta" and buf[pos + 5] in _WS_OR_SLASH:
            encoding, pos = _prescan_meta(buf, pos + 5)
            if encoding is not None:
                return encoding
            if pos == _END_OF_DATA:
                break
            pos += 1
            continue
        if pos + 1 < n and (
            buf[pos + 1] in _LETTERS or (buf[pos + 1] == 0x2F and pos + 2 < n and buf[pos + 2] in _LETTERS)
        ):
            pos = _skip_tag(buf, pos)
            if pos == _END_OF_DATA:
                break
            pos += 1
            continue
        if pos + 1 < n and buf[pos + 1] in b"!/?":
            end = buf.find(b">", pos + 1)
            if end < 0:
                break
            pos = end + 1
            continue
        pos += 1
    return _xml_declaration_encoding(buf)


# --------------------------------------------------------------------------------------------------------
# Sniffing, decoding, encoding.
# --------------------------------------------------------------------------------------------------------


def _sniffed(name: str, bom_length: int, source: Source) -> Sniffed:
    enc = _BY_NAME[name]
    return Sniffed(
        name=enc.name,
        codec=enc.codec,
        bom_length=bom_length,
        source=source,
        ascii_compatible=enc.ascii_compatible,
    )


def sniff(data: bytes, content_type: str | None = None, default: str = "windows-1252") -> Sniffed:
    """The encoding a browser would decode `data` with, given the response's Content-Type header value.

    `default` is a label (or canonical name) used when neither BOM, header nor document declares one.
    Raises ValueError if `default` is not a WHATWG label.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return _sniffed("UTF-8", 3, "bom")
    if data.startswith(b"\xfe\xff"):
        return _sniffed("UTF-16BE", 2, "bom")
    if data.startswith(b"\xff\xfe"):
        return _sniffed("UTF-16LE", 2, "bom")
    if content_type is not None:
        label = charset_from_content_type(content_type)
        if label is not None:
            name = lookup_label(label)
            if name is not None:
                return _sniffed(name, 0, "header")
    name = prescan(data)
    if name is not None:
        return _sniffed(name, 0, "meta")
    name = lookup_label(default)
    if name is None:
        raise ValueError(f"unknown default encoding label {default!r}")
    return _sniffed(name, 0, "default")


@dataclass(frozen=True, slots=True)
class Decoded:
    """A page's encoding, its text (None when it has no codec or is not ASCII-compatible), and whether the
    text holds escapes for undecodable bytes."""

    sniffed: Sniffed
    text: str | None
    escaped: bool = False


def sniff_and_decode(data: bytes, content_type: str | None = None) -> tuple[Sniffed, str | None]:
    """`read_page` as a pair (sniffed, text)."""
    decoded = read_page(data, content_type)
    return decoded.sniffed, decoded.text


def read_page(data: bytes, content_type: str | None = None) -> Decoded:
    """`sniff`, then `decode` when the encoding has a codec and is ASCII-compatible (else None for the text).

    Where nothing declares the encoding, browsers detect it from the bytes: a page that is valid UTF-8 with
    non-ASCII characters is read as UTF-8 (windows-1252 would be mojibake). That test is the decode itself,
    so such a page is decoded once.
    """
    sniffed = sniff(data, content_type)
    if sniffed.source == "default":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            # An ASCII page reads the same in the default encoding, and keeps it (units are encoded in it);
            # asking the text (O(1)) spares a pass over the bytes to find that out first.
            return Decoded(sniffed if text.isascii() else _sniffed("UTF-8", 0, "default"), text)
    if sniffed.codec is None or not sniffed.ascii_compatible:
        return Decoded(sniffed, None)
    text, escaped = decode_marked(data, sniffed)
    return Decoded(sniffed, text, escaped)


ESCAPE_ERRORS: Final = "adinject.byteescape"
"""Name of the codec error handler `decode` and `encode_text` use (registered by `escape_errors()`)."""

_ESCAPE_BASE: Final = 0xDC00
_ESCAPE_RE: Final = re.compile("[\udc00-\udcff]+")


def _byte_escape(exc: UnicodeError) -> tuple[str | bytes, int]:
    """Codec error handler: undecodable byte b <-> lone surrogate U+DC00+b (surrogateescape, extended)."""
    if isinstance(exc, UnicodeDecodeError):
        bad = exc.object[exc.start : exc.end]
        return "".join([chr(_ESCAPE_BASE + byte) for byte in bad]), exc.end
    if isinstance(exc, UnicodeEncodeError):
        chars = exc.object[exc.start : exc.end]
        if all(_ESCAPE_BASE <= ord(char) <= _ESCAPE_BASE + 0xFF for char in chars):
            return bytes([ord(char) - _ESCAPE_BASE for char in chars]), exc.end
    raise exc


@functools.cache
def escape_errors() -> str:
    """The name of the byte-escape codec error handler, registered with `codecs` on first use.

    Registering a named handler adds an entry to a process-wide table; doing it on first use rather than at
    import keeps `import adinject` free of side effects. The name is adinject's own, so no other code's
    decoding changes either way.
    """
    codecs.register_error(ESCAPE_ERRORS, _byte_escape)
    return ESCAPE_ERRORS


def _codec(sniffed: Sniffed) -> str:
    if sniffed.codec is None:
        raise ValueError(f"no Python codec for the {sniffed.name} encoding; leave such pages untouched")
    return sniffed.codec


def decode(data: bytes, sniffed: Sniffed) -> str:
    """Decode `data` after its BOM; every undecodable byte b becomes U+DC00+b so `encode_text` restores it.

    For ASCII-compatible encodings this is ``data.decode(codec, "surrogateescape")``. Re-encoding gives back
    the same bytes, with two exceptions: ISO-2022-JP, whose escape sequences carry state a re-encoder does
    not reproduce, and the few characters Shift_JIS (windows-31j) and Big5 can each spell two ways, which
    come back spelt the other way but with the same length -- all `offsets` relies on. Raises ValueError
    when the encoding has no Python codec.
    """
    # Slicing copies the whole body; only a page with a BOM needs it.
    return decode_marked(data, sniffed)[0]


def decode_marked(data: bytes, sniffed: Sniffed) -> tuple[str, bool]:
    """`decode`, and whether the text holds escapes (lone surrogates) for undecodable bytes.

    Strict decoding first: it is what almost every page needs, and it proves the text has no escapes, so
    the parser need not be handed a cleaned copy (see `page.model.parse_text`). Only a page with an
    undecodable byte pays a second decode.
    """
    # Slicing copies the whole body; only a page with a BOM needs it.
    body = data[sniffed.bom_length :] if sniffed.bom_length else data
    codec = _codec(sniffed)
    try:
        return body.decode(codec), False
    except UnicodeDecodeError:
        return body.decode(codec, escape_errors()), True


def encode_text(text: str, sniffed: Sniffed) -> bytes:
    """The inverse of `decode` (without the BOM): escapes become their original bytes again."""
    codec = _codec(sniffed)
    if sniffed.name not in ("UTF-16BE", "UTF-16LE") or not _ESCAPE_RE.search(text):
        return text.encode(codec, escape_errors())
    # CPython's UTF-16 encoder rejects an error-handler replacement of an odd number of bytes, and each
    # escape stands for one byte, so the escapes are put back by hand between normally encoded runs.
    out = bytearray()
    position = 0
    for match in _ESCAPE_RE.finditer(text):
        out += text[position : match.start()].encode(codec)
        out += bytes([ord(char) - _ESCAPE_BASE for char in match.group()])
        position = match.end()
    out += text[position:].encode(codec)
    return bytes(out)


def encode_fragment(text: str, sniffed: Sniffed) -> bytes:
    """Encode markup for insertion; characters the encoding cannot hold become ``&#NNNN;`` references.

    No BOM is written (the fragment goes mid-document). Raises ValueError when there is no Python codec.
    """
    return text.encode(_codec(sniffed), "xmlcharrefreplace")
