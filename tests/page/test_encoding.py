"""Encoding sniffing as browsers do it (WHATWG Encoding + HTML), and byte-exact decoding."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adinject.page import encoding
from adinject.page.encoding import (
    SINGLE_BYTE,
    Sniffed,
    charset_from_content_type,
    decode,
    encode_fragment,
    encode_text,
    lookup_label,
    prescan,
    sniff,
)

CANONICAL_NAMES = {
    "UTF-8",
    "IBM866",
    *(f"ISO-8859-{n}" for n in (2, 3, 4, 5, 6, 7, 8, 10, 13, 14, 15, 16)),
    "ISO-8859-8-I",
    "KOI8-R",
    "KOI8-U",
    "macintosh",
    "windows-874",
    *(f"windows-{n}" for n in range(1250, 1259)),
    "x-mac-cyrillic",
    "GBK",
    "gb18030",
    "Big5",
    "EUC-JP",
    "ISO-2022-JP",
    "Shift_JIS",
    "EUC-KR",
    "replacement",
    "UTF-16BE",
    "UTF-16LE",
    "x-user-defined",
}


def sniffed_for(name: str) -> Sniffed:
    """A Sniffed for a canonical name, as the header step would produce it."""
    return sniff(b"", f"text/html; charset={name}")


# --- the label table ----------------------------------------------------------------------------------------


def test_table_has_every_whatwg_encoding() -> None:
    assert {enc.name for enc in encoding._TABLE} == CANONICAL_NAMES


@pytest.mark.parametrize(
    ("label", "name"),
    [
        ("utf-8", "UTF-8"),
        ("UTF8", "UTF-8"),
        ("unicode-1-1-utf-8", "UTF-8"),
        ("x-unicode20utf8", "UTF-8"),
        # ISO-8859-1, ASCII and friends all mean windows-1252 on the web.
        ("iso-8859-1", "windows-1252"),
        ("latin1", "windows-1252"),
        ("ascii", "windows-1252"),
        ("us-ascii", "windows-1252"),
        ("ANSI_X3.4-1968", "windows-1252"),
        ("cp819", "windows-1252"),
        ("iso-8859-9", "windows-1254"),
        ("latin5", "windows-1254"),
        ("iso-8859-11", "windows-874"),
        ("tis-620", "windows-874"),
        ("866", "IBM866"),
        ("iso_8859-2:1987", "ISO-8859-2"),
        ("csisolatinarabic", "ISO-8859-6"),
        ("iso-8859-6-i", "ISO-8859-6"),
        ("visual", "ISO-8859-8"),
        ("logical", "ISO-8859-8-I"),
        ("l9", "ISO-8859-15"),
        ("iso-8859-16", "ISO-8859-16"),
        ("koi", "KOI8-R"),
        ("koi8-ru", "KOI8-U"),
        ("x-mac-roman", "macintosh"),
        ("x-mac-ukrainian", "x-mac-cyrillic"),
        ("gb2312", "GBK"),
        ("chinese", "GBK"),
        ("x-gbk", "GBK"),
        ("gb18030", "gb18030"),
        ("big5-hkscs", "Big5"),
        ("x-x-big5", "Big5"),
        ("x-euc-jp", "EUC-JP"),
        ("csiso2022jp", "ISO-2022-JP"),
        ("sjis", "Shift_JIS"),
        ("windows-31j", "Shift_JIS"),
        ("ms932", "Shift_JIS"),
        ("ks_c_5601-1987", "EUC-KR"),
        ("windows-949", "EUC-KR"),
        ("iso-2022-kr", "replacement"),
        ("hz-gb-2312", "replacement"),
        ("iso-2022-cn-ext", "replacement"),
        ("utf-16", "UTF-16LE"),
        ("unicode", "UTF-16LE"),
        ("ucs-2", "UTF-16LE"),
        ("unicodefffe", "UTF-16BE"),
        ("utf-16be", "UTF-16BE"),
        ("x-user-defined", "x-user-defined"),
        # Surrounding ASCII whitespace is ignored, case folds.
        ("  Shift_JIS\t\n", "Shift_JIS"),
        ("\x0cWINDOWS-1251\r", "windows-1251"),
    ],
)
def test_lookup_label(label: str, name: str) -> None:
    assert lookup_label(label) == name


@pytest.mark.parametrize(
    "label",
    [
        "",
        "replacement",  # the name of the replacement encoding is deliberately not one of its labels
        "utf-32",
        "latin-1",
        "utf_8",
        "utf-8\x00",
        "\u017fhift_jis",  # long s: would fold to "shift_jis" with full Unicode case folding
        "utf\u20138",
        "utf 8",
        "\xa0utf-8",  # NBSP is not ASCII whitespace
    ],
)
def test_lookup_label_unknown(label: str) -> None:
    assert lookup_label(label) is None


def test_every_canonical_name_but_replacement_is_a_label() -> None:
    for name in CANONICAL_NAMES - {"replacement"}:
        assert lookup_label(name) == name


def test_codecs_exist_and_are_canonical() -> None:
    for enc in encoding._TABLE:
        if enc.codec is not None:
            assert codecs.lookup(enc.codec).name == enc.codec


@pytest.mark.parametrize("name", sorted(SINGLE_BYTE))
def test_single_byte_codecs_are_one_code_point_per_byte(name: str) -> None:
    # The offset map's fast path relies on this for every single-byte encoding.
    sniffed = sniffed_for(name)
    data = bytes(range(256))
    text = decode(data, sniffed)
    assert len(text) == 256
    assert encode_text(text, sniffed) == data
    for char in text:
        assert len(encode_text(char, sniffed)) == 1


def test_ascii_compatibility_flags() -> None:
    flags = {name: sniffed_for(name).ascii_compatible for name in CANONICAL_NAMES - {"replacement"}}
    assert {name for name, ok in flags.items() if not ok} == {"UTF-16BE", "UTF-16LE", "ISO-2022-JP"}
    replacement = sniff(b"", "text/html; charset=iso-2022-kr")
    assert replacement.name == "replacement"
    assert replacement.codec is None
    assert not replacement.ascii_compatible


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        ("windows-1252", "cp1252"),
        ("GBK", "gb18030"),
        ("gb18030", "gb18030"),
        ("Big5", "big5hkscs"),
        ("Shift_JIS", "cp932"),
        ("EUC-KR", "cp949"),
        ("EUC-JP", "euc_jp"),
        ("UTF-16LE", "utf-16-le"),
        ("x-user-defined", None),
    ],
)
def test_codec_choice(name: str, codec: str | None) -> None:
    assert sniffed_for(name).codec == codec


# --- Content-Type -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "charset"),
    [
        ("text/html; charset=utf-8", "utf-8"),
        ("text/html;charset=UTF-8", "UTF-8"),
        ("TEXT/HTML; CHARSET=Shift_JIS", "Shift_JIS"),
        ('text/html; charset="utf-8"', "utf-8"),
        ('text/html; charset="ut\\f-8"', "utf-8"),  # backslash escapes in quoted strings
        ('text/html; charset="utf-8', "utf-8"),  # an unterminated quoted string ends at the end
        ("text/html; charset=utf-8 ", "utf-8"),  # trailing whitespace of a token value is dropped
        ("  text/html  ;  charset=gbk", "gbk"),
        ("text/html; format=flowed; charset=koi8-r; q=1", "koi8-r"),
        ('text/html; foo="a;charset=big5"; charset=euc-kr', "euc-kr"),  # ';' inside quotes is not a split
        ("text/html; charset=utf-8; charset=gbk", "utf-8"),  # the first occurrence wins
        ("text/html; charset=; charset=gbk", "gbk"),  # an empty value is skipped, not recorded
        ("text/html; charset", None),
        ("text/html; charset =utf-8", None),  # "charset " is not a token, so not the charset parameter
        ("text/html", None),
        ("", None),
        ("text; charset=utf-8", None),  # no subtype: not a MIME type at all
        ("text/html charset=utf-8", None),
        ("te xt/html; charset=utf-8", None),
        ("text/html; charset=\x01utf-8", None),  # not quoted-string token code points
        # Several values combined with commas (Fetch "extract a MIME type").
        ("text/html; charset=gbk, text/html", "gbk"),  # same essence keeps the earlier charset
        ("text/html; charset=gbk, text/plain", None),  # a new essence drops it
        ("text/plain; charset=gbk, text/html; charset=utf-8", "utf-8"),
        ("text/html; charset=gbk, */*", "gbk"),  # */* is skipped
        ("text/html; charset=gbk, garbage", "gbk"),  # unparsable values are skipped
        ("text/html;charset=gbk, text/html;charset=utf-8, text/html", "gbk"),
        ('text/html; x="a,b"; charset=big5', "big5"),  # ',' inside quotes does not split
    ],
)
def test_charset_from_content_type(value: str, charset: str | None) -> None:
    assert charset_from_content_type(value) == charset


# --- the prescan --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (b"<meta charset=utf-8>", "UTF-8"),
        (b'<meta charset="koi8-r">', "KOI8-R"),
        (b"<meta charset='Shift_JIS'/>", "Shift_JIS"),
        (b"<META CHARSET=UTF-8>", "UTF-8"),
        (b"<MeTa\x0ccharset=euc-jp>", "EUC-JP"),
        (b"<meta/charset=gbk>", "GBK"),
        (b"<meta  charset  =  big5  >", "Big5"),
        (b"<meta charset=utf-8/>", None),  # unquoted value runs to whitespace or '>': "utf-8/" is unknown
        (b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">', "windows-1251"),
        (b'<meta content="text/html; charset=windows-1251" http-equiv="content-type">', "windows-1251"),
        (b"<meta http-equiv=content-type content='charset=\"iso-8859-2\"'>", "ISO-8859-2"),
        (b"<meta http-equiv=content-type content='text/html;charset = big5'>", "Big5"),
        (b"<meta http-equiv=content-type content='charsetx; charset=big5'>", "Big5"),
        (b"<meta http-equiv=content-type content='charset=\"big5'>", None),  # unmatched quote
        (b"<meta content='text/html; charset=utf-8'>", None),  # content without the pragma
        (b"<meta http-equiv=refresh content='text/html; charset=utf-8'>", None),
        (b"<meta charset=bogus>", None),
        (b"<meta charset=bogus><meta charset=iso-8859-7>", "ISO-8859-7"),  # next <meta> gets its chance
        (b"<meta charset=bogus charset=utf-8>", None),  # a repeated attribute is ignored
        # charset= makes charset non-null (a failure), so a later content= may not fill it in.
        (b"<meta charset=bogus http-equiv=content-type content='charset=utf-8'>", None),
        (b"<meta http-equiv=content-type content='charset=gbk' charset=big5>", "Big5"),
        # Meta-declared UTF-16 is UTF-8 (the bytes read were ASCII); x-user-defined is windows-1252.
        (b"<meta charset=utf-16>", "UTF-8"),
        (b"<meta charset=utf-16be>", "UTF-8"),
        (b"<meta http-equiv=content-type content='charset=utf-16le'>", "UTF-8"),
        (b"<meta charset=x-user-defined>", "windows-1252"),
        (b"<meta charset=iso-2022-kr>", "replacement"),
        # What is skipped.
        (b"<!-- <meta charset=utf-8> --><meta charset=koi8-r>", "KOI8-R"),
        (b"<!--><meta charset=koi8-r>", "KOI8-R"),  # "<!-->" ends the comment at once
        (b"<!---><meta charset=utf-8>", "UTF-8"),  # "--->" ends it too: its last two dashes precede '>'
        (b"<!-- unterminated <meta charset=utf-8>", None),
        (b"<!DOCTYPE html><meta charset=utf-8>", "UTF-8"),
        (b"<!DOCTYPE html <meta charset=utf-8>><meta charset=koi8-r>", "KOI8-R"),
        # The first '>' ends "<?", even inside a string; the <meta> before it is skipped with it.
        (b"<?php echo '<meta charset=utf-8>' ?><meta charset=koi8-r>", "KOI8-R"),
        (b"<? x ><meta charset=koi8-r>", "KOI8-R"),
        (b"</p foo='<meta charset=utf-8>'><meta charset=koi8-r>", "KOI8-R"),
        (b"<p title='<meta charset=utf-8>'><meta charset=koi8-r>", "KOI8-R"),
        (b'<p title="a>b" data-x=<meta charset=utf-8>', None),
        (b"<metadata charset=utf-8>", None),  # not "<meta" + space or slash
        (b"<meta>", None),
        (b"<html><head><title>x</title><meta charset=euc-kr>", "EUC-KR"),
        (b"< meta charset=utf-8>", None),  # '<' + space is no tag, and "charset=" outside a tag is text
        (b"<1 charset=utf-8>", None),
        # Scripts are not special to the prescan: a <meta> in a string counts, as in browsers.
        (b"<script>document.write('<meta charset=utf-8>')</script>", "UTF-8"),
        # The XML declaration when no <meta> decides.
        (b'<?xml version="1.0" encoding="ISO-8859-2"?><html>', "ISO-8859-2"),
        (b"<?xml version='1.0' encoding = 'euc-jp' ?><html>", "EUC-JP"),
        (b'<?xml version="1.0" encoding="UTF-16"?><html>', "UTF-8"),
        (b'<?xml version="1.0" encoding="utf 8"?><html>', None),
        (b'<?xml version="1.0" encoding=utf-8?><html>', None),
        (b'<?xml version="1.0"?><html>', None),
        (b' <?xml version="1.0" encoding="ISO-8859-2"?>', None),  # must be at the very start
        (b'<?xml version="1.0" encoding="ISO-8859-2"?><meta charset=koi8-r>', "KOI8-R"),
        # UTF-16 without a BOM, from a "<?x" spelt in UTF-16.
        ('<?xml version="1.0"?>'.encode("utf-16-le"), "UTF-16LE"),
        ('<?xml version="1.0"?>'.encode("utf-16-be"), "UTF-16BE"),
    ],
)
def test_prescan(head: bytes, name: str | None) -> None:
    assert prescan(head + b"<body>text</body>") == name


def test_prescan_reads_only_1024_bytes() -> None:
    filler = b"<!--" + b"x" * 1000 + b"-->"
    assert prescan(filler + b"<meta charset=utf-8>") is None
    at_limit = b"x" * (1024 - len(b"<meta charset=utf-8>")) + b"<meta charset=utf-8>"
    assert len(at_limit) == 1024
    assert prescan(at_limit) == "UTF-8"
    # A tag cut by the limit: the value is unfinished, so it does not count.
    assert prescan(b"x" * 1010 + b"<meta charset='utf-8'>") is None


def test_prescan_skips_attribute_values_of_other_tags() -> None:
    # The "charset" in the quoted title is not seen as an attribute of anything.
    assert prescan(b"<a title='x <meta charset=utf-8'><b>") is None


# --- sniff: the order of the steps --------------------------------------------------------------------------


def test_bom_wins_over_everything() -> None:
    page = b"<meta charset=koi8-r>"
    assert sniff(b"\xef\xbb\xbf" + page, "text/html; charset=gbk") == Sniffed(
        "UTF-8", "utf-8", 3, "bom", True
    )
    utf16be = sniff(b"\xfe\xff" + page, "text/html; charset=gbk")
    assert (utf16be.name, utf16be.codec, utf16be.bom_length, utf16be.source) == (
        "UTF-16BE",
        "utf-16-be",
        2,
        "bom",
    )
    utf16le = sniff(b"\xff\xfe" + page)
    assert (utf16le.name, utf16le.bom_length, utf16le.ascii_compatible) == ("UTF-16LE", 2, False)
    # FF FE 00 00 is UTF-32LE's BOM, but browsers know no UTF-32: it is UTF-16LE.
    assert sniff(b"\xff\xfe\x00\x00").name == "UTF-16LE"


def test_header_wins_over_meta() -> None:
    page = b"<meta charset=koi8-r>"
    assert sniff(page, "text/html; charset=gbk") == Sniffed("GBK", "gb18030", 0, "header", True)
    # The header is not second-guessed: UTF-16 from a header stays UTF-16 (only a <meta> is downgraded).
    assert sniff(page, "text/html; charset=utf-16").name == "UTF-16LE"
    assert sniff(page, "text/html; charset=x-user-defined").name == "x-user-defined"


def test_unknown_header_label_falls_through_to_meta() -> None:
    page = b"<meta charset=koi8-r>"
    assert sniff(page, "text/html; charset=bogus") == Sniffed("KOI8-R", "koi8-r", 0, "meta", True)
    assert sniff(page, "text/html").source == "meta"
    assert sniff(page, "garbage").source == "meta"


def test_default() -> None:
    assert sniff(b"<p>hi") == Sniffed("windows-1252", "cp1252", 0, "default", True)
    assert sniff(b"<meta charset=bogus><p>hi", default="utf-8") == Sniffed(
        "UTF-8", "utf-8", 0, "default", True
    )
    assert sniff(b"", default=" Latin1 ").name == "windows-1252"
    with pytest.raises(ValueError, match="unknown default"):
        sniff(b"", default="nope")


# --- decode, encode_text, encode_fragment -------------------------------------------------------------------


def test_decode_skips_the_bom() -> None:
    data = b"\xef\xbb\xbf<p>\xc3\xa9"
    sniffed = sniff(data)
    assert decode(data, sniffed) == "<p>é"
    # A second BOM is content (a U+FEFF character), as for browsers.
    assert decode(b"\xef\xbb\xbf\xef\xbb\xbf<p>", sniff(b"\xef\xbb\xbf")) == "\ufeff<p>"


def test_decode_escapes_invalid_bytes_like_surrogateescape() -> None:
    utf8 = sniffed_for("utf-8")
    data = b"<p>\xff\xe4\xb8<b>\xc3"
    text = decode(data, utf8)
    assert text == data.decode("utf-8", "surrogateescape") == "<p>\udcff\udce4\udcb8<b>\udcc3"
    assert encode_text(text, utf8) == data
    # Undefined windows-1252 bytes.
    assert decode(b"\x81\x8d\x8f\x90\x9d", sniffed_for("windows-1252")) == "\udc81\udc8d\udc8f\udc90\udc9d"
    # A broken Shift_JIS lead byte before '<' escapes alone: the '<' stays a '<'.
    assert decode(b"\x81<p>", sniffed_for("shift_jis")) == "\udc81<p>"


def test_decode_utf16_escapes_bytes_below_0x80() -> None:
    # surrogateescape refuses bytes < 0x80; an unpaired surrogate 00 D8 and an odd last byte still round-trip.
    sniffed = sniff(b"\xff\xfe")
    data = b"\xff\xfe<\x00\x00\xd8p\x00>\x00z"
    text = decode(data, sniffed)
    assert text == "<\udc00\udcd8p>\udc7a"
    assert encode_text(text, sniffed) == data[2:]


def test_decode_without_codec_raises() -> None:
    with pytest.raises(ValueError, match="no Python codec"):
        decode(b"abc", sniff(b"", "text/html; charset=iso-2022-kr"))
    with pytest.raises(ValueError, match="no Python codec"):
        encode_fragment("x", sniff(b"", "text/html; charset=x-user-defined"))


ROUND_TRIP_ENCODINGS = sorted(CANONICAL_NAMES - {"replacement", "x-user-defined", "ISO-2022-JP"})
# Duplicate mappings (NEC/IBM rows in windows-31j, a few Big5 code points) re-encode to other bytes of the
# same length; only the length matters for offsets, since the page itself is never re-encoded.
SAME_LENGTH_ONLY = {"Shift_JIS", "Big5"}


@given(data=st.binary(max_size=64), name=st.sampled_from(ROUND_TRIP_ENCODINGS))
def test_decode_round_trips(data: bytes, name: str) -> None:
    sniffed = sniffed_for(name)
    back = encode_text(decode(data, sniffed), sniffed)
    if name in SAME_LENGTH_ONLY:
        assert len(back) == len(data)
    else:
        assert back == data


@pytest.mark.parametrize("name", ["UTF-8", "Shift_JIS", "GBK", "Big5", "EUC-JP", "EUC-KR", "UTF-16LE"])
def test_every_two_byte_sequence_keeps_its_length(name: str) -> None:
    sniffed = sniffed_for(name)
    for first in range(256):
        for second in range(256):
            data = bytes((first, second))
            assert len(encode_text(decode(data, sniffed), sniffed)) == 2, data


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("UTF-8", '<div class="ad">é中😀</div>', '<div class="ad">é中😀</div>'.encode()),
        ("windows-1252", "<p>é€中</p>", b"<p>\xe9\x80&#20013;</p>"),
        ("ISO-8859-2", "<p>ő😀</p>", b"<p>\xf5&#128512;</p>"),
        ("Shift_JIS", "<p>日本😀</p>", "<p>日本".encode("cp932") + b"&#128512;</p>"),
        ("GBK", "<p>中文😀</p>", "<p>中文😀</p>".encode("gb18030")),
        ("UTF-16LE", "<p>é😀", "<p>é😀".encode("utf-16-le")),
        ("UTF-16BE", "<p>", "<p>".encode("utf-16-be")),
    ],
)
def test_encode_fragment(name: str, text: str, expected: bytes) -> None:
    assert encode_fragment(text, sniffed_for(name)) == expected
