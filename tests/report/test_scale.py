"""The report at scale in a real browser: 1, 3 and 10 probes per region in 1, 3 and 8 regions.

One headless Chromium loads every report at desktop and phone widths and checks what a reader
would see: no console error, no request but the file itself, no two pieces of text drawn over
each other (bounding boxes of every SVG text, legend item, heading and chart, from the DOM),
every figure present with JavaScript disabled; Chromium's `--print-to-pdf` gives a PDF whose
text pdftotext extracts, verdict included.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from chaosrun.report import write_reports
from chaosrun.report.overview import MAX_LINES
from chaosrun.report.wire import parse_journal

from .browser import Visit, open_pages, print_to_pdf
from .journals import scaled_journal

pytestmark = pytest.mark.browser

GRID = [(p, r) for p in (1, 3, 10) for r in (1, 3, 8)]  # (probes per region, regions)
WIDTHS = (1280, 390)

# Open every <details> first (the lines behind a heatmap, the data tables): what is inside must not collide either.
_OVERLAPS = """(() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const box = el => el.getBoundingClientRect();
  const hit = (a, b) => a.width > 0 && b.width > 0 && a.left < b.right - 1 && b.left < a.right - 1
                        && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const out = [];
  const pairs = (items, where) => {
    for (let i = 0; i < items.length; i++)
      for (let j = i + 1; j < items.length; j++)
        if (hit(items[i][1], items[j][1])) out.push(`${where}: '${items[i][0]}' over '${items[j][0]}'`);
  };
  for (const svg of document.querySelectorAll('svg.chart')) {
    const texts = [...svg.querySelectorAll('text')].filter(t => t.textContent.trim())
      .map(t => [t.textContent, box(t)]);
    pairs(texts, svg.querySelector('title').textContent);
  }
  for (const figure of document.querySelectorAll('figure')) {
    const blocks = [...figure.querySelectorAll(':scope h3, :scope svg.chart, :scope .legend li')]
      .map(el => [el.matches('svg') ? 'chart ' + el.querySelector('title').textContent : el.textContent, box(el)]);
    pairs(blocks, 'figure');
  }
  return out;
})()"""
QUERIES = {
    "overlaps": _OVERLAPS,
    "charts": "document.querySelectorAll('svg.chart').length",
    "shown": """[...document.querySelectorAll('svg.chart')].filter(s => !s.closest('details'))
        .filter(s => { const r = s.getBoundingClientRect(); return r.width > 100 && r.height > 50; }).length""",
    "verdict": "document.querySelector('.verdict-word').textContent",
    "breaks": "document.querySelectorAll('table.breaks tbody tr').length",
    "wide": "document.documentElement.scrollWidth > window.innerWidth + 1",
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, int], Path]:
    """A deviated 80 s run per grid point, written as report.html."""
    out = {}
    for probes, regions in GRID:
        wire = scaled_journal(probes, regions, phases_s=(20.0, 40.0, 20.0), rate_hz=2.0)
        folder = tmp_path_factory.mktemp(f"p{probes}r{regions}")
        out[(probes, regions)] = write_reports(parse_journal(wire), folder)["report.html"]
    return out


def _expected_charts(probes: int, regions: int) -> int:
    """The overview, then per region: a timeline, and a heatmap too past MAX_LINES probes."""
    return 1 + regions * (2 if probes > MAX_LINES else 1)


def test_every_size_and_width_reads_cleanly(chromium: str, reports: dict[tuple[int, int], Path]) -> None:
    visits = [Visit(reports[key].resolve().as_uri(), width) for key in GRID for width in WIDTHS]
    pages = asyncio.run(open_pages(visits, QUERIES))
    problems = []
    for visit, page, key in zip(visits, pages, [k for k in GRID for _ in WIDTHS], strict=True):
        probes, regions = key
        where = f"{probes} probes x {regions} regions at {visit.width}px"
        if page.console_errors:
            problems.append(f"{where}: console errors {page.console_errors}")
        requests = [u for u in page.requests if not u.startswith("data:image/png;base64,")]
        if requests != [visit.url]:
            problems.append(f"{where}: requests {requests}")
        problems += [f"{where}: {x}" for x in page.values["overlaps"]]
        if page.values["charts"] != _expected_charts(probes, regions):
            problems.append(f"{where}: {page.values['charts']} charts, expected {_expected_charts(probes, regions)}")
        if page.values["verdict"] != "Deviated" or page.values["breaks"] != regions:
            problems.append(f"{where}: verdict {page.values['verdict']!r}, {page.values['breaks']} where-it-broke rows")
        if page.values["wide"]:
            problems.append(f"{where}: the page scrolls sideways")
    assert problems == []


def test_without_javascript_every_figure_is_there(chromium: str, reports: dict[tuple[int, int], Path]) -> None:
    keys = [(1, 1), (10, 3), (3, 8)]
    visits = [Visit(reports[k].resolve().as_uri(), 1280, javascript=js) for k in keys for js in (False, True)]
    pages = asyncio.run(open_pages(visits, QUERIES))
    for i, (probes, regions) in enumerate(keys):
        without, with_js = pages[2 * i], pages[2 * i + 1]
        assert without.values["charts"] == with_js.values["charts"] == _expected_charts(probes, regions)
        visible = 1 + regions  # the overview and one chart per region outside a <details>
        assert without.values["shown"] == with_js.values["shown"] == visible
        assert without.console_errors == [] and without.values["overlaps"] == []


@pytest.mark.parametrize(
    "key", [pytest.param((10, 3), id="10-probes-3-regions"), pytest.param((1, 8), id="1-probe-8-regions")]
)
def test_printed_to_pdf_the_text_is_extractable(chromium: str, reports: dict[tuple[int, int], Path],
                                                 key: tuple[int, int], tmp_path: Path) -> None:  # fmt: skip
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        if os.environ.get("CI"):
            pytest.fail("pdftotext is required in CI (apt-get install poppler-utils; .ci/run does)")
        pytest.skip("pdftotext not installed")
    pdf = print_to_pdf(reports[key].resolve().as_uri(), tmp_path / "report.pdf")
    assert pdf.read_bytes().startswith(b"%PDF-")
    pages = subprocess.run([pdftotext, "-layout", str(pdf), "-"], capture_output=True, text=True, timeout=60,
                           check=True).stdout.split("\f")  # fmt: skip
    text = " ".join(" ".join(pages).split())
    assert len([p for p in pages if p.strip()]) >= 3
    assert re.search(r"VERDICT\W*Deviated", text), "the verdict (its label upper case by CSS, then its icon)"
    assert "checkout deviated in eu-west during the fault" in text
    assert "Where it broke" in text and "At a glance: every region compared" in text
    assert "All regions over time" not in text, "SVG titles are tooltips, not printed text"
    assert "time since start (m:ss)" in text, "chart text is text in the PDF, not pixels"


def test_the_overlap_check_sees_text_drawn_over_text(chromium: str, tmp_path: Path) -> None:
    """The check above finds what it looks for: a label over a tick label, a legend item over another."""
    page = tmp_path / "overlap.html"
    page.write_text(
        '<!DOCTYPE html><html><body><figure><svg class="chart" viewBox="0 0 200 100" width="400">'
        "<title>crowded</title><text x='10' y='50'>time since start</text><text x='30' y='52'>0:30</text>"
        "<text x='10' y='90'>apart</text></svg>"
        '<ul class="legend" style="display:flex"><li>first item</li><li style="margin-left:-40px">second</li></ul>'
        "</figure></body></html>",
        encoding="utf-8",
    )
    (result,) = asyncio.run(open_pages([Visit(page.resolve().as_uri())], {"overlaps": _OVERLAPS}))
    assert result.values["overlaps"] == [
        "crowded: 'time since start' over '0:30'",
        "figure: 'first item' over 'second'",
    ]
