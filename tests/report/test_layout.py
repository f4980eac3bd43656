"""What a real run's report got wrong: set-up entries drawn as faults, colliding labels in the
fault lane, a recovery without an objective shown as missed, the verdict said twice."""

from __future__ import annotations

import html
import re

import pytest

from chaosrun.report import render_html, render_summary
from chaosrun.report.charts import timeline_svg
from chaosrun.report.fmt import seconds
from chaosrun.report.html import verdict_reason
from chaosrun.report.wire import parse_journal

from .conftest import SMALL
from .journals import crowded_journal, make_journal

_TEXT = re.compile(
    r'<text style="font-size: ([\d.]+)px;[^"]*text-anchor: (\w+)[^"]*" x="([\d.-]+)" y="([\d.-]+)"[^>]*>([^<]*)</text>'
)


def _lane_labels(svg: str) -> list[tuple[str, float, float, float]]:
    """(label, left, right, y) of every fault and mark label in a timeline, its width estimated generously."""
    out = []
    for size, anchor, x, y, raw in _TEXT.findall(svg):
        label = html.unescape(raw)
        if not label.startswith(("fault:", "⚠", "↺")):
            continue
        width = len(label) * float(size) * 0.6
        left = {"start": float(x), "middle": float(x) - width / 2, "end": float(x) - width}[anchor]
        out.append((label, left, left + width, float(y)))
    return out


def _section(page: str, sid: str) -> str:
    start = page.index(f'<section id="{sid}"')
    return page[start : page.index("</section>", start)]


def test_setup_entries_are_listed_apart_and_never_drawn_as_fault_windows() -> None:
    wire = make_journal("held", setup=True, **SMALL)  # type: ignore[arg-type]
    journal = parse_journal(wire)
    setup = next(f for f in journal.faults if f.setup)
    region = setup.region or ""
    svg = timeline_svg(journal, region, chart_id="t")
    assert "setup" not in svg, "no bar, label, tooltip or description of the set-up entry in the timeline"
    assert [label for label, *_ in _lane_labels(svg)] == ["fault: slow-payments", "↺ rollback restart-cache"]
    plain = timeline_svg(parse_journal(make_journal("held", **SMALL)), region, chart_id="t")  # type: ignore[arg-type]
    assert svg.count("hatch") == plain.count("hatch"), "the same fault windows as without the set-up entry"

    faults = _section(render_html(journal), "faults")
    injected, rest = faults.split("Set-up (created by chaosrun, removed after the run)")
    assert "slow-payments" in injected and html.escape(setup.name) not in injected
    assert html.escape(setup.name) in rest and 'class="setup"' in faults


def test_a_region_with_only_set_up_has_no_fault_window_in_its_legend() -> None:
    wire = make_journal("held", setup=True, **SMALL)  # type: ignore[arg-type]
    wire["faults"] = [f for f in wire["faults"] if f["setup"]]
    svg = timeline_svg(parse_journal(wire), wire["faults"][0]["region"], chart_id="t")
    assert "fault window" not in svg and "hatch" not in svg


def test_overlapping_fault_and_mark_labels_never_collide() -> None:
    journal = parse_journal(crowded_journal(**SMALL))
    svg = timeline_svg(journal, "eu-west", chart_id="t")
    labels = _lane_labels(svg)
    assert {label for label, *_ in labels} >= {"↺ rollback restart-cache", "⚠ guardrail error-budget"}
    assert sum(label.startswith("fault: ") for label, *_ in labels) == 2, "both faults labelled, set-up not"
    for i, (a, left_a, right_a, y_a) in enumerate(labels):
        for b, left_b, right_b, y_b in labels[i + 1 :]:
            same_row = abs(y_a - y_b) < 5
            assert not (same_row and left_a < right_b and left_b < right_a), f"{a!r} overlaps {b!r}"
    titles = re.findall(r"<title>([^<]*)</title>", svg)
    assert any("drop-half-of-the-payments-eu-connections 0:12–0:25" in t for t in titles), "full name as tooltip"


def test_a_long_fault_name_is_cut_to_fit_with_the_whole_name_as_tooltip() -> None:
    wire = make_journal("held", **SMALL)  # type: ignore[arg-type]
    wire["faults"][0]["name"] = "x" * 300
    svg = timeline_svg(parse_journal(wire), wire["faults"][0]["region"], chart_id="t")
    (label,) = [x for x in _lane_labels(svg) if x[0].startswith("fault")]
    assert label[0].endswith("…") and len(label[0]) < 150
    assert f"<title>fault: {'x' * 300} " in svg


def test_a_recovery_without_objective_is_neutral_and_keeps_its_time() -> None:
    wire = make_journal("held", **SMALL)  # type: ignore[arg-type]
    for r in wire["recovery"]:
        r.update(recovery_s=0.046, objective_s=None, met=None)
    journal = parse_journal(wire)
    recovery = _section(render_html(journal), "recovery")
    assert "missed" not in recovery and "✗" not in recovery
    assert recovery.lower().count("no objective") == len(wire["recovery"]) + 1  # a badge per row, and the note
    assert 'class="bar"' not in recovery and "late" not in recovery
    assert recovery.count("46 ms") == len(wire["recovery"])
    summary = render_summary(journal)
    assert "missed" not in summary and "| 46 ms | – | no objective |" in summary


def test_recovery_rows_with_and_without_objective_side_by_side() -> None:
    wire = make_journal("deviated", **SMALL)  # type: ignore[arg-type]
    wire["recovery"][0].update(objective_s=None, met=None)
    rows = _section(render_html(parse_journal(wire)), "recovery").split("<tr>")[2:]
    assert "no objective" in rows[0] and 'class="bar"' not in rows[0]
    assert all('class="bar"' in r for r in rows[1:]) and any("missed" in r for r in rows[1:])


# What the report says each status means, as documented (written out, not read from the code).
MEANING = {
    "held": "the steady-state hypothesis held in every judged phase and region",
    "deviated": "the steady-state hypothesis did not hold",
    "aborted": "the run was stopped early: a guardrail tripped or it was interrupted",
    "error": "the run failed before it could judge the hypothesis",
    "rollback_failed": "an undo failed: a fault may still be injected",
}


@pytest.mark.parametrize(
    ("status", "reason", "shown"),
    [
        pytest.param("held", "the steady-state hypothesis held in every phase and region", False, id="held-engine"),
        pytest.param("held", "hypothesis held in every phase and region", False, id="held-short"),
        pytest.param("held", "anything else at all", False, id="held-one-sentence"),
        pytest.param("deviated", "checkout in eu-west during fault: p95 466ms >= 300ms", True, id="deviated-names"),
        pytest.param("deviated", "the steady-state hypothesis did not hold", False, id="deviated-same-words"),
        pytest.param("aborted", "guardrail error-budget tripped in eu-west", True, id="aborted-guardrail"),
        pytest.param("error", "toxiproxy http://127.0.0.1:8474: connection refused", True, id="error"),
        pytest.param("rollback_failed", "", False, id="no-reason"),
    ],
)
def test_the_verdict_says_its_reason_only_when_it_adds_something(status: str, reason: str, shown: bool) -> None:
    wire = make_journal(status if status != "held" else "held", **SMALL)  # type: ignore[arg-type]
    wire["reason"] = reason
    journal = parse_journal(wire)
    assert verdict_reason(journal) == (reason if shown else "")
    page = render_html(journal)
    box = page[page.index('<div class="verdict') : page.index('<a class="score-card"')]
    assert box.count(html.escape(MEANING[status])) == 1
    assert ('class="verdict-reason"' in box) == shown
    if shown:
        assert html.escape(reason) in box


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "–"), (0.0, "0 s"), (0.046, "46 ms"), (0.05, "50 ms"), (0.9996, "1.0 s"), (14.0, "14.0 s"),
     (125.0, "2m 5s")],
)  # fmt: skip
def test_short_times_read_in_milliseconds(value: float | None, text: str) -> None:
    assert seconds(value) == text
