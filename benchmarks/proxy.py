"""What `adinject proxy` costs per request (the proxy line of `make bench-http`; or run this file alone).

The page is the demo's seed article, pre-rendered as `make demo-proxy` serves it (with its
`#adinject-context` element), and the rules are the shipped `rules/`. Six servers, one at a time, on
127.0.0.1 only, each under `wrk -t1 -c4 --latency` (below saturation of the load generator; the one-process
servers are busy):

  origin            a minimal ASGI app under uvicorn serving the page (the origin, direct)
  mw-cache          the same app wrapped in AdInjectMiddleware (plan cache on: the page repeats, so it hits)
  mw-nocache        the same with cache_size=0 (every request parses and plans)
  proxy-off         `adinject proxy` in front of the origin, rules switched off (an OFF file)
  proxy-cache       the proxy with the rules on, plan cache on
  proxy-nocache     the proxy with the rules on, --cache-size 0

Modes are measured in alternating rounds and each mode's best round counts (other work on the machine only
ever slows a run). It prints requests/s, p50 latency and the time per request (1000 / requests/s: one
process serves four connections, so this is its cost per request), and the verdicts against issue 14:

  proxy-off adds <= 1 ms at p50 over the origin
  the rules' cost through the proxy (proxy-cache - proxy-off, proxy-nocache - proxy-off) is within 10% of
  the middleware's own (mw-cache - origin, mw-nocache - origin), per request

A benchmark, not a test: exits 0 whatever the verdicts.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python benchmarks/proxy.py`, this folder is sys.path[0], and benchmarks/http.py would shadow the
# standard library's `http` package for everything imported below.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Awaitable, Callable, MutableMapping  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
from benchmarks import wrk  # noqa: E402
from tests._support.processes import free_port, stop, wait_for  # noqa: E402

ORIGIN_MODULE = "adinject_bench_proxy_origin"  # the name this file is copied to for uvicorn (see http.py)
HOST = "127.0.0.1"
MODES = ("origin", "mw-cache", "mw-nocache", "proxy-off", "proxy-cache", "proxy-nocache")
ADDED_P50_TARGET_MS = 1.0
RULES_COST_TOLERANCE = 0.10

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def make_origin() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The origin app (inside its uvicorn process): the page at any path, bare or behind the middleware."""
    mode = os.environ["ADINJECT_BENCH_MODE"]
    body = Path(os.environ["ADINJECT_BENCH_PAGE"]).read_bytes()
    headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", str(len(body)).encode())]

    async def page(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    if mode == "origin":
        return page
    from adinject import AdInjectMiddleware

    cache_size = 0 if mode == "mw-nocache" else 256
    return AdInjectMiddleware(
        page, rules=os.environ["ADINJECT_BENCH_RULES"], cache_size=cache_size, reload=False
    )


def origin_process(mode: str, workdir: Path, port: int) -> subprocess.Popen[bytes]:
    page, rules = workdir / "seed.html", workdir / "rules"
    env = {**os.environ, "ADINJECT_BENCH_MODE": mode, "ADINJECT_BENCH_PAGE": str(page)}
    env["ADINJECT_BENCH_RULES"] = str(rules)
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        f"{ORIGIN_MODULE}:make_origin",
        "--factory",
        "--app-dir",
        str(workdir),
    ]
    cmd += [
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--lifespan",
        "off",
    ]
    return subprocess.Popen(cmd, env=env, cwd=ROOT)


def proxy_process(upstream: str, rules: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "adinject.proxy", "--upstream", upstream, "--rules", str(rules)]
    cmd += ["--host", HOST, "--port", str(port), "--no-reload", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)


@dataclass
class Run:
    rps: float
    p50_ms: float


def run_wrk(url: str, seconds: int) -> Run:
    run = wrk.run_wrk(url, seconds, 4, latency=True)
    assert run.p50_ms is not None  # asked for with latency=True
    return Run(run.rps, run.p50_ms)


def check(url: str, mode: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read()
    slots = body.count(b'class="ad-slot"')
    related = b"Other Topics of Interest" in body
    if mode in ("origin", "proxy-off") and slots:
        sys.exit(f"{mode}: units in a page that should have none")
    if mode not in ("origin", "proxy-off") and not (slots and related):
        sys.exit(f"{mode}: the page came back without its units")
    return f"{len(body)} bytes, {slots} ad slots, related box {'in' if related else 'absent'}"


def measure(mode: str, workdir: Path, seconds: int, first: bool) -> Run:
    rules, off = workdir / "rules", workdir / "rules-off"
    origin_port = free_port()
    origin_mode = mode if mode.startswith(("origin", "mw-")) else "origin"
    procs = [origin_process(origin_mode, workdir, origin_port)]
    url = f"http://{HOST}:{origin_port}{SEED_PATH}"
    try:
        wait_for(url, procs[0])
        if mode.startswith("proxy-"):
            port = free_port()
            extra = ["--cache-size", "0"] if mode == "proxy-nocache" else []
            procs.append(
                proxy_process(
                    f"http://{HOST}:{origin_port}", off if mode == "proxy-off" else rules, port, *extra
                )
            )
            url = f"http://{HOST}:{port}{SEED_PATH}"
            wait_for(url, procs[1])
        if first:
            print(f"  check {mode:14} {check(url, mode)}")
        run_wrk(url, 1)  # warm-up
        return run_wrk(url, seconds)
    finally:
        for proc in reversed(procs):
            stop(proc)


def prepare(workdir: Path) -> None:
    """The seed page as `make demo-proxy` serves it, the shipped rules, and a copy of them switched off."""
    from examples.newsroom.static_site import render

    site = workdir / "site"
    render(site)
    shutil.copyfile(site / SEED_PATH.strip("/"), workdir / "seed.html")
    shutil.copytree(ROOT / "rules", workdir / "rules")
    shutil.copytree(ROOT / "rules", workdir / "rules-off")
    (workdir / "rules-off" / "OFF").touch()
    shutil.copyfile(__file__, workdir / f"{ORIGIN_MODULE}.py")


SEED_PATH = "/world/us-welcomes-russian-asylum-seekers"


def report(runs: dict[str, list[Run]]) -> None:
    best = {mode: max(runs[mode], key=lambda r: r.rps) for mode in MODES}
    p50 = {mode: min(r.p50_ms for r in runs[mode]) for mode in MODES}
    per = {mode: 1000.0 / best[mode].rps for mode in MODES}
    print(f"\n{'mode':16} {'req/s':>8} {'p50 ms':>7} {'ms/req':>7}")
    for mode in MODES:
        print(f"{mode:16} {best[mode].rps:8.0f} {p50[mode]:7.3f} {per[mode]:7.3f}")
    added = p50["proxy-off"] - p50["origin"]
    verdict = "PASS" if added <= ADDED_P50_TARGET_MS else "MISS"
    print(f"\nproxy, rules off: adds {added:.3f} ms at p50 over the origin (target <= 1 ms): {verdict}")
    for kind in ("cache", "nocache"):
        through = per[f"proxy-{kind}"] - per["proxy-off"]
        own = per[f"mw-{kind}"] - per["origin"]
        ratio = through / own if own > 0 else float("inf")
        verdict = "PASS" if abs(ratio - 1) <= RULES_COST_TOLERANCE else "MISS"
        print(
            f"rules on ({kind:7}): {through:.3f} ms/request through the proxy, "
            f"the middleware's own {own:.3f} "
            f"(ratio {ratio:.2f}, target 0.90-1.10): {verdict}"
        )
        through50 = p50[f"proxy-{kind}"] - p50["proxy-off"]
        own50 = p50[f"mw-{kind}"] - p50["origin"]
        print(f"{'':20}at p50: {through50:.3f} ms through the proxy, {own50:.3f} ms the middleware's")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the six modes (default 3)")
    parser.add_argument("--seconds", type=int, default=5, help="load run per mode and round (default 5)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("proxy benchmark skipped: wrk is not on PATH (apt-get install wrk)")
        return
    print(
        f"\nadinject proxy: the seed page ({SEED_PATH}), shipped rules, "
        f"wrk -t1 -c4 --latency -d{args.seconds}s"
    )
    runs: dict[str, list[Run]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="adinject-bench-proxy-") as tmp:
        workdir = Path(tmp)
        prepare(workdir)
        for n in range(args.rounds):
            for mode in MODES:
                run = measure(mode, workdir, args.seconds, first=n == 0)
                runs[mode].append(run)
                print(f"  round {n + 1} {mode:14} {run.rps:8.1f} requests/s, p50 {run.p50_ms:.3f} ms")
    report(runs)


if __name__ == "__main__":
    main()
