"""`chaosrun agent PLAN`: the probes of one region, run inside that region's cluster.

The agent samples its plan's series (`chaosrun.kube.wire.AgentPlan`) with the same samplers and
fixed-rate scheduler as local series, and writes every sample as one JSON line to stdout,
which the container runtime stores and the API server serves as the pod's log. chaosrun
follows that log (`chaosrun.kube.follow`). The agent never judges: it has no verdicts, no
faults, no state; it stops at the plan's end, on SIGTERM (the Job deleted) or when its
activeDeadlineSeconds passes.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import sys
import time
from typing import TextIO

from ..model import Region
from ..sample import Outcome
from .wire import AgentPlan

__all__ = ["run_agent"]


class _Writer:
    """JSON lines to stdout, flushed per line (the log path's latency is the point)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.seq = 0

    def line(self, obj: dict[str, object]) -> None:
        self.out.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self.out.flush()

    def sample(self, index: int, sched: float, lag_s: float, outcome: Outcome) -> None:
        self.seq += 1
        self.line(
            {
                "seq": self.seq,
                "i": index,
                "sched": round(sched, 6),
                "sent": round(time.time(), 6),
                "ok": outcome.ok,
                "lat": None if outcome.latency_s is None else round(outcome.latency_s, 6),
                "st": outcome.status,
                "err": outcome.error,
                "lag": round(lag_s, 6),
            }
        )


async def run_agent(plan: AgentPlan, out: TextIO = sys.stdout) -> int:
    """Sample the plan until its end or SIGTERM; the number of samples written."""
    import aiohttp

    from ..probes import ProbeContext, build_sampler
    from ..running.scheduler import in_flight_bound, sample_series

    writer = _Writer(out)
    writer.line({"hello": 1, "run": plan.run_id, "region": plan.region, "wall": round(time.time(), 6)})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # wall -> monotonic once, at start: the schedule then runs on the monotonic clock like local series
    mono_at_start_wall = time.monotonic() - (time.time() - plan.start_wall)
    stop_mono = mono_at_start_wall + plan.stop_s
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector) as http:
        ctx = ProbeContext(http=http, secrets={})
        tasks = []
        for index, s in enumerate(plan.series):
            region = Region(name=s.target, base_url=s.base_url, host=s.host)
            sampler = build_sampler(s.spec, region, ctx)

            def on_sample(t_mono: float, lag_s: float, outcome: Outcome, index: int = index) -> None:
                writer.sample(index, plan.start_wall + (t_mono - mono_at_start_wall), lag_s, outcome)

            # ticks scheduled before the agent was up are not taken (never run late in a burst)
            first = mono_at_start_wall + s.offset_s
            if s.every_s > 0 and first < time.monotonic():
                first += math.ceil((time.monotonic() - first) / s.every_s) * s.every_s
            tasks.append(
                asyncio.create_task(
                    sample_series(
                        sampler,
                        every_s=s.every_s,
                        start_mono=first,
                        on_sample=on_sample,
                        stop_mono=stop_mono,
                        stop=stop,
                        max_in_flight=in_flight_bound(s.every_s, s.spec.timeout_s),
                    )
                )
            )
        await asyncio.gather(*tasks)
    # "signal": stopped early (the Job deleted, its deadline, a node drain); "plan": the plan's end
    writer.line({"end": 1, "samples": writer.seq, "why": "signal" if stop.is_set() else "plan"})
    return writer.seq
