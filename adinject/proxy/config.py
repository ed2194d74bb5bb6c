"""The proxy's settings: one dataclass, read from flags, a TOML file (`--config`), or both.

Every field is a flag (`rewrite_host` is `--rewrite-host`) and a key of the file; a flag given on the command
line wins over the file, the file over the defaults. The middleware's options (`middleware=True` in a field's
metadata) go to `AdInjectMiddleware` as they are. Standard library only: `adinject --help` must work
without the `proxy` extra installed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tomllib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# How the settings reach uvicorn's worker processes, which build the app themselves (`--workers N`).
CONFIG_ENV = "ADINJECT_PROXY_CONFIG"


def _opt(help: str, default: Any = None, *, middleware: bool = False) -> Any:
    return field(default=default, metadata={"help": help, "middleware": middleware})


@dataclass
class ProxyConfig:
    upstream: str = _opt("the origin's base URL, e.g. http://127.0.0.1:8080 (required)", "")
    rules: str = _opt("the rules folder or file (required)", "")
    host: str = _opt("address to listen on", "127.0.0.1")
    port: int = _opt("port to listen on", 8000)
    workers: int = _opt("worker processes (metrics across them need PROMETHEUS_MULTIPROC_DIR)", 1)
    rewrite_host: bool = _opt("send the upstream's host as Host (default: pass the client's on)", False)
    forwarded_allow_ips: str = _opt(
        "comma-separated IPs/networks (or *) whose X-Forwarded-* and Forwarded are kept "
        "(default: $FORWARDED_ALLOW_IPS, else 127.0.0.1)",
        "",
    )
    connect_timeout: float = _opt("seconds to connect to the origin before 504", 5.0)
    read_timeout: float = _opt("seconds the origin may stay silent before 504 (or a cut stream)", 30.0)
    write_timeout: float = _opt("seconds a write to the origin may block", 30.0)
    pool_timeout: float = _opt("seconds to wait for a free origin connection before 503", 5.0)
    max_connections: int = _opt("most connections to the origin at once, per worker", 100)
    health_path: str = _opt("answered by the proxy itself, never forwarded", "/-/healthz")
    metrics_path: str = _opt("serve Prometheus metrics at this path (default: off)", "")
    log_level: str = _opt("uvicorn's log level", "warning")
    http: str = _opt("uvicorn's HTTP parser: auto (httptools when installed), h11, httptools", "auto")
    loop: str = _opt("uvicorn's event loop: auto (uvloop when installed), asyncio, uvloop", "auto")
    max_body_bytes: int = _opt("largest page the middleware holds", 5_000_000, middleware=True)
    max_decoded_bytes: int | None = _opt("largest decoded page", None, middleware=True)
    cache_size: int = _opt("plans kept (0: no plan cache)", 256, middleware=True)
    cache_bytes: int = _opt("bytes of page the plan cache counts", 64_000_000, middleware=True)
    server_timing: bool = _opt("add Server-Timing to modified pages", True, middleware=True)
    thread_threshold_bytes: int = _opt("pages above run in a worker thread", 256 * 1024, middleware=True)
    planning_budget_bytes: int = _opt(
        "bytes of page planned in threads at once", 8 * 1024 * 1024, middleware=True
    )
    reload: bool | None = _opt("watch the rules folder (default: on for a folder)", None, middleware=True)
    allow_invalid_rules_at_startup: bool = _opt(
        "start without units on invalid rules", False, middleware=True
    )
    gpt_library_hosts: list[str] = field(
        default_factory=list,
        metadata={"help": "a host allowed for GPT beyond Google's (repeatable)", "middleware": True},
    )
    debug_token: str | None = _opt("debug view token (default: $ADINJECT_DEBUG_TOKEN)", None, middleware=True)

    def middleware_options(self) -> dict[str, Any]:
        """The keyword arguments for `AdInjectMiddleware` (besides `rules`)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata["middleware"]}

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ProxyConfig:
        return cls(**json.loads(text))


def _kind(name: str) -> Any:
    """The field's type without `| None`."""
    hint = typing.get_type_hints(ProxyConfig)[name]
    if isinstance(hint, types.UnionType):
        return next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per field; only the flags given land in the namespace (so the file's values show through)."""
    parser.add_argument("--config", help="a TOML file of these settings (keys as the flags, with _)")
    for f in dataclasses.fields(ProxyConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = _kind(f.name)
        common: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": f.metadata["help"]}
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
        elif typing.get_origin(kind) is list:
            parser.add_argument(flag, action="append", metavar="VALUE", **common)
        else:
            parser.add_argument(flag, type=kind, metavar=f.name.split("_")[-1].upper(), **common)


def _from_file(path: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SystemExit(f"adinject proxy: cannot read {path}: {exc}") from None
    known = {f.name: f for f in dataclasses.fields(ProxyConfig)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in known:
            raise SystemExit(f"adinject proxy: {path}: unknown setting {key!r}")
        kind = _kind(name)
        expected = float if kind is float else (list if typing.get_origin(kind) is list else kind)
        ok = isinstance(value, expected) or (expected is float and isinstance(value, int))
        if not ok or (expected is int and isinstance(value, bool)):
            raise SystemExit(f"adinject proxy: {path}: {key} must be a {expected.__name__}, got {value!r}")
        values[name] = float(value) if expected is float else value
    return values


def resolve(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> ProxyConfig:
    """The settings from the defaults, then the file, then the flags; environment defaults filled in."""
    given = dict(vars(args))
    values = _from_file(given.pop("config")) if given.get("config") else {}
    given.pop("config", None)
    known = {f.name for f in dataclasses.fields(ProxyConfig)}
    values.update({key: value for key, value in given.items() if key in known})
    config = ProxyConfig(**values)
    if not config.upstream or not config.rules:
        raise SystemExit("adinject proxy: --upstream and --rules are required (as flags or in --config)")
    if not config.upstream.startswith(("http://", "https://")):
        raise SystemExit(
            f"adinject proxy: --upstream wants an http:// or https:// URL, got {config.upstream!r}"
        )
    if not config.forwarded_allow_ips:
        config.forwarded_allow_ips = environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
    if config.debug_token is None:
        config.debug_token = environ.get("ADINJECT_DEBUG_TOKEN") or None
    return config


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(
        prog="adinject proxy", description="A reverse proxy that applies the rules to any origin's pages."
    )
    add_arguments(parser)
    return parser


def parse(argv: Sequence[str] | None = None) -> ProxyConfig:
    return resolve(build_parser().parse_args(argv))
