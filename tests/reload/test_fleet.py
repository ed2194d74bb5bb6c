"""Rules on a fleet: the ways a rules folder reaches many servers, each reloaded by the watcher.

- a Kubernetes ConfigMap volume: files are links into `..data`, itself a link to a folder named for the time
  of the update, swapped by renaming a new `..data_tmp` link over it (as the kubelet's AtomicWriter does);
- a folder replaced by rename (`mv rules rules.old && mv rules.new rules`);
- a git checkout (`git pull`, `git checkout`), its `.git` ignored.

The oracle for every case is the same content in a plain folder: the version `load_rules` gives it there.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from adinject import AdInjectMiddleware, LiveRules, load_rules
from adinject.reload import Inactive
from tests.reload.test_reload import PAGE, PROMO_UNITS, RULE, UNITS, _html_app, marker, wait_for

MODES = ["watchfiles", "poll"]


def contents(unit: str, promo: str = "p1") -> dict[str, str]:
    """A rule set with a data file (a unit's promotions, in JSON): unit marker `unit`, promotion `promo`."""
    return {
        "10-units.yaml": UNITS.format(marker=unit),
        "20-rules.yaml": RULE,
        "30-promo.yaml": PROMO_UNITS.format(file="promos.json").replace("  ad:", "  promo:"),
        "promos.json": json.dumps({"promotions": [{"title": promo, "url": "/subscribe"}]}),
    }


def plain_version(tmp_path: Path, files: dict[str, str]) -> str:
    """The version of `files` in an ordinary folder."""
    folder = tmp_path / f"plain-{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    return load_rules(folder).version


def configmap_update(volume: Path, files: dict[str, str], stamp: str) -> None:
    """Publish `files` into the ConfigMap volume `volume` the way the kubelet does."""
    volume.mkdir(exist_ok=True)
    data = volume / f"..{stamp}"
    data.mkdir()
    for name, text in files.items():
        (data / name).write_text(text)
    old = os.readlink(volume / "..data") if (volume / "..data").is_symlink() else None
    os.symlink(data.name, volume / "..data_tmp")
    os.rename(volume / "..data_tmp", volume / "..data")  # the atomic step
    for name in files:
        if not (volume / name).is_symlink():
            os.symlink(f"..data/{name}", volume / name)
    for link in volume.iterdir():
        if link.is_symlink() and not link.name.startswith("..") and link.name not in files:
            link.unlink()
    if old is not None:
        shutil.rmtree(volume / old)


@pytest.fixture
def live_rules() -> Iterator[Callable[..., LiveRules]]:
    made: list[LiveRules] = []

    def make(path: Path, mode: str) -> LiveRules:
        live = LiveRules(path, mode=mode, settle=0.05, metrics=None)  # type: ignore[arg-type]
        made.append(live)
        live.start()
        return live

    yield make
    for live in made:
        live.stop()


@pytest.fixture(autouse=True)
def _no_env_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADINJECT_OFF", raising=False)
    monkeypatch.delenv("ADINJECT_RELOAD", raising=False)


def test_a_configmap_volume_has_the_version_of_its_files_on_every_server(tmp_path: Path) -> None:
    """The timestamped folder is named differently on each server and at each update: the version (and so
    the ETags and the metrics) must not depend on it, nor load its files a second time."""
    one, two = tmp_path / "server-1", tmp_path / "server-2"
    configmap_update(one, contents("v1"), "2026_12_05_01_02_03.111111111")
    configmap_update(two, contents("v1"), "2026_12_05_01_02_04.222222222")
    rules = load_rules(one)
    assert rules.version == load_rules(two).version == plain_version(tmp_path, contents("v1"))
    assert sorted(Path(name).name for name in rules.compiled.files) == [
        "10-units.yaml",
        "20-rules.yaml",
        "30-promo.yaml",
    ], "the files of the hidden ..data and timestamped folders are not rule files"
    assert [Path(name).relative_to(one).as_posix() for name in rules.compiled.data_files] == ["promos.json"]
    assert len(rules.compiled.rules) == 1


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_a_configmap_update_reloads(tmp_path: Path, live_rules: Callable[..., LiveRules], mode: str) -> None:
    volume = tmp_path / "rules"
    configmap_update(volume, contents("v1"), "2026_12_05_01_00_00.000000001")
    live = live_rules(volume, mode)
    for n, files in enumerate([contents("v2"), contents("v2", "p2"), contents("v3", "p3")], start=2):
        configmap_update(volume, files, f"2026_12_05_01_00_0{n}.00000000{n}")
        expected = plain_version(tmp_path, files)
        wait_for(lambda expected=expected: live.version == expected)  # type: ignore[misc]
    assert marker(live.current) == "v3"
    configmap_update(volume, {**contents("v3", "p3"), "OFF": ""}, "2026_12_05_01_00_09.000000009")
    wait_for(lambda: isinstance(live.current, Inactive))


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_a_folder_replaced_by_rename_reloads_and_is_watched_after(
    tmp_path: Path, live_rules: Callable[..., LiveRules], mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="adinject")
    folder = tmp_path / "rules"
    plain_version(tmp_path, contents("v1"))  # a plain folder, renamed into place below
    os.rename(next(tmp_path.glob("plain-*")), folder)
    live = live_rules(folder, mode)

    def watching() -> int:
        return sum(r.getMessage().startswith(f"adinject: watching {folder}") for r in caplog.records)

    if mode == "watchfiles":
        wait_for(lambda: watching() == 1)
    new = tmp_path / "rules.new"
    new.mkdir()
    for name, text in contents("v2").items():
        (new / name).write_text(text)
    os.rename(folder, tmp_path / "rules.old")
    os.rename(new, folder)
    shutil.rmtree(tmp_path / "rules.old")
    wait_for(lambda: marker(live.current) == "v2")
    if mode == "watchfiles":
        wait_for(lambda: watching() == 2)  # the new folder, not the renamed old one
    # The next change is made in the folder now at that path.
    (folder / "10-units.yaml").write_text(UNITS.format(marker="v3"))
    wait_for(lambda: marker(live.current) == "v3")
    (folder / "OFF").touch()
    wait_for(lambda: isinstance(live.current, Inactive))


def git(folder: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "ad ops",
        "GIT_AUTHOR_EMAIL": "adops@example.com",
        "GIT_COMMITTER_NAME": "ad ops",
        "GIT_COMMITTER_EMAIL": "adops@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    done = subprocess.run(["git", *args], cwd=folder, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_a_git_checkout_reloads_on_pull_and_checkout(
    tmp_path: Path, live_rules: Callable[..., LiveRules], mode: str
) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git(upstream, "init", "-q", "-b", "main")
    commit(upstream, contents("v1"), "first")
    git(tmp_path, "clone", "-q", str(upstream), "rules")
    rules = tmp_path / "rules"
    live = live_rules(rules, mode)
    assert live.version == plain_version(tmp_path, contents("v1")), ".git is not part of the rules"
    commit(upstream, contents("v2", "p2"), "second")
    git(rules, "pull", "-q", "--ff-only")
    expected = plain_version(tmp_path, contents("v2", "p2"))
    wait_for(lambda: live.version == expected)
    git(rules, "checkout", "-q", "HEAD~1")  # a rollback
    wait_for(lambda: live.version == plain_version(tmp_path, contents("v1")))
    assert marker(live.current) == "v1"


@pytest.mark.slow
def test_the_middleware_serves_a_configmap_update(tmp_path: Path) -> None:
    """The live reload path end to end: the middleware's own LiveRules, a swap, the next response."""
    volume = tmp_path / "rules"
    configmap_update(volume, contents("v1"), "2026_12_05_02_00_00.000000001")
    app = AdInjectMiddleware(_html_app, rules=volume)
    try:
        client = TestClient(app)
        assert b'data-v="v1"' in client.get("/news/a").content
        configmap_update(volume, contents("v2"), "2026_12_05_02_00_01.000000002")
        wait_for(lambda: b'data-v="v2"' in client.get("/news/a").content)
        body = client.get("/news/a").content
        assert body.count(b"Advertisement") == 1 and body.startswith(PAGE[:30])
    finally:
        app.close()


@pytest.mark.slow
def test_a_folder_that_appears_later_is_watched_when_it_does(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A volume mounted or a checkout cloned after the app started: no rules first, then the folder's."""
    caplog.set_level(logging.DEBUG, logger="adinject")
    folder = tmp_path / "rules"
    live = LiveRules(folder, allow_invalid=True, mode="watchfiles", settle=0.05, metrics=None)
    live.start()
    try:
        assert isinstance(live.current, Inactive)
        # The watcher has looked at the missing folder (and said so) before it appears.
        wait_for(lambda: any("watch" in r.getMessage() or "exist" in r.getMessage() for r in caplog.records))
        configmap_update(folder, contents("v1"), "2026_12_05_03_00_00.000000001")
        wait_for(lambda: marker(live.current) == "v1")
        configmap_update(folder, contents("v2"), "2026_12_05_03_00_01.000000002")
        wait_for(lambda: marker(live.current) == "v2")
    finally:
        live.stop()
    assert not [r for r in caplog.records if "cannot watch" in r.getMessage()], "watched, not polled"
