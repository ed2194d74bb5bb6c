"""Access to the shared real-page corpus (../shared/corpus), skipped with a clear message when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._support.paths import REPO

ROOT = REPO
SHARED = ROOT.parent / "shared"
READABILITY = SHARED / "corpus" / "readability"
TREE_CONSTRUCTION = SHARED / "corpus" / "html5lib-tests" / "tree-construction"


def readability_pages() -> list[Path]:
    if not READABILITY.is_dir():
        return []
    return sorted(p for p in READABILITY.iterdir() if (p / "source.html").is_file())


def require(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"shared corpus not found at {path}: these tests need ../shared next to the checkout")


AUTO_RULES = """\
units:
  slot:
    html: |
      <div class="slot" id="{{ slot.id }}"><p>Advertisement</p></div>
rules:
  - name: auto
    pages: {paths: ["/**"]}
    container: auto
    paragraphs: p
    ignore_inside: [blockquote, figure, table, aside, li]
    min_paragraph_words: 8
    min_paragraphs: 4
    place:
      - unit: slot
        after_paragraph: 2
        repeat_every: 3
        max: 6
        keep_away_from: [h1, h2, h3, h4, figure, img, iframe]
        not_after_last: true
"""
