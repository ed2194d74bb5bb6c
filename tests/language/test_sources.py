"""The files of a rule set and their version (adinject/language/sources.py), shared by the loader and reload."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from adinject import LiveRules
from adinject.language import sources
from adinject.language.loader import load_rule_set

UNITS = """\
units:
  ad:
    promotions: {file: data/promotions.json, count: 1}
    html: '<div class="ad">{% for item in promotions %}{{ item.title }}{% endfor %}</div>'
  house:
    promotions: {file: house.yaml, count: 1}
    html: '<div class="house">{% for item in promotions %}{{ item.title }}{% endfor %}</div>'
"""
RULES = """\
rules:
  - name: news
    pages: {paths: ["/news/**"]}
    container: article
    place:
      - unit: ad
        after_paragraph: 1
      - unit: house
        after_paragraph: 2
"""


def promotions(title: str) -> str:
    return json.dumps({"promotions": [{"title": title, "url": "/subscribe"}]})


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    (folder / "data").mkdir(parents=True)
    (folder / "10-units.yaml").write_text(UNITS)
    (folder / "20-rules.yml").write_text(RULES)
    (folder / "data" / "promotions.json").write_text(promotions("v1"))
    (folder / "house.yaml").write_text("promotions:\n  - title: house\n    url: /subscribe\n")
    return folder


def test_rule_files_are_the_visible_yaml_files_sorted_by_name(folder: Path) -> None:
    (folder / ".20-rules.yml.swp").write_text("x")
    (folder / "notes.txt").write_text("x")
    (folder / "dir.yaml").mkdir()
    assert [p.name for p in sources.rule_files(folder)] == ["10-units.yaml", "20-rules.yml", "house.yaml"]
    assert sources.rule_files(folder / "20-rules.yml") == [folder / "20-rules.yml"]
    with pytest.raises(OSError):
        sources.rule_files(folder / "missing")


def test_a_data_file_is_named_once_as_data_even_among_the_rule_files(folder: Path) -> None:
    data = [folder / "data" / "promotions.json", folder / "house.yaml"]
    names = [name for name, _ in sources.on_disk(folder, data)]
    assert names == ["10-units.yaml", "20-rules.yml", "data:data/promotions.json", "data:house.yaml"]


def test_the_loaded_version_is_the_version_on_disk(folder: Path) -> None:
    rules = load_rule_set(folder)
    assert rules.data_files == (str(folder / "data" / "promotions.json"), str(folder / "house.yaml"))
    assert len(rules.version) == 12 and int(rules.version, 16) >= 0
    assert sources.version_on_disk(folder, map(Path, rules.data_files)) == rules.version
    (folder / "all.yaml").write_text(UNITS + RULES)
    single = load_rule_set(folder / "all.yaml")
    assert single.version == sources.version_on_disk(folder / "all.yaml", map(Path, single.data_files))
    assert single.version != rules.version


def test_a_data_file_change_is_seen_by_reload_and_changes_the_version_through_one_function(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed: list[str] = []
    real = sources.version

    def spy(contents: Iterable[tuple[str, bytes]]) -> str:
        computed.append(real(contents))
        return computed[-1]

    monkeypatch.setattr(sources, "version", spy)
    live = LiveRules(folder, watch=False, metrics=None)
    first = live.version
    assert first in computed, "the loader stamps the rules through sources.version"
    computed.clear()
    assert live.check() is False
    assert computed == [first], "reload looks at the disk through the same function, and finds no change"

    (folder / "data" / "promotions.json").write_text(promotions("v2"))
    computed.clear()
    assert live.check() is True
    assert live.version != first
    assert computed[0] == live.version, "what reload saw on disk is the version that went live"
    assert load_rule_set(folder).version == live.version
