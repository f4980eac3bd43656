"""Startup: median wall time of `chaosrun validate` and `chaosrun --help` vs a bare interpreter.

Target (issue: core runner): `chaosrun validate` on an example experiment under 0.3 s median.
For scale, Chaos Toolkit measured 0.215 s without plugins and 1.07 s with its reporting
plugin installed (shared/reference/chaostoolkit.md). Prints ratios to `python -c pass`
measured in the same run. Bounded: N runs of each command, each with a 30 s timeout.

    python benchmarks/bench_startup.py [--runs 11] [EXPERIMENT]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(argv: list[str], runs: int) -> float:
    """Median wall seconds of `runs` executions (one warm-up run first)."""
    subprocess.run(argv, capture_output=True, timeout=30, check=False, cwd=ROOT)
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, timeout=30, check=False, cwd=ROOT)
        samples.append(time.perf_counter() - t0)
        if proc.returncode not in (0,):
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("experiment", nargs="?", default=None)
    args = parser.parse_args()
    experiment = args.experiment or str(sorted((ROOT / "experiments").glob("*.yaml"))[0])
    py = sys.executable
    base = timed([py, "-c", "pass"], args.runs)
    rows = [
        ("python -c pass (baseline)", base),
        ("chaosrun --help", timed([py, "-m", "chaosrun", "--help"], args.runs)),
        (
            f"chaosrun validate {Path(experiment).name}",
            timed([py, "-m", "chaosrun", "validate", experiment], args.runs),
        ),
    ]
    print(f"{'command':<50} {'median':>9} {'x baseline':>11}")
    for name, seconds in rows:
        print(f"{name:<50} {seconds:>8.3f}s {seconds / base:>10.1f}x")
    validate = rows[-1][1]
    print(f"target: validate < 0.300 s median -> {'met' if validate < 0.3 else 'NOT met'} ({validate:.3f} s)")


if __name__ == "__main__":
    main()
