"""Report generation time and size for journals of 10k, 100k and 1M samples.

Baseline, measured in the same run on the same file: reading it and `json.loads` (the least
any report must do). Targets: 1M samples in under 5 s and under 2 MB.

    python benchmarks/bench_report.py [--sizes 10000,100000,1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaosrun.report import load_journal, render_html
from tests.report.journals import make_journal

REGIONS = ("us-east", "eu-west", "ap-south")
TARGET_S = 5.0
TARGET_BYTES = 2_000_000


def _journal_file(samples: int, folder: Path) -> Path:
    """A 1-hour-shaped run (baseline 10%, fault 70%, recovery 20%) with `samples` samples in 3 regions."""
    rate = 10.0
    total_s = samples / rate / len(REGIONS)
    wire = make_journal(
        "deviated",
        regions=REGIONS,
        probes=("checkout",),
        rate_hz=rate,
        phases_s=(total_s * 0.1, total_s * 0.7, total_s * 0.2),
    )
    path = folder / f"journal-{samples}.json"
    path.write_text(json.dumps(wire, separators=(",", ":")), encoding="utf-8")
    return path


def _best(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    print(f"{'samples':>10} {'journal':>10} {'json.loads':>11} {'report':>9} {'ratio':>7} {'html':>10}  target")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = _journal_file(n, Path(tmp))
            base_s, _ = _best(lambda p=path: json.loads(p.read_bytes()), args.repeat)
            report_s, page = _best(lambda p=path: render_html(load_journal(p)), args.repeat)
            size = len(str(page).encode())
            ok = report_s < TARGET_S and size < TARGET_BYTES
            failed |= n >= 1_000_000 and not ok
            print(
                f"{n:>10,} {path.stat().st_size / 1e6:>8.1f}MB {base_s:>10.3f}s {report_s:>8.3f}s "
                f"{report_s / base_s:>6.1f}x {size / 1e6:>8.2f}MB  {'ok' if ok else 'MISSED'}"
                f" (< {TARGET_S:g} s, < 2 MB)"
            )
    print(f"python {sys.version.split()[0]}; best of {args.repeat}; statistics exact, drawing downsampled")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
