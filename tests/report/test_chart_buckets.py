"""Timeline buckets never mix phases: the fault's latency is never drawn over the baseline."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from chaosrun.report.charts import _phase_buckets
from chaosrun.report.data import PhaseSpan


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
    assert np.isnan(p95).sum() == 3  # one break after each phase
