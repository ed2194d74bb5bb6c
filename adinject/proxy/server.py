"""Running the proxy: `adinject proxy ...` and `python -m adinject.proxy ...` end here, in uvicorn.

uvicorn runs with its own proxy-header handling off (the proxy sets X-Forwarded-* itself, from the real
peer), no Server or Date header of its own (the origin's pass through), WebSocket support off (upgrades are
refused with 501 by the forwarding endpoint) and the lifespan on (invalid rules stop the server). It listens
on a socket bound here with TCP_NODELAY, which accepted connections inherit: uvicorn takes an inherited
socket as AF_UNIX and would not set it, and Nagle's algorithm would then hold back responses written in
pieces by ~40 ms.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Sequence

from adinject.proxy.config import CONFIG_ENV, ProxyConfig, build_parser, resolve

logger = logging.getLogger("adinject.proxy")

MISSING = (
    "adinject proxy needs aiohttp and uvicorn: pip install 'adinject[proxy]' "
    "(or pip install aiohttp uvicorn); missing: {name}"
)


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run(config: ProxyConfig) -> int:
    try:
        import aiohttp  # noqa: F401
        import uvicorn
    except ImportError as exc:
        print(MISSING.format(name=exc.name), file=sys.stderr)
        return 2
    if config.workers > 1 and config.metrics_path and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        print(
            "adinject proxy: warning: with --workers above 1, set PROMETHEUS_MULTIPROC_DIR to an empty "
            "folder so that the metrics path serves the sum over the workers (else one worker's)",
            file=sys.stderr,
        )
    os.environ[CONFIG_ENV] = config.to_json()
    try:
        sock = listening_socket(config.host, config.port)
    except OSError as exc:
        print(f"adinject proxy: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    where = sock.getsockname()
    print(f"adinject proxy: http://{where[0]}:{where[1]}/ -> {config.upstream} (rules: {config.rules})")
    uvicorn.run(
        "adinject.proxy.app:from_environment",
        factory=True,
        fd=sock.fileno(),
        workers=config.workers,
        log_level=config.log_level,
        http=config.http,
        loop=config.loop,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        date_header=False,
        ws="none",
        lifespan="on",
    )
    return 0


def command(args: argparse.Namespace) -> int:
    """`adinject proxy`: the subcommand's function (adinject/cli.py)."""
    return run(resolve(args))


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `proxy` to the `adinject` command's subcommands."""
    parser = sub.add_parser("proxy", help="a reverse proxy that applies the rules in front of any site")
    build_parser(parser)
    parser.set_defaults(func=command)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run(resolve(build_parser().parse_args(argv)))
