"""Counting words the way ad ops mean it, in scripts with and without spaces."""

from __future__ import annotations

import re

# A word is a run of non-space characters. Chinese and Japanese do not separate words with spaces; a word
# there averages about two characters, so every two ideographs or kana count as one word.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAS_CJK = re.compile(f"[{_CJK}]")
_CJK_CHAR = re.compile(f"[{_CJK}]")
_NON_CJK_WORD = re.compile(rf"[^\s{_CJK}]+")


def count_words(text: str) -> int:
    # str.split runs in C without building match objects: most pages never need the findall regexes.
    if text.isascii() or _no_cjk(text):
        return len(text.split())
    cjk = len(_CJK_CHAR.findall(text))
    return len(_NON_CJK_WORD.findall(text)) + (cjk + 1) // 2


def _no_cjk(text: str) -> bool:
    # Text that windows-1252 can hold (curly quotes and dashes included) has no CJK; the codec answers
    # that faster than the regex can look for CJK.
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return _HAS_CJK.search(text) is None
    return True


def first_words(text: str, n: int = 8) -> str:
    words = text.split()
    head = " ".join(words[:n])
    return head + (" …" if len(words) > n else "")
