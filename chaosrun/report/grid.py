"""The run on one time grid shared by every region and probe, for comparing them at a glance.

The grid's buckets never straddle two phases (each phase gets a whole number of equal buckets
from its start to its end) and are the same for every region, so the overview, the heatmaps
and "where it broke" line up. Each probe x region becomes a `Track`: per bucket its sample
count, error ratio, latency quantiles and the share of its phase's tolerance it used.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .data import Journal, Series
from .limits import Limits, parse_limits
from .stats import bucket_stats

__all__ = ["Grid", "Track", "make_grid", "region_tracks"]

FloatArray = npt.NDArray[np.float64]
MAX_COLUMNS = 120
_NICE_S = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600)
_QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99, "max": 1.0}


@dataclass(frozen=True, slots=True, kw_only=True)
class Grid:
    """Time buckets [lo, hi), each in one phase."""

    lo: FloatArray
    hi: FloatArray
    phase: tuple[str, ...]
    width_s: float  # nominal width; a phase's buckets are stretched to end on its end
    end_s: float

    def __len__(self) -> int:
        return len(self.lo)

    def index(self, t: FloatArray) -> npt.NDArray[np.int64]:
        """The bucket of each time; -1 outside the grid."""
        i = np.searchsorted(self.hi, t, side="right")
        inside = (i < len(self.lo)) & (t >= (self.lo[0] if len(self.lo) else 0.0))
        return np.where(inside, i, -1).astype(np.int64)


@dataclass(frozen=True, slots=True, kw_only=True)
class Track:
    """One probe in one region on the grid."""

    probe: str
    region: str
    counts: FloatArray
    error_ratio: FloatArray  # nan: no sample in the bucket
    latency: dict[str, FloatArray]  # stat -> ms per bucket (nan: nothing measured)
    usage: FloatArray  # share of the bucket's phase tolerance used; nan: not judged there or no sample
    limits: dict[str, Limits]  # phase -> limits (judged phases only)

    phases: tuple[str, ...]  # the grid's phase per bucket

    @property
    def judged(self) -> bool:
        return bool(self.limits)

    def figure(self, i: int) -> str:
        """What used most of the tolerance in bucket `i`: 'p95 466 ms / 300 ms'; '' when not judged there."""
        limits = self.limits.get(self.phases[i])
        if limits is None or not math.isfinite(self.error_ratio[i]):
            return ""
        latency = {k: float(v[i]) for k, v in self.latency.items()}
        return limits.usage(float(self.error_ratio[i]), latency, float(self.counts[i]))[1]


def _nice(seconds: float) -> float:
    return float(next((s for s in _NICE_S if s >= seconds), math.ceil(seconds / 3600) * 3600))


def make_grid(journal: Journal) -> Grid:
    """Buckets of a nice width (at most about MAX_COLUMNS, about 10 samples per series each), per phase."""
    end_s = max(journal.end_s, 1.0)
    everies = sorted(p.every_s for p in journal.experiment.probes if p.every_s)
    every = everies[len(everies) // 2] if everies else _sample_every(journal)
    width = _nice(max(end_s / MAX_COLUMNS, 10 * every, 1.0))
    bounds = journal.phase_bounds()
    starts = sorted({0.0, *(lo for _, lo, _ in bounds if lo > 0)})
    lo_list: list[float] = []
    hi_list: list[float] = []
    phases: list[str] = []
    for lo, hi in itertools.pairwise([*starts, math.inf]):
        seg_end = hi if math.isfinite(hi) else end_s
        if seg_end <= lo:
            continue
        n = max(1, round((seg_end - lo) / width))
        w = (seg_end - lo) / n
        name = next((p for p, a, b in bounds if a <= lo < b), "before")
        lo_list += [lo + k * w for k in range(n)]
        hi_list += [lo + (k + 1) * w for k in range(n)]
        phases += [name] * n
    if hi_list:
        hi_list[-1] = math.inf  # a sample after the recorded end still counts in the last bucket
    return Grid(lo=np.array(lo_list), hi=np.array(hi_list), phase=tuple(phases), width_s=width, end_s=end_s)


def _sample_every(journal: Journal) -> float:
    rates = [(s.t[-1] - s.t[0]) / (len(s) - 1) for s in journal.series if len(s) > 1 and s.t[-1] > s.t[0]]
    return sorted(rates)[len(rates) // 2] if rates else 1.0


def _limits(journal: Journal, probe: str, region: str) -> dict[str, Limits]:
    """Phase -> limits of a probe's judged verdicts in a region; relative bounds against its baseline."""
    verdicts = [v for v in journal.verdicts if v.probe == probe and v.region == region]
    base = next((v for v in verdicts if v.phase == "baseline"), None)
    base_ms = {k: x for k, x in (("p50", base.p50_ms), ("p95", base.p95_ms), ("p99", base.p99_ms),
                                 ("max", base.max_ms)) if x is not None} if base else {}  # fmt: skip
    out = {}
    for v in verdicts:
        if v.judged and v.tolerance:
            limits = parse_limits(v.tolerance, base_ms)
            if limits.judged:
                out[v.phase] = limits
    return out


def _track(journal: Journal, grid: Grid, s: Series) -> Track:
    n = len(grid)
    t = np.asarray(s.t, dtype=float)
    index = grid.index(t)
    keep = index >= 0
    counts = np.zeros(n)
    error_ratio = np.full(n, np.nan)
    latency = {k: np.full(n, np.nan) for k in _QUANTILES}
    if keep.any():
        b = bucket_stats(index[keep].astype(float), np.asarray(s.latency_ms, dtype=float)[keep],
                         np.asarray(s.ok, dtype=bool)[keep], 1.0, tuple(_QUANTILES.values()))  # fmt: skip
        at = np.rint(b.centers - 0.5).astype(np.int64)
        counts[at] = b.counts
        error_ratio[at] = b.error_rate
        for name, q in _QUANTILES.items():
            latency[name][at] = b.quantiles[q]
    limits = _limits(journal, s.probe, s.region)
    usage = np.full(n, np.nan)
    for i in np.flatnonzero(counts > 0):
        lim = limits.get(grid.phase[i])
        if lim is not None:
            at_i = {k: float(v[i]) for k, v in latency.items()}
            usage[i] = lim.usage(float(error_ratio[i]), at_i, float(counts[i]))[0]
    return Track(probe=s.probe, region=s.region, counts=counts, error_ratio=error_ratio, latency=latency,
                 usage=usage, limits=limits, phases=grid.phase)  # fmt: skip


def region_tracks(journal: Journal, grid: Grid) -> dict[str, list[Track]]:
    """Region -> its probes' tracks, in the journal's region and probe order."""
    order = {p: i for i, p in enumerate(journal.probes)}
    out: dict[str, list[Track]] = {r: [] for r in journal.regions}
    for s in sorted(journal.series, key=lambda s: order.get(s.probe, len(order))):
        out.setdefault(s.region, []).append(_track(journal, grid, s))
    return out
