"""Driving wrk and reading its report: the load generator of `make bench-http` and of the proxy benchmark."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class WrkRun:
    rps: float
    requests: int
    p50_ms: float | None  # only with latency=True


def pin(cpu: int | None) -> list[str]:
    """The prefix that runs a command on one CPU (none when `cpu` is None)."""
    return ["taskset", "-c", str(cpu)] if cpu is not None else []


def run_wrk(
    url: str, seconds: int, connections: int, *, cpu: int | None = None, latency: bool = False
) -> WrkRun:
    """One wrk run of `seconds` against `url` with one thread; any error response or socket error ends the
    benchmark (the numbers would mean nothing)."""
    cmd = [*pin(cpu), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s"]
    cmd += [*(["--latency"] if latency else []), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    rps = requests = p50 = None
    for line in out.splitlines():
        words = line.split()
        if line.strip().startswith(("Non-2xx", "Socket errors")):
            sys.exit(f"wrk saw errors:\n{out}")
        if words[1:3] == ["requests", "in"]:
            requests = int(words[0])
        if words[:1] == ["Requests/sec:"]:
            rps = float(words[1])
        if latency and words[:1] == ["50%"]:
            p50 = _ms(words[1])
    if rps is None or requests is None or (latency and p50 is None):
        sys.exit(f"could not read wrk's output:\n{out}")
    return WrkRun(rps, requests, p50)


def _ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    raise ValueError(text)
