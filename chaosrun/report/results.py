"""What every reporter shows, computed once from a Journal: result rows, top errors, region figures."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .data import PHASE_ORDER, Journal, Recovery, Series
from .stats import SampleStats, summarize

__all__ = [
    "ErrorRow",
    "ProbeRow",
    "RegionFigure",
    "error_rows",
    "probe_rows",
    "recovery_result",
    "region_figures",
    "verdict_word",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeRow:
    """One probe in one region and phase: the verdict and its statistics."""

    probe: str
    region: str
    phase: str
    judged: bool
    held: bool | None
    stats: SampleStats
    tolerance: str
    reasons: tuple[str, ...]
    computed: bool  # statistics computed from the samples (no verdict was recorded)
    inconclusive: bool = False  # too many samples not taken to judge the phase
    not_taken: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorRow:
    message: str
    count: int
    first_s: float
    last_s: float
    where: tuple[str, ...]  # "probe @ region"


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionFigure:
    """A region's run in a few numbers, for the run history and the trend."""

    region: str
    verdict: str  # held, deviated, not judged
    samples: int
    success_ratio: float | None
    p95_ms: float | None  # over every sample of the region, all phases and probes
    recovery_s: float | None  # the slowest probe's recovery; None when not measured or never


def recovery_result(r: Recovery) -> tuple[str, str]:
    """(kind, words) of a recovery row, the same in every report.

    kind: "met", "missed" (late or never recovered) or "none" (no objective: neutral, not scored).
    """
    if r.objective_s is None:
        return "none", "no objective" if r.recovery_s is not None else "did not recover (no objective)"
    if r.recovery_s is None:
        return "missed", "never recovered"
    met = r.met if r.met is not None else r.recovery_s <= r.objective_s
    return ("met", "met") if met else ("missed", "missed")


def verdict_word(judged: bool, held: bool | None, inconclusive: bool = False) -> str:
    if judged and inconclusive and held is None:
        return "inconclusive"
    if not judged or held is None:
        return "not judged"
    return "held" if held else "deviated"


def _phase_slices(journal: Journal, series: Series) -> list[tuple[str, np.ndarray]]:
    t = np.asarray(series.t, dtype=float)
    bounds = journal.phase_bounds() or [("run", -math.inf, math.inf)]
    return [(name, np.flatnonzero((t >= lo) & (t < hi))) for name, lo, hi in bounds]


def _computed_stats(journal: Journal, skip: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], SampleStats]:
    """Exact statistics per probe x region x phase from the samples, except for the keys in `skip`."""
    out: dict[tuple[str, str, str], SampleStats] = {}
    for s in journal.series:
        lat = np.asarray(s.latency_ms, dtype=float)
        ok = np.asarray(s.ok, dtype=bool)
        for phase, rows in _phase_slices(journal, s):
            if len(rows) and (s.probe, s.region, phase) not in skip:
                out[(s.probe, s.region, phase)] = summarize(lat[rows], ok[rows])
    return out


def _order(journal: Journal, probe: str, region: str, phase: str) -> tuple[int, int, int, str]:
    regions, probes = journal.regions, journal.probes
    phase_rank = PHASE_ORDER.index(phase) if phase in PHASE_ORDER else len(PHASE_ORDER)
    return (
        regions.index(region) if region in regions else 99,
        probes.index(probe) if probe in probes else 99,
        phase_rank,
        phase,
    )


def probe_rows(journal: Journal) -> tuple[ProbeRow, ...]:
    """Rows probe x region x phase: the recorded verdicts, plus computed rows for unjudged samples."""
    computed = _computed_stats(journal, skip={(v.probe, v.region, v.phase) for v in journal.verdicts if v.samples})
    rows: dict[tuple[str, str, str], ProbeRow] = {}
    for v in journal.verdicts:
        key = (v.probe, v.region, v.phase)
        stats = SampleStats(
            samples=v.samples,
            failures=v.failures,
            success_ratio=v.success_ratio,
            p50_ms=v.p50_ms,
            p95_ms=v.p95_ms,
            p99_ms=v.p99_ms,
            max_ms=v.max_ms,
            mean_ms=v.mean_ms,
        )
        if v.samples == 0 and key in computed:
            stats = computed[key]
        rows[key] = ProbeRow(
            probe=v.probe,
            region=v.region,
            phase=v.phase,
            judged=v.judged,
            held=v.held,
            stats=stats,
            tolerance=v.tolerance,
            reasons=v.reasons,
            computed=False,
            inconclusive=v.inconclusive,
            not_taken=v.not_taken,
        )
    tolerances = {p.name: p.tolerance for p in journal.experiment.probes}
    for key, stats in computed.items():
        if key not in rows:
            probe, region, phase = key
            rows[key] = ProbeRow(
                probe=probe,
                region=region,
                phase=phase,
                judged=False,
                held=None,
                stats=stats,
                tolerance=tolerances.get(probe, ""),
                reasons=(),
                computed=True,
            )
    return tuple(sorted(rows.values(), key=lambda r: _order(journal, r.probe, r.region, r.phase)))


def error_rows(journal: Journal, limit: int = 10) -> tuple[ErrorRow, ...]:
    """The most frequent probe errors: count, first and last time, and where they happened."""
    acc: dict[int, list[float]] = {}  # index -> [count, first, last]
    where: dict[int, dict[str, None]] = {}
    for s in journal.series:
        err = np.asarray(s.error, dtype=np.int64)
        if not len(err) or err.max() < 0:
            continue
        t = np.asarray(s.t, dtype=float)
        for index in np.unique(err[err >= 0]).tolist():
            times = t[err == index]
            count, first, last = acc.get(index, [0, math.inf, -math.inf])
            acc[index] = [count + len(times), min(first, float(times.min())), max(last, float(times.max()))]
            where.setdefault(index, {})[f"{s.probe} @ {s.region}"] = None
    ranked = sorted(acc.items(), key=lambda kv: (-kv[1][0], kv[1][1]))[:limit]
    return tuple(
        ErrorRow(message=journal.sample_errors[i], count=int(c), first_s=first, last_s=last, where=tuple(where[i]))
        for i, (c, first, last) in ranked
    )


def region_figures(journal: Journal) -> tuple[RegionFigure, ...]:
    """Per region: overall verdict, exact p95 over all its samples, success ratio, slowest recovery."""
    figures = []
    for region in journal.regions:
        series = [s for s in journal.series if s.region == region]
        lat = np.concatenate([np.asarray(s.latency_ms, dtype=float) for s in series]) if series else np.empty(0)
        ok = np.concatenate([np.asarray(s.ok, dtype=bool) for s in series]) if series else np.empty(0, dtype=bool)
        stats = summarize(lat, ok) if series else None
        judged = [v.held for v in journal.verdicts if v.region == region and v.judged and v.held is not None]
        verdict = "not judged" if not judged else ("held" if all(judged) else "deviated")
        recoveries = [r for r in journal.recovery if r.region == region]
        never = any(r.recovery_s is None for r in recoveries)
        slowest = max((r.recovery_s for r in recoveries if r.recovery_s is not None), default=None)
        figures.append(
            RegionFigure(
                region=region,
                verdict=verdict,
                samples=len(ok),
                success_ratio=stats.success_ratio if stats else None,
                p95_ms=stats.p95_ms if stats else None,
                recovery_s=None if never else slowest,
            )
        )
    return tuple(figures)
