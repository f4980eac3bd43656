"""A region's lines per probe (the timeline) and the score trend, as inline SVG drawn with
matplotlib's object API (never pyplot); what every chart shares is in `figure`.

Raw samples are downsampled (min/max envelope, <= 2,000 points per probe) and rasterized;
lines are per-bucket quantiles of all samples. Text stays text (`svg.fonttype: none`).
Only the chart modules (`figure`, `charts`, `compare`, `heatmap`) import matplotlib.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MultipleLocator

from .data import Journal, Series
from .figure import PALETTE, PHASE_COLOURS, RC, Span, draw_spans, log_axis, series_style, svg_text
from .figure import clock_label as _clock
from .figure import clock_step as _clock_step
from .fmt import when
from .stats import bucket_stats, envelope

__all__ = ["PALETTE", "timeline_svg", "trend_svg", "wide_range"]

MAX_POINTS = 2000
MAX_BUCKETS = 360


def _phase_buckets(
    journal: Journal, t: np.ndarray[Any, Any], lat: np.ndarray[Any, Any], ok: np.ndarray[Any, Any], width: float
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Bucketed p50, p95 and error rate, as points for `step(where="mid")` that draw every bucket's
    value exactly over its own time span [start, end).

    Buckets never mix two phases (a bucket straddling the baseline and the fault would draw the
    fault's latency over the end of the baseline): each phase gets a whole number of equal buckets
    starting at the phase's start and ending at its end (the next phase's start; for the last
    phase its recorded end, or its last sample). A bucket is a point at its centre; every run of
    buckets is framed by NaN points at the centres of the (empty) buckets just before and after
    it, so the step's outer edges fall on the run's own first start and last end, and the line
    breaks there: between phases, and over a gap in the samples.
    """
    spans = sorted(journal.phases, key=lambda p: p.start_s)
    edges = [*sorted({0.0, *(p.start_s for p in spans if p.start_s > 0)}), np.inf]
    last_end = spans[-1].end_s if spans and spans[-1].end_s is not None else -np.inf
    parts: list[tuple[np.ndarray[Any, Any], ...]] = []
    for lo, hi in itertools.pairwise(edges):
        mask = (t >= lo) & (t < hi)
        if not mask.any():
            continue
        seg_t = t[mask]
        seg_end = hi if np.isfinite(hi) else max(last_end, float(seg_t.max()))
        n = max(1, round((seg_end - lo) / width))
        w = (seg_end - lo) / n if seg_end > lo else width
        # whole bucket numbers from the phase's start (bucket_stats counts from the first sample)
        index = np.minimum(np.floor((seg_t - lo) / w), n - 1)
        b = bucket_stats(index, lat[mask], ok[mask], 1.0)
        present = b.centers - 0.5  # bucket numbers, exact small integers
        slots = np.unique(np.concatenate([present - 1, present, present + 1]))
        at = np.searchsorted(slots, present)
        columns = []
        for values in (b.quantiles[0.5], b.quantiles[0.95], b.error_rate):
            column = np.full(len(slots), np.nan)
            column[at] = values
            columns.append(column)
        parts.append((lo + (slots + 0.5) * w, *columns))
    if not parts:
        empty = np.empty(0)
        return empty, empty, empty, empty
    c, p50, p95, err = (np.concatenate([part[i] for part in parts]) for i in range(4))
    return c, p50, p95, err


def wide_range(journal: Journal, region: str | None = None) -> bool:
    """Whether measured latencies (of one region, or of all) span more than 30x: drawn on a log axis."""
    measured = [np.asarray(s.latency_ms, dtype=float) for s in journal.series if region in (None, s.region)]
    values = np.concatenate(measured) if measured else np.empty(0)
    positive = values[values > 0]
    return bool(len(positive)) and float(positive.max()) / max(float(positive.min()), 1e-3) > 30


def _bucket_width(end_s: float, series: Sequence[Series], max_buckets: int = MAX_BUCKETS) -> float:
    density = max((len(s) / max(end_s, 1.0) for s in series), default=1.0)
    return max(end_s / max_buckets, 15.0 / density if density else 1.0, 0.5)


@dataclass(frozen=True, slots=True)
class _LaneItem:
    """A fault bar or an event mark in the lane above the charts, placed in a row that no other item overlaps."""

    lo: float
    hi: float  # == lo for a mark
    label: str  # as drawn (may be truncated)
    full: str  # the whole label, shown as a tooltip
    x: float
    ha: str
    colour: str
    style: str  # line style of a mark; "" for a fault bar
    note: str = ""  # said after the label in the description and the tooltip
    row: int = 0


_LABEL_PT = 7.5
_CHAR_PT = 0.62 * _LABEL_PT  # a DejaVu Sans character is about 0.6 em wide
_AXES_PT = 10 * 72 * (0.985 - 0.075)  # the axes' width in points (figure 10 in wide)
_ROW_IN = 0.2  # height of one lane row in inches


def _fit(text: str, width: float, per_char: float) -> str:
    """`text` cut with an ellipsis to fit `width` (data units); '' when not even one character fits."""
    chars = int(width / per_char)
    if len(text) <= chars:
        return text
    return text[: chars - 1] + "…" if chars >= 2 else ""


def _place(occupied: list[list[tuple[float, float]]], span: tuple[float, float], gap: float) -> int:
    """The first row where `span` overlaps nothing; taken."""
    lo, hi = span
    for row, spans in enumerate(occupied):
        if all(hi + gap <= a or lo >= b + gap for a, b in spans):
            spans.append(span)
            return row
    occupied.append([span])
    return len(occupied) - 1


def _lane_items(journal: Journal, region: str, end_s: float) -> tuple[list[_LaneItem], list[_LaneItem]]:
    """Fault windows and marks (guardrail trips, rollbacks) of a region, each given a row of its own kind.

    Set-up entries (infrastructure chaosrun creates before the baseline) are not fault windows: not drawn.
    Labels are placed inside a bar when they fit, else beside it, cut to at most half the chart.
    """
    per_char = _CHAR_PT * end_s / _AXES_PT
    pad = 2 * per_char
    widest = end_s * 0.5
    faults: list[_LaneItem] = []
    occupied: list[list[tuple[float, float]]] = []
    chosen = [f for f in journal.faults if not f.setup and f.applied_s is not None and f.region in (None, region)]
    for f in sorted(chosen, key=lambda f: f.applied_s or 0.0):
        lo = f.applied_s or 0.0
        hi = f.removed_s if f.removed_s is not None else end_s
        full = f"fault: {f.name}"
        note = "" if f.removed_s is not None else " (no undo recorded)"
        if len(full) * per_char + pad <= hi - lo:
            item = _LaneItem(lo, hi, full, full, (lo + hi) / 2, "center", "#f59e0b", "", note)
            span = (lo, hi)
        else:
            label = _fit(full, widest, per_char)
            width = len(label) * per_char + pad
            if lo + width <= end_s:
                item = _LaneItem(lo, hi, label, full, lo + pad / 2, "left", "#f59e0b", "", note)
                span = (lo, max(hi, lo + width))
            else:
                item = _LaneItem(lo, hi, label, full, hi - pad / 2, "right", "#f59e0b", "", note)
                span = (min(lo, hi - width), hi)
        faults.append(replace(item, row=_place(occupied, span, per_char)))
    marks: list[_LaneItem] = []
    occupied = []
    raw: list[tuple[float, str, str, str]] = [
        (g.t, f"⚠ guardrail {g.name}", "#b91c1c", "-")
        for g in journal.guardrails
        if g.tripped and g.t is not None and g.region in (None, region)
    ]
    raw += [(r.t, f"↺ rollback {r.name}" + ("" if r.ok else " (failed)"), "#6d28d9", ":")
            for r in journal.rollbacks if r.t is not None]  # fmt: skip
    for t, full, colour, style in sorted(raw, key=lambda m: m[0]):
        label = _fit(full, widest, per_char)
        width = len(label) * per_char + pad
        if t + width <= end_s:
            item, span = _LaneItem(t, t, label, full, t + pad / 2, "left", colour, style), (t, t + width)
        else:
            item, span = _LaneItem(t, t, label, full, t - pad / 2, "right", colour, style), (t - width, t)
        marks.append(replace(item, row=_place(occupied, span, per_char)))
    return faults, marks


def _lane_rows(faults: Sequence[_LaneItem], marks: Sequence[_LaneItem]) -> tuple[int, int]:
    return (max((f.row for f in faults), default=-1) + 1, max((m.row for m in marks), default=-1) + 1)


def _phases_and_faults(
    axes: Sequence[Axes],
    lane: Axes,
    journal: Journal,
    end_s: float,
    lane_items: tuple[list[_LaneItem], list[_LaneItem]],
    tooltips: dict[str, str],
) -> list[str]:
    """Shade phases and fault windows, mark guardrail trips and rollbacks; returns what was drawn.

    The lane above the charts has a row of phases, then a row per overlapping fault, then a row
    per overlapping mark label: labels never collide. Each fault and mark gets a tooltip.
    """
    faults, marks = lane_items
    fault_rows, mark_rows = _lane_rows(faults, marks)
    rows = 1 + fault_rows + mark_rows

    def bottom(row: int) -> float:  # row 0 is the top one
        return rows - row - 1

    drawn = []
    for name, lo, hi in journal.phase_bounds():
        hi = min(hi, end_s)
        colour = PHASE_COLOURS.get(name, "#eeeeee")
        for ax in axes:
            ax.axvspan(lo, hi, color=colour, alpha=0.45, lw=0, zorder=0)
        lane.broken_barh([(lo, hi - lo)], (bottom(0) + 0.1, 0.8), facecolors=colour, edgecolor="#ffffff", lw=1)
        lane.text((lo + hi) / 2, bottom(0) + 0.5, name, ha="center", va="center", fontsize=8, color="#1f2933",
                  clip_on=True)  # fmt: skip
        drawn.append(f"{name} phase {_clock(lo)}–{_clock(hi)}")
    for i, f in enumerate(faults):
        y = bottom(1 + f.row)
        for ax in axes:
            ax.axvspan(f.lo, f.hi, facecolor="none", edgecolor="#c2410c", hatch="////", lw=0, alpha=0.35, zorder=0.5)
        bar = lane.broken_barh([(f.lo, f.hi - f.lo)], (y + 0.15, 0.7), facecolors=f.colour, edgecolor="#b45309", lw=0.8)
        text = lane.text(f.x, y + 0.5, f.label, ha=f.ha, va="center", fontsize=_LABEL_PT, clip_on=True)
        what = f"{f.full} {_clock(f.lo)}–{_clock(f.hi)}{f.note}"
        for kind, artist in (("bar", bar), ("label", text)):
            gid = f"lane-fault{i}-{kind}"
            artist.set_gid(gid)
            tooltips[gid] = what
        drawn.append(what)
    for i, m in enumerate(marks):
        for ax in (*axes, lane):
            ax.axvline(m.lo, color=m.colour, lw=1.1, ls=m.style, zorder=3)
        y = bottom(1 + fault_rows + m.row)
        text = lane.text(m.x, y + 0.5, m.label, color=m.colour, fontsize=_LABEL_PT, va="center", ha=m.ha, clip_on=True)
        what = f"{m.full} at {_clock(m.lo)}"
        text.set_gid(f"lane-mark{i}")
        tooltips[f"lane-mark{i}"] = what
        drawn.append(what)
    lane.set_ylim(0, rows)
    lane.set_yticks([])
    lane.spines["left"].set_visible(False)
    lane.spines["bottom"].set_visible(False)
    lane.xaxis.set_visible(False)  # no ticks to lay out: ~40 ms a chart
    return drawn


def timeline_svg(
    journal: Journal,
    region: str,
    *,
    chart_id: str,
    log_scale: bool | None = None,
    spans: Sequence[Span] = (),
    samples: bool = True,
    max_buckets: int = MAX_BUCKETS,
) -> str:
    """One region's timeline: latency (p50/p95 lines, raw samples faint) and error rate over time.

    `log_scale`: the latency axis type (None: chosen from this region's range; the report passes
    one choice for every region). Each probe has a colour, a marker and (past 7 probes) a line
    style of its own (`series_style`); the legend is HTML beside the chart (`sections`).
    `samples`: draw the raw samples (faint dots) too; `max_buckets`: the most time buckets per line.
    """
    series = [s for s in journal.series if s.region == region]
    end_s = max(journal.end_s, 1.0)
    width = _bucket_width(end_s, series, max_buckets)
    lane_items = _lane_items(journal, region, end_s)
    rows = 1 + sum(_lane_rows(*lane_items))
    height = 5.05 + _ROW_IN * (rows - 3)  # 5.05 in with three lane rows; every row adds its height
    tooltips: dict[str, str] = {}
    with rc_context(RC):
        fig = Figure(figsize=(10, height))  # a fixed layout: constrained layout costs ~0.2 s per chart
        fig.subplots_adjust(left=0.075, right=0.985, top=1 - 0.081 / height, bottom=0.52 / height, hspace=0.12)
        ratios = [_ROW_IN * rows, 2.6, 1.1]
        lane, lat_ax, err_ax = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": ratios})
        worst_p95 = 0.0
        worst_err = 0.0
        for i, s in enumerate(series):
            colour, style, marker = series_style(i)
            t = np.asarray(s.t, dtype=float)
            lat = np.asarray(s.latency_ms, dtype=float)
            ok = np.asarray(s.ok, dtype=bool)
            if samples:
                raw_t, raw_y = envelope(t, lat, MAX_POINTS)
                lat_ax.scatter(raw_t, raw_y, s=2.5, color=colour, alpha=0.22, lw=0, rasterized=True, zorder=1)
            centers, p50, p95, err = _phase_buckets(journal, t, lat, ok, width)
            # steps, not lines between bucket centres: each bucket's value is drawn over its own time span
            every = max(1, len(centers) // 6)
            marks = {"marker": marker, "ms": 3.5, "markevery": ((i * 3) % every, every)}
            lat_ax.step(centers, p50, where="mid", color=colour, lw=1.5, ls=style, zorder=2, **marks)
            lat_ax.step(centers, p95, where="mid", color=colour, lw=1.2, ls=(0, (4, 2)), zorder=2, **marks)
            err_ax.step(centers, err * 100, where="mid", color=colour, lw=1.3, ls=style, **marks)
            worst_p95 = max(worst_p95, float(np.nanmax(p95)) if np.isfinite(p95).any() else 0.0)
            worst_err = max(worst_err, float(np.nanmax(err)) if np.isfinite(err).any() else 0.0)
        drawn = _phases_and_faults((lat_ax, err_ax), lane, journal, end_s, lane_items, tooltips)
        drawn += draw_spans((lat_ax, err_ax), spans, tooltips, chart_id)
        if log_scale is None:
            log_scale = wide_range(journal, region)
        if log_scale:
            log_axis(lat_ax)
        lat_ax.set_ylabel("latency (ms)")
        err_ax.set_ylabel("errors (%)")
        err_ax.set_ylim(0, max(5.0, min(100.0, worst_err * 100 * 1.15)))
        err_ax.set_xlim(0, end_s)
        err_ax.xaxis.set_major_locator(MultipleLocator(_clock_step(end_s)))
        err_ax.xaxis.set_major_formatter(FuncFormatter(_clock))
        err_ax.set_xlabel(
            f"time since start (m:ss){' — started ' + when(journal.started_at) if journal.started_at else ''}"
        )
        for ax in (lat_ax, err_ax):
            ax.grid(True, axis="y")
        lat_ax.xaxis.set_visible(False)  # the time axis is the bottom panel's; ticks cost ~4 ms each
        if not series:
            lat_ax.text(0.5, 0.5, "no samples", transform=lat_ax.transAxes, ha="center", color="#6b7280")
        probes = ", ".join(dict.fromkeys(s.probe for s in series)) or "no probes"
        desc = (
            f"Latency and error rate of {probes} in {region} over {_clock(end_s)}; worst p95 {worst_p95:.0f} ms, "
            f"worst error rate {worst_err * 100:.1f}% per {width:g}s bucket; latency axis "
            f"{'logarithmic' if log_scale else 'linear'}. " + "; ".join(drawn)
        )
        return svg_text(fig, chart_id, f"Timeline of region {region}", desc, tooltips)


_TREND_MARKERS = {"held": "o", "deviated": "X", "not_steady": "s", "aborted": "v", "error": "D",
                  "rollback_failed": "P", "crashed": "d", "inconclusive": "*"}  # fmt: skip
_TREND_COLOURS = {"held": "#15803d", "deviated": "#b45309", "rollback_failed": "#7f1d1d"}


def trend_svg(points: Sequence[tuple[str, int, str]], *, chart_id: str) -> str:
    """Score over runs, oldest first: (label, score, status); markers differ by status, not colour only."""
    with rc_context(RC):
        fig = Figure(figsize=(10, 2.4), layout="constrained")
        ax = fig.subplots()
        xs = list(range(len(points)))
        ax.plot(xs, [p[1] for p in points], color="#94a3b8", lw=1, zorder=1)
        for x, (_label, score, status) in zip(xs, points, strict=True):
            colour = _TREND_COLOURS.get(status, "#b91c1c")
            ax.scatter([x], [score], marker=_TREND_MARKERS.get(status, "o"), s=36, color=colour, zorder=2)
            ax.annotate(str(score), (x, score), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7.5)
        ax.set_ylim(-5, 112)
        ax.set_yticks([0, 25, 50, 75, 100])
        ax.set_ylabel("score")
        step = max(1, len(points) // 10)
        ax.set_xticks(xs[::step], [p[0] for p in points][::step], fontsize=7.5)
        ax.grid(True, axis="y")
        seen = dict.fromkeys(p[2] for p in points)
        handles = [Line2D([], [], marker=_TREND_MARKERS.get(s, "o"), ls="", color=_TREND_COLOURS.get(s, "#b91c1c"),
                          label=s.replace("_", " ")) for s in seen]  # fmt: skip
        fig.legend(handles=handles, loc="outside upper right", frameon=False, ncols=len(handles), fontsize=7.5)
        desc = "Resilience score per run, oldest first: " + "; ".join(f"{p[0]}: {p[1]} ({p[2]})" for p in points)
        return svg_text(fig, chart_id, "Resilience score of previous runs", desc)
