"""Counting words the way ad ops mean it, in scripts with and without spaces."""

from __future__ import annotations

import re

# A run of letters/digits (with inner apostrophes or hyphens) is one word; in Chinese and Japanese, which
# do not separate words with spaces, each ideograph or kana counts as one, roughly as readers count.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}](?:[^\W{_CJK}]|['’-](?=[^\W{_CJK}]))*")


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def first_words(text: str, n: int = 8) -> str:
    words = text.split()
    head = " ".join(words[:n])
    return head + (" …" if len(words) > n else "")
