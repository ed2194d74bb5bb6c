"""The kill switch: every unit off at once, without a deploy and without touching the rules.

A file named `OFF` in the rules folder, or `ADINJECT_OFF=1` in the environment, makes `LiveRules.current` a
rules object that matches no URL, so every response passes through untouched. The file is noticed and
un-noticed like any other change; the environment variable is read again on every check, but an environment
only changes with a restart.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["OFF_ENV", "OFF_FILE", "KillSwitch", "env_off"]

OFF_FILE = "OFF"
OFF_ENV = "ADINJECT_OFF"
_TRUE = frozenset({"1", "true", "yes", "on"})


def env_off() -> bool:
    """The kill switch's environment variable is set (ADINJECT_OFF=1, true, yes or on)."""
    return os.environ.get(OFF_ENV, "").strip().lower() in _TRUE


class KillSwitch:
    """The kill switch of one rules folder: its OFF file, or the environment variable."""

    def __init__(self, folder: Path) -> None:
        self.file = folder / OFF_FILE

    def on(self) -> bool:
        return env_off() or self.file.exists()

    def source(self) -> str:
        """What turned it on, for the log and the reason `Inactive` gives."""
        return f"{OFF_ENV} is set" if env_off() else f"{self.file} exists"
