"""Review of verdict correctness: each test reproduces a confirmed defect (each failed before its fix)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from chaosrun.judging.verdict import SeriesAccumulator
from chaosrun.model import Tolerance
from chaosrun.sample import Sample
from chaosrun.units import parse_bound
from tests.cli import wait_for_event
from tests.engine import support


def _sample(phase: str, t: float, ok: bool, latency: float | None = 0.001) -> Sample:
    return Sample(probe="p", region="r1", phase=phase, t_s=t, at=t, ok=ok, latency_s=latency, status=None, error=None)  # type: ignore[arg-type]


def test_window_with_few_samples_per_window_is_checked() -> None:
    tol = Tolerance(success_ratio=parse_bound(">= 0.6", "ratio"), window_s=1.0)
    acc = SeriesAccumulator(probe="p", region="r1", tolerance=tol, during=tol, recover_within_s=None, recovery_streak=3)
    # 8.8 s of samples every 220 ms (5 per 1 s window, spanning 0.88 s); 4 failures in a row
    # (3.96 .. 4.62 s): a 1 s window holds 4 of 5 failed, 20% success
    for i in range(41):
        t = i * 0.22
        acc.add(_sample("baseline", t, ok=not (3.9 < t < 4.7)))
    (verdict,), _ = acc.verdicts(("baseline",))
    assert verdict.stats.success_ratio > 0.6  # the whole phase passes ...
    assert verdict.held is False  # ... but a 1 s window at 20% success must fail


def test_recovery_window_ignores_samples_before_recovery() -> None:
    tol = Tolerance(success_ratio=parse_bound(">= 0.9", "ratio"), window_s=1.0)
    acc = SeriesAccumulator(probe="p", region="r1", tolerance=tol, during=None, recover_within_s=2.0, recovery_streak=3)
    for i in range(20):
        acc.add(_sample("baseline", i * 0.05, ok=True))
    acc.fault_removed_t = 1.0
    for i in range(60):  # recovery phase 1.0 .. 4.0 s: failing for 1 s, then healthy
        t = 1.0 + i * 0.05
        acc.add(_sample("recovery", t, ok=t >= 2.0 - 1e-9))
    verdicts, recovery = acc.verdicts(("baseline", "recovery"))
    assert recovery is not None and recovery.met is True  # recovered after ~1 s, objective 2 s
    rec = verdicts[-1]
    assert rec.held is True, rec.reasons


def test_baseline_gate_counts_in_flight_baseline_samples(http_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    exp = support.experiment({"r1": http_server.url}, phases=(3.0, 1.0, 1.0), every_s=0.2, recover_within_s=None)
    tol = Tolerance(success_ratio=parse_bound(">= 0.9", "ratio"), p95=parse_bound("< 100ms", "s"))
    probe = dataclasses.replace(
        exp.probes[0], tolerance=tol, during=tol, spec=dataclasses.replace(exp.probes[0].spec, timeout_s=3.0)
    )
    exp = dataclasses.replace(exp, probes=(probe,))
    # slow (2 s) from 2.3 s into the baseline on: samples scheduled late in the baseline complete
    # after it ends. The switch is timed from the run's own baseline event, not from the test's start.
    events = tmp_path / "out" / "events.jsonl"

    def slow_late_in_the_baseline() -> None:
        if wait_for_event(events, "phase_started", None, 60.0, phase="baseline"):
            http_server.set_mode("slow", after_s=2.3, slow_ms=2000)

    watcher = threading.Thread(target=slow_late_in_the_baseline, daemon=True)
    watcher.start()
    code, journal = support.run(exp, tmp_path)
    watcher.join(5)
    baseline = [v for v in journal["verdicts"] if v["phase"] == "baseline"]
    assert baseline and baseline[0]["held"] is False  # the journal's own baseline verdict failed
    phases = [p["name"] for p in journal["phases"]]
    assert journal["status"] == "not_steady", (journal["status"], journal["reason"], phases)
    assert code == 6
