"""Where it broke: per region, the first breach, the worst window and the recovery time.

A breach is a window of the shared grid (`grid`) in which a probe whose phase verdict deviated
broke that phase's tolerance; a deviated verdict with no such window (its whole phase broke
the tolerance, no single window did) is placed at its phase's start with the verdict's reason.
Windows of a region whose verdicts held are never called breaches: the worst window is shown
as what it is, the most of its tolerance a probe used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .data import Journal, Recovery
from .grid import Grid, Track
from .results import verdict_word

__all__ = ["Breach", "RegionBreaks", "region_breaks"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Breach:
    """A window of one probe: when, in which phase, and its figure against the tolerance."""

    probe: str
    phase: str
    start_s: float
    end_s: float
    figure: str  # "p95 466 ms / 300 ms", or a verdict's reason
    usage: float  # share of the tolerance used; nan when only the verdict's reason is known
    whole_phase: bool = False  # the phase broke its tolerance as a whole, no single window did


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionBreaks:
    region: str
    verdict: str  # held, deviated, not judged
    first: Breach | None
    worst: Breach | None
    recovery: Recovery | None  # the slowest recovery measured with an objective (or any, without one)


def _window(grid: Grid, track: Track, i: int) -> Breach:
    hi = float(grid.hi[i]) if math.isfinite(grid.hi[i]) else grid.end_s
    return Breach(probe=track.probe, phase=grid.phase[i], start_s=float(grid.lo[i]), end_s=hi,
                  figure=track.figure(i), usage=float(track.usage[i]))  # fmt: skip


def _first(journal: Journal, grid: Grid, region: str, tracks: Sequence[Track]) -> Breach | None:
    deviated = {(v.probe, v.phase): v for v in journal.verdicts if v.region == region and v.judged and v.held is False}
    found: list[Breach] = []
    phases = np.asarray(grid.phase)
    for track in tracks:
        for (probe, phase), verdict in deviated.items():
            if probe != track.probe:
                continue
            over = np.flatnonzero((phases == phase) & (np.nan_to_num(track.usage, nan=0.0) > 1.0))
            if len(over):
                found.append(_window(grid, track, int(over[0])))
                continue
            start = next((lo for name, lo, _ in journal.phase_bounds() if name == phase), 0.0)
            end = next((hi for name, _, hi in journal.phase_bounds() if name == phase), grid.end_s)
            reason = verdict.reasons[0] if verdict.reasons else f"broke {verdict.tolerance or 'its tolerance'}"
            found.append(Breach(probe=probe, phase=phase, start_s=start, end_s=min(end, grid.end_s), figure=reason,
                                usage=math.nan, whole_phase=True))  # fmt: skip
    return min(found, key=lambda b: (b.start_s, -np.nan_to_num(b.usage)), default=None)


def _worst(grid: Grid, tracks: Sequence[Track]) -> Breach | None:
    best: tuple[float, Track, int] | None = None
    for track in tracks:
        if not track.judged or not np.isfinite(track.usage).any():
            continue
        i = int(np.nanargmax(track.usage))
        if best is None or track.usage[i] > best[0]:
            best = (float(track.usage[i]), track, i)
    return _window(grid, best[1], best[2]) if best else None


def _recovery(journal: Journal, region: str) -> Recovery | None:
    rows = [r for r in journal.recovery if r.region == region]
    judged = [r for r in rows if r.objective_s is not None] or rows
    return max(judged, key=lambda r: math.inf if r.recovery_s is None else r.recovery_s, default=None)


def region_breaks(journal: Journal, grid: Grid, tracks: Mapping[str, Sequence[Track]]) -> list[RegionBreaks]:
    """One entry per region, in the journal's order."""
    out = []
    for region in journal.regions:
        verdicts = [v for v in journal.verdicts if v.region == region]
        judged = [v for v in verdicts if v.judged and v.held is not None]
        word = verdict_word(bool(judged), all(v.held for v in judged) if judged else None)
        region_tracks = tracks.get(region, [])
        out.append(RegionBreaks(region=region, verdict=word, first=_first(journal, grid, region, region_tracks),
                                worst=_worst(grid, region_tracks), recovery=_recovery(journal, region)))  # fmt: skip
    return out
