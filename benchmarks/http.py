"""What the middleware costs per request over HTTP (`make bench-http`).

One run serves a 126 KB real article page (../shared/corpus/readability/wapo-2/source.html) from a minimal
pure ASGI app under uvicorn three ways, one server process at a time, on 127.0.0.1 only:

  plain    the app alone
  cache    the app wrapped in AdInjectMiddleware (plan cache on; the same page every request, so it hits)
  nocache  the same with cache_size=0: every request parses and plans the page again

and the same three for WSGI (`wsgi-plain`, `wsgi-cache`, `wsgi-nocache`: the page from a minimal WSGI app,
alone or in AdInjectWSGIMiddleware) under gunicorn with one sync worker, the server the WSGI middleware is
built for (a sync worker serves one connection at a time and closes it after each response, so each WSGI
request also pays a TCP connect; the cost adinject adds is measured against wsgi-plain on the same server).
Goal (issue 13): the WSGI middleware adds no more than 1.1 x what the ASGI one adds, cached and uncached.

Each server gets a warm-up, then a time-bounded load run (wrk when it is on PATH, else a small built-in
asyncio keep-alive load generator; the script says which). The three modes are measured in alternating rounds
and each mode's best round counts (other work on the machine only ever lowers throughput). It prints
requests/s per mode, the time added per request (1/rps(mode) - 1/rps(plain)), the server's CPU time per
request as a cross-check that other processes cannot skew, the engine's own time for the page (medians of
`rules.apply`, `rules.plan` and `rules.realize` in this process), and PASS/MISS against issue 3's targets:

  nocache: added time <= 1.3 x the engine's own time (rules.apply)
  cache:   added time <= 0.1 ms

It is a benchmark, not a test: it exits 0 whatever the verdicts (1 only when it cannot measure at all).
The rules are the engine benchmark's AUTO_RULES (tests/corpus.py: container auto, a slot after paragraph 2,
then every 3), written to a temp folder; they match every path, and the app serves the page at /world/story.

This file is also the app: the script copies itself into the temp folder under another name (a module
called `http` would shadow the standard library) and starts `python -m uvicorn <copy>:make_app --factory`,
passing the mode, page and rules in environment variables.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as `python benchmarks/http.py`, this folder is sys.path[0], and this file would then shadow the standard
# library's `http` package for everything imported below (urllib, uvicorn, starlette).
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Awaitable, Callable, MutableMapping  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402

ROOT = HERE.parent
PAGE = ROOT.parent / "shared" / "corpus" / "readability" / "wapo-2" / "source.html"
URL_PATH = "/world/story"
HOST = "127.0.0.1"  # loopback only
CONTENT_TYPE = "text/html; charset=utf-8"
MODES = ("plain", "cache", "nocache", "wsgi-plain", "wsgi-cache", "wsgi-nocache")
LABELS = {
    "plain": "plain app (no middleware)",
    "cache": "adinject, plan cache on (hits)",
    "nocache": "adinject, cache_size=0",
    "wsgi-plain": "WSGI app, gunicorn sync",
    "wsgi-cache": "WSGI adinject, cache on (hits)",
    "wsgi-nocache": "WSGI adinject, cache_size=0",
}
WSGI_FACTOR = 1.1  # issue 13: the WSGI middleware's added cost within 10% of the ASGI one's
APP_MODULE = "adinject_bench_http_app"  # the name this file is copied to for uvicorn
CACHE_TARGET_MS = 0.1
NOCACHE_FACTOR = 1.3
CLK_TCK = os.sysconf("SC_CLK_TCK")
BUSY_WARNING = 0.15  # CPUs used by other processes during a load run that make the numbers suspect

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


# --- the app (runs inside the uvicorn process) --------------------------------------------------------------


def make_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The app for $ADINJECT_BENCH_MODE: the page (read once, here) at any path, with or without adinject.

    No ETag, as many CMS pages are served: the plan cache then keys on an xxh3 digest of the body.
    """
    mode = os.environ["ADINJECT_BENCH_MODE"]
    body = Path(os.environ["ADINJECT_BENCH_PAGE"]).read_bytes()
    headers = [(b"content-type", CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())]

    async def page(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"  # uvicorn runs with --lifespan off
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    if mode == "plain":
        return page
    from adinject import AdInjectMiddleware

    cache_size = 0 if mode == "nocache" else 256
    return AdInjectMiddleware(page, rules=os.environ["ADINJECT_BENCH_RULES"], cache_size=cache_size)


def make_wsgi_app() -> Callable[[dict[str, Any], Callable[..., Any]], list[bytes]]:
    """The WSGI app for $ADINJECT_BENCH_MODE (wsgi-*), as `make_app`, for gunicorn."""
    mode = os.environ["ADINJECT_BENCH_MODE"]
    body = Path(os.environ["ADINJECT_BENCH_PAGE"]).read_bytes()
    headers = [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))]

    def page(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", headers)
        return [body]

    if mode == "wsgi-plain":
        return page
    from adinject import AdInjectWSGIMiddleware

    cache_size = 0 if mode == "wsgi-nocache" else 256
    return AdInjectWSGIMiddleware(page, rules=os.environ["ADINJECT_BENCH_RULES"], cache_size=cache_size)


# --- the engine's own time ----------------------------------------------------------------------------------


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000.0


@dataclass
class EngineTimes:
    apply_ms: float
    plan_ms: float
    realize_ms: float
    units: int


def engine_times(rules_dir: Path, page: bytes, runs: int) -> EngineTimes:
    from adinject.engine import load_rules

    rules = load_rules(rules_dir)
    headers = {"content-type": CONTENT_TYPE}
    result = rules.apply(page, url=URL_PATH, headers=headers)
    if not result.modified:
        sys.exit(f"the rules place nothing on {PAGE}: {result.skipped}")
    plan = rules.plan(page, url=URL_PATH, headers=headers)
    for _ in range(5):
        rules.apply(page, url=URL_PATH, headers=headers)
    return EngineTimes(
        apply_ms=median_ms(lambda: rules.apply(page, url=URL_PATH, headers=headers), runs),
        plan_ms=median_ms(lambda: rules.plan(page, url=URL_PATH, headers=headers), runs),
        realize_ms=median_ms(lambda: rules.realize(plan, page), runs * 5),
        units=len(result.insertions),
    )


# --- servers ------------------------------------------------------------------------------------------------


def listening_socket() -> socket.socket:
    """A TCP socket bound to a free loopback port, for uvicorn to listen on (`--fd`).

    Bound here rather than by uvicorn so that nothing else can take the port between choosing and binding it,
    and with TCP_NODELAY, which the connections uvicorn accepts on it inherit: uvicorn wraps an `--fd` socket
    as AF_UNIX, so asyncio does not set TCP_NODELAY on them itself, and Nagle's algorithm with delayed ACKs
    would then add ~40 ms to responses written in more than one piece. Not listening yet: `wait_ready`
    connects until uvicorn does.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((HOST, 0))
    return sock


def process_tree(root: int) -> set[int]:
    """`root` and every process descended from it (gunicorn's workers are children of its master)."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    parents[int(entry.name)] = int(f.read().rpartition(b")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree = {root}
    while True:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        if not more:
            return tree
        tree |= more


def cpu_ticks() -> dict[int, int]:
    """utime + stime (clock ticks) of every user-space process, by pid.

    Kernel threads (children of kthreadd, pid 2) are left out: on loopback, ksoftirqd does network work that
    the benchmark itself causes.
    """
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or entry.name == "2":
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if fields[1] != b"2":
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    return ticks


class Server:
    """One uvicorn process (1 worker), or gunicorn with 1 sync worker for the wsgi-* modes, serving the app in
    `mode` on a free loopback port."""

    def __init__(self, mode: str, workdir: Path, rules_dir: Path, cpu: int | None) -> None:
        self.mode = mode
        self.sock = listening_socket()
        self.port: int = self.sock.getsockname()[1]
        env = {
            **os.environ,
            "ADINJECT_BENCH_MODE": mode,
            "ADINJECT_BENCH_PAGE": str(PAGE),
            "ADINJECT_BENCH_RULES": str(rules_dir),
        }
        cmd = self.wsgi_command(workdir) if mode.startswith("wsgi-") else self.asgi_command(workdir)
        # taskset execs python: same pid
        self.proc = subprocess.Popen([*pin(cpu), *cmd], env=env, cwd=workdir, pass_fds=(self.sock.fileno(),))

    def wsgi_command(self, workdir: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--worker-class",
            "sync",
            "--workers",
            "1",
            "--bind",
            f"fd://{self.sock.fileno()}",
            "--chdir",
            str(workdir),
            "--log-level",
            "warning",
            f"{APP_MODULE}:make_wsgi_app()",
        ]

    def asgi_command(self, workdir: Path) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            f"{APP_MODULE}:make_app",
            "--factory",
            "--app-dir",
            str(workdir),
            "--fd",
            str(self.sock.fileno()),
            "--log-level",
            "warning",
            "--no-access-log",
            "--lifespan",
            "off",
        ]

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{URL_PATH}"

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"uvicorn ({self.mode}) exited with status {self.proc.returncode}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        sys.exit(f"uvicorn ({self.mode}) did not start listening within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.sock.close()

    def __enter__(self) -> Server:
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check_response(server: Server, page: bytes) -> str:
    """One request: the plain app returns the page as is; with adinject it comes back with units inserted."""
    with urllib.request.urlopen(server.url, timeout=10) as response:
        body = response.read()
        timing = response.headers.get("server-timing")
    if server.mode.endswith("plain"):
        if body != page:
            sys.exit("the plain app did not return the page unchanged")
        return f"{len(body)} bytes, unchanged"
    slots = body.count(b'class="slot"') - page.count(b'class="slot"')
    if slots <= 0 or timing is None:
        sys.exit(f"adinject ({server.mode}) did not insert anything: Server-Timing {timing!r}")
    return f"{len(body)} bytes, {slots} slots, first request Server-Timing: {timing}"


# --- load generators: each returns (requests/s, requests) ---------------------------------------------------


def run_wrk(url: str, seconds: int, connections: int, cpu: int | None) -> tuple[float, int]:
    run = _wrk().run_wrk(url, seconds, connections, cpu=cpu)
    return run.rps, run.requests


def pin(cpu: int | None) -> list[str]:
    return _wrk().pin(cpu)


def _wrk() -> ModuleType:
    # Imported when the driver needs it, not at the top: uvicorn imports a copy of this file from a
    # temporary folder, where the repository is not on the path.
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import benchmarks.wrk

    return benchmarks.wrk


async def _client(port: int, request: bytes, stop_at: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while time.perf_counter() < stop_at:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head.split(b" ", 2)[1]
            if status != b"200":
                raise RuntimeError(f"HTTP {status.decode()} from the server")
            length = None
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                raise RuntimeError("a response without Content-Length (the built-in client needs one)")
            await reader.readexactly(length)
            counts[0] += 1
    finally:
        writer.close()


async def _load(port: int, seconds: int, connections: int) -> tuple[float, int]:
    request = f"GET {URL_PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: adinject-bench\r\n\r\n".encode()
    counts = [0]
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(_client(port, request, stop_at, counts) for _ in range(connections)))
    return counts[0] / (time.perf_counter() - started), counts[0]


def run_builtin(url: str, seconds: int, connections: int, cpu: int | None) -> tuple[float, int]:
    port = int(url.split(":")[2].split("/")[0])
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    return asyncio.run(_load(port, seconds, connections))


# --- the run ------------------------------------------------------------------------------------------------


@dataclass
class Run:
    rps: float
    cpu_ms: float  # the server's CPU time per request
    busy_elsewhere: float  # CPUs used by other processes meanwhile


def measure(
    server: Server,
    load: Callable[[str, int, int, int | None], tuple[float, int]],
    seconds: int,
    connections: int,
    cpu: int | None,
) -> Run:
    before = cpu_ticks()
    started = time.perf_counter()
    rps, requests = load(server.url, seconds, connections, cpu)
    elapsed = time.perf_counter() - started
    after = cpu_ticks()
    tree = process_tree(server.proc.pid)
    ours = {os.getpid(), *tree}
    server_s = sum(after.get(pid, 0) - before.get(pid, 0) for pid in tree) / CLK_TCK
    # Processes that started during the run count whole (their ticks before it were 0).
    others = sum(t - before.get(pid, 0) for pid, t in after.items() if pid not in ours) / CLK_TCK
    return Run(rps, server_s * 1000.0 / max(requests, 1), max(others, 0.0) / elapsed)


def write_rules(folder: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from tests._support.corpus import AUTO_RULES

    rules_dir = folder / "rules"
    rules_dir.mkdir()
    (rules_dir / "auto.yaml").write_text(AUTO_RULES)
    return rules_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the six modes (default 3)")
    parser.add_argument("--seconds", type=int, default=5, help="load run per mode and round (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up per server (default 1)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument("--builtin", action="store_true", help="use the built-in load generator, not wrk")
    parser.add_argument("--no-pin", action="store_true", help="do not pin uvicorn and the load to CPUs")
    args = parser.parse_args()

    if not PAGE.is_file():
        sys.exit(f"benchmark page not found: {PAGE}\n(the shared corpus: ../shared next to the checkout)")
    page = PAGE.read_bytes()

    use_wrk = not args.builtin and shutil.which("wrk") is not None
    load = run_wrk if use_wrk else run_builtin
    cpus = sorted(os.sched_getaffinity(0))
    pinned = not args.no_pin and shutil.which("taskset") is not None and len(cpus) >= 2
    server_cpu, load_cpu = (cpus[0], cpus[1]) if pinned else (None, None)

    print(f"page: {PAGE.relative_to(ROOT.parent)} ({len(page) / 1000:.1f} KB, no ETag), served at {URL_PATH}")
    print("rules: tests/corpus.py AUTO_RULES (container: auto; a slot after paragraph 2, then every 3)")
    print("server: python -m uvicorn, 1 worker, --no-access-log, defaults of AdInjectMiddleware otherwise")
    print("        wsgi-*: python -m gunicorn, 1 sync worker (no keep-alive: a connection per request)")
    if use_wrk:
        how = f"wrk -t1 -c{args.connections} -d{args.seconds}s"
    else:
        why = "--builtin" if args.builtin else "wrk is not on PATH: apt-get install wrk"
        how = f"built-in asyncio keep-alive client, {args.connections} connections, {args.seconds} s ({why})"
    print(
        f"load: {how} after a {args.warmup} s warm-up; rounds of the 6 modes: {args.rounds}, the best counts"
    )
    if pinned:
        print(f"cpus: uvicorn pinned to CPU {server_cpu}, load generator to CPU {load_cpu} (taskset)")
    else:
        print(f"cpus: not pinned ({len(cpus)} available): the load generator and uvicorn share them")

    with tempfile.TemporaryDirectory(prefix="adinject-bench-http-") as tmp:
        workdir = Path(tmp)
        shutil.copyfile(__file__, workdir / f"{APP_MODULE}.py")
        rules_dir = write_rules(workdir)

        if server_cpu is not None:
            os.sched_setaffinity(0, {server_cpu})  # the engine timed on the CPU the server will use
        engine = engine_times(rules_dir, page, runs=200)
        os.sched_setaffinity(0, cpus)

        runs: dict[str, list[Run]] = {mode: [] for mode in MODES}
        for n in range(args.rounds):
            for mode in MODES:
                with Server(mode, workdir, rules_dir, server_cpu) as server:
                    if n == 0:
                        print(f"  check {mode:8} {check_response(server, page)}")
                    load(server.url, args.warmup, args.connections, load_cpu)
                    run = measure(server, load, args.seconds, args.connections, load_cpu)
                runs[mode].append(run)
                busy = f"; other processes: {run.busy_elsewhere:.2f} CPU" if run.busy_elsewhere > 0.05 else ""
                print(
                    f"  round {n + 1} {mode:8} {run.rps:9.1f} requests/s, "
                    f"server CPU {run.cpu_ms * 1000:6.1f} µs/request{busy}"
                )

    report(runs, engine)
    # The proxy line (issue 14): the seed page through `adinject proxy`, in processes of its own.
    subprocess.run([sys.executable, str(HERE / "proxy.py")], check=False)


def report(runs: dict[str, list[Run]], engine: EngineTimes) -> None:
    """The table, the engine's times and the verdicts.

    The verdict follows issue 3's definition (from requests/s); the server's CPU time per request gives a
    second reading of the same quantity that other processes on the machine cannot inflate or hide.
    """
    rps = {mode: max(r.rps for r in runs[mode]) for mode in MODES}
    cpu = {mode: min(r.cpu_ms for r in runs[mode]) for mode in MODES}
    base = {mode: "wsgi-plain" if mode.startswith("wsgi-") else "plain" for mode in MODES}
    added = {mode: 1000.0 / rps[mode] - 1000.0 / rps[base[mode]] for mode in MODES}
    added_cpu = {mode: cpu[mode] - cpu[base[mode]] for mode in MODES}
    limit = {"cache": CACHE_TARGET_MS, "nocache": NOCACHE_FACTOR * engine.apply_ms}
    limit |= {f"wsgi-{mode}": WSGI_FACTOR * added[mode] for mode in ("cache", "nocache")}
    verdict = {mode: "PASS" if added[mode] <= limit[mode] else "MISS" for mode in limit}
    cpu_limit = limit | {f"wsgi-{mode}": WSGI_FACTOR * added_cpu[mode] for mode in ("cache", "nocache")}
    cpu_verdict = {mode: "PASS" if added_cpu[mode] <= cpu_limit[mode] else "MISS" for mode in limit}

    print()
    print(
        f"{'mode':31} {'req/s':>7} {'range':>12} {'ms/req':>7} {'added ms':>8} {'target ms':>9} {'result':6}"
        f" {'CPU ms/req':>10} {'added CPU':>9} {'by CPU':6}"
    )
    for mode in MODES:
        low = min(r.rps for r in runs[mode])
        row = (
            f"{LABELS[mode]:31} {rps[mode]:7.0f} {f'{low:.0f}-{rps[mode]:.0f}':>12} {1000.0 / rps[mode]:7.3f}"
        )
        if mode.endswith("plain"):
            print(f"{row} {'':8} {'':9} {'':6} {cpu[mode]:10.3f}")
            continue
        print(
            f"{row} {added[mode]:8.3f} {f'<= {limit[mode]:.3f}':>9} {verdict[mode]:6}"
            f" {cpu[mode]:10.3f} {added_cpu[mode]:9.3f} {cpu_verdict[mode]:6}"
        )
    print()
    print(f"engine's own time for the page ({engine.units} units placed), median in this process:")
    print(
        f"  rules.apply   {engine.apply_ms:7.3f} ms  plan + realize: the engine's work per request, no cache"
    )
    print(f"  rules.plan    {engine.plan_ms:7.3f} ms  decode, parse, place: what a cache hit saves")
    print(f"  rules.realize {engine.realize_ms:7.3f} ms  render units, splice: every request, hit or not")
    print()
    print(
        f"targets (issue 3): cache_size=0 adds <= {NOCACHE_FACTOR} x rules.apply = {limit['nocache']:.3f} ms;"
    )
    print(f"                   a cache hit on a repeated page adds <= {CACHE_TARGET_MS:.3f} ms")
    for mode in ("nocache", "cache"):
        print(
            f"{mode + ':':8} added {added[mode]:.3f} ms per request (target <= {limit[mode]:.3f}): "
            f"{verdict[mode]}; by server CPU {added_cpu[mode]:.3f} ms: {cpu_verdict[mode]}"
        )
    print(f"WSGI (issue 13, gunicorn sync, against wsgi-plain): added <= {WSGI_FACTOR} x the ASGI figure")
    for mode in ("wsgi-nocache", "wsgi-cache"):
        print(
            f"{mode + ':':13} added {added[mode]:.3f} ms per request (ASGI {added[mode[5:]]:.3f}, target <= "
            f"{limit[mode]:.3f}): {verdict[mode]}; by server CPU {added_cpu[mode]:.3f} ms (ASGI "
            f"{added_cpu[mode[5:]]:.3f}, target <= {cpu_limit[mode]:.3f}): {cpu_verdict[mode]}"
        )
    worst = max(r.busy_elsewhere for rs in runs.values() for r in rs)
    if worst > BUSY_WARNING:
        print(
            f"warning: other processes used up to {worst:.2f} CPU during the load runs, so requests/s are "
            "noisy;\n         the CPU columns are less affected. Rerun on a quiet machine."
        )


if __name__ == "__main__":
    main()
