"""Units parsed once: durations, byte sizes, comparisons such as `< 300ms` or `>= 0.99`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["Bound", "Op", "format_duration", "parse_bound", "parse_duration"]

Op = Literal["<", "<=", ">", ">=", "=="]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h)\s*$")
_FACTOR = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_BOUND = re.compile(r"^\s*(<=|>=|==|<|>)\s*(.+?)\s*$")


def parse_duration(text: str) -> float:
    """`'250ms'` -> 0.25 seconds. Raises ValueError with the expected form."""
    m = _DURATION.match(text)
    if not m:
        raise ValueError(f"expected a duration like '300ms', '2s' or '1m', got {text!r}")
    return float(m.group(1)) * _FACTOR[m.group(2)]


def format_duration(seconds: float) -> str:
    """0.25 -> '250ms'; 90 -> '1m30s'."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    m, s = divmod(seconds, 60)
    return f"{int(m)}m{s:g}s" if s else f"{int(m)}m"


@dataclass(frozen=True, slots=True, kw_only=True)
class Bound:
    """A comparison against a value: absolute, or `factor` times the same region's baseline."""

    op: Op
    value: float | None = None  # seconds for latency, 0..1 for ratios
    factor: float | None = None  # relative: `<= 1.5x baseline`

    def holds(self, actual: float, baseline: float | None = None) -> bool:
        """Whether `actual` satisfies the bound (relative bounds need `baseline`)."""
        limit = self.limit(baseline)
        if limit is None:
            return True  # relative bound without a baseline value: nothing to compare to
        match self.op:
            case "<":
                return actual < limit
            case "<=":
                return actual <= limit
            case ">":
                return actual > limit
            case ">=":
                return actual >= limit
            case _:
                return actual == limit

    def limit(self, baseline: float | None = None) -> float | None:
        """The absolute limit, resolving a relative bound against `baseline`."""
        if self.factor is not None:
            return None if baseline is None else baseline * self.factor
        return self.value

    def describe(self, unit: Literal["s", "ratio"]) -> str:
        """Human text: `< 300ms`, `<= 1.5x baseline`, `>= 0.99`."""
        if self.factor is not None:
            return f"{self.op} {self.factor:g}x baseline"
        assert self.value is not None
        shown = format_duration(self.value) if unit == "s" else f"{self.value:g}"
        return f"{self.op} {shown}"


def parse_bound(text: str, unit: Literal["s", "ratio"]) -> Bound:
    """`'< 300ms'`, `'<= 1.5x baseline'`, `'>= 0.99'`, `'>= 99%'` -> Bound. Raises ValueError."""
    m = _BOUND.match(text)
    if not m:
        example = "'< 300ms' or '<= 1.5x baseline'" if unit == "s" else "'>= 0.99' or '>= 99%'"
        raise ValueError(f"expected a comparison like {example}, got {text!r}")
    op: Op = m.group(1)  # type: ignore[assignment]
    rest = m.group(2)
    rel = re.match(r"^(\d+(?:\.\d+)?)\s*x\s*baseline$", rest)
    if rel:
        return Bound(op=op, factor=float(rel.group(1)))
    if unit == "s":
        return Bound(op=op, value=parse_duration(rest))
    pct = re.match(r"^(\d+(?:\.\d+)?)\s*%$", rest)
    try:
        value = float(pct.group(1)) / 100 if pct else float(rest)
    except ValueError:
        raise ValueError(f"expected a ratio like '0.99' or '99%', got {rest!r}") from None
    if not 0 <= value <= 1:
        raise ValueError(f"a ratio must be between 0 and 1 (or 0% and 100%), got {rest!r}")
    return Bound(op=op, value=value)
