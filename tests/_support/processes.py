"""Servers in processes of their own on free loopback ports: pick a port, wait for an answer, stop."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests._support.waiting import answers, wait_until


def free_port() -> int:
    """A port free on 127.0.0.1 now (the server binds it a moment later; nothing else here takes ports)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Return once `url` answers (any status); raise if the process exits or `timeout` passes first."""
    wait_until(lambda: answers(url, proc), timeout, what=f"{url} to answer", interval=0.1)


def stop(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Terminate `proc` (killed if it lingers past `timeout` seconds) and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def running(
    command: Sequence[str], ready_url: str, *, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` until the block ends, once `ready_url` answers."""
    proc = subprocess.Popen(command, cwd=cwd)
    try:
        wait_for(ready_url, proc)
        yield proc
    finally:
        stop(proc)
