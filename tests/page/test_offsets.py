"""turbohtml's code-point offsets mapped back to bytes of the original page.

The property checked throughout: for every element turbohtml locates, the bytes between the mapped start
and end offsets of its start tag are exactly that start tag in the original data, and likewise for end
tags. Also checked directly: turbohtml's offsets are code points of the newline-normalised text.
"""

from __future__ import annotations

import pytest
import turbohtml
from hypothesis import given, settings
from hypothesis import strategies as st

from adinject.page.encoding import Sniffed, decode, encode_text, sniff
from adinject.page.model import without_surrogates
from adinject.page.offsets import OffsetMap
from tests._support.corpus import READABILITY

CORPUS = READABILITY

# Start tags the tree builder renames: the element's tag is not what the source says.
SOURCE_NAMES = {"img": ("img", "image")}


def normalise(text: str) -> str:
    """Newline normalisation as the HTML input stream does it (and as turbohtml's offsets count)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def located(doc: turbohtml.Document) -> list[turbohtml.Element]:
    return [element for element in doc.iter_elements() if element.source_location is not None]


def check_page(data: bytes, content_type: str | None = None) -> int:
    """Parse `data` as the middleware does and check every located tag maps back to its exact bytes.

    Returns the number of elements checked.
    """
    sniffed = sniff(data, content_type)
    text = decode(data, sniffed)
    normalised = normalise(text)
    # As the engine parses it: lone surrogates (escaped bytes) replaced, which keeps every offset.
    doc = turbohtml.parse(without_surrogates(text), source_locations=True)
    elements = located(doc)
    spans: list[tuple[int, int]] = []
    for element in elements:
        location = element.source_location
        assert location is not None
        spans.append((location.start_tag.start_offset, location.start_tag.end_offset))
        if location.end_tag is not None:
            spans.append((location.end_tag.start_offset, location.end_tag.end_offset))
    wanted = [offset for span in spans for offset in span]
    offsets = OffsetMap(text, sniffed).to_bytes(wanted)
    # Given the bytes, UTF-8 pages are mapped by decoding forward instead: the same answers.
    assert OffsetMap(text, sniffed, data).to_bytes(wanted) == offsets
    byte_spans = dict(zip(spans, zip(offsets[::2], offsets[1::2], strict=True), strict=True))
    for element in elements:
        location = element.source_location
        assert location is not None
        start, end = byte_spans[location.start_tag.start_offset, location.start_tag.end_offset]
        piece = data[start:end]
        # Exactly the source text turbohtml saw there...
        assert (
            normalise(decode_piece(piece, sniffed))
            == normalised[location.start_tag.start_offset : location.start_tag.end_offset]
        )
        # ...and that is "<" + the tag's name ... ">" (NUL in a tag name becomes U+FFFD in the DOM, and so
        # does an escaped byte in the copy the parser is given).
        shown = without_surrogates(decode_piece(piece, sniffed)).replace("\x00", "\ufffd").lower()
        names = SOURCE_NAMES.get(element.tag, (element.tag,))
        assert any(shown.startswith("<" + name.lower()) for name in names), (element.tag, piece)
        assert shown.endswith(">"), (element.tag, piece)
        if sniffed.ascii_compatible:
            assert piece.startswith(b"<") and piece.endswith(b">")
        if location.end_tag is not None:
            start, end = byte_spans[location.end_tag.start_offset, location.end_tag.end_offset]
            closing = decode_piece(data[start:end], sniffed)
            assert (
                normalise(closing) == normalised[location.end_tag.start_offset : location.end_tag.end_offset]
            )
            assert closing.startswith("</") and closing.endswith(">"), (element.tag, closing)
    return len(elements)


def decode_piece(piece: bytes, sniffed: Sniffed) -> str:
    return decode(piece, Sniffed(sniffed.name, sniffed.codec, 0, sniffed.source, sniffed.ascii_compatible))


def reference_offsets(text: str, sniffed: Sniffed) -> list[int]:
    """Byte offset of every normalised offset 0..len, by brute force (quadratic; small texts only)."""
    out: list[int] = []
    index = 0
    while True:
        out.append(sniffed.bom_length + len(encode_text(text[:index], sniffed)))
        if index >= len(text):
            return out
        index += 2 if text.startswith("\r\n", index) else 1


def header(name: str) -> str:
    return f"text/html; charset={name}"


# --- the model, by hand -------------------------------------------------------------------------------------


def test_crlf_counts_once() -> None:
    data = b"a\r\nb\rc\nd\r\r\ne"
    sniffed = sniff(data, header("utf-8"))
    offsets = OffsetMap(decode(data, sniffed), sniffed)
    # Normalised: "a\nb\nc\nd\n\ne" -- the CR LF pairs at bytes 1 and 9 each count once.
    assert offsets.to_bytes(range(11)) == [0, 1, 3, 4, 5, 6, 7, 8, 9, 11, 12]


def test_multibyte_utf8_and_bom() -> None:
    data = "\ufeffé中😀<p>".encode()  # BOM (3) + é (2) + 中 (3) + 😀 (4)
    sniffed = sniff(data)
    assert sniffed.bom_length == 3
    offsets = OffsetMap(decode(data, sniffed), sniffed)
    assert offsets.to_bytes(range(7)) == [3, 5, 8, 12, 13, 14, 15]
    assert offsets.to_byte(3) == 12


def test_invalid_utf8_bytes_are_one_code_point_each() -> None:
    data = b"\xff\xe4\xb8<p>\xc3"
    sniffed = sniff(data, header("utf-8"))
    text = decode(data, sniffed)
    assert len(text) == 7
    assert OffsetMap(text, sniffed).to_bytes(range(8)) == list(range(8))
    assert OffsetMap(text, sniffed, data).to_bytes(range(8)) == list(range(8))


def test_utf8_from_bytes_past_invalid_bytes() -> None:
    # A stray continuation byte right after a character, a truncated sequence before an ASCII byte, and a
    # valid sequence after them: decoding forward meets the invalid bytes and hands over to encoding.
    data = "aé".encode() + b"\x80" + "中".encode()[:2] + b"<p>" + "😀x".encode()
    sniffed = sniff(data, header("utf-8"))
    text = decode(data, sniffed)
    expected = reference_offsets(text, sniffed)
    assert expected == [0, 1, 3, 4, 5, 6, 7, 8, 9, 13, 14]
    assert OffsetMap(text, sniffed, data).to_bytes(range(len(expected))) == expected


def test_shift_jis_and_gbk() -> None:
    for codec, name in (("cp932", "shift_jis"), ("gb18030", "gbk")):
        data = "日本<p>\r\nx".encode(codec)
        sniffed = sniff(data, header(name))
        offsets = OffsetMap(decode(data, sniffed), sniffed)
        assert offsets.to_bytes([2, 5, 6, 7]) == [4, 7, 9, 10]


def test_utf16() -> None:
    payload = "é😀\r\n<p>"
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        data = bom + payload.encode(codec)
        sniffed = sniff(data)
        offsets = OffsetMap(decode(data, sniffed), sniffed)
        # BOM 2, é 2, 😀 4 (a surrogate pair, yet one code point), CR LF 4 for one normalised code point.
        assert offsets.to_bytes(range(7)) == [2, 4, 8, 12, 14, 16, 18]


def test_utf16_escaped_bytes_are_one_byte_each() -> None:
    data = b"\xff\xfe<\x00\x00\xd8p\x00>\x00z"  # an unpaired surrogate, then an odd last byte
    sniffed = sniff(data)
    text = decode(data, sniffed)
    assert OffsetMap(text, sniffed).to_bytes(range(len(text) + 1)) == reference_offsets(text, sniffed)
    assert OffsetMap(text, sniffed).to_byte(len(text)) == len(data)


def test_single_byte_encodings_need_no_encoding() -> None:
    data = "é€\r\n<p>".encode("cp1252") + b"\x81"
    sniffed = sniff(data)
    assert sniffed.name == "windows-1252"
    assert OffsetMap(decode(data, sniffed), sniffed).to_bytes(range(7)) == [0, 1, 2, 4, 5, 6, 7]


def test_to_bytes_keeps_order_and_duplicates() -> None:
    data = "é\r\n<p>中</p>".encode()
    sniffed = sniff(data, header("utf-8"))
    text = decode(data, sniffed)
    expected = reference_offsets(text, sniffed)
    wanted = [5, 0, 2, 5, 9, 1, 0]
    assert OffsetMap(text, sniffed).to_bytes(wanted) == [expected[offset] for offset in wanted]
    assert OffsetMap(text, sniffed).to_bytes([]) == []
    # Single look-ups in any order, on one map, agree with the batch.
    offsets = OffsetMap(text, sniffed)
    assert [offsets.to_byte(offset) for offset in wanted] == [expected[offset] for offset in wanted]


def test_out_of_range() -> None:
    data = b"ab\r\ncd"
    sniffed = sniff(data)
    offsets = OffsetMap(decode(data, sniffed), sniffed)
    assert offsets.to_byte(5) == 6  # the end of the normalised text is a valid offset
    with pytest.raises(IndexError):
        offsets.to_byte(6)
    with pytest.raises(IndexError):
        offsets.to_byte(-1)
    with pytest.raises(IndexError):
        OffsetMap("", sniffed).to_byte(1)
    assert OffsetMap("", sniffed).to_byte(0) == 0


def test_refuses_encodings_it_cannot_map() -> None:
    with pytest.raises(ValueError, match="ISO-2022-JP"):
        OffsetMap("<p>", sniff(b"", header("iso-2022-jp")))
    with pytest.raises(ValueError, match="replacement"):
        OffsetMap("<p>", sniff(b"", header("iso-2022-kr")))


# --- what turbohtml counts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("between", "code_points"),
    [
        ("\n", 1),
        ("\r\n", 1),  # a CR LF pair is one code point
        ("\r", 1),  # a lone CR is one code point
        ("\r\r\n", 2),
        ("\n\r", 2),
        ("\x00", 1),  # NUL: counted (the tree builder drops it from body text, offsets still count it)
        ("\ud800", 1),  # a lone surrogate in the str: accepted, one code point
        ("\udcff", 1),  # ...including our escapes of undecodable bytes
        ("\u2028", 1),  # LINE SEPARATOR is not a newline to HTML
        ("\u2029", 1),
        ("\x85", 1),  # NEL neither
        ("\x0c", 1),  # form feed: whitespace to the tokenizer, but no newline
        ("\x0b", 1),
        ("😀", 1),  # astral: one code point, not two UTF-16 units
        ("e\u0301", 2),  # code points, not grapheme clusters
        ("\ufeff", 1),
    ],
)
def test_turbohtml_offsets_are_code_points_of_normalised_text(between: str, code_points: int) -> None:
    text = "<p>a" + between + "b</p><b>x</b>"
    [_, bold] = located(turbohtml.parse(text, source_locations=True))
    assert bold.tag == "b"
    assert bold.source_location is not None
    assert bold.source_location.start_tag.start_offset == len("<p>ab</p>") + code_points


def test_turbohtml_keeps_a_leading_bom_character() -> None:
    # decode() strips the BOM bytes; a U+FEFF still at the start of the str is content and is counted.
    [bold] = located(turbohtml.parse("\ufeff<b>x</b>", source_locations=True))
    assert bold.source_location is not None
    assert bold.source_location.start_tag.start_offset == 1


# --- whole pages --------------------------------------------------------------------------------------------

BODY = (
    "<!DOCTYPE html>\n<html><head><title>t</title></head>\n<body>\n"
    "<h1 class=\"x\">Title</h1>\n<p id='a'>First paragraph.</p>\n"
    '<!-- a comment\n with lines -->\n<div data-x="a\nb">\n<p>Second\nparagraph <b>bold</b>.</p>\n'
    "<img src=x alt='y'><br/>\n<textarea>\nkeep</textarea><pre>\n\npre</pre>\n"
    "<script>if (a < b) { x = '</p>'; }\n</script>\n"
    "<svg viewBox='0 0 1 1'><foreignObject><p>svg</p></foreignObject></svg>\n"
    "<table><tr><td>cell</td></tr></table>\n</div>\n</body></html>\n"
)


def page_variants() -> list[tuple[str, bytes, str | None]]:
    variants: list[tuple[str, bytes, str | None]] = [
        ("lf", BODY.encode(), header("utf-8")),
        ("crlf", BODY.replace("\n", "\r\n").encode(), header("utf-8")),
        ("cr", BODY.replace("\n", "\r").encode(), header("utf-8")),
        ("mixed", BODY.replace("\n", "\r\n", 3).replace("\n", "\r", 5).encode(), header("utf-8")),
        ("crcrlf", BODY.replace("\n", "\r\r\n").encode(), header("utf-8")),
    ]
    multilingual = BODY.replace("First", "Prémière 中文 😀 العربية").replace("Second", "Zweite ß 日本語 🎉")
    variants += [
        ("utf8-multibyte-crlf", multilingual.replace("\n", "\r\n").encode(), header("utf-8")),
        ("utf8-bom", b"\xef\xbb\xbf" + multilingual.encode(), None),
        ("utf8-bom-crlf", b"\xef\xbb\xbf" + multilingual.replace("\n", "\r\n").encode(), None),
        ("utf8-meta", ("<meta charset=utf-8>" + multilingual).encode(), None),
        (
            "utf8-invalid",
            multilingual.replace("bold", "b\udcff\udcfeld").encode("utf-8", "surrogateescape"),
            None,
        ),
        (
            "utf8-invalid-declared",
            multilingual.replace("Title", "T\udce4\udcb8\udcffitle").encode("utf-8", "surrogateescape"),
            header("utf-8"),
        ),
        (
            "nul",
            BODY.replace("bold", "b\x00ld").replace("<p>S", "<p\x00 x='\x00'>S").encode(),
            header("utf-8"),
        ),
        ("u2028-ff", BODY.replace("\n", "\u2028\x0c\n").encode(), header("utf-8")),
        ("nel", BODY.replace("\n", "\x85\r\n").encode(), header("utf-8")),
        (
            "windows-1252",
            BODY.replace("First", "Prémière “quoted” €").replace("\n", "\r\n").encode("cp1252"),
            None,
        ),
        ("windows-1252-undefined", BODY.replace("First", "x\x81\x8d").encode("latin-1"), None),
        ("koi8-r", ("<meta charset=koi8-r>" + BODY.replace("First", "Первый")).encode("koi8-r"), None),
        (
            "shift_jis",
            (
                "<meta charset=shift_jis>" + BODY.replace("First", "日本語 ①Ⅸ㈱髙 ﾊﾝｶｸ").replace("\n", "\r\n")
            ).encode("cp932"),
            None,
        ),
        (
            "shift_jis-broken-lead",
            ("<meta charset=shift_jis>" + BODY).encode("cp932").replace(b"<p id", b"\x81<p id"),
            None,
        ),
        (
            "gbk",
            ("<meta charset=gbk>" + BODY.replace("First", "简体中文 𠀀").replace("\n", "\r\n")).encode(
                "gb18030"
            ),
            None,
        ),
        ("big5", BODY.replace("First", "繁體中文 Ê̄").encode("big5hkscs"), header("big5")),
        ("euc-kr", BODY.replace("First", "한국어").encode("cp949"), header("euc-kr")),
        ("euc-jp", BODY.replace("First", "日本語").encode("euc_jp"), header("euc-jp")),
        ("utf16le", b"\xff\xfe" + multilingual.replace("\n", "\r\n").encode("utf-16-le"), None),
        ("utf16be", b"\xfe\xff" + multilingual.encode("utf-16-be"), None),
    ]
    return variants


@pytest.mark.parametrize(
    ("data", "content_type"), [v[1:] for v in page_variants()], ids=[v[0] for v in page_variants()]
)
def test_start_and_end_tags_map_to_their_bytes(data: bytes, content_type: str | None) -> None:
    assert check_page(data, content_type) >= 15


# --- random mixtures ----------------------------------------------------------------------------------------

PIECES = [
    "<p>",
    "</p>",
    "<div class='a\r\nb'>",
    "</div>",
    "<b>",
    "</b>",
    "<br/>",
    "<img src=x>",
    "<P CLASS=up>",
    "<!-- c\r\n -->",
    "<span\r\ntitle=x\r>",
    "text",
    " ",
    "é",
    "中文",
    "😀",
    "€",
    "\r\n",
    "\r",
    "\n",
    "\x00",
    "\u2028",
    "\x0c",
    "\x85",
    "&amp;",
    "<",
    ">",
]
RAW = [b"\xff", b"\xe4\xb8", b"\x81", b"\xc3", b"\x80"]
ENCODINGS = [
    # (content type, codec the pieces are written in, bytes before them)
    (header("utf-8"), "utf-8", b""),
    (None, "utf-8", b"\xef\xbb\xbf"),
    (header("windows-1252"), "cp1252", b""),
    (header("shift_jis"), "cp932", b""),
    (header("gbk"), "gb18030", b""),
    (None, "utf-16-le", b"\xff\xfe"),
]


@st.composite
def mixtures(draw: st.DrawFn) -> tuple[bytes, str | None]:
    content_type, codec, prefix = draw(st.sampled_from(ENCODINGS))
    parts = [prefix]
    for _ in range(draw(st.integers(0, 40))):
        if codec != "utf-16-le" and draw(st.integers(0, 9)) == 0:
            parts.append(draw(st.sampled_from(RAW)))
        else:
            parts.append(draw(st.sampled_from(PIECES)).encode(codec, "xmlcharrefreplace"))
    return b"".join(parts), content_type


@settings(max_examples=300, deadline=None)
@given(mixtures())
def test_random_mixtures(page: tuple[bytes, str | None]) -> None:
    data, content_type = page
    check_page(data, content_type)
    # And every offset, not only those of tags, against brute force.
    sniffed = sniff(data, content_type)
    text = decode(data, sniffed)
    expected = reference_offsets(text, sniffed)
    assert OffsetMap(text, sniffed).to_bytes(range(len(expected))) == expected
    assert OffsetMap(text, sniffed, data).to_bytes(range(len(expected))) == expected
    # One at a time from the end down: each look-up starts from the checkpoint below it.
    backwards = OffsetMap(text, sniffed, data)
    assert [backwards.to_byte(i) for i in reversed(range(len(expected)))] == expected[::-1]
    if sniffed.ascii_compatible:
        normalised = normalise(text)
        mapped = OffsetMap(text, sniffed).to_bytes(range(len(normalised)))
        for index, char in enumerate(normalised):
            if char in "<>":
                assert data[mapped[index]] == ord(char)


# --- the real corpus ----------------------------------------------------------------------------------------


@pytest.mark.corpus
@pytest.mark.slow
def test_corpus_pages() -> None:
    pages = sorted(CORPUS.glob("*/source.html"))
    if not pages:
        pytest.skip(f"no corpus at {CORPUS} (it lives in shared/, beside the repository)")
    checked = 0
    for path in pages:
        data = path.read_bytes()
        # As served with no header (most fall back to windows-1252 or their <meta>), and as a UTF-8 page
        # with Windows line endings, which exercises both the multi-byte and the CR LF paths.
        checked += check_page_fast(data, None)
        checked += check_page_fast(data.replace(b"\n", b"\r\n"), header("utf-8"))
    assert checked > 100_000


def check_page_fast(data: bytes, content_type: str | None) -> int:
    """`check_page` on bytes only (the corpus is ~9 MB; decoding every tag would be slow)."""
    sniffed = sniff(data, content_type)
    assert sniffed.ascii_compatible
    text = decode(data, sniffed)
    elements = located(turbohtml.parse(without_surrogates(text), source_locations=True))
    offsets: list[int] = []
    for element in elements:
        location = element.source_location
        assert location is not None
        end_tag = location.end_tag or location.start_tag
        offsets += [location.start_tag.start_offset, location.start_tag.end_offset]
        offsets += [end_tag.start_offset, end_tag.end_offset]
    mapped = OffsetMap(text, sniffed, data).to_bytes(offsets)
    for number, element in enumerate(elements):
        start, end, close_start, close_end = mapped[4 * number : 4 * number + 4]
        piece = data[start:end]
        names = SOURCE_NAMES.get(element.tag, (element.tag,))
        assert any(
            piece[: len(name) + 1].lower() == b"<" + name.encode(sniffed.codec or "utf-8").lower()
            for name in names
        ), (element.tag, piece[:80])
        assert piece.endswith(b">"), (element.tag, piece[:80])
        assert element.source_location is not None
        if element.source_location.end_tag is not None:
            closing = data[close_start:close_end]
            assert closing.startswith(b"</") and closing.endswith(b">"), (element.tag, closing)
    return len(elements)


def test_escaped_bytes_in_names() -> None:
    # Found by test_random_mixtures: turbohtml raises reading the location of an element whose attribute
    # name holds a lone surrogate; parsing the cleaned copy gives the same offsets.
    data = b"<text\r\n\xff\xff\xff<p>"
    assert check_page(data, None) > 0
    assert check_page(b'<div \xff="x"><p>one</p></div>', "text/html; charset=utf-8") > 0
    assert check_page(b"<text\xff\xff\xff\xff\xff<p>", "text/html; charset=utf-8") > 0
