"""Tolerances and guardrails over windows of samples.

Per (probe, region, phase) the latencies are kept in a compact `array('d')` (8 bytes a
sample) so phase statistics are exact; sliding windows and guardrails keep only the
samples inside their window (constant memory per window).
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from dataclasses import dataclass, field

from .model import Guardrail, Phase, Tolerance
from .sample import Sample
from .units import Bound

__all__ = [
    "GuardrailMonitor",
    "PhaseVerdict",
    "RecoveryResult",
    "SeriesAccumulator",
    "Stats",
    "compute_stats",
    "evaluate",
    "percentile",
]


def percentile(sorted_values: list[float] | array[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of already sorted values."""
    n = len(sorted_values)
    if n == 0:
        return math.nan
    if n == 1:
        return float(sorted_values[0])
    pos = (n - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


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
    held: bool | None
    stats: Stats
    tolerance: str
    reasons: tuple[str, ...]
    limits: tuple[tuple[str, float], ...] = ()  # resolved_limits(): what the score measures against


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryResult:
    probe: str
    region: str
    recovery_s: float | None  # None: never recovered
    objective_s: float | None
    met: bool | None  # None: no objective


@dataclass(slots=True)
class _Window:
    """Samples within the last `length_s` seconds: (t, ok, latency or nan)."""

    length_s: float
    items: deque[tuple[float, bool, float]] = field(default_factory=deque)

    def add(self, t: float, ok: bool, latency: float | None) -> None:
        self.items.append((t, ok, math.nan if latency is None else latency))
        while self.items and self.items[0][0] <= t - self.length_s:
            self.items.popleft()

    def stats(self) -> Stats:
        return compute_stats([ok for _, ok, _ in self.items], [lat for _, _, lat in self.items])

    def span_s(self) -> float:
        return self.items[-1][0] - self.items[0][0] if self.items else 0.0


_MAX_WINDOW_FAILURES = 200  # kept per phase (the first 5 that count are reported)


@dataclass(slots=True)
class _PhaseData:
    oks: array[int] = field(default_factory=lambda: array("b"))
    latencies: array[float] = field(default_factory=lambda: array("d"))
    times: array[float] = field(default_factory=lambda: array("d"))
    window_failures: list[tuple[float, str]] = field(default_factory=list)  # (window end t, why)


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
    ) -> None:
        self.probe = probe
        self.region = region
        self.tolerance = tolerance
        self.during = during
        self.recover_within_s = recover_within_s
        self.recovery_streak = recovery_streak
        self._phases: dict[Phase, _PhaseData] = {}
        self._windows: dict[Phase, _Window] = {}
        self.fault_removed_t: float | None = None

    def tolerance_for(self, phase: Phase) -> Tolerance | None:
        return self.during if phase == "fault" else self.tolerance

    def add(self, sample: Sample) -> None:
        data = self._phases.setdefault(sample.phase, _PhaseData())
        data.oks.append(1 if sample.ok else 0)
        data.times.append(sample.t_s)
        data.latencies.append(math.nan if sample.latency_s is None else sample.latency_s)
        tol = self.tolerance_for(sample.phase)
        if tol is not None and tol.window_s is not None:
            win = self._windows.setdefault(sample.phase, _Window(tol.window_s))
            win.add(sample.t_s, sample.ok, sample.latency_s)
            # checked once the phase has lasted about a window (a window of samples every `every`
            # spans window - every, so the samples' own span would never reach it at low rates)
            full = sample.t_s - data.times[0] >= tol.window_s * 0.9
            if full and len(data.window_failures) < _MAX_WINDOW_FAILURES:
                baseline = self.stats("baseline") if sample.phase != "baseline" else None
                reasons = evaluate(tol, win.stats(), baseline)
                if reasons:
                    data.window_failures.append(
                        (sample.t_s, f"window ending at {sample.t_s:.1f}s: {'; '.join(reasons)}")
                    )

    def stats(self, phase: Phase, since_t: float | None = None) -> Stats:
        data = self._phases.get(phase)
        if data is None:
            return compute_stats([], [])
        if since_t is None:
            return compute_stats(data.oks, data.latencies)
        # latencies are stored only for samples that measured one: rebuild aligned lists
        return self._stats_since(data, since_t)

    @staticmethod
    def _stats_since(data: _PhaseData, since_t: float) -> Stats:
        start = next((i for i, t in enumerate(data.times) if t >= since_t), len(data.times))
        return compute_stats(data.oks[start:], data.latencies[start:])

    def recovery(self, samples_after: list[tuple[float, bool, float | None]]) -> RecoveryResult:
        """Recovery time: from fault removal to the first of `recovery_streak` good samples in a row."""
        objective = self.recover_within_s
        if self.fault_removed_t is None:
            return RecoveryResult(
                probe=self.probe, region=self.region, recovery_s=None, objective_s=objective, met=None
            )
        limit = self._sample_latency_limit()
        streak_start: float | None = None
        streak = 0
        recovered_at: float | None = None
        for t, ok, latency in samples_after:
            good = ok and (limit is None or latency is None or latency <= limit)
            if good:
                if streak == 0:
                    streak_start = t
                streak += 1
                if streak >= self.recovery_streak:
                    recovered_at = streak_start
                    break
            else:
                streak = 0
        rec_s = None if recovered_at is None else max(0.0, recovered_at - self.fault_removed_t)
        met = None if objective is None else (rec_s is not None and rec_s <= objective)
        return RecoveryResult(probe=self.probe, region=self.region, recovery_s=rec_s, objective_s=objective, met=met)

    def _sample_latency_limit(self) -> float | None:
        base = self.stats("baseline")
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
            if phase == "recovery" and self.fault_removed_t is not None:
                recovery, since, reasons = self._judge_recovery(self.fault_removed_t)
            stats = self.stats(phase, since)
            if tol is not None:
                reasons += evaluate(tol, stats, baseline if phase != "baseline" else None)
                phase_data = self._phases.get(phase)
                if phase_data is not None and tol.window_s is not None:
                    # in recovery, judged from `since` (the moment it recovered): only windows
                    # that lie wholly after it count, as for the phase statistics
                    window_s = tol.window_s
                    fails = [why for t, why in phase_data.window_failures if since is None or t - window_s >= since]
                    reasons += fails[:5]
            out.append(
                PhaseVerdict(
                    probe=self.probe,
                    region=self.region,
                    phase=phase,
                    judged=tol is not None,
                    held=None if tol is None else not reasons,
                    stats=stats,
                    tolerance="not judged" if tol is None else tol.describe(),
                    reasons=() if tol is None else tuple(reasons),
                    limits=() if tol is None else resolved_limits(tol, baseline if phase != "baseline" else None),
                )
            )
        return out, recovery

    def _judge_recovery(self, removed_t: float) -> tuple[RecoveryResult, float | None, list[str]]:
        """The recovery result, where the recovery phase's judged window starts, and why it failed.

        Recovered: judged from the moment it recovered (late recovery is itself a reason).
        Not recovered: judged from removal + objective. No objective: the whole phase."""
        data = self._phases.get("recovery", _PhaseData())
        triples = [
            (t, bool(ok), None if lat != lat else lat)
            for t, ok, lat in zip(data.times, data.oks, data.latencies, strict=True)
        ]
        recovery = self.recovery(triples)
        objective = self.recover_within_s
        if objective is None:
            return recovery, None, []
        if recovery.recovery_s is None:
            return (
                recovery,
                removed_t + objective,
                [f"did not recover within the recovery phase (objective {objective:g}s)"],
            )
        reasons = [] if recovery.met else [f"recovered after {recovery.recovery_s:.1f}s, objective {objective:g}s"]
        return recovery, removed_t + recovery.recovery_s, reasons


class GuardrailMonitor:
    """Checks one guardrail on every sample of the probes it watches; trips once."""

    def __init__(self, guardrail: Guardrail) -> None:
        self.guardrail = guardrail
        self._windows: dict[str, _Window] = {}
        self._consecutive: dict[str, int] = {}
        self.tripped: tuple[str, float, str] | None = None  # (region, t, evidence)

    def add(self, region: str, t: float, ok: bool, latency: float | None) -> str | None:
        """Feed a sample; returns the evidence text when this sample trips the guardrail."""
        g = self.guardrail
        if self.tripped is not None or region not in g.regions:
            return None
        win = self._windows.setdefault(region, _Window(g.window_s))
        win.add(t, ok, latency)
        self._consecutive[region] = 0 if ok else self._consecutive.get(region, 0) + 1
        evidence: str | None = None
        if g.consecutive_failures is not None and self._consecutive[region] >= g.consecutive_failures:
            evidence = f"{self._consecutive[region]} consecutive failures in {region}"
        elif len(win.items) >= g.min_samples:
            stats = win.stats()
            if g.success_ratio is not None and not g.success_ratio.holds(stats.success_ratio):
                evidence = (
                    f"success_ratio {stats.success_ratio:.2f} breaks {g.success_ratio.describe('ratio')} "
                    f"over {g.window_s:g}s in {region} ({stats.samples} samples)"
                )
            elif g.p99 is not None and not math.isnan(stats.p99_s) and not g.p99.holds(stats.p99_s):
                evidence = (
                    f"p99 {stats.p99_s * 1000:.0f}ms breaks {g.p99.describe('s')} over {g.window_s:g}s "
                    f"in {region} ({stats.samples} samples)"
                )
        if evidence is not None:
            self.tripped = (region, t, evidence)
        return evidence
