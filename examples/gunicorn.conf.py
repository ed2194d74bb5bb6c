"""gunicorn settings for an app behind adinject on several workers: `gunicorn -c examples/gunicorn.conf.py`.

Copy it next to your app. It shows adinject's log lines (loads, reloads, the kill switch) with time and
level, and keeps `adinject.metrics_app()` right when `PROMETHEUS_MULTIPROC_DIR` is set (prometheus-client's
multiprocess mode; set it in the environment before gunicorn starts, to a folder only this server uses).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess

# The same dictConfig as `uvicorn --log-config examples/logging.json` (gunicorn: `--log-config-json`).
logconfig_json = str(Path(__file__).with_name("logging.json"))


def on_starting(server: Any) -> None:
    # Counts left by a previous run of the server would be added to this run's.
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        for name in glob.glob(os.path.join(glob.escape(folder), "*.db")):
            os.remove(name)


def child_exit(server: Any, worker: Any) -> None:
    # A worker that is gone serves no rules: its live-state gauges (rules version, kill switch) leave the
    # scrape at once. What it counted stays in the sums.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
