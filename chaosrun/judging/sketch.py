"""Latency distributions in bounded memory: exact while small, a log-bucket sketch beyond.

`LatencySketch` is DDSketch-style: a latency x falls in bucket `ceil(log(x) / log(gamma))` with
`gamma = (1 + a) / (1 - a)` and `a = RELATIVE_ERROR` (1%); a bucket's value is the point with
the same relative distance to both of its edges, so any quantile it returns is within 1% of a
latency of the right rank. Latencies from 1 us to 1 hour need at most about 1,100 buckets, so
its memory does not grow with the number of samples. It supports removal (sliding windows).

`Latencies` keeps the first `EXACT_LIMIT` values exactly (8 bytes each: statistics identical
to sorting every sample) and folds them into a sketch when there are more, so short runs keep
exact figures and long runs keep bounded memory (the journal keeps every sample exactly).
"""

from __future__ import annotations

import math
from array import array

__all__ = ["EXACT_LIMIT", "RELATIVE_ERROR", "Latencies", "LatencySketch", "percentile"]

RELATIVE_ERROR = 0.01
EXACT_LIMIT = 4096
_GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(_GAMMA)
_MIN_S = 1e-6  # latencies below 1 us share the lowest bucket


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


def _key(x: float) -> int:
    return math.ceil(math.log(max(x, _MIN_S)) / _LOG_GAMMA)


def _value(key: int) -> float:
    return 2 * _GAMMA**key / (_GAMMA + 1)


class LatencySketch:
    """Counts per log bucket, plus the exact count, sum, min and max (see the module docstring)."""

    __slots__ = ("_counts", "count", "max_s", "min_s", "total_s")

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self.count = 0
        self.total_s = 0.0
        self.min_s = math.inf
        self.max_s = -math.inf

    def add(self, x: float) -> None:
        k = _key(x)
        self._counts[k] = self._counts.get(k, 0) + 1
        self.count += 1
        self.total_s += x
        self.min_s = min(self.min_s, x)
        self.max_s = max(self.max_s, x)

    def remove(self, x: float) -> None:
        """Forget one value added before (a sliding window); min and max are then approximate."""
        k = _key(x)
        left = self._counts.get(k, 0) - 1
        if left > 0:
            self._counts[k] = left
        else:
            self._counts.pop(k, None)
        self.count -= 1
        self.total_s -= x
        if self.count == 0:
            self.total_s, self.min_s, self.max_s = 0.0, math.inf, -math.inf

    def quantile(self, q: float) -> float:
        """The q-th percentile (0..100), within RELATIVE_ERROR; NaN when empty."""
        if self.count == 0:
            return math.nan
        rank = (self.count - 1) * q / 100
        seen = 0
        for k in sorted(self._counts):
            seen += self._counts[k]
            if seen > rank:
                return min(max(_value(k), self.min_s), self.max_s)
        return self.max_s

    def mean(self) -> float:
        return self.total_s / self.count if self.count else math.nan

    def buckets(self) -> int:
        return len(self._counts)


class Latencies:
    """A phase's latencies: exact up to EXACT_LIMIT values, then a LatencySketch."""

    __slots__ = ("_exact", "_sketch")

    def __init__(self) -> None:
        self._exact: array[float] | None = array("d")
        self._sketch: LatencySketch | None = None

    def add(self, x: float) -> None:
        if self._exact is not None:
            self._exact.append(x)
            if len(self._exact) > EXACT_LIMIT:
                sketch = LatencySketch()
                for v in self._exact:
                    sketch.add(v)
                self._exact, self._sketch = None, sketch
        else:
            assert self._sketch is not None
            self._sketch.add(x)

    def __len__(self) -> int:
        return len(self._exact) if self._exact is not None else (self._sketch.count if self._sketch else 0)

    def is_exact(self) -> bool:
        return self._exact is not None

    def summary(self) -> tuple[float, float, float, float, float]:
        """(p50, p95, p99, max, mean) in seconds; NaN when empty."""
        if self._exact is not None:
            lat = sorted(self._exact)
            mean = sum(lat) / len(lat) if lat else math.nan
            top = lat[-1] if lat else math.nan
            return percentile(lat, 50), percentile(lat, 95), percentile(lat, 99), top, mean
        assert self._sketch is not None
        s = self._sketch
        return s.quantile(50), s.quantile(95), s.quantile(99), s.max_s, s.mean()
