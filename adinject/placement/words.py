"""Counting words the way ad ops mean it, in scripts with and without spaces."""

from __future__ import annotations

import re

# A word is a run of non-space characters. Chinese and Japanese do not separate words with spaces; a word
# there averages about two characters, so every two ideographs or kana count as one word.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAS_CJK = re.compile(f"[{_CJK}]")
_CJK_CHAR = re.compile(f"[{_CJK}]")
_NON_CJK_WORD = re.compile(rf"[^\s{_CJK}]+")


# Each byte of ASCII text as b" " (whitespace, as str.split() sees it) or b"x" (part of a word).
_ASCII_MARKS = bytes(0x20 if b in b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f " else 0x78 for b in range(256))


def count_words(text: str) -> int:
    if text.isascii():
        # str.split() would build a string for every word; marking each byte and counting where words
        # start stays in C, whatever the number of words (most paragraphs of English pages are ASCII).
        marks = text.encode("ascii").translate(_ASCII_MARKS)
        return marks.count(b" x") + marks.startswith(b"x")
    # str.split runs in C without building match objects: most pages never need the findall regexes.
    if _no_cjk(text):
        return len(text.split())
    cjk = len(_CJK_CHAR.findall(text))
    return len(_NON_CJK_WORD.findall(text)) + (cjk + 1) // 2


# UTF-8 lead bytes of the CJK ranges above (U+3000-U+9FFF start with E3-E9; U+F900-U+FAFF with EF).
_CJK_LEADS = bytes(1 if 0xE3 <= b <= 0xE9 or b == 0xEF else 0 for b in range(256))


def _no_cjk(text: str) -> bool:
    # Encoding to UTF-8 and mapping its bytes through a table both run in C several times faster than
    # the regex walks the str: text without a CJK lead byte has no CJK (curly quotes and dashes lead with
    # E2). A lead byte only makes the regex decide.
    if b"\x01" not in text.encode("utf-8", "surrogatepass").translate(_CJK_LEADS):
        return True
    return _HAS_CJK.search(text) is None


def first_words(text: str, n: int = 8) -> str:
    words = text.split()
    head = " ".join(words[:n])
    return head + (" …" if len(words) > n else "")
