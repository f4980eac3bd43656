"""`chaosrun run --metrics ADDR`: the run's own figures in the Prometheus exposition format, live.

Fed by the journal (every sample and event already passes through it), so what a dashboard shows
is what the journal records. Per probe and region: samples and failures per phase, a latency
histogram; the phase running; the faults in place; guardrail trips. O(1) work per sample, memory
bounded by the number of (probe, region, phase) series. Served by aiohttp on ADDR while the run
goes; once it has ended, and only if something has been scraping, the server waits for one more
scrape (at most 1.5 scrape intervals as observed, never over 30 s) so the final counts (a guardrail
trip, `chaosrun_run_ended 1`) reach Prometheus. Nothing delays an undo: this runs after the run.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import InvalidInput
from ..model import PHASES
from ..sample import Sample

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["BUCKETS_S", "MetricsExporter", "parse_listen"]

BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # Prometheus' defaults
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_MAX_LINGER_S = 30.0


def parse_listen(text: str) -> tuple[str, int]:
    """`127.0.0.1:9464`, `:9464` (all interfaces), `[::1]:9464` -> (host, port). Raises InvalidInput."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidInput(f"--metrics {text!r}: expected HOST:PORT such as 127.0.0.1:9464 (port 0: any free port)")
    return host.strip("[]") or "0.0.0.0", int(port)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"


@dataclass(slots=True)
class _Series:
    samples: int = 0
    failures: int = 0


@dataclass(slots=True)
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS_S))
    total_s: float = 0.0
    count: int = 0

    def observe(self, value_s: float) -> None:
        i = bisect.bisect_left(BUCKETS_S, value_s)
        if i < len(self.buckets):
            self.buckets[i] += 1
        self.total_s += value_s
        self.count += 1


@dataclass(slots=True)
class _Fault:
    name: str
    kind: str
    active: bool


class MetricsExporter:
    """Counts a run's samples and events; renders them; serves them over HTTP."""

    def __init__(self, *, run_id: str, title: str) -> None:
        self.run_id = run_id
        self.title = title
        self.phase: str | None = None
        self.ended = False
        self.status: str | None = None
        self._series: dict[tuple[str, str, str], _Series] = {}
        self._latency: dict[tuple[str, str], _Histogram] = {}
        self._faults: dict[str, _Fault] = {}
        self._trips: dict[str, int] = {}
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.url = ""
        self._scrapes: list[float] = []  # monotonic times of the last two scrapes
        self._scraped = asyncio.Event()

    # -- feeding (called by the journal) ----------------------------------------------------
    def on_sample(self, s: Sample) -> None:
        series = self._series.get((s.probe, s.region, s.phase))
        if series is None:
            series = self._series[(s.probe, s.region, s.phase)] = _Series()
        series.samples += 1
        if not s.ok:
            series.failures += 1
        if s.latency_s is not None:
            hist = self._latency.get((s.probe, s.region))
            if hist is None:
                hist = self._latency[(s.probe, s.region)] = _Histogram()
            hist.observe(s.latency_s)

    def on_event(self, type_: str, fields: Mapping[str, object]) -> None:
        if type_ == "phase_started":
            self.phase = str(fields.get("phase"))
        elif type_ == "fault_applied" and not fields.get("setup"):  # set-up (proxies, claims) is no fault
            key = str(fields.get("fault"))
            self._faults[key] = _Fault(str(fields.get("name")), str(fields.get("kind")), True)
        elif type_ == "fault_removed" and str(fields.get("fault")) in self._faults:
            self._faults[str(fields.get("fault"))].active = False
        elif type_ == "guardrail_tripped":
            name = str(fields.get("guardrail"))
            self._trips[name] = self._trips.get(name, 0) + 1
        elif type_ == "run_ended":
            self.ended = True
            self.status = str(fields.get("status"))

    # -- exposition --------------------------------------------------------------------------
    def render(self) -> str:
        """The exposition text (format 0.0.4)."""
        out: list[str] = []

        def family(name: str, kind: str, help_: str) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")

        family("chaosrun_run_info", "gauge", "The run: its id and title (always 1).")
        out.append(f"chaosrun_run_info{_labels(run_id=self.run_id, title=self.title)} 1")
        family("chaosrun_phase", "gauge", "1 for the phase running now, 0 for the others.")
        out += [f"chaosrun_phase{_labels(phase=p)} {int(p == self.phase)}" for p in PHASES]
        family("chaosrun_run_ended", "gauge", "1 once the run has ended (its status is a label).")
        out.append(f"chaosrun_run_ended{_labels(status=self.status or '')} {int(self.ended)}")
        family("chaosrun_samples_total", "counter", "Samples taken, per probe, region and phase.")
        for (probe, region, phase), s in sorted(self._series.items()):
            out.append(f"chaosrun_samples_total{_labels(probe=probe, region=region, phase=phase)} {s.samples}")
        family("chaosrun_sample_failures_total", "counter", "Failed samples, per probe, region and phase.")
        for (probe, region, phase), s in sorted(self._series.items()):
            out.append(f"chaosrun_sample_failures_total{_labels(probe=probe, region=region, phase=phase)} {s.failures}")
        family("chaosrun_sample_latency_seconds", "histogram", "Sample latency, per probe and region.")
        for (probe, region), h in sorted(self._latency.items()):
            cumulative = 0
            for bound, n in zip(BUCKETS_S, h.buckets, strict=True):
                cumulative += n
                le = _labels(probe=probe, region=region, le=f"{bound:g}")
                out.append(f"chaosrun_sample_latency_seconds_bucket{le} {cumulative}")
            out.append(
                f"chaosrun_sample_latency_seconds_bucket{_labels(probe=probe, region=region, le='+Inf')} {h.count}"
            )
            out.append(f"chaosrun_sample_latency_seconds_sum{_labels(probe=probe, region=region)} {h.total_s:.6f}")
            out.append(f"chaosrun_sample_latency_seconds_count{_labels(probe=probe, region=region)} {h.count}")
        family("chaosrun_faults_active", "gauge", "Faults in place now.")
        out.append(f"chaosrun_faults_active {sum(f.active for f in self._faults.values())}")
        family("chaosrun_fault_active", "gauge", "1 while a fault is in place, per fault.")
        for f in self._faults.values():
            out.append(f"chaosrun_fault_active{_labels(fault=f.name, kind=f.kind)} {int(f.active)}")
        family("chaosrun_guardrail_trips_total", "counter", "Guardrail trips, per guardrail.")
        for name, n in sorted(self._trips.items()):
            out.append(f"chaosrun_guardrail_trips_total{_labels(guardrail=name)} {n}")
        return "\n".join(out) + "\n"

    # -- serving -----------------------------------------------------------------------------
    async def start(self, listen: str) -> None:
        """Serve `/metrics` on `listen`. Raises InvalidInput when the address cannot be bound."""
        from aiohttp import web

        host, port = parse_listen(listen)

        async def metrics(_: web.Request) -> web.Response:
            body = self.render().encode()
            self._scrapes = [*self._scrapes[-1:], time.monotonic()]
            if self.ended:
                self._scraped.set()
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
            raise InvalidInput(
                f"--metrics {listen}: cannot listen: {reason}; choose another address (port 0: any free port)"
            ) from None
        self._runner = runner
        sockets = getattr(site._server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else port
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/metrics"

    async def stop(self) -> None:
        """Stop serving, after one more scrape when something scrapes (bounded; see the module doc)."""
        if len(self._scrapes) == 2 and self.ended and not self._scraped.is_set():
            interval = self._scrapes[1] - self._scrapes[0]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(_MAX_LINGER_S, 1.5 * interval)):
                    await self._scraped.wait()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
