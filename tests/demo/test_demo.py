"""The demo end to end as a real subprocess: Toxiproxy, the 3-region system, four experiments, reports.

Phases are shortened through --var; everything the demo started must be gone when it exits,
also after Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaosrun.demo import DEMOS
from chaosrun.safety.ledger import pid_alive
from tests.fixtures.toxiproxy_server import ToxiproxyProcess

ROOT = Path(__file__).resolve().parents[2]
SHORT = ["baseline=2s", "fault=4s", "recovery=2s", "recover_within=2s", "kill_at=1s"]
RUN_TIMEOUT_S = 240
WAIT_S = 60.0

pytestmark = [pytest.mark.toxiproxy, pytest.mark.slow]


def _demo_command(tmp_path: Path, *extra: str) -> list[str]:
    """`chaosrun demo` as a real subprocess, with short phases."""
    entry = ["-m", "chaosrun", "demo"]
    options = ["--out", str(tmp_path / "reports"), "--state-dir", str(tmp_path / "state")]
    return [sys.executable, *entry, *options, *[a for v in SHORT for a in ("--var", v)], *extra]


def _started_pids(tmp_path: Path) -> list[int]:
    work = tmp_path / "state" / "demo"
    if not (work / "pids.json").exists():
        return []  # interrupted before the first process started
    pids = list(json.loads((work / "pids.json").read_text()).values())
    pids += [int(p.read_text()) for p in (work / "pids").glob("*.pid")]
    return pids


def _assert_all_stopped(tmp_path: Path) -> None:
    left = [pid for pid in _started_pids(tmp_path) if pid_alive(pid)]
    assert left == [], f"still running after the demo exited: {left}"


def test_demo_end_to_end(tmp_path: Path, toxiproxy: ToxiproxyProcess) -> None:
    done = subprocess.run(_demo_command(tmp_path), capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    expected = {d.name: d.expect for d in DEMOS}
    assert expected == {
        "payments-latency": "held",
        "fragile-latency": "deviated",
        "payments-down": "held",
        "replica-kill": "held",
    }
    for name, status in expected.items():
        out = tmp_path / "reports" / name
        journal = json.loads((out / "journal.json").read_text())
        assert journal["status"] == status, f"{name}: {journal['reason']}"
        assert all(f["undo"] == "ok" for f in journal["faults"])
        assert (out / "report.html").is_file() and (out / "junit.xml").is_file()
        assert f"[ok] {name}: {status.upper()} (expected {status})" in done.stdout
        assert f"report: {out / 'report.html'}" in done.stdout
    kill = json.loads((tmp_path / "reports" / "replica-kill" / "journal.json").read_text())
    assert "kill -KILL pid" in kill["faults"][0]["description"]
    restarts = tmp_path / "state" / "demo" / "pids" / "storefront-us-east.restarts"
    assert restarts.read_text().strip() == "1"
    _assert_all_stopped(tmp_path)


def _run_until(tmp_path: Path, marker: str, sig: signal.Signals) -> tuple[int, str]:
    """Start the demo, send `sig` once `marker` is printed; (exit code, output)."""
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            _demo_command(tmp_path), stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True
        )
    try:
        deadline = time.monotonic() + WAIT_S
        while marker not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        assert marker in log.read_text(), log.read_text()
        os.kill(proc.pid, sig)
        code = proc.wait(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=WAIT_S)
    return code, log.read_text()


@pytest.mark.parametrize(
    ("marker", "sig"),
    [
        pytest.param("== baseline phase", signal.SIGINT, id="ctrl-c-during-an-experiment"),
        pytest.param("== baseline phase", signal.SIGTERM, id="sigterm-during-an-experiment"),
        pytest.param("starting Toxiproxy", signal.SIGTERM, id="sigterm-while-starting"),
    ],
)
def test_interrupted_demo_stops_everything(
    tmp_path: Path, toxiproxy: ToxiproxyProcess, marker: str, sig: signal.Signals
) -> None:
    code, output = _run_until(tmp_path, marker, sig)
    assert code == 3, output
    assert "stopping the demo system" in output or "demo interrupted" in output
    _assert_all_stopped(tmp_path)
