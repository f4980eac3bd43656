"""Samples a run's probes for the engine: one fixed-rate series per (probe, region) and per
dedicated guard probe and region.

Each sample is written to the journal, fed to its series' verdict accumulator and the live
progress window, and to the guardrail monitors watching its probe: O(1) amortised work per
sample. A sample chaosrun could not take or time honestly (a tick too late, a stall of its
event loop during the sample's flight, MemoryError) is *not taken*: counted apart in its
accumulator, journaled as runs of `not_taken` (with the reason), never given to the live
window, the guardrails or the sample columns. A breach is reported to the
engine through `on_breach`; the engine owns time, phases, aborts and the run's status, and
creates and awaits the tasks `start` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..journal import Clock, JournalWriter
from ..judging.verdict import GuardrailMonitor, SeriesAccumulator, compute_stats
from ..model import Experiment, Phase, ProbeSpec, Region
from ..result import NotTakenSpan, PhaseSpan
from ..sample import Outcome, Sample
from .health import NOT_TAKEN_STALL, STALL_S, LoopHealth

if TYPE_CHECKING:
    import aiohttp

    from ..probes import Sampler

__all__ = ["LiveWindow", "OnBreach", "Sampling"]

OnBreach = Callable[[GuardrailMonitor, str, str, float], None]
"""`on_breach(monitor, region, evidence, breach_t)`: breach_t is the breach sample's scheduled start."""
_LIVE_S = 5.0
_HEALTH_EVERY_S = 10.0  # a `health` event in the journal
_NOT_TAKEN_LOG_EVERY_S = 5.0  # at most one terminal line per this about samples not taken
_MAX_SPAN_EVENTS = 1000  # `not_taken` span events per run (the counts stay exact in the verdicts)


@dataclass(slots=True)
class _Span:
    """A run of consecutive samples of one series not taken for one reason."""

    phase: Phase
    reason: str
    from_s: float
    to_s: float
    samples: int = 1


class LiveWindow:
    """Last few seconds per region, for the live progress line: O(1) per sample (a deque whose
    old end is dropped as time moves); the statistics are computed only when drawn."""

    __slots__ = ("oks", "ops")

    def __init__(self) -> None:
        self.oks: dict[str, deque[tuple[float, bool, float]]] = {}
        self.ops = 0  # items appended or dropped: the per-sample work, for tests

    def add(self, region: str, t: float, ok: bool, latency: float | None) -> None:
        items = self.oks.get(region)
        if items is None:
            items = self.oks[region] = deque()
        items.append((t, ok, math.nan if latency is None else latency))
        self.ops += 1
        while items[0][0] < t - _LIVE_S:
            items.popleft()
            self.ops += 1

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
        log: Callable[[str], None] = lambda text: None,
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
        self._live = LiveWindow()
        self._running: dict[int, float] = {}  # samples of the hypothesis' probes in flight: id -> start (mono)
        self._ids = itertools.count()
        self._log = log
        self.health = LoopHealth(on_stall=self._on_stall)
        self._spans: dict[tuple[str, str], _Span] = {}  # open runs of samples not taken, per series
        self._span_events = 0
        self.spans: list[NotTakenSpan] = []  # closed runs of samples not taken and stalls (bounded), for the report
        self.not_taken = 0  # samples not taken, all series
        self._not_taken_logged = 0
        self._retried = 0
        self._fresh_http: aiohttp.ClientSession | None = None

    def _on_stall(self, start_mono: float, end_mono: float) -> None:
        t0, t1 = start_mono - self.clock.mono0, end_mono - self.clock.mono0
        self.journal.event("stall", from_s=round(t0, 4), to_s=round(t1, 4), duration_s=round(t1 - t0, 4))
        if len(self.spans) < _MAX_SPAN_EVENTS:
            self.spans.append(NotTakenSpan(from_s=t0, to_s=t1, reason="chaosrun stalled (its event loop did not run)"))
        self._log(
            f"chaosrun stalled for {t1 - t0:.1f}s (its event loop did not run): the samples of that time are "
            "not taken, and not counted against the target"
        )

    async def watch(self, stop: asyncio.Event) -> None:
        """chaosrun's own health while it samples: the stall heartbeat, a `health` journal event
        every 10 s, a terminal line (at most every 5 s) when samples were not taken."""
        beat = asyncio.create_task(self.health.run(stop))
        last_health = last_log = time.monotonic()
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):
                        await stop.wait()
                now = time.monotonic()
                if now - last_log >= _NOT_TAKEN_LOG_EVERY_S and self.not_taken > self._not_taken_logged:
                    self._log(
                        f"{self.not_taken - self._not_taken_logged} samples not taken in the last "
                        f"{now - last_log:.0f}s: chaosrun could not keep up (not counted against the target)"
                    )
                    self._not_taken_logged, last_log = self.not_taken, now
                if now - last_health >= _HEALTH_EVERY_S:
                    self._health_event()
                    last_health = now
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def aclose(self) -> None:
        """Close what `start` opened (the session for retries); after the series have ended."""
        if self._fresh_http is not None:
            await self._fresh_http.close()
            self._fresh_http = None

    def _health_event(self) -> None:
        f = self.health.figures()
        self.journal.event(
            "health",
            loop_lag_max_ms=round(f.loop_lag_max_ms, 2),
            cpu_percent=round(f.cpu_percent, 1),
            rss_mb=round(f.rss_mb, 1),
            stalls=f.stalls,
            stalled_s=round(f.stalled_s, 3),
            not_taken=self.not_taken,
            retried=self._retried,
        )

    def close_spans(self) -> None:
        """Journal the runs of samples not taken still open (at the end of sampling)."""
        for key in list(self._spans):
            self._close_span(key)

    def _close_span(self, key: tuple[str, str]) -> None:
        span = self._spans.pop(key, None)
        if span is None or self._span_events >= _MAX_SPAN_EVENTS:
            return
        self._span_events += 1
        self.spans.append(
            NotTakenSpan(from_s=span.from_s, to_s=span.to_s, reason=span.reason, probe=key[0], region=key[1],
                         samples=span.samples)
        )  # fmt: skip
        self.journal.event(
            "not_taken",
            probe=key[0],
            region=key[1],
            phase=span.phase,
            from_s=round(span.from_s, 4),
            to_s=round(span.to_s, 4),
            samples=span.samples,
            reason=span.reason,
        )

    def _not_taken(self, key: tuple[str, str], phase: Phase, t_s: float, reason: str) -> None:
        self.not_taken += 1
        span = self._spans.get(key)
        if span is not None and span.phase == phase and span.reason == reason:
            span.samples += 1
            span.from_s, span.to_s = min(span.from_s, t_s), max(span.to_s, t_s)
            return
        if span is not None:
            self._close_span(key)
        self._spans[key] = _Span(phase=phase, reason=reason, from_s=t_s, to_s=t_s)

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
        import aiohttp

        from ..probes import ProbeContext, build_sampler
        from ..probes.http import disable_silent_retry

        # retries of a request whose kept-alive connection the server closed go on a new connection
        self._fresh_http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True, limit=0),
            timeout=aiohttp.ClientTimeout(total=None),
            headers=http.headers,
        )
        disable_silent_retry(self._fresh_http)
        pctx = ProbeContext(
            http=http,
            secrets=self.secrets,
            base_dir=str(Path(self.exp.source or ".").parent),
            fresh_http=self._fresh_http,
            phase=lambda: phase_at(self._phases, time.monotonic() - self.clock.mono0),
        )
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
                    every_s=p.every_s,
                )
                if not remote:
                    series.append((p.name, self.exp.region(region_name), p.spec, p.every_s))
        for g in self.exp.guardrails:
            if g.spec is not None:
                series += [(f"guardrail:{g.name}", self.exp.region(r), g.spec, g.every_s) for r in g.regions]
        # what exists now (modules, the plan, the sessions) lives as long as the run: out of the
        # cyclic GC's reach, its full collections scan only what sampling allocates (shorter pauses)
        gc.freeze()
        now = self.health.last_beat = time.monotonic()
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

    def record(
        self, name: str, region: str, t_s: float, outcome: Outcome, lag_s: float, *, not_taken: str | None = None
    ) -> None:
        """One sample of series (name, region) at run time `t_s`: journal, verdicts, live window,
        guardrails; or, with a reason (`not_taken`, else the outcome's own), a sample chaosrun could
        not take or time honestly, counted apart. Local series call it per tick; in-cluster agents
        (chaosrun/kube/) per line."""
        key = (name, region)
        acc = self.series.get(key)
        phase = phase_at(self._phases, t_s)
        reason = not_taken if not_taken is not None else outcome.not_taken
        if reason is not None:
            self._not_taken(key, phase, t_s, reason)
            if acc is not None:
                acc.add_not_taken(phase, t_s)
            return
        if key in self._spans:
            self._close_span(key)
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
            retried=outcome.retried,
        )
        self._retried += outcome.retried
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
        from .scheduler import NOT_TAKEN_LATE, NOT_TAKEN_SKIPPED, SKIPPED_ERROR, in_flight_bound, sample_series

        start = self.clock.mono0

        health = self.health

        def on_sample(t_mono: float, lag_s: float, outcome: Outcome) -> None:
            reason = outcome.not_taken
            # a sample in flight (or a tick due) while chaosrun's loop was stalled was not timed
            # (or taken) honestly: it says nothing about the target
            if (reason is None or reason == NOT_TAKEN_LATE) and health.overlaps_stall(t_mono, time.monotonic()):
                reason = NOT_TAKEN_STALL
            elif outcome.error == SKIPPED_ERROR:
                # no request was sent: nothing was measured. A slow target is judged by the
                # samples still in flight (they time out and fail); the ticks skipped behind them
                # are not taken, whether the pile-up was the target's or chaosrun's own overload
                reason = NOT_TAKEN_SKIPPED
            elif outcome.unsent and health.is_lagging():
                # the request never left chaosrun (its transport was closing, even on a fresh
                # connection) while its loop was behind: chaosrun's trouble, not the target's
                reason = NOT_TAKEN_LATE
            self.record(name, region.name, t_mono - start, outcome, lag_s, not_taken=reason)

        await sample_series(
            sampler,
            every_s=every_s,
            start_mono=start_mono,
            stop=self._stop,
            on_sample=on_sample,
            max_in_flight=in_flight_bound(every_s, spec.timeout_s),
            spin_s=self._spin_s,
            late_s=STALL_S,
        )
