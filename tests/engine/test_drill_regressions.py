"""Regression tests for defects found by a review drill (an SRE writing and running experiments
by hand, and reading the reports); each failed before its fix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from chaosrun.report import load_journal
from chaosrun.report.charts import _phase_buckets
from chaosrun.report.data import PhaseSpan
from tests.cli import ROOT, run_cli, wait_for_event

CMD_EXPERIMENT = """\
title: Review drill {name}
regions:
  local: {{base_url: "http://127.0.0.1:9"}}
steady_state:
  probes:
    - name: ok
      command: {{argv: [/bin/sh, -c, "{check}"]}}
      every: 100ms
{extra}phases: {{baseline: 1s, fault: {fault}, recovery: {recovery}}}
{tail}"""


def _write(tmp_path: Path, name: str, *, check: str = "true", extra: str = "", fault: str = "1s",
           recovery: str = "1s", tail: str = "") -> Path:  # fmt: skip
    path = tmp_path / f"{name}.yaml"
    text = CMD_EXPERIMENT.format(name=name, check=check, extra=extra, fault=fault, recovery=recovery, tail=tail)
    path.write_text(text)
    return path


def test_unused_var_is_reported(tmp_path: Path) -> None:
    r = run_cli("run", "experiments/dependency-latency.yaml", "--dry-run", "--var", "latncy=2s", state_dir=tmp_path)
    assert "latncy" in r.stdout + r.stderr


def test_zero_second_fault_and_recovery_phases_hold(tmp_path: Path) -> None:
    exp = _write(tmp_path, "zero", fault="0s", recovery="0s")
    r = run_cli("run", str(exp), "--out", str(tmp_path / "out"), state_dir=tmp_path / "state")
    assert r.returncode == 0, r.stdout + r.stderr


def test_missing_secret_error_names_line_and_column(tmp_path: Path) -> None:
    exp = _write(tmp_path, "secret", fault="1s", recovery="1s")
    text = exp.read_text().replace("regions:", "secrets:\n  token: {env: RV_DRILL_UNSET_TOKEN}\nregions:", 1)
    text = text.replace('"}}\n', '"}, env: {T: "${secret.token}"}}\n', 1)
    exp.write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "RV_DRILL_UNSET_TOKEN"}
    assert run_cli("validate", str(exp)).returncode == 0
    r = subprocess.run([sys.executable, "-m", "chaosrun", "run", str(exp), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
                       env={**env, "CI": "true", "CHAOSRUN_STATE_DIR": str(tmp_path / "s")})  # fmt: skip
    assert r.returncode == 2
    assert f"{exp.name}:2:" in r.stderr or f"{exp.name}:3:" in r.stderr, r.stderr


def test_dry_run_shows_per_phase_overrides(tmp_path: Path) -> None:
    exp = _write(tmp_path, "during", extra="      during: ignore\n      after: {recover_within: 500ms, streak: 2}\n")
    r = run_cli("run", str(exp), "--dry-run", state_dir=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "ignore" in r.stdout or "not judged" in r.stdout, r.stdout
    assert "500ms" in r.stdout, r.stdout


EVENTS = [
    {"seq": 0, "t": 0.001, "at": "2026-11-26T20:36:58.321Z", "type": "run_started", "run_id": "R1",
     "experiment": "Hand-written drill", "source": "base2.yaml", "pid": 1, "targets": ["toxiproxy:http://127.0.0.1:1/p"]},
    {"seq": 1, "t": 0.0059, "at": "2026-11-26T20:36:58.326Z", "type": "fault_applied", "fault": "f1",
     "kind": "toxiproxy.latency", "target": "toxiproxy:http://127.0.0.1:1/p", "region": "us-east",
     "description": "create proxy p (127.0.0.1:2 -> 127.0.0.1:3)", "setup": True},
    {"seq": 2, "t": 0.02, "at": "2026-11-26T20:36:58.340Z", "type": "phase_started", "phase": "baseline"},
    {"seq": 3, "t": 1.0, "at": "2026-11-26T20:36:59.334Z", "type": "samples",
     "batch": [["checkout", "us-east", "baseline", 0.1, 1, 3.2, 200, None]]},
    {"seq": 4, "t": 3.02, "at": "2026-11-26T20:37:01.340Z", "type": "phase_started", "phase": "fault"},
    {"seq": 5, "t": 3.03, "at": "2026-11-26T20:37:01.343Z", "type": "fault_applied", "fault": "f2",
     "kind": "toxiproxy.latency", "target": "toxiproxy:http://127.0.0.1:1/p", "region": "us-east",
     "description": "latency 1000ms (downstream) on p", "setup": False},
]  # fmt: skip


def test_report_from_events_of_killed_run_keeps_title_and_setup(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    journal = load_journal(events)
    assert journal.experiment.title == "Hand-written drill"
    setup = {f.id: f.setup for f in journal.faults}
    assert setup.get("f1") is True and setup.get("f2") is False, setup


def _drawn_spans(centers: np.ndarray, values: np.ndarray) -> list[tuple[float, float]]:
    """Where matplotlib's step(where='mid') draws each non-NaN value."""
    spans = []
    for i, v in enumerate(values):
        if np.isnan(v):
            continue
        lo = centers[0] if i == 0 else (centers[i - 1] + centers[i]) / 2
        hi = centers[-1] if i == len(centers) - 1 else (centers[i] + centers[i + 1]) / 2
        spans.append((float(lo), float(hi)))
    return spans


def test_timeline_buckets_are_drawn_over_their_own_time_span() -> None:
    phases = [PhaseSpan(name="baseline", start_s=0.0, end_s=5.0), PhaseSpan(name="fault", start_s=5.0, end_s=15.0)]
    t = np.arange(0.0, 15.0, 0.2)
    lat = np.where(t >= 5.0, 1000.0, 2.0)
    ok = np.ones_like(t, dtype=bool)
    centers, _p50, p95, _ = _phase_buckets(SimpleNamespace(phases=phases), t, lat, ok, 5.0)  # type: ignore[arg-type]
    spans = _drawn_spans(centers, p95)
    # three 5 s buckets: 0-5 (baseline), 5-10 and 10-15 (fault)
    flat = [x for span in spans for x in span]
    assert flat == pytest.approx([0.0, 5.0, 5.0, 10.0, 10.0, 15.0], abs=0.25), spans


def test_samples_during_rollback_after_sigint_are_not_judged_in_fault_phase(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    rollback = f'rollbacks:\n  - {{name: teardown, command: [/bin/sh, -c, "touch {marker}; sleep 2"], timeout: 10s}}\n'
    exp = _write(tmp_path, "abort", check=f"test ! -e {marker}", fault="30s", recovery="1s", tail=rollback)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "chaosrun", "run", str(exp), "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "CI": "true", "CHAOSRUN_STATE_DIR": str(tmp_path / "s")})  # fmt: skip
    try:
        assert wait_for_event(out / "events.jsonl", "phase_started", proc, phase="fault"), "no fault phase"
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 3, output
    journal = json.loads((out / "journal.json").read_text())
    fault = [v for v in journal["verdicts"] if v["phase"] == "fault"]
    assert fault and all(v["failures"] == 0 for v in fault), fault
