"""Samples a run's probes for the engine: one fixed-rate series per (probe, region) and per
dedicated guard probe and region.

Each sample is written to the journal, fed to its series' verdict accumulator and the live
progress window, and to the guardrail monitors watching its probe. A breach is reported to the
engine through `on_breach`; the engine owns time, phases, aborts and the run's status, and
creates and awaits the tasks `start` returns.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .journal import Clock, JournalWriter
from .model import Experiment, Phase, ProbeSpec, Region
from .result import PhaseSpan
from .sample import Outcome, Sample
from .verdict import GuardrailMonitor, SeriesAccumulator, compute_stats

if TYPE_CHECKING:
    import aiohttp

    from .probes import Sampler

__all__ = ["OnBreach", "Sampling"]

OnBreach = Callable[[GuardrailMonitor, str, str, float], None]
"""`on_breach(monitor, region, evidence, breach_t)`: breach_t is the breach sample's scheduled start."""


@dataclass(slots=True)
class _Live:
    """Last few seconds per region, for the live progress line."""

    oks: dict[str, list[tuple[float, bool, float]]] = field(default_factory=dict)

    def add(self, region: str, t: float, ok: bool, latency: float | None) -> None:
        items = self.oks.setdefault(region, [])
        items.append((t, ok, math.nan if latency is None else latency))
        if len(items) > 4096 or (items and items[0][0] < t - 5):
            self.oks[region] = [x for x in items if x[0] >= t - 5][-4096:]

    def snapshot(self) -> dict[str, tuple[float, float]]:
        out = {}
        for region, items in self.oks.items():
            s = compute_stats([ok for _, ok, _ in items], [lat for _, _, lat in items])
            out[region] = (s.success_ratio, s.p95_s)
        return out


def phase_at(phases: list[PhaseSpan], t_s: float) -> Phase:
    """The phase running at `t_s` (the last one started by then; baseline before any)."""
    phase: Phase = "baseline"
    for span in phases:
        if span.start_s <= t_s:
            phase = span.name
    return phase


class Sampling:
    """The probe series of one run, their verdict accumulators and the live window."""

    def __init__(
        self,
        experiment: Experiment,
        *,
        journal: JournalWriter,
        clock: Clock,
        secrets: dict[str, str],
        phases: list[PhaseSpan],
        guards_by_probe: dict[str, list[GuardrailMonitor]],
        spin_s: float,
        stop: asyncio.Event,
        on_breach: OnBreach,
    ) -> None:
        self.exp = experiment
        self.journal = journal
        self.clock = clock
        self.secrets = secrets
        self._phases = phases  # the engine's list, appended to as phases start
        self._guards_by_probe = guards_by_probe
        self._spin_s = spin_s
        self._stop = stop
        self._on_breach = on_breach
        self.series: dict[tuple[str, str], SeriesAccumulator] = {}  # (probe, region), filled by start
        self._live = _Live()
        self._running: dict[int, float] = {}  # samples of the hypothesis' probes in flight: id -> start (mono)
        self._ids = itertools.count()

    def _counted(self, sampler: Sampler) -> Sampler:
        """`sampler`, with its samples in flight known to `settle()`."""

        async def sample() -> Outcome:
            key = next(self._ids)
            self._running[key] = time.monotonic()
            try:
                return await sampler()
            finally:
                del self._running[key]

        return sample

    async def settle(self, before_mono: float, timeout_s: float) -> None:
        """Wait (at most `timeout_s`) until every sample started before `before_mono` has finished,
        so a verdict taken now counts the samples of the phase that just ended (a slow answer to
        the baseline's last samples must still stop the method)."""
        deadline = time.monotonic() + timeout_s
        for _ in range(int(timeout_s / 0.01) + 2):  # bounded in count and time
            if not any(start < before_mono for start in self._running.values()) or time.monotonic() >= deadline:
                return
            await asyncio.sleep(0.01)

    def live_snapshot(self) -> dict[str, tuple[float, float]]:
        """(success ratio, p95 latency) per region over the last few seconds."""
        return self._live.snapshot()

    def start(self, http: aiohttp.ClientSession) -> list[asyncio.Task[None]]:
        """One fixed-rate series per (probe, region) and per dedicated guard probe and region.

        Series start staggered across one period, so N series at the same rate do not all fire
        in the same millisecond (smoother load, lower schedule lag)."""
        from .probes import ProbeContext, build_sampler

        pctx = ProbeContext(http=http, secrets=self.secrets, base_dir=str(Path(self.exp.source or ".").parent))
        series: list[tuple[str, Region, ProbeSpec, float]] = []
        for p in self.exp.probes:
            for region_name in p.regions:
                remote = self.exp.region(region_name).cluster is not None  # sampled by its agent (kube/)
                self.series[(p.name, region_name)] = SeriesAccumulator(
                    probe=p.name,
                    region=region_name,
                    tolerance=p.tolerance,
                    during=p.during,
                    recover_within_s=p.recover_within_s,
                    recovery_streak=p.recovery_streak,
                )
                if not remote:
                    series.append((p.name, self.exp.region(region_name), p.spec, p.every_s))
        for g in self.exp.guardrails:
            if g.spec is not None:
                series += [(f"guardrail:{g.name}", self.exp.region(r), g.spec, g.every_s) for r in g.regions]
        now = time.monotonic()
        return [
            asyncio.create_task(
                self._series_loop(
                    name,
                    region,
                    self._counted(build_sampler(spec, region, pctx)),
                    spec,
                    every_s,
                    now + every_s * i / len(series),
                )
            )
            for i, (name, region, spec, every_s) in enumerate(series)
        ]

    def record(self, name: str, region: str, t_s: float, outcome: Outcome, lag_s: float) -> None:
        """One sample of series (name, region) at run time `t_s`: journal, verdicts, live window,
        guardrails. Local series call it per tick; in-cluster agents (chaosrun/kube/) per line."""
        acc = self.series.get((name, region))
        phase = phase_at(self._phases, t_s)
        s = Sample(
            probe=name,
            region=region,
            phase=phase,
            t_s=t_s,
            at=self.clock.wall(t_s),
            ok=outcome.ok,
            latency_s=outcome.latency_s,
            status=outcome.status,
            error=outcome.error,
            lag_s=lag_s,
        )
        self.journal.sample(s)
        if acc is not None:
            acc.add(s)
            self._live.add(region, t_s, s.ok, s.latency_s)
        for m in self._guards_by_probe.get(name, []):
            evidence = m.add(region, t_s, s.ok, s.latency_s)
            if evidence is not None:
                self._on_breach(m, region, evidence, t_s)

    async def _series_loop(
        self, name: str, region: Region, sampler: Sampler, spec: ProbeSpec, every_s: float, start_mono: float
    ) -> None:
        from .scheduler import in_flight_bound, sample_series

        start = self.clock.mono0

        def on_sample(t_mono: float, lag_s: float, outcome: Outcome) -> None:
            self.record(name, region.name, t_mono - start, outcome, lag_s)

        await sample_series(
            sampler,
            every_s=every_s,
            start_mono=start_mono,
            stop=self._stop,
            on_sample=on_sample,
            max_in_flight=in_flight_bound(every_s, spec.timeout_s),
            spin_s=self._spin_s,
        )
