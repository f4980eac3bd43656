"""The report at scale: a 1-hour run with 30 series (10 probes in 3 regions, one sample a second).

Compared in the same run with what `bench_report.py` measures, a journal of the same length and
sample count in 3 series (1 probe in 3 regions at 10 samples a second): the ratio is what the
overview, the heatmaps and the lines behind them cost over the report of few series. Targets:
under 2 s and under 1 MB.

    python benchmarks/bench_report_scale.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaosrun.report import load_journal, render_html
from tests.report.journals import PROBE_NAMES, make_journal

REGIONS = ("us-east", "eu-west", "ap-south")
HOUR_PHASES = (360.0, 2520.0, 720.0)  # baseline 10%, fault 70%, recovery 20% of an hour
TARGET_S = 2.0
TARGET_BYTES = 1_000_000


def _journal_file(folder: Path, probes: int, rate_hz: float) -> Path:
    wire = make_journal("deviated", regions=REGIONS, probes=PROBE_NAMES[:probes], rate_hz=rate_hz,
                        phases_s=HOUR_PHASES)  # fmt: skip
    path = folder / f"journal-{probes}x{len(REGIONS)}.json"
    path.write_text(json.dumps(wire, separators=(",", ":")), encoding="utf-8")
    return path


def _best(path: Path, repeat: int) -> tuple[float, float, int]:
    """Best wall and CPU seconds of `render_html` over `repeat` runs, and the page's size in bytes.

    Rendering is single-threaded: on an idle machine its CPU time is its wall time; on a busy one
    (other test suites on the same cores) the CPU time is what the report itself costs.
    """
    journal = load_journal(path)
    walls, cpus, size = [], [], 0
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        page = render_html(journal)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        size = len(page.encode())
    return min(walls), min(cpus), size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        few = _journal_file(Path(tmp), probes=1, rate_hz=10.0)
        many = _journal_file(Path(tmp), probes=10, rate_hz=1.0)
        few_wall, few_cpu, few_bytes = _best(few, args.repeat)
        many_wall, many_cpu, many_bytes = _best(many, args.repeat)
    ok = many_cpu < TARGET_S and many_bytes < TARGET_BYTES
    print(f"{'journal':>30} {'wall':>8} {'cpu':>8} {'html':>8}")
    print(f"{'1 h, 3 series x 10/s (108k)':>30} {few_wall:>7.3f}s {few_cpu:>7.3f}s {few_bytes / 1e6:>6.2f}MB")
    print(f"{'1 h, 30 series x 1/s (108k)':>30} {many_wall:>7.3f}s {many_cpu:>7.3f}s {many_bytes / 1e6:>6.2f}MB  "
          f"{many_cpu / few_cpu:.1f}x cpu  {'ok' if ok else 'MISSED'} (cpu < {TARGET_S:g} s, < 1 MB)")  # fmt: skip
    print(f"python {sys.version.split()[0]}; best of {args.repeat}; render_html of a loaded journal; load "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
