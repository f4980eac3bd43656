"""Sliding windows of samples and the guardrail monitor, at O(1) amortised cost per sample.

A window keeps its samples (a deque, oldest dropped as time moves: memory bounded by the
window's length and the sampling rate) with running counts, so its success ratio costs O(1).
Its latency statistics are exact from its samples while it holds at most `_EXACT_WINDOW`
of them, and come from a log-bucket sketch (1% relative error, chaosrun.judging.sketch) beyond.
Latency checks, whose cost grows with the window, run on every sample while a window holds
at most 64 samples, and beyond that at most `CHECKS_PER_WINDOW` (20) times per window length
of sample time, so the work per sample does not grow with the window (a breach is seen at
most a twentieth of a window late).
"""

from __future__ import annotations

import math
from collections import deque

from ..model import Guardrail
from .sketch import LatencySketch, percentile

__all__ = ["CHECKS_PER_WINDOW", "GuardrailMonitor", "Window"]

CHECKS_PER_WINDOW = 20
_EXACT_WINDOW = 512
_ALWAYS_CHECK = 64


class Window:
    """Samples within the last `length_s` seconds: (t, ok, latency or NaN), with running counts."""

    __slots__ = ("_oks", "_sketch", "items", "length_s", "next_check_t", "ops")

    def __init__(self, length_s: float) -> None:
        self.length_s = length_s
        self.items: deque[tuple[float, bool, float]] = deque()
        self._oks = 0
        self._sketch = LatencySketch()
        self.next_check_t = -math.inf
        self.ops = 0  # items added, dropped or read by a statistic: the per-sample work, for tests

    def add(self, t: float, ok: bool, latency: float | None) -> None:
        lat = math.nan if latency is None else latency
        self.items.append((t, ok, lat))
        self._oks += ok
        if lat == lat:
            self._sketch.add(lat)
        self.ops += 1
        items = self.items
        while items and items[0][0] <= t - self.length_s:
            _, old_ok, old_lat = items.popleft()
            self._oks -= old_ok
            if old_lat == old_lat:
                self._sketch.remove(old_lat)
            self.ops += 1

    def __len__(self) -> int:
        return len(self.items)

    def success_ratio(self) -> float:
        return self._oks / len(self.items) if self.items else math.nan

    def failures(self) -> int:
        return len(self.items) - self._oks

    def due(self, t: float) -> bool:
        """Whether a latency check is due at `t` (then the next is scheduled): always while the
        window is small (a check costs at most `_ALWAYS_CHECK` items), else a few per window."""
        if len(self.items) <= _ALWAYS_CHECK:
            return True
        if t < self.next_check_t:
            return False
        self.next_check_t = t + self.length_s / CHECKS_PER_WINDOW
        return True

    def latency_summary(self) -> tuple[float, float, float, float, float]:
        """(p50, p95, p99, max, mean) of the window's latencies, seconds."""
        if len(self.items) <= _EXACT_WINDOW:
            lat = sorted(x for _, _, x in self.items if x == x)
            self.ops += len(self.items)
            if not lat:
                return math.nan, math.nan, math.nan, math.nan, math.nan
            return (
                percentile(lat, 50),
                percentile(lat, 95),
                percentile(lat, 99),
                lat[-1],
                sum(lat) / len(lat),
            )
        s = self._sketch
        self.ops += s.buckets()
        return s.quantile(50), s.quantile(95), s.quantile(99), s.quantile(100), s.mean()


class GuardrailMonitor:
    """Checks one guardrail on every sample of the probes it watches; trips once.

    Consecutive failures and the success ratio are checked on every sample (O(1)); p99, whose
    cost grows with the window, as often as `Window.due` allows."""

    def __init__(self, guardrail: Guardrail) -> None:
        self.guardrail = guardrail
        self._windows: dict[str, Window] = {}
        self._consecutive: dict[str, int] = {}
        self.tripped: tuple[str, float, str] | None = None  # (region, t, evidence)

    def add(self, region: str, t: float, ok: bool, latency: float | None) -> str | None:
        """Feed a sample; returns the evidence text when this sample trips the guardrail."""
        g = self.guardrail
        if self.tripped is not None or region not in g.regions:
            return None
        win = self._windows.get(region)
        if win is None:
            win = self._windows[region] = Window(g.window_s)
        win.add(t, ok, latency)
        self._consecutive[region] = 0 if ok else self._consecutive.get(region, 0) + 1
        evidence: str | None = None
        n = len(win)
        if g.consecutive_failures is not None and self._consecutive[region] >= g.consecutive_failures:
            evidence = f"{self._consecutive[region]} consecutive failures in {region}"
        elif n >= g.min_samples:
            ratio = win.success_ratio()
            if g.success_ratio is not None and not g.success_ratio.holds(ratio):
                evidence = (
                    f"success_ratio {ratio:.2f} breaks {g.success_ratio.describe('ratio')} "
                    f"over {g.window_s:g}s in {region} ({n} samples)"
                )
            elif g.p99 is not None and win.due(t):
                p99 = win.latency_summary()[2]
                if not math.isnan(p99) and not g.p99.holds(p99):
                    evidence = (
                        f"p99 {p99 * 1000:.0f}ms breaks {g.p99.describe('s')} over {g.window_s:g}s "
                        f"in {region} ({n} samples)"
                    )
        if evidence is not None:
            self.tripped = (region, t, evidence)
        return evidence

    def ops(self) -> int:
        """Work done so far (see Window.ops)."""
        return sum(w.ops for w in self._windows.values())
