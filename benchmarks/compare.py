"""Median `rules.apply` of this checkout against another commit's, in alternating fresh processes
(`make bench-compare`, default: 61bcc80, the restructure's last commit, issue 12's speed baseline).

Absolute times move with the machine and with what else runs on it, by more than the few percent a limit
like "at most 10% slower" is about; two runs of the same code minutes apart differ by 2-4%. So both
engines are timed the same way, one after the other, several rounds, each run in a fresh interpreter
(the corpus median of `apply`, best of 7 per page, as `make bench` times it), and the medians of the rounds
are compared. The other commit is checked out into a temporary git worktree, which is removed afterwards.

    python benchmarks/compare.py [COMMIT] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":
    sys.path[0] = str(ROOT)  # as in engine.py: this folder's http.py would shadow the standard library's

from tests._support.corpus import AUTO_RULES, READABILITY, readability_pages  # noqa: E402

BASELINE = "61bcc80"
LIMIT = 1.10  # issue 12: median apply at most 10% slower than the baseline

# Run against the engine of the checkout being measured (argv[1]), with this checkout's rules and pages
# (argv[2], argv[3]) for both: printing one number.
_TIMER = """
import statistics, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from adinject.engine import load_rules
assert __import__("adinject").__file__.startswith(sys.argv[1])
rules = load_rules(sys.argv[2])
headers = {"content-type": "text/html"}
times = []
for page in sys.argv[3:]:
    data = Path(page).read_bytes()
    best = float("inf")
    for _ in range(7):
        started = time.perf_counter()
        rules.apply(data, url="/a", headers=headers)
        best = min(best, time.perf_counter() - started)
    times.append(best * 1000.0)
print(statistics.median(times))
"""


def median_apply(checkout: Path, rules: Path, pages: list[str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _TIMER, str(checkout), str(rules), *pages],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commit", nargs="?", default=BASELINE)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    pages = [str(page / "source.html") for page in readability_pages()]
    if not pages:
        sys.exit(f"no corpus pages at {READABILITY}: this benchmark needs ../shared next to the checkout")
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules"
        rules.mkdir()
        (rules / "auto.yaml").write_text(AUTO_RULES)
        other = Path(tmp) / "baseline"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(other), args.commit],
            check=True,
        )
        try:
            ours: list[float] = []
            theirs: list[float] = []
            for round_ in range(1, args.rounds + 1):
                theirs.append(median_apply(other, rules, pages))
                ours.append(median_apply(ROOT, rules, pages))
                print(f"  round {round_}: {args.commit} {theirs[-1]:.3f} ms, this checkout {ours[-1]:.3f} ms")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)], check=True)
    base, now = statistics.median(theirs), statistics.median(ours)
    ratio = now / base
    verdict = "PASS" if ratio <= LIMIT else "MISS"
    print(
        f"median apply: {args.commit} {base:.3f} ms, this checkout {now:.3f} ms: "
        f"{(ratio - 1) * 100:+.1f}% (issue 12: at most {(LIMIT - 1) * 100:+.0f}%) {verdict}"
    )


if __name__ == "__main__":
    main()
