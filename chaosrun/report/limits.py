"""A tolerance as the report reads it back from its text in the journal, to compare figures with.

The journal records each verdict's tolerance as text (`model.Tolerance.describe`):
"success_ratio >= 0.99, p95 < 300ms, over every 5s window", "every sample succeeds",
"p95 <= 1.5x baseline", "not judged". `parse_limits` turns it into `Limits`; a part it cannot
read is left out (the figure is then not compared against it), never guessed.
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass

from ..units import parse_bound, parse_duration

__all__ = ["LATENCY_STATS", "Limits", "parse_limits"]

LATENCY_STATS = ("p50", "p95", "p99", "max")
_PART = re.compile(r"^(success_ratio|p50|p95|p99|max|mean)\s+(.+)$")
_WINDOW = re.compile(r"^over every (.+) window$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What a probe may show in a phase: an allowed error ratio and latency limits (ms)."""

    text: str
    error_ratio: float | None  # the most errors allowed (0..1); None: errors are not bounded
    latency_ms: tuple[tuple[str, float], ...] = ()  # (stat, limit): the stat must stay under it
    window_s: float | None = None
    relative: tuple[str, ...] = ()  # latency stats bounded against the baseline, resolved by the caller

    @property
    def judged(self) -> bool:
        return self.error_ratio is not None or bool(self.latency_ms) or bool(self.relative)

    def latency_limit(self, stat: str) -> float | None:
        return next((v for s, v in self.latency_ms if s == stat), None)

    def usage(self, error_ratio: float, latency: dict[str, float], samples: float = math.inf) -> tuple[float, str]:
        """The share of the tolerance used (1.0: at the limit) and the figure that uses most of it.

        `latency`: stat -> milliseconds in the same window (nan: not measured); `samples`: how many
        the window holds. A window too short for the allowed error ratio to allow one failure
        allows one (one failure in 30 samples against 1% is at the limit, not 333% of it), so a
        single failure never reads as a breach when the tolerance allows some. The figure reads
        "p95 466 ms / 300 ms" or "errors 5.0% / 1.0% allowed".
        """
        best, what = 0.0, ""
        if self.error_ratio is not None and math.isfinite(error_ratio):
            allowed = self.error_ratio
            if allowed > 0:
                used = error_ratio / max(allowed, 1 / samples) if samples > 0 else 0.0
            else:
                used = math.inf if error_ratio > 0 else 0.0
            if used >= best:
                best, what = used, f"errors {error_ratio * 100:.1f}% / {allowed * 100:.1f}% allowed"
        for stat, limit in self.latency_ms:
            value = latency.get(stat, math.nan)
            if math.isfinite(value) and limit > 0 and value / limit > best:
                best, what = value / limit, f"{stat} {_ms(value)} / {_ms(limit)}"
        return best, what


def _ms(value: float) -> str:
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def parse_limits(text: str, baseline_ms: dict[str, float] | None = None) -> Limits:
    """The limits in a tolerance's text; relative bounds resolved with `baseline_ms` when given."""
    error_ratio: float | None = None
    latency: list[tuple[str, float]] = []
    relative: list[str] = []
    window_s = None
    clean = text.strip()
    if not clean or clean == "not judged":
        return Limits(text=clean, error_ratio=None)
    for part in (p.strip() for p in clean.split(",")):
        if part == "every sample succeeds":
            error_ratio = 0.0
            continue
        if m := _WINDOW.match(part):
            with contextlib.suppress(ValueError):
                window_s = parse_duration(m.group(1))
            continue
        m = _PART.match(part)
        if not m:
            continue
        name, rest = m.groups()
        try:
            bound = parse_bound(rest, "ratio" if name == "success_ratio" else "s")
        except ValueError:
            continue
        if name == "success_ratio":
            if bound.value is not None and bound.op in (">=", ">"):
                error_ratio = 1.0 - bound.value
        elif name in LATENCY_STATS and bound.op in ("<", "<="):
            if bound.factor is not None:
                base = (baseline_ms or {}).get(name)
                if base is not None and math.isfinite(base):
                    latency.append((name, base * bound.factor))
                else:
                    relative.append(name)
            elif bound.value is not None:
                latency.append((name, bound.value * 1000))
    return Limits(text=clean, error_ratio=error_ratio, latency_ms=tuple(latency), window_s=window_s,
                  relative=tuple(relative))  # fmt: skip
