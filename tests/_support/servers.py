"""Helpers for tests that run real servers in subprocesses (uvicorn, gunicorn) with several workers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests._support.waiting import wait_until


def wait_for(what: str, probe: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until `probe()` holds; fail, naming `what`, after `timeout` seconds."""
    wait_until(probe, timeout, what=what, interval=0.2)


def live_gauge_pids(multiproc: Path) -> set[int]:
    """The processes with prometheus-client live-gauge files in `multiproc`: every worker that loaded rules
    (the rules-version gauge is set at load)."""
    return {int(p.stem.rpartition("_")[2]) for p in multiproc.glob("gauge_live*_*.db")}
