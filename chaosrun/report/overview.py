"""The report's first look and its per-region detail, as HTML sections.

`overview_section`: every region on the same axes (`compare`), an HTML legend, "where it broke"
(`breaks`) and a data table. `regions_section`: per region, a line per probe for a few probes,
or a probe x time heatmap (`heatmap`) with the lines behind a <details> past `MAX_LINES`; one
latency axis type for every region. Every chart has a text alternative (its <desc>) and a data
table; every legend is HTML, outside the axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import fmt
from .breaks import Breach, RegionBreaks, region_breaks
from .charts import MAX_BUCKETS, timeline_svg, wide_range
from .compare import RegionLine, overview_svg, region_lines
from .data import Journal
from .figure import Span, series_style
from .grid import Grid, Track, make_grid, region_tracks
from .heatmap import KEY, heatmap_svg
from .markup import badge, e, empty, section, table
from .results import recovery_result

__all__ = ["MAX_LINES", "Overview", "make_overview", "overview_section", "regions_section"]

MAX_LINES = 3  # probes per region drawn as lines; more get a heatmap


@dataclass(frozen=True, slots=True, kw_only=True)
class Overview:
    """What the overview and the region sections are drawn from, computed once per report."""

    grid: Grid
    tracks: dict[str, list[Track]]
    lines: list[RegionLine]
    breaks: list[RegionBreaks]
    log_scale: bool  # one latency axis type for every region
    spans: tuple[Span, ...] = ()


def make_overview(journal: Journal, spans: Sequence[Span] = ()) -> Overview:
    """The grid, tracks, lines and breaks of a journal, computed once.

    `spans`: stretches to shade in the overview and in their region's charts (samples not
    taken, a fault not in place: whatever the journal records that makes a stretch not judged
    honestly), each drawn cross-hatched grey with a tooltip and said in the chart's description.
    """
    grid = make_grid(journal)
    tracks = region_tracks(journal, grid)
    return Overview(grid=grid, tracks=tracks, lines=region_lines(grid, tracks),
                    breaks=region_breaks(journal, grid, tracks), log_scale=wide_range(journal),
                    spans=tuple(spans))  # fmt: skip


_DASH = {"-": "", "(0, (5, 2))": "5 2", "(0, (1, 1.4))": "1 1.4", "(0, (6, 2, 1, 2))": "6 2 1 2",
         "(0, (3, 1, 1, 1, 1, 1))": "3 1 1 1 1 1", "(0, (4, 2))": "4 2"}  # fmt: skip
_SHAPE = {
    "o": '<circle cx="18" cy="6" r="3"/>',
    "s": '<rect x="15" y="3" width="6" height="6"/>',
    "^": '<path d="M18 2.5 L21.5 9 L14.5 9 Z"/>',
    "D": '<path d="M18 2 L22 6 L18 10 L14 6 Z"/>',
    "v": '<path d="M18 9.5 L21.5 3 L14.5 3 Z"/>',
    "P": '<path d="M16.8 2.5h2.4v2.3h2.3v2.4h-2.3v2.3h-2.4v-2.3h-2.3v-2.4h2.3z"/>',
    "X": '<path d="M14.8 3.6l1.2-1.2 2 2 2-2 1.2 1.2-2 2 2 2-1.2 1.2-2-2-2 2-1.2-1.2 2-2z"/>',
    "*": '<path d="M18 2l1.1 2.7 2.9.2-2.2 1.9.7 2.8L18 8.1l-2.5 1.5.7-2.8L14 4.9l2.9-.2z"/>',
}


def swatch(colour: str, style: Any, marker: str = "") -> str:
    """A legend key as a small inline SVG: the line's colour, dash pattern and marker."""
    dash = _DASH.get(str(style), "")
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    shape = _SHAPE.get(marker, "")
    return (f'<svg class="swatch" viewBox="0 0 36 12" width="36" height="12" aria-hidden="true">'
            f'<line x1="1" y1="6" x2="35" y2="6" stroke="{colour}" stroke-width="2"{dash_attr}/>'
            f'<g fill="{colour}">{shape}</g></svg>')  # fmt: skip


def _legend(items: Sequence[tuple[str, str]], label: str) -> str:
    """An HTML legend: (swatch html, escaped text) items."""
    lis = "".join(f"<li>{key}<span>{text}</span></li>" for key, text in items)
    return f'<ul class="legend" aria-label="{e(label)}">{lis}</ul>'


def _region_key(journal: Journal, overview: Overview) -> str:
    verdicts = {b.region: b.verdict for b in overview.breaks}
    items = [(swatch(*series_style(k)), f"{e(line.region)} <span class=\"muted\">{e(verdicts.get(line.region, ''))}"
              "</span>") for k, line in enumerate(overview.lines)]  # fmt: skip
    items += [('<span class="key-box phase-fault" aria-hidden="true"></span>', "fault phase"),
              ('<span class="key-box fault-window" aria-hidden="true"></span>', "fault window (hatched)"),
              (swatch("#b42318", "(0, (4, 2))"), "100% of tolerance: the limit")]  # fmt: skip
    if overview.spans:
        items.append(('<span class="key-box span" aria-hidden="true"></span>', "not judged honestly (cross-hatched)"))
    return _legend(items, "Legend of the overview")


def _at(journal: Journal, t: float) -> str:
    wall = fmt.offset_at(journal.started_at, t)
    return f'{fmt.clock(t)}<span class="muted"> {wall}</span>' if wall else fmt.clock(t)


def _breach_cell(journal: Journal, b: Breach | None, what: str) -> str:
    if b is None:
        return f'<span class="muted">{e(what)}</span>'
    when = _at(journal, b.start_s) if b.whole_phase else f"{_at(journal, b.start_s)}–{fmt.clock(b.end_s)}"
    share = "" if b.whole_phase or not np.isfinite(b.usage) else f" <strong>{b.usage * 100:.0f}%</strong> of tolerance:"
    scope = f"the whole {e(b.phase)} phase" if b.whole_phase else f"{e(b.phase)} phase"
    return f"{when}<br><strong>{e(b.probe)}</strong> ({scope}){share} {e(b.figure)}"


def _recovery_cell(b: RegionBreaks) -> str:
    r = b.recovery
    if r is None:
        return '<span class="muted">not measured</span>'
    kind, words = recovery_result(r)
    mark = {"met": badge("held", "✓", words), "missed": badge("deviated", "✗", words)}.get(
        kind, badge("not-judged", "–", words)
    )
    objective = f" against {fmt.seconds(r.objective_s)}" if r.objective_s is not None else ""
    took = "never" if r.recovery_s is None else fmt.seconds(r.recovery_s)
    return f"{e(took)}{e(objective)} ({e(r.probe)}) {mark}"


def _where_it_broke(journal: Journal, overview: Overview) -> str:
    rows = []
    for b in overview.breaks:
        icon = {"held": "✓", "deviated": "✗"}.get(b.verdict, "–")
        cls = "bad" if b.verdict == "deviated" else ""
        rows.append([f"<!--row:{cls}-->{e(b.region)}", badge(b.verdict.replace(" ", "-"), icon, b.verdict),
                     _breach_cell(journal, b.first, "none: every judged verdict held" if b.verdict == "held"
                                  else "none"),
                     _breach_cell(journal, b.worst, "nothing judged"), _recovery_cell(b)])  # fmt: skip
    headers = ["Region", "Verdict", "First breach", "Worst window", "Recovery (slowest probe)"]
    return table("Per region: first breach, worst window, slowest recovery", headers, rows, cls="breaks")


def _phase_table(grid: Grid, names: Sequence[str], usage: Sequence[Any], p95: Sequence[Any], errors: Sequence[Any],
                 caption: str, head: str) -> str:  # fmt: skip
    """Rows name x phase: the most of its tolerance used, the worst p95 and error ratio in any window."""
    phases = np.asarray(grid.phase)
    rows = []
    for name, u, p, err in zip(names, usage, p95, errors, strict=True):
        for phase in dict.fromkeys(grid.phase):
            mask = phases == phase

            def worst(values: Any, m: Any = mask) -> float | None:
                picked = values[m]
                return float(np.nanmax(picked)) if np.isfinite(picked).any() else None

            use, lat, er = worst(u), worst(p), worst(err)
            rows.append([e(name), e(phase), "–" if use is None else f"{use * 100:.0f}%", fmt.ms(lat),
                         "–" if er is None else f"{er * 100:.1f}%"])  # fmt: skip
    return table(caption, [head, "Phase", "Most of tolerance used", "Worst p95", "Worst errors"], rows)


def _details(summary: str, body: str, cls: str = "") -> str:
    return f'<details class="{cls}"><summary>{e(summary)}</summary>{body}</details>'


def overview_section(journal: Journal, overview: Overview) -> str:
    if not journal.series:
        return section("overview", "At a glance", empty("No samples were recorded."))
    svg = overview_svg(journal, overview.grid, overview.lines, log_scale=overview.log_scale, spans=overview.spans)
    lines = overview.lines
    data = _phase_table(overview.grid, [x.region for x in lines], [x.usage for x in lines], [x.p95_ms for x in lines],
                        [x.error_ratio for x in lines], f"Per region and phase, in {overview.grid.width_s:g} s windows",
                        "Region")  # fmt: skip
    intro = (
        f"Every region on the same axes, in {overview.grid.width_s:g} s windows: the share of its tolerance the "
        "worst judged probe used (over 100%: breaking it), the p95 of the slowest judged probe and the errors of "
        "the judged probes. Point at (or tap) the chart for a window's figures."
    )
    figure = ('<p class="scroll-hint small muted">The charts are wide: scroll them sideways.</p>'
              f'<figure class="chart-figure overview-figure"><div class="chart-scroll">{svg}</div>'
              f"<figcaption>{_region_key(journal, overview)}</figcaption></figure>")  # fmt: skip
    body = figure + _details("Data table of the overview", data, "data") + "<h3>Where it broke</h3>"
    body += _where_it_broke(journal, overview)
    body += (
        '<p class="small muted">First breach: the first window in which a probe whose phase verdict deviated broke '
        "that phase's tolerance (or the phase's start, when only the whole phase broke it). Worst window: the most "
        "of its tolerance any judged probe used. A window too short for the allowed error ratio to allow one failure "
        "allows one.</p>"
    )
    return section("overview", "At a glance: every region compared", body, intro)


def _probe_key(tracks: Sequence[Track]) -> str:
    items = [(swatch(*series_style(i)), e(t.probe) + ("" if t.judged else ' <span class="muted">not judged</span>'))
             for i, t in enumerate(tracks)]  # fmt: skip
    items += [(swatch("#4a5560", "-"), "p50 (solid, or the probe's own style)"),
              (swatch("#4a5560", "(0, (4, 2))"), "p95 (dashed)"),
              ('<span class="key-box fault-window" aria-hidden="true"></span>', "fault window (hatched)")]  # fmt: skip
    return _legend(items, "Legend of the timeline")


def _heat_key() -> str:
    items = [(f'<span class="key-box" style="background:{colour}" aria-hidden="true"></span>', e(words))
             for _, colour, words in KEY]  # fmt: skip
    items.append(('<span class="key-box no-data" aria-hidden="true"></span>', "no sample or not judged"))
    return _legend(items, "Share of the tolerance used")


def regions_section(journal: Journal, overview: Overview) -> str:
    parts = []
    axis = "logarithmic" if overview.log_scale else "linear"
    for i, region in enumerate(journal.regions):
        tracks = overview.tracks.get(region, [])
        if not tracks:
            none = f"{region}: no probe samples this region, so there is no chart."
            parts.append(f"<h3>{e(region)}</h3>" + empty(none))
            continue
        many = len(tracks) > MAX_LINES
        spans = [s for s in overview.spans if s.is_in(region)]
        lines_svg = timeline_svg(journal, region, chart_id=f"tl{i}", log_scale=overview.log_scale,
                                 spans=spans, samples=not many,
                                 max_buckets=len(overview.grid) if many else MAX_BUCKETS)  # fmt: skip
        lines = f'<div class="chart-scroll">{lines_svg}</div>{_probe_key(tracks)}'
        data = _phase_table(overview.grid, [t.probe for t in tracks], [t.usage for t in tracks],
                            [t.latency["p95"] for t in tracks], [t.error_ratio for t in tracks],
                            f"Probes of {region} per phase, in {overview.grid.width_s:g} s windows",
                            "Probe")  # fmt: skip
        b = next((x for x in overview.breaks if x.region == region), None)
        caption = f"{e(region)}: {e(b.verdict if b else '')}, {len(tracks)} probes."
        if many:
            heat = heatmap_svg(journal, overview.grid, region, tracks, chart_id=f"hm{i}", spans=spans)
            body = (f'<div class="chart-scroll">{heat}</div>{_heat_key()}'
                    + _details(f"A line per probe ({len(tracks)} probes)", lines, "lines"))  # fmt: skip
        else:
            body = lines
        parts.append(f'<figure class="chart-figure"><h3>{e(region)}</h3>{body}<figcaption>{caption}</figcaption>'
                     f"</figure>{_details(f'Data table of {region}', data, 'data')}")  # fmt: skip
    intro = (
        f"Each region in detail, on the same time axis. Up to {MAX_LINES} probes: p50 and p95 per probe; more: a "
        "probe × time heatmap of the share of its tolerance each probe used, with the lines behind it. Latency "
        f"axes are {axis} in every region."
    )
    hint = '<p class="scroll-hint small muted">The charts are wide: scroll them sideways.</p>' if parts else ""
    return section("timeline", "Per region", hint + ("".join(parts) or empty("No samples were recorded.")), intro)
