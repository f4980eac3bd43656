"""Issue 10: a process paused by `process.kill` STOP is verified while the fault lasts. Someone
resuming it (SIGCONT) mid-fault is found: a `fault_missing` event, the run is inconclusive
(exit 7), never held, and its undo says the fault was already gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from chaosrun.faults.process import read_process

ROOT = Path(__file__).resolve().parents[2]


def _events(path: Path) -> list[dict[str, object]]:
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def test_a_paused_process_resumed_by_someone_else_is_found_and_the_run_is_inconclusive(tmp_path: Path) -> None:
    target = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        (tmp_path / "app.pid").write_text(f"{target.pid}\n")
        exp = tmp_path / "exp.yaml"
        exp.write_text(
            "title: paused process\nregions: {local: }\n"
            "steady_state:\n  probes:\n"
            f'    - {{name: ok, command: {{argv: ["{sys.executable}", "-c", "pass"], timeout: 2s}}, every: 200ms}}\n'
            "phases: {baseline: 300ms, fault: 5s, recovery: 200ms}\n"
            "method:\n  - {fault: process.kill, signal: STOP, pidfile: app.pid}\n"
        )
        out = tmp_path / "out"
        run = subprocess.Popen(
            [sys.executable, "-m", "chaosrun", "run", str(exp), "--out", str(out), "--state-dir", str(tmp_path / "s")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, "CI": "true"},
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and run.poll() is None:
            if any(e.get("type") == "fault_applied" for e in _events(out / "events.jsonl")):
                break
            time.sleep(0.02)
        time.sleep(0.5)
        os.kill(target.pid, signal.SIGCONT)  # someone else resumes it mid-fault
        stdout, stderr = run.communicate(timeout=60)
        text = stdout.decode() + stderr.decode()
        assert run.returncode == 7, text
        journal = json.loads((out / "journal.json").read_text())
        assert journal["status"] == "inconclusive"
        assert [e for e in journal["events"] if e["type"] == "fault_missing"], journal["events"]
        assert journal["faults"][0]["missing_s"] is not None
        assert "was already gone" in text
        info = read_process(target.pid)
        assert info is not None and info.state != "T", "the process must be left running"
    finally:
        target.kill()
        target.wait(timeout=10)
