"""Waiting for something to happen in another thread or process: one polling loop for every test."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any


def wait_until(
    condition: Callable[[], bool],
    timeout: float = 10.0,
    *,
    what: str = "the condition",
    interval: float = 0.01,
) -> float:
    """Seconds until `condition()` held; fails, naming `what`, after `timeout` seconds."""
    began = time.perf_counter()
    while not condition():
        if time.perf_counter() - began > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
    return time.perf_counter() - began


def answers(url: str, proc: subprocess.Popen[Any] | None = None) -> bool:
    """Whether `url` answers (any status); raises if `proc`, the server behind it, has exited."""
    if proc is not None and proc.poll() is not None:
        raise RuntimeError(f"{url}: the process exited with status {proc.returncode}")
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            response.read()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True
