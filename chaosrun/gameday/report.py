"""The game-day report: one self-contained HTML page for the whole day.

A timeline of the day (each experiment's phases and fault windows, pauses, checkpoints, on one
wall-clock axis), verdicts against what was expected, scores, recovery per region, notes and
runbooks, and links to each experiment's own report. No scripts, no network: the report's
CSS and Content-Security-Policy (chaosrun.report), every user string escaped once.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..gate.pages import page, suite_data, suite_header, suite_table
from ..gate.suite import Suite
from ..report import fmt
from ..report.markup import e, section
from .day import DayResult, StepRecord

__all__ = ["render_day"]

_CSS = """
.timeline { list-style: none; padding: 0; margin: 0; }
.timeline li { display: grid; grid-template-columns: minmax(10rem, 16rem) 1fr; gap: .75rem; align-items: center;
  padding: .35rem 0; border-bottom: 1px solid #e5e7eb; }
.track { position: relative; height: 1.6rem; background: #f3f4f6; border-radius: 4px; }
.seg { position: absolute; top: 0; bottom: 0; border-radius: 3px; min-width: 2px; }
.seg.baseline { background: #bfdbfe; } .seg.fault { background: #fca5a5; } .seg.recovery { background: #bbf7d0; }
.seg.pause { background: #d1d5db; } .seg.checkpoint { background: #6b7280; width: 3px; }
.seg.inject { top: auto; height: .4rem; bottom: 0; background: #b91c1c; }
.legend span { display: inline-block; margin-right: 1rem; }
.legend i { display: inline-block; width: .9rem; height: .9rem; border-radius: 2px; vertical-align: middle;
  margin-right: .3rem; }
.step-notes { margin: .2rem 0 0; font-size: .85rem; color: #374151; }
"""


def _t(iso: str) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp() if iso else None
    except ValueError:
        return None


def _seg(cls: str, start: float, end: float, t0: float, span: float, label: str) -> str:
    left = max(0.0, (start - t0) / span * 100)
    width = max(0.0, min(100.0 - left, (end - start) / span * 100))
    return f'<span class="seg {cls}" style="left:{left:.3f}%;width:{width:.3f}%" title="{e(label)}"></span>'


def _segments(record: StepRecord, t0: float, span: float) -> str:
    start, end = _t(record.started_at), _t(record.ended_at)
    if start is None or end is None:
        return ""
    if record.kind == "pause":
        return _seg("pause", start, end, t0, span, record.label)
    if record.kind == "checkpoint":
        return _seg("checkpoint", end, end, t0, span, f"checkpoint answered {record.result}")
    journal = record.row.outcome.journal if record.row is not None else None
    run0 = _t(journal.started_at) if journal is not None else None
    if journal is None or run0 is None:
        return _seg("pause", start, end, t0, span, record.label)
    out = []
    for name, a, b in journal.phase_bounds():
        b = min(b, journal.end_s)
        out.append(_seg(name, run0 + a, run0 + b, t0, span, f"{name} {fmt.clock(a)}–{fmt.clock(b)}"))
    for f in journal.faults:
        if f.setup or f.applied_s is None:
            continue
        removed = f.removed_s if f.removed_s is not None else journal.end_s
        label = f"fault {f.name} ({f.region or 'all regions'}): {f.description}"
        out.append(_seg("inject", run0 + f.applied_s, run0 + removed, t0, span, label))
    return "".join(out)


def _step_text(record: StepRecord) -> str:
    extra = []
    if record.notes:
        extra.append(f"notes: {e(record.notes)}")
    if record.runbook:
        link = record.runbook
        shown = (
            f'<a href="{e(link)}" rel="noreferrer noopener">{e(link)}</a>'
            if link.startswith(("https://", "http://"))
            else e(link)
        )
        extra.append(f"runbook: {shown}")
    return f'<p class="step-notes">{" · ".join(extra)}</p>' if extra else ""


def _timeline(result: DayResult) -> str:
    suite = result.suite
    t0 = _t(suite.started_at) or 0.0
    t1 = _t(suite.ended_at) or t0
    span = max(t1 - t0, 1e-3)
    items = []
    for r in result.steps:
        what = {"experiment": "Experiment", "pause": "Pause", "checkpoint": "Checkpoint"}[r.kind]
        at = fmt.when(r.started_at)[11:]
        result_text = r.result.replace("_", " ")
        items.append(
            f'<li><div><strong>{e(what)}</strong>: {e(r.label)}<br><span class="muted small">{e(at)} · '
            f"{e(result_text)}</span>{_step_text(r)}</div>"
            f'<div class="track" role="img" aria-label="{e(what)} {e(r.label)} from {e(r.started_at)} to '
            f'{e(r.ended_at)}">{_segments(r, t0, span)}</div></li>'
        )
    legend = "".join(
        f'<span><i class="seg {c}" style="position:static;display:inline-block"></i>{e(w)}</span>'
        for c, w in (("baseline", "baseline"), ("fault", "fault phase"), ("inject", "fault injected"),
                     ("recovery", "recovery"), ("pause", "pause"), ("checkpoint", "checkpoint"))
    )  # fmt: skip
    axis = f"{fmt.when(suite.started_at)} → {fmt.when(suite.ended_at)} ({fmt.duration(suite.duration_s)})"
    return (
        f'<p class="legend">{legend}</p><p class="muted small">{e(axis)}</p><ol class="timeline">{"".join(items)}</ol>'
    )


def render_day(result: DayResult, base: Path) -> str:
    """The day's page; links to the experiments' reports are relative to the folder `base`."""
    suite: Suite = result.suite
    body = section("timeline", "Timeline of the day", _timeline(result))
    body += section(
        "experiments",
        "Verdicts against what was expected",
        suite_table(suite, base, "Each experiment: verdict, what was expected, score, recovery per region"),
    )
    return page(
        f"{'✓ Passed' if suite.passed else '✗ Failed'}: {suite.title}",
        "status-held" if suite.passed else "status-deviated",
        suite_header(suite, "chaosrun game-day report"),
        body,
        _CSS,
        suite_data(suite),
    )
