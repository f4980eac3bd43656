"""Tolerances over the samples of each (probe, region, phase), in bounded memory.

Every statistic streams: per phase a count, a failure count and the latencies (exact up to
4,096 samples, then a log-bucket sketch with 1% relative error: chaosrun.judging.sketch); sliding
windows keep only the samples inside their window (chaosrun.judging.windows). Adding a sample costs
O(1) amortised whatever the run's length or the window's size.

Samples chaosrun could not take or time honestly (its own stall, overload, out of memory) are
counted apart (`add_not_taken`) and never in the statistics. A phase with too many of them is
*inconclusive* (`is_inconclusive`): never held, and deviated only when its failures alone
break the tolerance whatever the samples not taken would have been.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field

from ..model import Phase, Tolerance
from ..sample import Sample
from ..units import Bound
from .sketch import Latencies, percentile
from .windows import GuardrailMonitor, Window

__all__ = [
    "MAX_NOT_TAKEN_RATIO",
    "GuardrailMonitor",
    "PhaseVerdict",
    "RecoveryResult",
    "SeriesAccumulator",
    "Stats",
    "compute_stats",
    "evaluate",
    "percentile",
]

MAX_NOT_TAKEN_RATIO = 0.10  # a phase with more of its scheduled samples not taken is inconclusive
MIN_NOT_TAKEN = 3  # ... once at least this many were not taken (one hiccup in a tiny phase is not)


@dataclass(frozen=True, slots=True, kw_only=True)
class Stats:
    samples: int
    failures: int
    success_ratio: float
    p50_s: float
    p95_s: float
    p99_s: float
    max_s: float
    mean_s: float
    not_taken: int = 0  # scheduled samples chaosrun could not take or time (not in the figures above)

    def latency(self, stat: str) -> float:
        return float(getattr(self, f"{stat}_s"))


def compute_stats(oks: list[bool] | array[int], latencies: list[float] | array[float]) -> Stats:
    """Statistics of a set of samples (`oks` and `latencies` aligned): latency over the successful
    samples that measured one; failures count in the success ratio only (a timeout's latency is
    the timeout, not the service's)."""
    n = len(oks)
    failures = n - sum(1 for ok in oks if ok)
    lat = sorted(x for ok, x in zip(oks, latencies, strict=False) if ok and x == x)  # NaN: not measured
    return Stats(
        samples=n,
        failures=failures,
        success_ratio=(n - failures) / n if n else math.nan,
        p50_s=percentile(lat, 50),
        p95_s=percentile(lat, 95),
        p99_s=percentile(lat, 99),
        max_s=lat[-1] if lat else math.nan,
        mean_s=sum(lat) / len(lat) if lat else math.nan,
    )


def evaluate(tol: Tolerance, stats: Stats, baseline: Stats | None) -> list[str]:
    """Why `stats` breaks `tol` (empty list: within tolerance)."""
    reasons: list[str] = []
    if stats.samples < tol.min_samples:
        return [f"only {stats.samples} samples (at least {tol.min_samples} needed)"]
    if tol.success_ratio is None:  # no success_ratio given: every sample must succeed
        if stats.failures:
            reasons.append(f"{stats.failures} of {stats.samples} samples failed (every sample must succeed)")
    elif not tol.success_ratio.holds(stats.success_ratio):
        reasons.append(
            f"success_ratio {stats.success_ratio:.3f} breaks {tol.success_ratio.describe('ratio')}"
            f" ({stats.failures} of {stats.samples} failed)"
        )
    for name, bound in tol.latency_bounds():
        actual = stats.latency(name)
        if math.isnan(actual):
            continue
        base = baseline.latency(name) if baseline is not None else None
        if base is not None and math.isnan(base):
            base = None
        if not bound.holds(actual, base):
            limit = bound.limit(base)
            rel = f" (= {limit * 1000:.1f}ms)" if bound.factor is not None and limit is not None else ""
            reasons.append(f"{name} {actual * 1000:.1f}ms breaks {bound.describe('s')}{rel}")
    return reasons


def _certain_failures(tol: Tolerance, stats: Stats) -> list[str]:
    """Why the failures alone break `tol` even if every sample not taken had succeeded."""
    if stats.failures == 0:
        return []
    if tol.success_ratio is None:
        return [f"{stats.failures} of {stats.samples} samples taken failed (every sample must succeed)"]
    scheduled = stats.samples + stats.not_taken
    best = (scheduled - stats.failures) / scheduled
    if tol.success_ratio.holds(best):
        return []
    return [
        f"success_ratio at most {best:.3f} (even counting the {stats.not_taken} samples not taken as successes) "
        f"breaks {tol.success_ratio.describe('ratio')}"
    ]


def resolved_limits(tol: Tolerance, baseline: Stats | None) -> tuple[tuple[str, float], ...]:
    """The tolerance's limits as numbers (relative ones resolved against the baseline), for the
    score: ("success_ratio", lowest ratio allowed) and ("p95_ms", highest latency allowed), ..."""
    out: list[tuple[str, float]] = []
    ratio = tol.success_ratio
    if ratio is None:
        out.append(("success_ratio", 1.0))
    elif ratio.op in (">=", ">") and ratio.value is not None:
        out.append(("success_ratio", ratio.value))
    for name, bound in tol.latency_bounds():
        if bound.op not in ("<", "<="):
            continue
        base = baseline.latency(name) if baseline is not None else None
        limit = bound.limit(None if base is None or math.isnan(base) else base)
        if limit is not None:
            out.append((f"{name}_ms", limit * 1000))
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseVerdict:
    probe: str
    region: str
    phase: Phase
    judged: bool
    held: bool | None  # None: not judged, or inconclusive without a certain deviation
    stats: Stats
    tolerance: str
    reasons: tuple[str, ...]
    inconclusive: bool = False  # too much of the phase was not taken to judge it
    limits: tuple[tuple[str, float], ...] = ()  # resolved_limits(): what the score measures against


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryResult:
    probe: str
    region: str
    recovery_s: float | None  # None: never recovered
    objective_s: float | None
    met: bool | None  # None: no objective


_MAX_WINDOW_FAILURES = 200  # kept per phase (the first 5 that count are reported)


@dataclass(slots=True)
class _Figures:
    """Streaming statistics of a set of samples."""

    samples: int = 0
    failures: int = 0
    latencies: Latencies = field(default_factory=Latencies)

    def add(self, ok: bool, latency: float | None) -> None:
        self.samples += 1
        self.failures += not ok
        if latency is not None and latency == latency:
            self.latencies.add(latency)

    def stats(self, not_taken: int = 0) -> Stats:
        n = self.samples
        p50, p95, p99, top, mean = self.latencies.summary()
        return Stats(
            samples=n,
            failures=self.failures,
            success_ratio=(n - self.failures) / n if n else math.nan,
            p50_s=p50,
            p95_s=p95,
            p99_s=p99,
            max_s=top,
            mean_s=mean,
            not_taken=not_taken,
        )


@dataclass(slots=True)
class _PhaseData:
    figures: _Figures = field(default_factory=_Figures)
    first_t: float | None = None
    not_taken: int = 0
    gap_start_t: float | None = None  # first sample of the current run of samples not taken
    longest_gap_s: float = 0.0
    window_failures: list[tuple[float, str]] = field(default_factory=list)  # (window end t, why)


@dataclass(slots=True)
class _Recovery:
    """The recovery phase, streamed: the first streak of good samples, and the figures from it."""

    limit: float | None
    streak: list[tuple[float, bool, float | None]] = field(default_factory=list)
    recovered_t: float | None = None
    since_recovered: _Figures = field(default_factory=_Figures)
    since_objective: _Figures = field(default_factory=_Figures)


class SeriesAccumulator:
    """Everything needed to judge one (probe, region) series across the phases."""

    def __init__(
        self,
        *,
        probe: str,
        region: str,
        tolerance: Tolerance,
        during: Tolerance | None,
        recover_within_s: float | None,
        recovery_streak: int,
        every_s: float = 0.0,
    ) -> None:
        self.probe = probe
        self.region = region
        self.tolerance = tolerance
        self.during = during
        self.recover_within_s = recover_within_s
        self.recovery_streak = recovery_streak
        self.every_s = every_s
        self._phases: dict[Phase, _PhaseData] = {}
        self._windows: dict[Phase, Window] = {}
        self._baseline: Stats | None = None  # cached baseline statistics for the later phases
        self._recovery: _Recovery | None = None
        self.fault_removed_t: float | None = None

    def tolerance_for(self, phase: Phase) -> Tolerance | None:
        return self.during if phase == "fault" else self.tolerance

    def _data(self, phase: Phase) -> _PhaseData:
        data = self._phases.get(phase)
        if data is None:
            data = self._phases[phase] = _PhaseData()
        return data

    def add(self, sample: Sample) -> None:
        """Count one sample taken (O(1) amortised)."""
        phase, t = sample.phase, sample.t_s
        data = self._data(phase)
        if data.first_t is None:
            data.first_t = t
        data.gap_start_t = None
        data.figures.add(sample.ok, sample.latency_s)
        if phase == "baseline":
            self._baseline = None  # a late baseline sample: recomputed when next needed
        elif phase == "recovery" and self.fault_removed_t is not None:
            self._add_recovery(t, sample.ok, sample.latency_s)
        tol = self.tolerance_for(phase)
        if tol is not None and tol.window_s is not None:
            win = self._windows.get(phase)
            if win is None:
                win = self._windows[phase] = Window(tol.window_s)
            win.add(t, sample.ok, sample.latency_s)
            # checked once the phase has lasted about a window (a window of samples every `every`
            # spans window - every, so the samples' own span would never reach it at low rates)
            full = t - data.first_t >= tol.window_s * 0.9
            if full and len(data.window_failures) < _MAX_WINDOW_FAILURES:
                reasons = self._window_reasons(tol, win, phase)
                if reasons:
                    data.window_failures.append((t, f"window ending at {t:.1f}s: {'; '.join(reasons)}"))

    def _window_reasons(self, tol: Tolerance, win: Window, phase: Phase) -> list[str]:
        """Why the window breaks `tol`: its success ratio on every sample (O(1)), its latency
        statistics when `Window.due` (their cost grows with the window)."""
        nan = math.nan
        p50 = p95 = p99 = top = mean = nan
        if tol.latency_bounds() and win.due(win.items[-1][0]):
            p50, p95, p99, top, mean = win.latency_summary()
        n = len(win)
        stats = Stats(
            samples=n,
            failures=win.failures(),
            success_ratio=win.success_ratio(),
            p50_s=p50,
            p95_s=p95,
            p99_s=p99,
            max_s=top,
            mean_s=mean,
        )
        return evaluate(tol, stats, self._baseline_stats() if phase != "baseline" else None)

    def _baseline_stats(self) -> Stats:
        if self._baseline is None:
            self._baseline = self.stats("baseline")
        return self._baseline

    def add_not_taken(self, phase: Phase, t: float) -> None:
        """Count one scheduled sample chaosrun could not take or time honestly (O(1))."""
        data = self._data(phase)
        data.not_taken += 1
        if data.gap_start_t is None:
            data.gap_start_t = t
        data.longest_gap_s = max(data.longest_gap_s, t - data.gap_start_t + self.every_s)

    def is_inconclusive(self, phase: Phase) -> bool:
        """At least MIN_NOT_TAKEN samples not taken, and more than MAX_NOT_TAKEN_RATIO of the
        phase's scheduled samples, or a run of them at least as long as the tolerance's window
        (a window never observed)."""
        data = self._phases.get(phase)
        if data is None or data.not_taken < MIN_NOT_TAKEN:
            return False
        scheduled = data.figures.samples + data.not_taken
        if data.not_taken > MAX_NOT_TAKEN_RATIO * scheduled:
            return True
        tol = self.tolerance_for(phase)
        return tol is not None and tol.window_s is not None and data.longest_gap_s >= tol.window_s

    def stats(self, phase: Phase) -> Stats:
        data = self._phases.get(phase)
        if data is None:
            return compute_stats([], [])
        return data.figures.stats(data.not_taken)

    def _add_recovery(self, t: float, ok: bool, latency: float | None) -> None:
        rec = self._recovery
        if rec is None:
            rec = self._recovery = _Recovery(limit=self._sample_latency_limit())
        objective = self.recover_within_s
        assert self.fault_removed_t is not None
        if objective is not None and t >= self.fault_removed_t + objective:
            rec.since_objective.add(ok, latency)
        if rec.recovered_t is not None:
            rec.since_recovered.add(ok, latency)
            return
        good = ok and (rec.limit is None or latency is None or latency <= rec.limit)
        if not good:
            rec.streak.clear()
            return
        rec.streak.append((t, ok, latency))
        if len(rec.streak) >= self.recovery_streak:
            rec.recovered_t = rec.streak[0][0]
            for _, s_ok, s_lat in rec.streak:
                rec.since_recovered.add(s_ok, s_lat)
            rec.streak.clear()

    def _sample_latency_limit(self) -> float | None:
        base = self._baseline_stats()
        for name in ("p95", "p99", "max", "p50", "mean"):
            bound: Bound | None = getattr(self.tolerance, name)
            if bound is not None:
                b = base.latency(name)
                return bound.limit(None if math.isnan(b) else b)
        return None

    def verdicts(self, phases: tuple[Phase, ...]) -> tuple[list[PhaseVerdict], RecoveryResult | None]:
        """A verdict for every phase that ran, and the recovery result."""
        out: list[PhaseVerdict] = []
        baseline = self.stats("baseline")
        recovery: RecoveryResult | None = None
        for phase in phases:
            tol = self.tolerance_for(phase)
            since: float | None = None
            reasons: list[str] = []
            stats = self.stats(phase)
            if phase == "recovery" and self.fault_removed_t is not None:
                recovery, since, reasons, figures = self._judge_recovery(self.fault_removed_t)
                if figures is not None:
                    stats = figures.stats(stats.not_taken)
            inconclusive = tol is not None and self.is_inconclusive(phase)
            if tol is not None and inconclusive:
                reasons = _certain_failures(tol, stats)
            elif tol is not None:
                reasons += evaluate(tol, stats, baseline if phase != "baseline" else None)
                phase_data = self._phases.get(phase)
                if phase_data is not None and tol.window_s is not None:
                    # in recovery, judged from `since` (the moment it recovered): only windows
                    # that lie wholly after it count, as for the phase statistics
                    window_s = tol.window_s
                    fails = [why for t, why in phase_data.window_failures if since is None or t - window_s >= since]
                    reasons += fails[:5]
            held = None if tol is None or (inconclusive and not reasons) else not reasons
            out.append(
                PhaseVerdict(
                    probe=self.probe,
                    region=self.region,
                    phase=phase,
                    judged=tol is not None,
                    held=held,
                    stats=stats,
                    tolerance="not judged" if tol is None else tol.describe(),
                    reasons=() if tol is None else tuple(reasons),
                    inconclusive=inconclusive,
                    limits=() if tol is None else resolved_limits(tol, baseline if phase != "baseline" else None),
                )
            )
        return out, recovery

    def _judge_recovery(self, removed_t: float) -> tuple[RecoveryResult, float | None, list[str], _Figures | None]:
        """The recovery result, where the recovery phase's judged part starts, why it failed, and
        that part's figures (None: the whole phase).

        Recovered: judged from the moment it recovered (late recovery is itself a reason).
        Not recovered: judged from removal + objective. No objective: the whole phase."""
        rec = self._recovery
        objective = self.recover_within_s
        rec_s = None if rec is None or rec.recovered_t is None else max(0.0, rec.recovered_t - removed_t)
        met = None if objective is None else (rec_s is not None and rec_s <= objective)
        result = RecoveryResult(probe=self.probe, region=self.region, recovery_s=rec_s, objective_s=objective, met=met)
        if objective is None:
            return result, None, [], None
        if rec_s is None:
            return (
                result,
                removed_t + objective,
                [f"did not recover within the recovery phase (objective {objective:g}s)"],
                rec.since_objective if rec is not None else _Figures(),
            )
        assert rec is not None
        reasons = [] if met else [f"recovered after {rec_s:.1f}s, objective {objective:g}s"]
        return result, removed_t + rec_s, reasons, rec.since_recovered
