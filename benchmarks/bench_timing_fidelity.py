"""Timing fidelity at 1,000 samples/s against an endpoint that holds each request 100 ms.

The server (aiohttp on uvloop, `--server-procs` processes sharing the port with SO_REUSEPORT,
in subprocesses) measures its own handling time of each request and returns it in
`X-Handling-Ms`. The client runs 20 series x every 20 ms (1,000 samples/s in total, about 100
requests in flight; series start staggered by 1 ms) for `--seconds` per configuration:

- chaosrun's HTTP sampler + `sample_series`, on asyncio and on uvloop, with and without the
  sub-millisecond spin before each tick (`spin_s`);
- a plain aiohttp loop as baseline: one loop creating a request task every 1 ms, on uvloop.

Per configuration: client overhead = latency measured by the client - the server's handling
time of that same request (p50 / p99 / max); schedule lag (actual start - scheduled, p50 / p99);
drift = slope of lag over the run, in ms per minute; client and server CPU. The first second
is warm-up (new connections) and is left out.

Targets: overhead <= 1 ms at p99; drift < 1 ms per minute.

    python benchmarks/bench_timing_fidelity.py [--seconds 15] [--server-procs 2] [--aligned]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _probe_harness import free_port, pct, print_table, probe_session, process_cpu_s, run_on, wait_for_port  # noqa: E402

from chaosrun.model import HttpProbe, Region  # noqa: E402
from chaosrun.probes import ProbeContext, build_sampler  # noqa: E402
from chaosrun.running.scheduler import in_flight_bound, sample_series  # noqa: E402
from chaosrun.sample import Outcome  # noqa: E402

HOLD_MS = 100
SERIES = 20
EVERY_S = 0.020  # 20 series x 50/s = 1,000 samples/s
WARMUP_S = 1.0
TIMEOUT_S = 2.0


def serve(port: int) -> None:
    """Server process: /timed?ms=N holds N ms and reports its own handling time."""
    import uvloop
    from aiohttp import web

    async def timed(request: web.Request) -> web.Response:
        started = time.perf_counter()
        await asyncio.sleep(float(request.query.get("ms", "0")) / 1000)
        handling_ms = (time.perf_counter() - started) * 1000
        return web.Response(text="timed", headers={"X-Handling-Ms": f"{handling_ms:.4f}"})

    app = web.Application()
    app.router.add_get("/timed", timed)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, reuse_port=True, access_log=None, print=None)


@dataclass
class Run:
    """What one configuration measured."""

    name: str
    overhead_ms: list[float] = field(default_factory=list)
    lags: list[tuple[float, float]] = field(default_factory=list)  # (scheduled offset s, lag s)
    samples: int = 0
    failed: int = 0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    wall_s: float = 0.0


def _handling_trace(handling: dict[object, float]) -> aiohttp.TraceConfig:
    """Records X-Handling-Ms of each response under the task that made the request."""

    async def on_request_end(session: object, ctx: SimpleNamespace, params: Any) -> None:
        value = params.response.headers.get("X-Handling-Ms")
        if value is not None:
            handling[asyncio.current_task()] = float(value)

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    return trace


async def chaosrun_client(url: str, seconds: float, spin_s: float, aligned: bool, run: Run) -> None:
    handling: dict[object, float] = {}
    async with probe_session(trace_configs=[_handling_trace(handling)]) as http:
        sampler = build_sampler(
            HttpProbe(url=url, timeout_s=TIMEOUT_S), Region(name="r"), ProbeContext(http=http, secrets={})
        )
        start = time.monotonic() + 0.05

        def on_sample(scheduled: float, lag_s: float, outcome: Outcome) -> None:
            server_ms = handling.pop(asyncio.current_task(), None)
            _record(run, scheduled - start, lag_s, outcome.ok, outcome.latency_s, server_ms)

        async with asyncio.TaskGroup() as tg:
            for i in range(SERIES):
                offset = 0.0 if aligned else i * EVERY_S / SERIES
                tg.create_task(
                    sample_series(
                        sampler,
                        every_s=EVERY_S,
                        start_mono=start + offset,
                        stop_mono=start + seconds,
                        on_sample=on_sample,
                        max_in_flight=in_flight_bound(EVERY_S, TIMEOUT_S),
                        spin_s=spin_s,
                    )
                )


async def baseline_client(url: str, seconds: float, spin_s: float, aligned: bool, run: Run) -> None:
    """A plain aiohttp prober: one loop, a request task every 1 ms, latency around get + read."""
    handling: dict[object, float] = {}
    period = EVERY_S / SERIES
    async with probe_session(trace_configs=[_handling_trace(handling)]) as http:

        async def one(scheduled: float, lag_s: float) -> None:
            t0 = time.perf_counter()
            async with http.get(url) as resp:
                await resp.read()
            latency = time.perf_counter() - t0
            _record(run, scheduled, lag_s, resp.status == 200, latency, handling.pop(asyncio.current_task(), None))

        start = time.monotonic() + 0.05
        async with asyncio.TaskGroup() as tg:
            for k in range(round(seconds / period)):
                target = start + k * period
                await asyncio.sleep(max(0.0, target - time.monotonic()))
                tg.create_task(one(k * period, time.monotonic() - target))


def _record(run: Run, t_s: float, lag_s: float, ok: bool, latency_s: float | None, server_ms: float | None) -> None:
    run.samples += 1
    run.failed += not ok
    if t_s < WARMUP_S:
        return
    run.lags.append((t_s, lag_s))
    if ok and latency_s is not None and server_ms is not None:
        run.overhead_ms.append(latency_s * 1000 - server_ms)


def _drift_ms_per_min(lags: list[tuple[float, float]]) -> float:
    """Least-squares slope of lag against time, in ms per minute."""
    n = len(lags)
    if n < 2:
        return math.nan
    mean_t = sum(t for t, _ in lags) / n
    mean_l = sum(lag for _, lag in lags) / n
    var = sum((t - mean_t) ** 2 for t, _ in lags)
    cov = sum((t - mean_t) * (lag - mean_l) for t, lag in lags)
    return cov / var * 1000 * 60 if var else math.nan


Client = Callable[[str, float, float, bool, Run], Coroutine[Any, Any, None]]
CONFIGS: tuple[tuple[str, Client, str, float], ...] = (
    ("chaosrun", chaosrun_client, "asyncio", 0.0),
    ("chaosrun", chaosrun_client, "asyncio", 0.001),
    ("chaosrun", chaosrun_client, "uvloop", 0.0),
    ("chaosrun", chaosrun_client, "uvloop", 0.001),
    ("plain aiohttp", baseline_client, "uvloop", 0.0),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per configuration (5 of them)")
    parser.add_argument("--server-procs", type=int, default=2)
    parser.add_argument("--aligned", action="store_true", help="start all series at the same instant (bursts)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    port = free_port()
    url = f"http://127.0.0.1:{port}/timed?ms={HOLD_MS}"
    servers = [subprocess.Popen([sys.executable, __file__, "--serve", str(port)]) for _ in range(args.server_procs)]
    runs: list[Run] = []
    try:
        wait_for_port(port)
        time.sleep(0.5)  # let every server process bind
        print(f"load average before: {os.getloadavg()[0]:.2f} (other work on this machine skews every figure)")
        print(
            f"{SERIES} series x every {EVERY_S * 1000:g} ms = {SERIES / EVERY_S:,.0f} samples/s, "
            f"server holds {HOLD_MS} ms, {args.server_procs} server process(es), {args.seconds:g}s per config"
        )
        for name, client, loop_name, spin_s in CONFIGS:
            label = f"{name}, {loop_name}" + (f", spin {spin_s * 1000:g}ms" if name == "chaosrun" else "")
            run = Run(label)
            server_cpu = sum(process_cpu_s(s.pid) for s in servers)
            cpu, wall = time.process_time(), time.perf_counter()
            run_on(loop_name, client(url, args.seconds, spin_s, args.aligned, run))
            run.wall_s = time.perf_counter() - wall
            run.client_cpu = (time.process_time() - cpu) / run.wall_s
            run.server_cpu = (sum(process_cpu_s(s.pid) for s in servers) - server_cpu) / run.wall_s
            runs.append(run)
            print(f"  {label}: {run.samples:,} samples, {run.failed} failed", flush=True)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)
    print()
    rows = []
    for run in runs:
        lags_ms = [lag * 1000 for _, lag in run.lags]
        rows.append(
            (
                run.name,
                f"{run.samples / args.seconds:,.0f}",
                run.failed,
                f"{pct(run.overhead_ms, 50):.3f}",
                f"{pct(run.overhead_ms, 99):.3f}",
                f"{max(run.overhead_ms, default=math.nan):.2f}",
                f"{pct(lags_ms, 50):.3f}",
                f"{pct(lags_ms, 99):.3f}",
                f"{_drift_ms_per_min(run.lags):+.4f}",
                f"{run.client_cpu:.0%}",
                f"{run.server_cpu:.0%}",
            )
        )
    print_table(
        (
            "client",
            "per s",
            "failed",
            "overhead p50 ms",
            "p99",
            "max",
            "lag p50 ms",
            "p99",
            "drift ms/min",
            "client CPU",
            "server CPU",
        ),
        rows,
    )
    print(
        f"\ntargets: overhead p99 <= 1 ms; drift < 1 ms/min. Server CPU is the sum over "
        f"{args.server_procs} process(es) (100% = one core); near 100% per process = server-bound."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
