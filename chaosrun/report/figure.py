"""What every chart shares: matplotlib settings, a colour-blind-safe style per series, the time
axis, the phase and fault lane, shaded spans, hover columns and the SVG clean-up.

Styles never rely on colour alone: each series has an Okabe-Ito colour, a line style and a
marker. Hover text is plain SVG `<title>` elements (native tooltips, no script).
"""

from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from .data import Journal

__all__ = [
    "MARKERS",
    "PALETTE",
    "PHASE_COLOURS",
    "RC",
    "Span",
    "clock_label",
    "clock_step",
    "draw_lane",
    "draw_spans",
    "hover_columns",
    "log_axis",
    "series_style",
    "svg_text",
]

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")  # Okabe-Ito
PHASE_COLOURS = {"baseline": "#dde6f3", "fault": "#fbdcc8", "recovery": "#d9eed9"}
RC: dict[Any, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,  # user names with "$" are text, never mathtext
    "svg.hashsalt": "chaosrun",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 8.5,
    "axes.edgecolor": "#9aa3ad",
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": "#4a5560",
    "ytick.color": "#4a5560",
    "axes.labelcolor": "#2b3440",
    "grid.color": "#e3e7eb",
    "grid.linewidth": 0.6,
    "path.simplify_threshold": 0.5,
}


def clock_label(seconds: float, _pos: object = None) -> str:
    sign = "-" if seconds < 0 else ""
    s = abs(round(seconds))
    return f"{sign}{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{sign}{s // 60}:{s % 60:02d}"


_PATH = re.compile(r'\s(?:d|x|y|transform)="[^"]*"')
_BETWEEN_TAGS = re.compile(r">\s+<")
_REFERENCE = re.compile(r'(\sid="|#)([^"\)\s]+)(?=["\)])')  # an id, or a reference to one
_NUMBER = re.compile(r"-?\d+\.\d{2,}")


def _round(m: re.Match[str]) -> str:
    """A path coordinate to 0.1 pt (1/720 in): finer than any screen or printer shows, half the bytes."""
    return f"{float(m.group(0)):.1f}"


def svg_text(
    fig: Figure, chart_id: str, title: str, desc: str, tooltips: Mapping[str, str] | None = None, overlay: str = ""
) -> str:
    """The figure as an inline <svg>: ids prefixed, no XML prolog, no namespace URLs, titled.

    `tooltips`: gid of an artist -> text shown when pointing at it (an SVG <title>); `overlay`:
    SVG drawn last, on top (e.g. `hover_columns`).
    """
    buf = io.StringIO()
    fig.savefig(buf, format="svg", dpi=110, metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buf.getvalue()
    for gid, tip in (tooltips or {}).items():
        text = text.replace(f'<g id="{gid}">', f'<g id="{gid}"><title>{html.escape(tip)}</title>', 1)
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text[text.index("<svg") :], flags=re.S)
    text = _PATH.sub(lambda m: _NUMBER.sub(_round, m.group(0)).replace(" \n", " "), text)
    text = _BETWEEN_TAGS.sub("><", text)
    text = text.replace("xlink:href=", "href=")
    ids = set(re.findall(r'\sid="([^"]+)"', text))
    used = ids & set(re.findall(r'#([^"\)\s]+)["\)]', text))
    text = re.sub(r'\sid="([^"]+)"', lambda m: m.group(0) if m.group(1) in used else "", text)
    text = _REFERENCE.sub(lambda m: f"{m.group(1)}{chart_id}-{m.group(2)}" if m.group(2) in used else m.group(0), text)
    gt = text.index(">") + 1
    view_box = re.search(r'viewBox="[^"]*"', text[:gt])
    root = (
        f'<svg {view_box.group(0) if view_box else ""} role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'class="chart" preserveAspectRatio="xMidYMid meet">'
    )
    titled = (
        f'<title id="{chart_id}-title">{html.escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{html.escape(desc)}</desc>'
    )
    body = text[gt:].rstrip()
    if overlay and body.endswith("</svg>"):
        body = body[: -len("</svg>")] + overlay + "</svg>"
    return root + titled + body


_CLOCK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def clock_step(span_s: float, max_ticks: int = 12) -> float:
    """A whole number of seconds (or minutes, or hours) between time ticks: at most `max_ticks`
    ticks over `span_s`, and never two ticks that `clock_label` would label alike."""
    for step in _CLOCK_STEPS:
        if span_s / step < max_ticks:
            return float(step)
    return float(_CLOCK_STEPS[-1] * math.ceil(span_s / _CLOCK_STEPS[-1] / max_ticks))


FIG_WIDTH_IN = 10.0  # every chart is drawn 10 in wide and scaled by the page
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES: tuple[Any, ...] = ("-", (0, (5, 2)), (0, (1, 1.4)), (0, (6, 2, 1, 2)), (0, (3, 1, 1, 1, 1, 1)))
SPAN_COLOUR = "#6b7280"


def log_axis(ax: Axes) -> None:
    """A logarithmic y axis ticked at 1, 2 and 5 of each decade, labelled plainly (no 10^x)."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_minor_locator(NullLocator())  # minor log ticks cost ~0.3 s a chart
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))


def series_style(i: int) -> tuple[str, Any, str]:
    """(colour, line style, marker) of the i-th series: no two of the first 40 share all three."""
    return PALETTE[i % len(PALETTE)], LINESTYLES[(i // len(PALETTE)) % len(LINESTYLES)], MARKERS[i % len(MARKERS)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """A stretch of time to shade over a chart, e.g. samples not taken or a fault not in place."""

    start_s: float
    end_s: float
    label: str  # what it is, said in its tooltip and the chart's description
    region: str | None = None  # None: every region

    def is_in(self, region: str) -> bool:
        return self.region is None or self.region == region


def draw_spans(axes: Sequence[Axes], spans: Sequence[Span], tooltips: dict[str, str], prefix: str) -> list[str]:
    """Shade `spans` (grey, cross-hatched) over every axes; each gets a tooltip; returns what was drawn."""
    drawn = []
    for i, span in enumerate(spans):
        where = f" in {span.region}" if span.region else ""
        what = f"{span.label}{where} {clock_label(span.start_s)}–{clock_label(span.end_s)}"
        for k, ax in enumerate(axes):
            patch = ax.axvspan(span.start_s, span.end_s, facecolor=SPAN_COLOUR, alpha=0.18, hatch="xx",
                               edgecolor=SPAN_COLOUR, lw=0, zorder=0.6)  # fmt: skip
            gid = f"{prefix}-span{i}-{k}"
            patch.set_gid(gid)
            tooltips[gid] = what
        drawn.append(what)
    return drawn


def draw_lane(
    lane: Axes, journal: Journal, end_s: float, faults: Sequence[tuple[str, float, float]], tooltips: dict[str, str]
) -> int:
    """Phases in the top row of `lane`, then one row per fault (label, start, end); returns the rows.

    A fault's label goes inside its bar, or beside it, cut to fit; its whole text is its tooltip.
    """
    rows = 1 + len(faults)
    for name, lo, hi in journal.phase_bounds():
        hi = min(hi, end_s)
        lane.broken_barh([(lo, hi - lo)], (rows - 0.9, 0.8), facecolors=PHASE_COLOURS.get(name, "#eeeeee"),
                         edgecolor="#ffffff", lw=1)  # fmt: skip
        lane.text((lo + hi) / 2, rows - 0.5, name, ha="center", va="center", fontsize=8, clip_on=True)
    box = lane.get_position()
    per_char = 0.62 * 7.5 * end_s / (FIG_WIDTH_IN * 72 * box.width)  # data units per character
    pad = per_char
    for row, (label, lo, hi) in enumerate(faults, start=2):
        y = rows - row
        bar = lane.broken_barh([(lo, hi - lo)], (y + 0.15, 0.7), facecolors="#f59e0b", edgecolor="#b45309", lw=0.8)
        width = (len(label) + 1) * per_char
        # inside the bar when it fits; else beside it, right or left, where there is room; else cut to fit
        places = [
            (hi - lo, (lo + hi) / 2, "center"),
            (end_s - hi - pad, hi + pad, "left"),
            (lo - pad, lo - pad, "right"),
        ]
        room, x, ha = next((p for p in places if width <= p[0]), max(places))
        chars = int(room / per_char) - 1
        text = label if len(label) <= chars else (label[: chars - 1] + "…" if chars >= 2 else "")
        drawn = lane.text(x, y + 0.5, text, ha=ha, va="center", fontsize=7.5, clip_on=True)
        for kind, artist in (("bar", bar), ("label", drawn)):
            gid = f"lane-fault{row}-{kind}"
            artist.set_gid(gid)
            tooltips[gid] = f"{label} {clock_label(lo)}–{clock_label(hi)}"
    lane.set_ylim(0, rows)
    lane.set_yticks([])
    lane.spines["left"].set_visible(False)
    lane.spines["bottom"].set_visible(False)
    lane.xaxis.set_visible(False)  # no ticks to lay out: ~40 ms a chart
    return rows


def hover_columns(
    fig: Figure, top: Axes, bottom: Axes, columns: Sequence[tuple[float, float, str]], xlim: tuple[float, float]
) -> str:
    """Transparent SVG rects, one per (start, end, text) time column from `top` to `bottom`, titled.

    Pointing anywhere in a column shows its text (a native tooltip); nothing is drawn.
    """
    width_pt, height_pt = fig.get_figwidth() * 72, fig.get_figheight() * 72
    box_top, box_bottom = top.get_position(), bottom.get_position()
    x0, x1 = xlim
    y = (1 - box_top.y1) * height_pt
    h = (box_top.y1 - box_bottom.y0) * height_pt
    parts = ['<g class="hover" fill="transparent">']
    for lo, hi, text in columns:
        a = box_top.x0 + (max(lo, x0) - x0) / (x1 - x0) * box_top.width
        b = box_top.x0 + (min(hi, x1) - x0) / (x1 - x0) * box_top.width
        if b <= a:
            continue
        parts.append(f'<rect x="{a * width_pt:.1f}" y="{y:.1f}" width="{(b - a) * width_pt:.1f}" height="{h:.1f}">'
                     f"<title>{html.escape(text)}</title></rect>")  # fmt: skip
    parts.append("</g>")
    return "".join(parts)
