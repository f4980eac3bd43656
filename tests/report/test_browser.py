"""The report in a real browser: headless Chromium opens it from a file URL over DevTools."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chaosrun.history import record_run
from chaosrun.report import write_reports
from chaosrun.report.wire import parse_journal

from .browser import open_page
from .journals import crowded_journal, make_journal

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
QUERIES = {
    "verdict": "document.querySelector('.verdict-word').textContent",
    "charts": "document.querySelectorAll('svg.chart').length",
    "chart_titles": "[...document.querySelectorAll('svg.chart > title')].map(t => t.textContent)",
    "tables": "document.querySelectorAll('table').length",
    "result_rows": "document.querySelectorAll('table.results tbody tr').length",
    "score": "document.querySelector('.ring-value').textContent",
    "h1": "document.querySelectorAll('h1').length",
    "wide": "document.documentElement.scrollWidth > window.innerWidth + 1",
}


@pytest.mark.browser
@pytest.mark.parametrize("width", [pytest.param(1280, id="desktop"), pytest.param(390, id="phone")])
def test_the_report_in_headless_chromium(chromium: str, width: int, tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    for seed, status in enumerate(("held", "deviated", "held", "aborted"), start=1):
        record_run(db, parse_journal(make_journal(status, seed=seed)), f"reports/run{seed}/journal.json")
    journal = parse_journal(make_journal("deviated", seed=42))
    report = write_reports(journal, tmp_path / "run", history_db=db)["report.html"]
    url = report.resolve().as_uri()

    page = asyncio.run(open_page(url, QUERIES, width=width))

    assert page.console_errors == []
    assert [u for u in page.requests if not u.startswith("data:image/png;base64,")] == [url], "no network requests"
    assert page.values["verdict"] == "Deviated"
    assert page.values["charts"] == 1 + 3 + 1, "the overview, a timeline per region and the trend"
    assert "Timeline of region eu-west" in page.values["chart_titles"]
    assert page.values["tables"] >= 8 and page.values["result_rows"] == 18
    assert page.values["score"] == str(int(page.values["score"]))
    assert page.values["h1"] == 1
    assert page.values["wide"] is False, "nothing overflows the viewport (tables scroll inside their box)"
    assert page.screenshot.startswith(b"\x89PNG")
    ARTIFACTS.mkdir(exist_ok=True)
    name = "report.png" if width > 700 else "report-phone.png"
    (ARTIFACTS / name).write_bytes(page.screenshot)


_LANE = """[...document.querySelectorAll('svg.chart text')]
  .filter(t => /^(fault:|⚠|↺)/.test(t.textContent))
  .filter(t => t.closest('svg').querySelector('title').textContent.startsWith('Timeline'))
  .map(t => { const r = t.getBoundingClientRect();
              return [t.closest('svg').id || [...document.querySelectorAll('svg.chart')].indexOf(t.closest('svg')),
                      t.textContent, r.left, r.right, r.top, r.bottom]; })"""
LAYOUT_QUERIES = {
    "lane": _LANE,
    "setup_in_charts": "[...document.querySelectorAll('svg.chart')].some(s => s.textContent.includes('setup'))",
    "chart_widths": "[...document.querySelectorAll('.chart-scroll svg')].map(s => s.getBoundingClientRect().width)",
    "setup_table": "document.querySelector('#faults .setup h3').textContent",
    "wide": QUERIES["wide"],
    "reason": "document.querySelector('.verdict-reason') && document.querySelector('.verdict-reason').textContent",
}


@pytest.mark.browser
@pytest.mark.parametrize("width", [pytest.param(1280, id="desktop"), pytest.param(390, id="phone")])
def test_lane_labels_setup_and_chart_sizes_as_rendered(chromium: str, width: int, tmp_path: Path) -> None:
    """A deviated run in 3 regions with a set-up entry, overlapping faults, a guardrail trip next to the rollback."""
    journal = parse_journal(crowded_journal())
    report = write_reports(journal, tmp_path / "run")["report.html"]

    page = asyncio.run(open_page(report.resolve().as_uri(), LAYOUT_QUERIES, width=width))

    lane = page.values["lane"]
    assert {x[1] for x in lane} >= {"↺ rollback restart-cache", "⚠ guardrail error-budget"}
    assert sum(x[1].startswith("fault:") for x in lane) == 2, "two faults labelled in eu-west; set-up not drawn"
    for i, (chart, label, left, right, top, bottom) in enumerate(lane):
        for other, label2, left2, right2, top2, bottom2 in lane[i + 1 :]:
            overlap = chart == other and left < right2 - 0.5 and left2 < right - 0.5 and top < bottom2 - 0.5
            assert not (overlap and top2 < bottom - 0.5), f"{label!r} collides with {label2!r} at {width}px"
    assert page.values["setup_in_charts"] is False
    assert page.values["setup_table"] == "Set-up (created by chaosrun, removed after the run)"
    assert page.values["reason"], "a deviated verdict names the probe and region"
    assert page.values["wide"] is False, "the page never scrolls sideways; wide charts and tables scroll in their box"
    widths = page.values["chart_widths"]
    assert len(widths) == 1 + 3, "the overview and a timeline per region"
    if width < 700:
        assert min(widths) >= 700, "on a phone the charts keep a readable size and scroll sideways"
    else:
        assert max(widths) <= width
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"report-crowded-{width}.png").write_bytes(page.screenshot)
