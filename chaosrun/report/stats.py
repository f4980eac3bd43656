"""Exact statistics over sample columns, and downsampling for what is drawn.

Latency statistics count successful samples only (failures are in the success ratio).
Statistics are exact: percentiles interpolate linearly between the two closest ranks
(`h = (n - 1) * q`; the same as numpy's default "linear" method and Excel's PERCENTILE.INC).
Only drawing is approximate: `envelope` keeps each bucket's lowest and highest sample so a
spike is never downsampled away, and `bucket_stats` summarises time buckets for the lines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "Buckets",
    "SampleStats",
    "bucket_stats",
    "envelope",
    "percentile",
    "success_ratio",
    "summarize",
]

FloatArray = npt.NDArray[np.float64]


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0 <= q <= 1) of ascending values, linearly interpolated; None when empty."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be within 0..1, got {q}")
    n = len(sorted_values)
    if n == 0:
        return None
    h = (n - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def success_ratio(ok: Iterable[bool]) -> float | None:
    """Share of successful samples; None without samples."""
    total = good = 0
    for value in ok:
        total += 1
        good += bool(value)
    return good / total if total else None


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleStats:
    samples: int
    failures: int
    success_ratio: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None


def summarize(latency_ms: Iterable[float] | FloatArray, ok: Iterable[bool] | npt.NDArray[np.bool_]) -> SampleStats:
    """Exact statistics of samples: latency over the **successful** samples that measured one (a
    failed sample's latency, often its timeout, is not the service's); failures count in
    `failures` and `success_ratio`. The same definition as the verdicts (chaosrun/judging/verdict.py).

    Vectorised, with the same interpolation as `percentile`.
    """
    oks = np.asarray(ok if isinstance(ok, np.ndarray) else list(ok), dtype=bool)
    lat = np.asarray(latency_ms if isinstance(latency_ms, np.ndarray) else list(latency_ms), dtype=float)
    measured = np.sort(lat[oks & ~np.isnan(lat)] if len(lat) == len(oks) else lat[~np.isnan(lat)])
    n, good = len(oks), int(oks.sum())

    def quantile(q: float) -> float | None:
        if not len(measured):
            return None
        h = (len(measured) - 1) * q
        lo = math.floor(h)
        hi = min(lo + 1, len(measured) - 1)
        return float(measured[lo] + (h - lo) * (measured[hi] - measured[lo]))

    return SampleStats(
        samples=n,
        failures=n - good,
        success_ratio=good / n if n else None,
        p50_ms=quantile(0.50),
        p95_ms=quantile(0.95),
        p99_ms=quantile(0.99),
        max_ms=float(measured[-1]) if len(measured) else None,
        mean_ms=math.fsum(measured.tolist()) / len(measured) if len(measured) else None,
    )


def envelope(t: FloatArray, y: FloatArray, max_points: int = 2000) -> tuple[FloatArray, FloatArray]:
    """At most `max_points` of (t, y), keeping each time bucket's min and max y, in time order.

    Points with nan y are dropped. With few enough points, all are kept.
    """
    keep = ~np.isnan(y)
    t, y = t[keep], y[keep]
    if len(t) <= max_points:
        return t, y
    n_buckets = max(1, max_points // 2)
    bucket = _bucket_index(t, n_buckets)
    order = np.lexsort((y, bucket))  # by bucket, then by y
    sorted_bucket = bucket[order]
    firsts = np.flatnonzero(np.r_[True, sorted_bucket[1:] != sorted_bucket[:-1]])
    lasts = np.r_[firsts[1:] - 1, len(order) - 1]
    picked = np.unique(np.r_[order[firsts], order[lasts]])  # unique() also restores time order
    return t[picked], y[picked]


@dataclass(frozen=True, slots=True, kw_only=True)
class Buckets:
    """Per time bucket: its centre, sample count, error rate and latency quantiles."""

    centers: FloatArray
    counts: FloatArray
    error_rate: FloatArray  # 0..1
    quantiles: dict[float, FloatArray]  # q -> latency per bucket (nan without measurements)


def bucket_stats(
    t: FloatArray, latency: FloatArray, ok: npt.NDArray[np.bool_], width_s: float, qs: Sequence[float] = (0.5, 0.95)
) -> Buckets:
    """Summaries of consecutive time buckets of `width_s`, for drawing rolling lines.

    Within a bucket, quantiles use the same interpolation as `percentile`. Empty buckets are
    left out, so a gap in the samples stays a gap in the lines.
    """
    if len(t) == 0:
        empty = np.empty(0)
        return Buckets(centers=empty, counts=empty, error_rate=empty, quantiles={q: empty for q in qs})
    index = np.floor((t - t.min()) / width_s).astype(np.int64)
    present, inverse = np.unique(index, return_inverse=True)
    counts = np.bincount(inverse).astype(float)
    failures = np.bincount(inverse, weights=(~ok).astype(float), minlength=len(present))
    centers = t.min() + (present + 0.5) * width_s
    quantiles = {q: np.full(len(present), np.nan) for q in qs}
    measured = ~np.isnan(latency)
    if measured.any():
        b, y = inverse[measured], latency[measured]
        order = np.lexsort((y, b))
        b, y = b[order], y[order]
        starts = np.searchsorted(b, np.arange(len(present)), side="left")
        sizes = np.searchsorted(b, np.arange(len(present)), side="right") - starts
        has = sizes > 0
        for q in qs:
            h = (sizes[has] - 1) * q
            lo = np.floor(h).astype(np.int64)
            hi = np.minimum(lo + 1, sizes[has] - 1)
            base = starts[has]
            quantiles[q][has] = y[base + lo] + (h - lo) * (y[base + hi] - y[base + lo])
    return Buckets(centers=centers, counts=counts, error_rate=failures / counts, quantiles=quantiles)


def _bucket_index(t: FloatArray, n_buckets: int) -> npt.NDArray[np.int64]:
    span = float(t.max() - t.min())
    if span <= 0:
        return np.zeros(len(t), dtype=np.int64)
    index: npt.NDArray[np.int64] = np.minimum(((t - t.min()) / span * n_buckets).astype(np.int64), n_buckets - 1)
    return index
