"""A region's probes x time as a heatmap: each cell is the share of its tolerance a probe used.

Used instead of a line per probe once a region has more than a few probes. The colour scale
is discrete, blue up to the limit and orange to dark red past it (blue against orange stays
distinct for colour-blind readers), and its lightness (CIE L*) falls from bin to bin (96, 87,
75, 68, 56, 40, 20), so it also reads in greyscale. Its key is HTML (`KEY`), never over the axes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import rc_context
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from .data import Journal
from .figure import RC, Span, clock_label, clock_step, draw_lane, draw_spans, hover_columns, svg_text
from .grid import Grid, Track

__all__ = ["KEY", "heatmap_svg"]

# (upper bound of the share of tolerance used, colour, words)
KEY: tuple[tuple[float, str, str], ...] = (
    (0.25, "#eef3f8", "up to 25%"),
    (0.5, "#cfdcec", "25–50%"),
    (0.75, "#9fbcdc", "50–75%"),
    (1.0, "#86a9d2", "75–100%"),
    (1.5, "#cf6a17", "100–150%: breaking"),
    (3.0, "#a63b14", "150–300%"),
    (np.inf, "#5c1a0b", "over 300%"),
)
NO_DATA = "#ffffff"
_MAX_LABEL = 28


def _short(name: str) -> str:
    return name if len(name) <= _MAX_LABEL else name[: _MAX_LABEL - 1] + "…"


def _hover(grid: Grid, tracks: Sequence[Track], i: int) -> str:
    hi = min(float(grid.hi[i]), grid.end_s)
    rows = [f"{clock_label(float(grid.lo[i]))}–{clock_label(hi)} ({grid.phase[i]})"]
    ranked = sorted((t for t in tracks if np.isfinite(t.usage[i])), key=lambda t: -float(t.usage[i]))
    for t in ranked[:5]:
        rows.append(f"{t.probe}: {t.usage[i] * 100:.0f}% ({t.figure(i)})")
    if len(ranked) > 5:
        rows.append(f"… and {len(ranked) - 5} more under {ranked[5].usage[i] * 100:.0f}%")
    return "\n".join(rows)


def heatmap_svg(
    journal: Journal, grid: Grid, region: str, tracks: Sequence[Track], *, chart_id: str, spans: Sequence[Span] = ()
) -> str:
    """The heatmap of one region's tracks (rows in probe order, unjudged rows marked)."""
    end_s = grid.end_s
    faults = [(f"fault: {f.name}", f.applied_s or 0.0, f.removed_s if f.removed_s is not None else end_s)
              for f in journal.faults
              if not f.setup and f.applied_s is not None and f.region in (None, region)]  # fmt: skip
    lane_rows = 1 + len(faults)
    rows = len(tracks)
    height = 0.2 * lane_rows + 0.22 * max(rows, 1) + 0.75
    labels = [_short(t.probe) + ("" if t.judged else " (not judged)") for t in tracks]
    left_in = min(3.0, 0.3 + 0.062 * max((len(x) for x in labels), default=4))
    tooltips: dict[str, str] = {}
    with rc_context(RC):
        fig = Figure(figsize=(10, height))
        fig.subplots_adjust(left=left_in / 10, right=0.985, top=1 - 0.06 / height, bottom=0.5 / height, hspace=0.08)
        lane, ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [0.2 * lane_rows, 0.22 * rows]})
        draw_lane(lane, journal, end_s, faults, tooltips)
        matrix = np.vstack([t.usage for t in tracks]) if tracks else np.full((1, len(grid)), np.nan)
        cmap = ListedColormap([c for _, c, _ in KEY]).with_extremes(bad=NO_DATA)
        # a bin holds its upper bound: exactly at the limit (100%) is not breaking it
        norm = BoundaryNorm([0.0, *(np.nextafter(b, np.inf) for b, _, _ in KEY[:-1]), 1e9], cmap.N)
        x = np.r_[grid.lo, min(float(grid.hi[-1]), end_s)] if len(grid) else np.array([0.0, end_s])
        y = np.arange(matrix.shape[0] + 1)
        ax.pcolormesh(x, y, np.ma.masked_invalid(matrix), cmap=cmap, norm=norm, rasterized=True, shading="flat")
        for _, lo, hi in faults:
            for edge in (lo, hi):
                ax.axvline(edge, color="#1c2530", lw=1, ls=(0, (4, 2)))
        drawn = draw_spans([ax], spans, tooltips, chart_id)
        ax.set_ylim(matrix.shape[0], 0)
        ax.set_yticks(np.arange(matrix.shape[0]) + 0.5, labels if tracks else ["no probes"], fontsize=7.5)
        ax.tick_params(axis="y", length=0)
        ax.set_xlim(0, end_s)
        ax.xaxis.set_major_locator(MultipleLocator(clock_step(end_s)))
        ax.xaxis.set_major_formatter(FuncFormatter(clock_label))
        ax.set_xlabel("time since start (m:ss)")
        columns = [(float(grid.lo[i]), min(float(grid.hi[i]), end_s), _hover(grid, tracks, i))
                   for i in range(len(grid))]  # fmt: skip
        overlay = hover_columns(fig, ax, ax, columns, (0.0, end_s))
        worst = [(float(np.nanmax(t.usage)), t.probe) for t in tracks if np.isfinite(t.usage).any()]
        breaking = [p for u, p in worst if u > 1.0]
        desc = (
            f"Share of its tolerance each of {len(tracks)} probes in {region} used per {grid.width_s:g} s window "
            f"over {clock_label(end_s)}. "
            + (f"Over 100% in some window: {', '.join(breaking)}. " if breaking else "No probe went over 100%. ")
            + "; ".join(drawn)
        )
        return svg_text(fig, chart_id, f"Probes of region {region} over time", desc, tooltips, overlay)
