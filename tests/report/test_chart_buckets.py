"""Timeline buckets never mix phases: the fault's latency is never drawn over the baseline.

What is drawn is checked with matplotlib's own step geometry (`STEP_LOOKUP_MAP`, which
`Line2D` uses for `step(where="mid")`): each bucket is drawn over exactly its own time span.
"""

from __future__ import annotations

import dataclasses
import re
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from matplotlib.cbook import STEP_LOOKUP_MAP

from chaosrun.report.charts import _bucket_width, _clock, _clock_step, _phase_buckets, timeline_svg
from chaosrun.report.data import PhaseSpan
from chaosrun.report.wire import parse_journal

from .conftest import SMALL
from .journals import make_journal


def _drawn(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> list[tuple[float, float, float]]:
    """(start, end, value) of every horizontal segment that `step(x, y, where="mid")` draws."""
    vx, vy = STEP_LOOKUP_MAP["steps-mid"](x, y)
    return [(float(vx[i]), float(vx[i + 1]), float(vy[i])) for i in range(0, len(vx), 2) if np.isfinite(vy[i])]


def _pieces(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> list[tuple[float, float]]:
    """(start, end) of every unbroken piece of the drawn line (a NaN vertex breaks it)."""
    vx, vy = STEP_LOOKUP_MAP["steps-mid"](x, y)
    pieces: list[tuple[float, float]] = []
    start = None
    for i, finite in enumerate(np.isfinite(vy)):
        if finite and start is None:
            start = float(vx[i])
        if start is not None and (not finite or i == len(vy) - 1):
            pieces.append((start, float(vx[i - 1] if not finite else vx[i])))
            start = None
    return pieces


def _same(got: list[tuple[float, float]], want: list[tuple[float, float]]) -> None:
    assert np.asarray(got).shape == np.asarray(want).shape, got
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(want, dtype=float), rtol=0, atol=1e-9)


def test_buckets_restart_at_each_phase_and_break_the_line_between_phases() -> None:
    phases = [
        PhaseSpan(name="baseline", start_s=0.0, end_s=5.0),
        PhaseSpan(name="fault", start_s=5.0, end_s=15.0),
        PhaseSpan(name="recovery", start_s=15.0, end_s=20.0),
    ]
    t = np.arange(0.0, 20.0, 0.2)
    lat = np.where((t >= 5.0) & (t < 15.0), 1000.0, 2.0)
    ok = np.ones_like(t, dtype=bool)
    # a 4.8 s bucket from t=0 would span 4.8-9.6 s and mix baseline and fault samples
    centers, p50, p95, _ = _phase_buckets(SimpleNamespace(phases=phases), t, lat, ok, 4.8)  # type: ignore[arg-type]
    drawn = ~np.isnan(p95)
    baseline = drawn & (centers < 5.0)
    fault = drawn & (centers >= 5.0) & (centers < 15.0)
    assert baseline.any() and fault.any()
    assert (p95[baseline] == 2.0).all() and (p50[baseline] == 2.0).all()
    assert (p95[fault] == 1000.0).all()
    assert (p95[drawn & (centers >= 15.0)] == 2.0).all()
    assert _pieces(centers, p95) == [(0.0, 5.0), (5.0, 15.0), (15.0, 20.0)]  # broken between phases


def test_each_bucket_is_drawn_exactly_over_its_own_time_span() -> None:
    phases = [
        PhaseSpan(name="baseline", start_s=0.0, end_s=5.0),
        PhaseSpan(name="fault", start_s=5.0, end_s=15.0),
        PhaseSpan(name="recovery", start_s=15.0, end_s=20.0),
    ]
    t = np.arange(0.1, 20.0, 0.2)
    lat = np.where((t >= 5.0) & (t < 15.0), 1000.0, 2.0)
    ok = ~((t >= 7.0) & (t < 9.0))
    x, p50, p95, err = _phase_buckets(SimpleNamespace(phases=phases), t, lat, ok, 5.0)  # type: ignore[arg-type]
    spans = [(0.0, 5.0), (5.0, 10.0), (10.0, 15.0), (15.0, 20.0)]
    _same([(lo, hi) for lo, hi, _ in _drawn(x, p95)], spans)
    assert [v for *_, v in _drawn(x, p50)] == [2.0, 1000.0, 1000.0, 2.0]
    assert [v for *_, v in _drawn(x, err)] == pytest.approx([0.0, 0.4, 0.0, 0.0])  # errors only in 7-9 s
    _same(_pieces(x, err), [(0.0, 5.0), (5.0, 15.0), (15.0, 20.0)])


def test_a_gap_in_the_samples_stays_a_gap_and_the_last_phase_ends_at_its_last_sample() -> None:
    # the run was stopped in the fault phase (its end unknown); no samples from 6 s to 12 s
    phases = [PhaseSpan(name="baseline", start_s=0.0, end_s=4.0), PhaseSpan(name="fault", start_s=4.0, end_s=None)]
    t = np.r_[np.arange(0.0, 6.0, 0.25), np.arange(12.0, 16.01, 0.25)]
    lat = np.ones_like(t)
    ok = np.ones_like(t, dtype=bool)
    x, _p50, p95, _err = _phase_buckets(SimpleNamespace(phases=phases), t, lat, ok, 2.0)  # type: ignore[arg-type]
    _same(_pieces(x, p95), [(0.0, 4.0), (4.0, 6.0), (12.0, 16.0)])
    _same([(lo, hi) for lo, hi, _ in _drawn(x, p95)], [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0), (12.0, 14.0), (14.0, 16.0)])


@pytest.mark.parametrize("status", ["deviated", "aborted"])
def test_drawn_values_are_those_of_the_samples_under_them_and_edges_are_phase_boundaries(status: str) -> None:
    journal = parse_journal(make_journal(status, **SMALL))  # type: ignore[arg-type]
    width = _bucket_width(journal.end_s, journal.series)
    bounds = [(p.start_s, p.end_s) for p in journal.phases]
    fault_phase = next(p for p in journal.phases if p.name == "fault")
    fault = next(f for f in journal.faults if not f.setup)
    assert fault_phase.start_s <= (fault.applied_s or 0.0)
    for s in journal.series:
        t, lat, ok = np.asarray(s.t), np.asarray(s.latency_ms), np.asarray(s.ok)
        x, p50, p95, err = _phase_buckets(journal, t, lat, ok, width)
        # one unbroken line per phase, from the phase's start to its end: none before the fault phase starts
        _same(_pieces(x, p50), bounds)
        for values, kind in ((p50, "p50"), (p95, "p95"), (err, "errors")):
            for lo, hi, value in _drawn(x, values):
                closed = hi >= t.max()  # the last bucket holds the last sample
                under = (t >= lo - 1e-9) & ((t < hi - 1e-9) | (closed & (t <= hi + 1e-9)))
                expected = 1 - ok[under].mean() if kind == "errors" else np.nanpercentile(lat[under], int(kind[1:]))
                assert under.any() and value == pytest.approx(expected), (s.probe, s.region, kind, lo, hi)
        failing = [lo for lo, _hi, v in _drawn(x, err) if v > 0]
        assert all(lo >= fault_phase.start_s for lo in failing)


def _x_labels(svg: str) -> list[str]:
    return [x for x in re.findall(r"<text[^>]*>([^<]*)</text>", svg) if re.fullmatch(r"-?\d+:\d\d(:\d\d)?", x)]


def test_a_run_without_samples_has_distinct_whole_second_time_labels() -> None:
    wire = make_journal("error", **SMALL)  # type: ignore[arg-type]
    journal = dataclasses.replace(parse_journal(wire), series=(), phases=(), faults=(), rollbacks=(), duration_s=0.3)
    labels = _x_labels(timeline_svg(journal, "us-east", chart_id="empty"))
    assert labels == ["0:00", "0:01"]


def test_a_one_second_run_has_no_duplicate_time_labels() -> None:
    wire = make_journal("held", **SMALL)  # type: ignore[arg-type]
    journal = parse_journal(wire)
    short = [dataclasses.replace(s, t=tuple(np.linspace(0.0, 0.9, len(s.t)))) for s in journal.series]
    journal = dataclasses.replace(journal, series=tuple(short), phases=journal.phases[:1], faults=(), rollbacks=(),
                                  guardrails=(), duration_s=0.95)  # fmt: skip
    journal = dataclasses.replace(journal, phases=(dataclasses.replace(journal.phases[0], end_s=0.95),))
    labels = _x_labels(timeline_svg(journal, "us-east", chart_id="short"))
    assert labels == ["0:00", "0:01"]


@pytest.mark.parametrize("span", [0.01, 1.0, 1.5, 7.0, 40.0, 59.0, 61.0, 600.0, 3599.0, 3601.0, 86_400.0, 400_000.0])
def test_time_ticks_are_whole_seconds_few_and_distinct(span: float) -> None:
    step = _clock_step(span)
    ticks = np.arange(0.0, span + 1e-9, step)
    labels = [_clock(x) for x in ticks]
    assert step == int(step) >= 1 and len(ticks) <= 12
    assert len(set(labels)) == len(labels)
