"""Probe throughput: samples/s with every=0 across 3 regions x 10 probes (30 series).

Against a local nginx (started here: /usr/sbin/nginx, temp config, `daemon off`, one worker,
3 ports = 3 regions), each client runs for the same `--seconds` in the same run:

- `wrk` (/usr/bin/wrk, 1 thread, 30 connections): what the server gives a C client;
- chaosrun: the real HTTP samplers (10 probe specs, each with its checks) x 3 regions on
  `sample_series(every_s=0)`, one shared keep-alive session; on uvloop and on asyncio;
- a bare aiohttp loop (30 tasks: get, read, repeat): the ceiling for any aiohttp-based prober;
- httpx.AsyncClient in the same bare loop: why chaosrun uses aiohttp;
- the product's whole path: `chaosrun run` (a subprocess) on an experiment of the same 30
  series with `every: 0s`, journal written (`--no-report`), so the samplers' figures above can
  be compared with what a run really does (its CPU includes start-up and the journal's end).

Target: >= 5,000 samples/s aggregate on 2 cores, about 10x Chaos Toolkit's ~525/s.

    python benchmarks/bench_probe_throughput.py [--seconds 10] [--rounds 1] [--skip-httpx]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _probe_harness import (  # noqa: E402
    free_port,
    print_table,
    probe_session,
    process_cpu_s,
    run_on,
    wait_for_port,
)

from chaosrun.model import HttpProbe, Region  # noqa: E402
from chaosrun.probes import ProbeContext, build_sampler  # noqa: E402
from chaosrun.running.scheduler import sample_series  # noqa: E402

NGINX = "/usr/sbin/nginx"
WRK = "/usr/bin/wrk"
CHAOS_TOOLKIT_PER_S = 525.0
TARGET_PER_S = 5000.0
REGIONS = 3
SERIES = 30

PROBES = (
    HttpProbe(url="/ok"),
    HttpProbe(url="/ok", body_regex="^ok"),
    HttpProbe(url="/json", json_path="status", json_expect="ok"),
    HttpProbe(url="/json", json_path="items[0].state", json_expect="up"),
    HttpProbe(url="/ok", max_latency_s=1.0),
    HttpProbe(url="/ok", expect_status=(200, 204)),
    HttpProbe(url="/ok", headers=(("X-Region", "${region.name}"), ("Authorization", "Bearer ${secret.token}"))),
    HttpProbe(url="/json?region=${region.name}", body_regex='"status"'),
    HttpProbe(url="/ok", method="HEAD"),
    HttpProbe(url="/ok", timeout_s=2.0),
)

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{keepalive}
    keepalive_timeout 60s;
{servers}
}}
"""
SERVER = """    server {{
        listen 127.0.0.1:{port};
        location /ok {{ default_type text/plain; return 200 "ok\\n"; }}
        location /json {{ default_type application/json; return 200 '{{"status":"ok","items":[{{"state":"up"}}]}}'; }}
    }}"""


@contextmanager
def nginx(ports: list[int], keepalive_requests: int | None = 10_000_000) -> Iterator[int]:
    """A private nginx serving /ok and /json on `ports`; yields its master pid, stopped at exit.

    `keepalive_requests` None keeps nginx's default (1000: it closes kept-alive connections)."""
    with tempfile.TemporaryDirectory(prefix="chaosrun-nginx-") as tmp:
        servers = "\n".join(SERVER.format(port=p) for p in ports)
        conf = Path(tmp) / "nginx.conf"
        keepalive = "" if keepalive_requests is None else f"    keepalive_requests {keepalive_requests};"
        conf.write_text(NGINX_CONF.format(tmp=tmp, servers=servers, keepalive=keepalive))
        proc = subprocess.Popen([NGINX, "-p", tmp, "-c", str(conf)], stderr=subprocess.PIPE)
        try:
            for port in ports:
                wait_for_port(port)
            yield proc.pid
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def run_wrk(url: str, seconds: float) -> float:
    out = subprocess.run(
        [WRK, "-t1", f"-c{SERIES}", f"-d{max(1, round(seconds))}s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    if m is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return float(m.group(1))


async def run_chaosrun(bases: list[str], seconds: float) -> tuple[int, int]:
    """Samples taken and samples failed by 30 back-to-back series of chaosrun's samplers."""
    counts = [0, 0]

    def on_sample(scheduled: float, lag_s: float, outcome: object) -> None:
        counts[0] += 1
        if not outcome.ok:  # type: ignore[attr-defined]
            counts[1] += 1

    async with probe_session() as http:
        ctx = ProbeContext(http=http, secrets={"token": "s3cr3t"})
        samplers = [
            build_sampler(spec, Region(name=f"region-{i}", base_url=base), ctx)
            for i, base in enumerate(bases)
            for spec in PROBES
        ]
        start = time.monotonic()
        async with asyncio.TaskGroup() as tg:
            for sampler in samplers:
                tg.create_task(
                    sample_series(sampler, every_s=0, start_mono=start, stop_mono=start + seconds, on_sample=on_sample)
                )
    return counts[0], counts[1]


async def _bare_loop(get: Callable[[str], object], urls: list[str], seconds: float) -> tuple[int, int]:
    counts = [0, 0]
    deadline = time.monotonic() + seconds

    async def worker(url: str) -> None:
        while time.monotonic() < deadline:
            ok = await get(url)  # type: ignore[misc]
            counts[0] += 1
            counts[1] += not ok

    async with asyncio.TaskGroup() as tg:
        for url in urls:
            tg.create_task(worker(url))
    return counts[0], counts[1]


async def run_aiohttp(urls: list[str], seconds: float) -> tuple[int, int]:
    async with probe_session() as http:

        async def get(url: str) -> bool:
            async with http.get(url) as resp:
                await resp.read()
                return resp.status == 200

        return await _bare_loop(get, urls, seconds)


async def run_httpx(urls: list[str], seconds: float) -> tuple[int, int]:
    import httpx

    # Default limits (100 connections >= 30 tasks); max_connections=None measured slower still.
    async with httpx.AsyncClient(timeout=None) as client:

        async def get(url: str) -> bool:
            resp = await client.get(url)
            return resp.status_code == 200

        return await _bare_loop(get, urls, seconds)


WHOLE_PATH_EXPERIMENT = """title: throughput
regions:
{regions}
steady_state:
  probes:
{probes}
phases: {{baseline: {seconds:g}s, fault: 0s, recovery: 0s}}
method: []
"""


def run_whole_path(bases: list[str], seconds: float) -> tuple[str, int, int, float, float]:
    """`chaosrun run` on 3 regions x 10 back-to-back probes; samples from its journal. CPU per sample
    is the child's CPU from 3 s after its start (start-up done) to `seconds` after it, over the
    samples of that stretch (the run's rate times its length): start-up and the end are left out."""
    import json

    probes = "\n".join(
        f"    - name: p{i}\n      http: {{url: {'/ok' if i % 2 == 0 else '/json'}}}\n      every: 0s\n"
        '      tolerance: {success_ratio: ">= 0.99"}'
        for i in range(len(PROBES))
    )
    regions = "\n".join(f"  r{i}: {{base_url: {b}}}" for i, b in enumerate(bases))
    with tempfile.TemporaryDirectory(prefix="chaosrun-whole-") as tmp:
        exp = Path(tmp) / "exp.yaml"
        exp.write_text(WHOLE_PATH_EXPERIMENT.format(regions=regions, probes=probes, seconds=seconds))
        args = [sys.executable, "-m", "chaosrun", "run", str(exp), "--out", f"{tmp}/out", "--state-dir", f"{tmp}/st"]
        proc = subprocess.Popen(
            [*args, "--no-report"],
            cwd=ROOT,
            env={**os.environ, "CI": "true"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started = time.monotonic()
        marks = []
        for at in (3.0, seconds):
            time.sleep(max(0.0, started + at - time.monotonic()))
            marks.append((time.monotonic(), process_cpu_s(proc.pid)))
        proc.wait(timeout=seconds + 300)
        journal = json.loads((Path(tmp) / "out" / "journal.json").read_text())
    samples = sum(v["samples"] for v in journal["verdicts"])
    failed = sum(v["failures"] for v in journal["verdicts"])
    (t0, c0), (t1, c1) = marks
    cpu_us = (c1 - c0) / max(1.0, samples / seconds * (t1 - t0)) * 1e6
    print(f"  chaosrun run (whole path): {samples / seconds:,.0f}/s ({failed} failed)", flush=True)
    return "chaosrun run, whole path", samples, failed, samples / seconds, cpu_us


def measure(name: str, fn: Callable[[], tuple[int, int]], seconds: float) -> tuple[str, int, int, float, float]:
    cpu = time.process_time()
    samples, failed = fn()
    cpu_per_sample_us = (time.process_time() - cpu) / max(1, samples) * 1e6
    print(f"  {name}: {samples / seconds:,.0f}/s ({failed} failed)", flush=True)
    return name, samples, failed, samples / seconds, cpu_per_sample_us


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds; the median is reported")
    parser.add_argument("--skip-httpx", action="store_true")
    args = parser.parse_args()
    seconds = args.seconds
    for tool in (NGINX, WRK):
        if not shutil.which(tool):
            print(f"missing {tool} (apt-get install nginx-light wrk)")
            return 1
    ports = [free_port() for _ in range(REGIONS)]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    urls = [f"{bases[i % REGIONS]}/ok" for i in range(SERIES)]
    print(f"load average before: {os.getloadavg()[0]:.2f} (other work on this machine skews every figure)")
    print(f"{os.cpu_count()} CPUs, {REGIONS} regions x {len(PROBES)} probes = {SERIES} series, {seconds:g}s each")
    clients: list[tuple[str, Callable[[], tuple[int, int]]]] = [
        ("chaosrun (uvloop)", lambda: run_on("uvloop", run_chaosrun(bases, seconds))),
        ("chaosrun (asyncio)", lambda: run_on("asyncio", run_chaosrun(bases, seconds))),
        ("bare aiohttp loop (uvloop)", lambda: run_on("uvloop", run_aiohttp(urls, seconds))),
    ]
    if not args.skip_httpx:
        clients.append(("bare httpx loop (uvloop)", lambda: run_on("uvloop", run_httpx(urls, seconds))))
    wrk_rounds: list[float] = []
    measured: dict[str, list[tuple[str, int, int, float, float]]] = {name: [] for name, _ in clients}
    with nginx(ports):
        # Rounds interleave the clients, so a burst of load from elsewhere hits them all alike.
        for n in range(args.rounds):
            print(f"round {n + 1}/{args.rounds}", flush=True)
            wrk_rounds.append(run_wrk(f"{bases[0]}/ok", seconds))
            print(f"  wrk: {wrk_rounds[-1]:,.0f}/s", flush=True)
            for name, fn in clients:
                measured[name].append(measure(name, fn, seconds))
            measured.setdefault("whole", []).append(run_whole_path(bases, seconds))
    wrk_per_s = statistics.median(wrk_rounds)
    rows = [sorted(runs, key=lambda r: r[3])[len(runs) // 2] for runs in measured.values()]  # median round
    aiohttp_per_s = rows[2][3]
    print()
    table = [
        ("wrk (C, 1 thread)", "-", "-", f"{wrk_per_s:,.0f}", "1.00", f"{wrk_per_s / aiohttp_per_s:.2f}", "-", "-", "-")
    ]
    for name, samples, failed, per_s, cpu_us in rows:
        table.append(
            (
                name,
                f"{samples:,}",
                str(failed),
                f"{per_s:,.0f}",
                f"{per_s / wrk_per_s:.3f}",
                f"{per_s / aiohttp_per_s:.2f}",
                f"{per_s / CHAOS_TOOLKIT_PER_S:.1f}x",
                f"{cpu_us:.0f}",
                f"{1e6 / cpu_us:,.0f}",
            )
        )
    print_table(
        (
            "client",
            "samples",
            "failed",
            "per s",
            "vs wrk",
            "vs aiohttp",
            "vs CTK 525/s",
            "CPU us/sample",
            "1-core cap /s",
        ),
        table,
    )
    best = rows[0][3]
    verdict = "met" if best >= TARGET_PER_S else "NOT met"
    print("\n1-core cap = 1e6 / CPU us per sample: the client's rate with one core to itself (robust to load)")
    print("whole path: `chaosrun run` as a subprocess; CPU from 3 s after its start (start-up left out)")
    print(f"target >= {TARGET_PER_S:,.0f} samples/s (chaosrun, uvloop): {best:,.0f}/s, {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
