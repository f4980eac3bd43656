"""The overview at scale, without a browser: tolerances read back, the shared grid, where it
broke, one latency axis type, HTML legends, hover titles, shaded spans and the size budget."""

from __future__ import annotations

import html
import itertools
import math
import re

import pytest

from chaosrun.report import render_html
from chaosrun.report.charts import timeline_svg
from chaosrun.report.compare import overview_svg
from chaosrun.report.figure import Span
from chaosrun.report.grid import make_grid, region_tracks
from chaosrun.report.heatmap import KEY
from chaosrun.report.limits import parse_limits
from chaosrun.report.overview import MAX_LINES, make_overview, overview_section, regions_section
from chaosrun.report.wire import parse_journal

from .journals import scaled_journal

SHORT = {"phases_s": (20.0, 40.0, 20.0), "rate_hz": 2.0}


def _section(page: str, sid: str) -> str:
    start = page.index(f'<section id="{sid}"')
    return page[start : page.index("</section>", start)]


@pytest.mark.parametrize(
    ("text", "error_ratio", "latency", "window_s"),
    [
        pytest.param("success_ratio >= 0.99, p95 < 300ms", 0.01, (("p95", 300.0),), None, id="ratio-and-p95"),
        pytest.param("every sample succeeds, p99 <= 1.5s", 0.0, (("p99", 1500.0),), None, id="every-sample"),
        pytest.param("success_ratio >= 0.95, over every 5s window", 0.05, (), 5.0, id="window"),
        pytest.param("p95 <= 2x baseline", None, (("p95", 80.0),), None, id="relative-resolved"),
        pytest.param("not judged", None, (), None, id="not-judged"),
        pytest.param("mean < 10ms, something new", None, (), None, id="unknown-parts-left-out"),
    ],
)
def test_a_tolerance_is_read_back_from_its_text(
    text: str, error_ratio: float | None, latency: tuple[tuple[str, float], ...], window_s: float | None
) -> None:
    limits = parse_limits(text, {"p95": 40.0})
    assert limits.error_ratio == (pytest.approx(error_ratio) if error_ratio is not None else None)
    assert [s for s, _ in limits.latency_ms] == [s for s, _ in latency]
    assert [v for _, v in limits.latency_ms] == pytest.approx([v for _, v in latency])
    assert limits.window_s == window_s


def test_share_of_tolerance_used() -> None:
    limits = parse_limits("success_ratio >= 0.99, p95 < 300ms")
    assert limits.usage(0.0, {"p95": 450.0}, 100) == (1.5, "p95 450 ms / 300 ms")
    assert limits.usage(0.05, {"p95": 30.0}, 200) == (pytest.approx(5.0), "errors 5.0% / 1.0% allowed")
    one, _ = limits.usage(1 / 30, {"p95": 30.0}, 30)
    two, _ = limits.usage(2 / 30, {"p95": 30.0}, 30)
    assert one == pytest.approx(1.0) and two == pytest.approx(2.0), "a short window allows one failure, not 0.3"
    strict = parse_limits("every sample succeeds")
    assert strict.usage(1 / 30, {}, 30)[0] == math.inf and strict.usage(0.0, {}, 30)[0] == 0.0


def test_the_grid_is_shared_never_straddles_a_phase_and_counts_every_sample_once() -> None:
    journal = parse_journal(scaled_journal(3, 3, **SHORT))
    grid = make_grid(journal)
    starts = {lo for _, lo, _ in journal.phase_bounds()}
    for lo, hi, phase in zip(grid.lo, grid.hi, grid.phase, strict=True):
        assert not any(lo < s < hi for s in starts), f"bucket {lo}-{hi} ({phase}) straddles a phase start"
    tracks = region_tracks(journal, grid)
    assert list(tracks) == list(journal.regions) and all(len(t) == 3 for t in tracks.values())
    for s in journal.series:
        track = next(t for t in tracks[s.region] if t.probe == s.probe)
        assert track.counts.sum() == len(s)
        assert len(track.usage) == len(grid)


def test_where_it_broke_follows_the_verdicts() -> None:
    journal = parse_journal(scaled_journal(3, 3, **SHORT))
    overview = make_overview(journal)
    fault = next(f for f in journal.faults if not f.setup)
    by_region = {b.region: b for b in overview.breaks}
    hit = by_region["eu-west"]
    assert hit.verdict == "deviated" and hit.first is not None
    assert hit.first.phase == "fault" and fault.applied_s is not None and hit.first.start_s >= fault.applied_s - 5
    assert re.fullmatch(r"(p\d\d|max) \d+ ms / \d+ ms|errors [\d.]+% / 1\.0% allowed", hit.first.figure)
    assert hit.first.usage > 1.0
    assert hit.recovery is not None and hit.recovery.met is False, "eu-west recovered in 14 s against 10 s"
    for b in overview.breaks:
        region_verdicts = [v for v in journal.verdicts if v.region == b.region and v.judged]
        assert (b.first is None) == all(v.held for v in region_verdicts), b.region
        assert b.worst is not None and b.worst.usage >= (b.first.usage if b.first and not b.first.whole_phase else 0)
    section = _section(render_html(journal), "overview")
    table = section[section.index('<table class="breaks"') :]
    assert table.count("<tr") == 1 + 3 and html.escape(hit.first.figure) in table


def test_one_latency_axis_type_for_every_region_and_legends_outside_the_charts() -> None:
    wire = scaled_journal(2, 3, **SHORT)
    journal = parse_journal(wire)
    page = render_html(journal)
    region = _section(page, "timeline")
    axes = re.findall(r"latency axis (logarithmic|linear)", region)
    assert axes == ["logarithmic"] * 3, "eu-west's 500 ms against 20 ms elsewhere: log everywhere"
    assert "samples (downsampled)" not in page and "fault window" not in "".join(re.findall(r"<svg.*?</svg>", page))
    assert region.count('<ul class="legend"') == 3 and _section(page, "overview").count('<ul class="legend"') == 1


@pytest.mark.parametrize("probes", [MAX_LINES, MAX_LINES + 1])
def test_past_a_few_probes_a_heatmap_with_the_lines_behind_it(probes: int) -> None:
    page = render_html(parse_journal(scaled_journal(probes, 1, **SHORT)))
    region = _section(page, "timeline")
    heatmaps = region.count("Probes of region us-east over time</title>")
    assert heatmaps == (probes > MAX_LINES)
    lines = region.index("Timeline of region us-east</title>")
    inside = region.rfind("<details", 0, lines) > region.rfind("</details>", 0, lines)
    assert inside == (probes > MAX_LINES), "the lines per probe stay available, folded under the heatmap"
    assert "Data table of us-east" in region


def test_hover_titles_name_every_region_in_every_window() -> None:
    journal = parse_journal(scaled_journal(1, 3, **SHORT))
    overview = make_overview(journal)
    svg = overview_svg(journal, overview.grid, overview.lines, log_scale=True)
    hover = svg[svg.index('<g class="hover"') :]
    titles = [html.unescape(t) for t in re.findall(r"<rect [^>]*><title>([^<]*)</title></rect>", hover)]
    assert len(titles) == len(overview.grid)
    assert all(all(f"{r}: " in t for r in journal.regions) for t in titles)
    first = r"0:00–0:0\d \(baseline\)\nus-east: \d+ samples, p50 [\d.]+ ms, p95 [\d.]+ ms, errors [\d.]+%, \d+% of tol"
    assert re.match(first, titles[0]), titles[0]


def test_shaded_spans_are_drawn_titled_and_described() -> None:
    journal = parse_journal(scaled_journal(1, 2, **SHORT))
    span = Span(start_s=30.0, end_s=34.0, label="samples not taken")
    overview = make_overview(journal, [span])
    svg = overview_svg(journal, overview.grid, overview.lines, log_scale=False, spans=overview.spans)
    timeline = timeline_svg(journal, "eu-west", chart_id="t", spans=[span])
    for drawn in (svg, timeline):
        assert "<title>samples not taken 0:30–0:34</title>" in drawn
        desc = re.search(r"<desc[^>]*>([^<]*)</desc>", drawn)
        assert desc is not None and "samples not taken 0:30–0:34" in desc.group(1)


def test_a_span_of_one_region_is_shaded_in_that_region_only() -> None:
    journal = parse_journal(scaled_journal(4, 2, **SHORT))
    span = Span(start_s=30.0, end_s=34.0, label="fault not in place", region="eu-west")
    regions = regions_section(journal, make_overview(journal, [span]))
    us_east, eu_west = regions.split("<h3>eu-west</h3>")
    assert "fault not in place" not in us_east
    assert eu_west.count("<title>fault not in place in eu-west 0:30–0:34</title>") >= 2, "heatmap and lines"
    assert 'class="key-box span"' in overview_section(journal, make_overview(journal, [span]))


def test_an_hour_of_30_series_fits_the_size_budget() -> None:
    wire = scaled_journal(10, 3, phases_s=(360.0, 2520.0, 720.0), rate_hz=1.0)
    page = render_html(parse_journal(wire))
    assert len(page.encode()) < 1_000_000
    assert page.count('class="chart"') == 1 + 3 * 2


def test_the_heatmap_scale_darkens_bin_after_bin() -> None:
    """Readable in greyscale: the CIE L* lightness of the key's colours falls at every bin."""

    def lightness(colour: str) -> float:
        rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
        return 116 * y ** (1 / 3) - 16 if y > 0.008856 else 903.3 * y

    values = [lightness(colour) for _, colour, _ in KEY]
    assert all(a - b >= 5 for a, b in itertools.pairwise(values)), values
