"""The caches adinject keeps of values read from pages stay bounded in what they hold: a class attribute
of any length may come in, and only short ones are kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from turbohtml import Element, parse

from adinject.lru import CACHED_KEY_CHARS
from adinject.placement import container, paragraphs, prose

LONG = " ".join(f"utility-{i}" for i in range(200))  # a utility-class attribute of about 2,000 characters


@dataclass
class _Paragraph:
    el: Element
    words: int


def _element(names: str) -> Element:
    doc = parse(f'<div><blockquote class="{names}"><p class="{names}">Some words of a paragraph here.</p>')
    found = doc.select_one("p")
    assert found is not None
    return found


def _judge(el: Element) -> object:
    return prose.judge([_Paragraph(el, 6)], ["Some words of a paragraph here."], 0.5)


def _embed(el: Element) -> object:
    quote = el.parent
    assert isinstance(quote, Element)
    return paragraphs._embedded_post(quote, quote.attr("class") or "")


def _furniture(el: Element) -> object:
    return paragraphs._boilerplate_block_of(el, el.attr("class"))


@pytest.mark.parametrize(
    ("cache", "ask"),
    [
        (prose._MARKED_BY_CLASS, _judge),
        (container._BLOB_WEIGHT, container.class_weight),
        (paragraphs._FURNITURE_NAMES, _furniture),
        (paragraphs._EMBED_WORD, _embed),
    ],
    ids=["prose class hints", "container class weight", "furniture names", "embed names"],
)
def test_a_long_class_attribute_is_judged_but_not_kept(cache: Any, ask: Callable[[Element], object]) -> None:
    assert len(LONG) > CACHED_KEY_CHARS
    cache.cache_clear()
    ask(_element(LONG))
    assert cache.cache_info().currsize == 0
    ask(_element("article-body"))
    ask(_element("article-body"))
    assert cache.cache_info().currsize == 1  # a short one is kept, once
    assert cache.cache_info().hits >= 1
