"""How numbers, times and verdicts read in every report (HTML, Markdown, JUnit, history)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

__all__ = [
    "STATUS_TEXT",
    "clock",
    "duration",
    "ms",
    "offset_at",
    "ratio",
    "seconds",
    "when",
]

# status -> (icon, words, one-line meaning); the icon is text so the verdict never relies on colour
STATUS_TEXT: dict[str, tuple[str, str, str]] = {
    "held": ("✓", "Held", "the steady-state hypothesis held in every judged phase and region"),
    "deviated": ("✗", "Deviated", "the steady-state hypothesis did not hold"),
    "not_steady": ("!", "Not steady", "the system was not steady before the fault; no fault was judged"),
    "aborted": ("■", "Aborted", "the run was stopped early: a guardrail tripped or it was interrupted"),
    "error": ("!", "Error", "the run failed before it could judge the hypothesis"),
    "rollback_failed": ("☠", "Rollback failed", "an undo failed: a fault may still be injected"),
    "inconclusive": ("?", "Inconclusive", "chaosrun could not judge the run honestly: too many samples not taken"),
    "crashed": ("?", "Did not finish", "the run stopped without finishing; rebuilt from its events"),
}


def ms(value: float | None) -> str:
    """Milliseconds for people: '3.14 ms', '412 ms', '1.23 s'; '–' when unknown."""
    if value is None or math.isnan(value):
        return "–"
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 100:
        return f"{value:.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def ratio(value: float | None) -> str:
    """0.9975 -> '99.75%'; exact 1 -> '100%'."""
    if value is None or math.isnan(value):
        return "–"
    if value >= 1.0:
        return "100%"
    return f"{math.floor(value * 10000) / 100:.2f}%"


def seconds(value: float | None) -> str:
    """A short time for people: '0 s', '46 ms' (under a second), '1.4 s', '2m 5s'; '–' when unknown."""
    if value is None or math.isnan(value):
        return "–"
    if value <= 0:
        return "0 s"
    if value < 0.9995:
        return f"{value * 1000:.0f} ms"
    return f"{value:.1f} s" if value < 100 else duration(value)


def clock(t: float | None) -> str:
    """Seconds since the run started as m:ss.s (h:mm:ss past an hour)."""
    if t is None or math.isnan(t):
        return "–"
    if t >= 3600:
        whole = int(t)
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    m, s = divmod(max(t, 0.0), 60)
    return f"{int(m)}:{s:04.1f}"


def duration(value: float | None) -> str:
    """1h 2m 3s style."""
    if value is None or math.isnan(value):
        return "–"
    if value < 59.95:
        return f"{value:.1f} s"
    h, rest = divmod(round(value), 3600)
    m, sec = divmod(rest, 60)
    return " ".join(part for part in (f"{h}h" if h else "", f"{m}m" if m or h else "", f"{sec}s") if part)


def _parse(iso: str) -> datetime | None:
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        return None


def when(iso: str) -> str:
    """'2026-11-26T17:00:00.123Z' -> '2026-11-26 17:00:00 UTC' (the text as is if unparseable)."""
    parsed = _parse(iso) if iso else None
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC") if parsed else (iso or "–")


def offset_at(started_at: str, t: float | None) -> str:
    """The wall clock (UTC, hh:mm:ss) `t` seconds after `started_at`; '' when unknown."""
    start = _parse(started_at) if started_at else None
    if start is None or t is None or math.isnan(t):
        return ""
    return (start + timedelta(seconds=t)).strftime("%H:%M:%S UTC")
