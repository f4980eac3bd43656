"""Soak: the product's whole path (`chaosrun run` as a subprocess) at fixed rates against nginx.

For each rate (default 1,000 / 3,000 / 10,000 samples/s scheduled), 3 regions x 10 HTTP probes
(30 series, `every` = 30 / rate) against a private nginx (Debian package `nginx`,
/usr/sbin/nginx; temp config, one worker, default `keepalive_requests` 1000 so kept-alive
connections are closed under the client, 3 ports = 3 regions), stopped by PID at the end:

- chaosrun: `python -m chaosrun run EXPERIMENT` with live progress on (a pseudo-terminal as
  its stderr), journal and report written, `method: []`, phases 10% / 80% / 10%;
- baseline: a bare aiohttp loop on the same schedule (30 series, a request task per tick, same
  session shape), also as a subprocess, measured the same way.

Per rate and client: samples taken / not taken / failed (nginx answers every request, so every
failure is a false failure), retried, CPU us per sample (between 10 s and the end of sampling,
from /proc), RSS at 10 s and at the end of sampling, journal bytes per sample (events.jsonl,
journal.json); then ratios chaosrun / bare. Targets (issue 9, 2 cores): 0 false failures at
every rate chaosrun kept up with, RSS growth < 20 MB from 10 s to the end of a 10-minute run at
3,000/s, CPU per sample within 1.5x the bare loop's.

    python benchmarks/bench_soak.py [--seconds 60] [--rates 1000,3000,10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _probe_harness import CLK_TCK, free_port, print_table  # noqa: E402
from bench_probe_throughput import NGINX, nginx  # noqa: E402

REGIONS = 3
PROBES_PER_REGION = 10
SERIES = REGIONS * PROBES_PER_REGION
RSS_AT_S = 10.0


def _stat(pid: int) -> tuple[float, int]:
    """(CPU seconds, RSS bytes) of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        raise OSError(f"process {pid} has exited")
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


@dataclass
class Figures:
    client: str
    rate: int
    taken: int
    not_taken: int
    failed: int
    retried: int
    cpu_us: float  # per sample taken, from 10 s to the end of sampling
    rss_10_mb: float
    rss_end_mb: float
    events_bytes: float  # per sample
    journal_bytes: float  # per sample
    status: str


def _watch(pid: int, limit_s: float, ended: Path | None) -> tuple[float, float, float, float, float, float]:
    """(t, cpu, rss MB) at RSS_AT_S after the child's start, and the last reading before its
    sampling ended: before `run_ended` appears in `ended` (events.jsonl), or before it exits."""
    start = time.monotonic()
    first: tuple[float, float, int] | None = None
    last: tuple[float, float, int] | None = None
    offset = 0
    while time.monotonic() - start < limit_s:  # bounded
        time.sleep(0.25)
        if ended is not None and ended.exists():
            with ended.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
            offset += len(chunk)
            if b'"type":"run_ended"' in chunk:
                break
        try:
            cpu, rss = _stat(pid)
        except (OSError, IndexError):
            break
        reading = (time.monotonic() - start, cpu, rss)
        if first is None and reading[0] >= RSS_AT_S:
            first = reading
        last = reading
    nan = (float("nan"), float("nan"), 0)
    (t0, c0, r0), (t1, c1, r1) = first or nan, last or nan
    return t0, c0, r0 / 2**20, t1, c1, r1 / 2**20


def _experiment(bases: list[str], every_ms: float, seconds: float) -> str:
    probes = []
    for p in range(PROBES_PER_REGION):
        path = "/ok" if p % 2 == 0 else "/json"
        probes.append(
            f"""    - name: p{p}
      http: {{url: {path}, timeout: 2s}}
      every: {every_ms:g}ms
      tolerance: {{success_ratio: ">= 0.99", p95: "< 500ms"}}"""
        )
    regions = "\n".join(f"  r{i}: {{base_url: {b}}}" for i, b in enumerate(bases))
    return f"""title: soak
regions:
{regions}
steady_state:
  probes:
{chr(10).join(probes)}
phases: {{baseline: {seconds * 0.1:g}s, fault: {seconds * 0.8:g}s, recovery: {seconds * 0.1:g}s}}
method: []
"""


def run_chaosrun(bases: list[str], rate: int, seconds: float, tmp: Path) -> Figures:
    every_ms = SERIES / rate * 1000
    exp = tmp / f"soak-{rate}.yaml"
    exp.write_text(_experiment(bases, every_ms, seconds))
    out = tmp / f"out-{rate}"
    master, slave = pty.openpty()  # live progress: stderr is a terminal
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["TERM"] = "xterm"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaosrun", "run", str(exp), "--out", str(out), "--state-dir", str(tmp / "state")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    drain = threading.Thread(target=_drain, args=(master,), daemon=True)
    drain.start()
    t0, c0, rss10, t1, c1, rss_end = _watch(proc.pid, seconds + 120, out / "events.jsonl")
    stdout, _ = proc.communicate(timeout=seconds + 600)
    drain.join(5)
    journal = json.loads((out / "journal.json").read_text())
    taken = sum(v["samples"] for v in journal["verdicts"])
    not_taken = sum(v.get("not_taken", 0) for v in journal["verdicts"])
    failed = sum(v["failures"] for v in journal["verdicts"])
    # samples in the measured stretch: the run's clock starts after the child's start-up
    run_end = max((t for s in journal["samples"]["series"] for t in s["t"][-1:]), default=0.0)
    shift = t1 - run_end  # child time - run time, about (the last reading is at the run's end)
    window = [t for s in journal["samples"]["series"] for t in s["t"] if t0 - shift <= t <= t1 - shift]
    retried = sum(1 for row in _rows(out) if len(row) > 8 and row[8] == 1)
    if proc.returncode not in (0, 7):
        print(stdout)
    return Figures(
        client="chaosrun run",
        rate=rate,
        taken=taken,
        not_taken=not_taken,
        failed=failed,
        retried=retried,
        cpu_us=(c1 - c0) / max(1, len(window)) * 1e6,
        rss_10_mb=rss10,
        rss_end_mb=rss_end,
        events_bytes=(out / "events.jsonl").stat().st_size / max(1, taken),
        journal_bytes=(out / "journal.json").stat().st_size / max(1, taken),
        status=journal["status"],
    )


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 65536):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def _rows(out: Path) -> list[list[object]]:
    rows: list[list[object]] = []
    with (out / "events.jsonl").open() as fh:
        for line in fh:
            if '"type":"samples"' in line:
                rows += json.loads(line)["batch"]
    return rows


def run_bare(bases: list[str], rate: int, seconds: float) -> Figures:
    every_s = SERIES / rate
    proc = subprocess.Popen(
        [sys.executable, __file__, "--bare", f"{every_s}", f"{seconds}", *bases],
        stdout=subprocess.PIPE,
        text=True,
    )
    t0, c0, rss10, t1, c1, rss_end = _watch(proc.pid, seconds + 120, None)
    stdout, _ = proc.communicate(timeout=seconds + 120)
    counts = json.loads(stdout.strip().splitlines()[-1])
    in_window = counts["taken"] * max(0.0, (t1 - t0)) / seconds
    return Figures(
        client="bare aiohttp loop",
        rate=rate,
        taken=counts["taken"],
        not_taken=0,
        failed=counts["failed"],
        retried=0,
        cpu_us=(c1 - c0) / max(1.0, in_window) * 1e6,
        rss_10_mb=rss10,
        rss_end_mb=rss_end,
        events_bytes=0.0,
        journal_bytes=0.0,
        status="-",
    )


async def _bare(every_s: float, seconds: float, bases: list[str]) -> dict[str, int]:
    """30 series on a fixed schedule, a request task per tick: the least an aiohttp prober does."""
    import aiohttp

    counts = {"taken": 0, "failed": 0}
    urls = [f"{bases[i % REGIONS]}/{'ok' if (i // REGIONS) % 2 == 0 else 'json'}" for i in range(SERIES)]
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300), timeout=aiohttp.ClientTimeout(total=None)
    ) as http:

        async def get(url: str) -> None:
            try:
                async with asyncio.timeout(2.0), http.get(url) as resp:
                    await resp.read()
                    ok = resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            counts["taken"] += 1
            counts["failed"] += not ok

        async def series(url: str, start: float) -> None:
            async with asyncio.TaskGroup() as tg:
                for k in range(int(seconds / every_s)):
                    await asyncio.sleep(max(0.0, start + k * every_s - time.monotonic()))
                    tg.create_task(get(url))

        now = time.monotonic()
        async with asyncio.TaskGroup() as tg:
            for i, url in enumerate(urls):
                tg.create_task(series(url, now + every_s * i / SERIES))
    return counts


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--bare":
        import uvloop

        every_s, seconds, bases = float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            print(json.dumps(runner.run(_bare(every_s, seconds, bases))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="sampling time per rate and client")
    parser.add_argument("--rates", default="1000,3000,10000", help="samples/s scheduled, comma-separated")
    args = parser.parse_args()
    if not shutil.which(NGINX):
        print(f"missing {NGINX} (apt-get install nginx)")
        return 1
    rates = [int(r) for r in args.rates.split(",")]
    ports = [free_port() for _ in range(REGIONS)]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    load = os.getloadavg()[0]
    print(f"load average before: {load:.2f}; {os.cpu_count()} CPUs; {args.seconds:g}s per rate and client")
    results: list[tuple[Figures, Figures]] = []
    with nginx(ports, keepalive_requests=None), tempfile.TemporaryDirectory(prefix="chaosrun-soak-") as tmp:
        for rate in rates:
            print(f"{rate:,}/s: chaosrun run ...", flush=True)
            ours = run_chaosrun(bases, rate, args.seconds, Path(tmp))
            print(f"{rate:,}/s: bare aiohttp loop ...", flush=True)
            bare = run_bare(bases, rate, args.seconds)
            results.append((ours, bare))
            print(f"  load average now: {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for ours, bare in results:
        for f in (ours, bare):
            rows.append(
                (
                    f.client,
                    f"{f.rate:,}",
                    f"{f.taken:,}",
                    f"{f.not_taken:,}",
                    f"{f.failed:,}",
                    f"{f.retried:,}",
                    f"{f.cpu_us:.0f}",
                    f"{f.rss_10_mb:.1f}",
                    f"{f.rss_end_mb:.1f}",
                    f"{f.rss_end_mb - f.rss_10_mb:+.1f}",
                    f"{f.events_bytes:.0f}" if f.events_bytes else "-",
                    f"{f.journal_bytes:.0f}" if f.journal_bytes else "-",
                    f.status,
                )
            )
    print()
    print_table(
        (
            "client",
            "rate/s",
            "taken",
            "not taken",
            "failed",
            "retried",
            "CPU us/sample",
            "RSS 10s MB",
            "RSS end MB",
            "growth",
            "events B/sample",
            "journal B/sample",
            "status",
        ),
        rows,
    )
    print()
    for ours, bare in results:
        ratio = ours.cpu_us / bare.cpu_us if bare.cpu_us else float("nan")
        kept_up = ours.not_taken == 0
        print(
            f"{ours.rate:,}/s: CPU per sample {ratio:.2f}x the bare loop (target <= 1.5x); "
            f"false failures {ours.failed} ({'kept up' if kept_up else f'{ours.not_taken:,} not taken'}); "
            f"RSS growth {ours.rss_end_mb - ours.rss_10_mb:+.1f} MB (target < 20 MB over 10 minutes at 3,000/s)"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
