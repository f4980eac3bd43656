"""The overview figure: every region on the same axes over the same time.

Three panels share the time axis and the phase and fault lane: the share of its tolerance the
worst judged probe used (100%: at the limit), the p95 latency of the slowest judged probe, and
the error ratio of all judged probes together. One line per region, each with its own colour,
line style and marker; the legend is HTML beside the figure (`overview`), never over the axes.
Pointing at any time column shows every region's figures in it (SVG `<title>`, no script).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from . import fmt
from .data import Journal
from .figure import (
    RC,
    Span,
    clock_label,
    clock_step,
    draw_lane,
    draw_spans,
    hover_columns,
    log_axis,
    series_style,
    svg_text,
)
from .grid import Grid, Track

__all__ = ["USAGE_CLIP", "RegionLine", "overview_svg", "region_lines"]

USAGE_CLIP = 5.0  # 500%: shares of the tolerance above are drawn at the top of the panel
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionLine:
    """A region per grid bucket, over its judged probes (every probe when none is judged)."""

    region: str
    usage: FloatArray  # the worst judged probe's share of its tolerance; nan: nothing judged
    p50_ms: FloatArray  # the slowest judged probe's p50
    p95_ms: FloatArray  # the slowest judged probe's p95
    samples: FloatArray  # of the judged probes together
    error_ratio: FloatArray  # errors / samples of the judged probes together
    worst_probe: tuple[str, ...]  # per bucket, the probe behind `usage` ('' when none)


def _nanmax(rows: list[FloatArray], n: int) -> FloatArray:
    if not rows:
        return np.full(n, np.nan)
    stack = np.vstack(rows)
    out = np.full(n, np.nan)
    has = np.isfinite(stack).any(axis=0)
    out[has] = np.nanmax(stack[:, has], axis=0)
    return out


def region_lines(grid: Grid, tracks: Mapping[str, Sequence[Track]]) -> list[RegionLine]:
    n = len(grid)
    out = []
    for region, all_tracks in tracks.items():
        chosen = [t for t in all_tracks if t.judged] or list(all_tracks)
        usage_rows = [t.usage for t in chosen]
        usage = _nanmax(usage_rows, n)
        worst = []
        for i in range(n):
            col = [(float(u[i]), t.probe) for u, t in zip(usage_rows, chosen, strict=True) if np.isfinite(u[i])]
            worst.append(max(col)[1] if col else "")
        counts = np.sum([t.counts for t in chosen], axis=0) if chosen else np.zeros(n)
        errors = np.sum([np.nan_to_num(t.error_ratio) * t.counts for t in chosen], axis=0) if chosen else np.zeros(n)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(counts > 0, errors / np.maximum(counts, 1), np.nan)
        out.append(RegionLine(region=region, usage=usage, p50_ms=_nanmax([t.latency["p50"] for t in chosen], n),
                              p95_ms=_nanmax([t.latency["p95"] for t in chosen], n), samples=counts,
                              error_ratio=ratio, worst_probe=tuple(worst)))  # fmt: skip
    return out


def _steps(grid: Grid, values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """x, y for drawstyle steps-post: each bucket's value over [lo, hi), a gap where it is nan."""
    hi = np.minimum(grid.hi, grid.end_s)
    return np.r_[grid.lo, hi[-1:]], np.r_[values, values[-1:]]


def _hover_text(grid: Grid, lines: Sequence[RegionLine], i: int) -> str:
    hi = min(float(grid.hi[i]), grid.end_s)
    head = f"{clock_label(float(grid.lo[i]))}–{clock_label(hi)} ({grid.phase[i]})"
    rows = []
    for line in lines:
        if not np.isfinite(line.error_ratio[i]):
            rows.append(f"{line.region}: no samples")
            continue
        use = f"{line.usage[i] * 100:.0f}% of tolerance ({line.worst_probe[i]})" if np.isfinite(line.usage[i]) else ""
        parts = [f"{line.samples[i]:.0f} samples", f"p50 {fmt.ms(float(line.p50_ms[i]))}",
                 f"p95 {fmt.ms(float(line.p95_ms[i]))}", f"errors {line.error_ratio[i] * 100:.1f}%", use]  # fmt: skip
        rows.append(f"{line.region}: " + ", ".join(p for p in parts if p))
    return "\n".join([head, *rows])


def overview_svg(
    journal: Journal,
    grid: Grid,
    lines: Sequence[RegionLine],
    *,
    log_scale: bool,
    spans: Sequence[Span] = (),
    chart_id: str = "overview",
) -> str:
    """The overview figure (see the module docstring)."""
    end_s = grid.end_s
    faults = [(f"fault: {f.name}" + (f" · {f.region}" if f.region else " · every region"), f.applied_s or 0.0,
               f.removed_s if f.removed_s is not None else end_s)
              for f in journal.faults if not f.setup and f.applied_s is not None]  # fmt: skip
    lane_rows = 1 + len(faults)
    height = 5.6 + 0.2 * lane_rows
    tooltips: dict[str, str] = {}
    with rc_context(RC):
        fig = Figure(figsize=(10, height))
        fig.subplots_adjust(left=0.085, right=0.985, top=1 - 0.08 / height, bottom=0.5 / height, hspace=0.14)
        ratios = [0.2 * lane_rows, 1.9, 1.9, 1.1]
        lane, use_ax, lat_ax, err_ax = fig.subplots(4, 1, sharex=True, gridspec_kw={"height_ratios": ratios})
        draw_lane(lane, journal, end_s, faults, tooltips)
        panels = (use_ax, lat_ax, err_ax)
        for name, lo, hi in journal.phase_bounds():
            colour = {"baseline": "#dde6f3", "fault": "#fbdcc8", "recovery": "#d9eed9"}.get(name, "#eeeeee")
            for ax in panels:
                ax.axvspan(lo, min(hi, end_s), color=colour, alpha=0.45, lw=0, zorder=0)
        for _, lo, hi in faults:
            for ax in panels:
                ax.axvspan(lo, hi, facecolor="none", edgecolor="#c2410c", hatch="////", lw=0, alpha=0.35, zorder=0.5)
        drawn = draw_spans(panels, spans, tooltips, chart_id)
        every = max(1, len(grid) // 8)
        for k, line in enumerate(lines):
            colour, style, marker = series_style(k)
            kw: dict[str, Any] = {"color": colour, "ls": style, "lw": 1.5, "drawstyle": "steps-post", "marker": marker,
                                  "ms": 4, "markevery": (k % every, every), "zorder": 2 + k * 0.01}  # fmt: skip
            use_ax.plot(*_steps(grid, np.minimum(line.usage, USAGE_CLIP) * 100), **kw)
            lat_ax.plot(*_steps(grid, line.p95_ms), **kw)
            err_ax.plot(*_steps(grid, line.error_ratio * 100), **kw)
        use_ax.axhline(100, color="#b42318", lw=1, ls=(0, (6, 3)), zorder=1.5)
        worst_use = max((float(np.nanmax(x.usage)) for x in lines if np.isfinite(x.usage).any()), default=0.0)
        use_ax.set_ylim(0, max(150.0, min(worst_use, USAGE_CLIP) * 100 * 1.1))
        use_ax.set_ylabel("tolerance used (%)")
        if log_scale:
            log_axis(lat_ax)
        lat_ax.set_ylabel("p95 (ms)")
        worst_err = max((float(np.nanmax(x.error_ratio)) for x in lines if np.isfinite(x.error_ratio).any()),
                        default=0.0)  # fmt: skip
        err_ax.set_ylim(0, max(5.0, min(100.0, worst_err * 100 * 1.15)))
        err_ax.set_ylabel("errors (%)")
        err_ax.set_xlim(0, end_s)
        err_ax.xaxis.set_major_locator(MultipleLocator(clock_step(end_s)))
        err_ax.xaxis.set_major_formatter(FuncFormatter(clock_label))
        err_ax.set_xlabel("time since start (m:ss)")
        for ax in panels:
            ax.grid(True, axis="y")
            ax.yaxis.set_label_coords(-0.06, 0.5)
        for ax in (use_ax, lat_ax):
            ax.xaxis.set_visible(False)  # the time axis is the bottom panel's; ticks cost ~4 ms each
        columns = [(float(grid.lo[i]), min(float(grid.hi[i]), end_s), _hover_text(grid, lines, i))
                   for i in range(len(grid))]  # fmt: skip
        overlay = hover_columns(fig, use_ax, err_ax, columns, (0.0, end_s))
        regions = ", ".join(x.region for x in lines)
        desc = (
            f"Regions {regions} compared over {clock_label(end_s)} in {grid.width_s:g} s windows: "
            "share of tolerance used by the worst judged probe, p95 of the slowest judged probe, error ratio. "
            + "; ".join(
                f"{x.region}: at most {np.nanmax(x.usage) * 100:.0f}% of tolerance"
                for x in lines
                if np.isfinite(x.usage).any()
            )
            + ("; " + "; ".join(drawn) if drawn else "")
        )
        return svg_text(fig, chart_id, "All regions over time", desc, tooltips, overlay)
