"""The gate runs Chaos Toolkit experiments as they are, beside chaosrun's own (a child `chaosrun run`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.cli import ROOT
from tests.fixtures.servers import HttpServer
from tests.gate.support import held


def _ctk(title: str, url: str, path: str) -> str:
    """A Chaos Toolkit experiment whose hypothesis probes `url + path` (status 200 expected)."""
    probe = {
        "type": "probe",
        "name": "health",
        "tolerance": 200,
        "provider": {"type": "http", "url": url + path, "timeout": 3},
    }
    return json.dumps({
        "title": title,
        "description": "a Chaos Toolkit experiment in a chaosrun gate",
        "steady-state-hypothesis": {"title": "healthy", "probes": [probe]},
        "method": [{"type": "action", "name": "wait", "provider": {"type": "process", "path": "true"}}],
        "rollbacks": [],
    })  # fmt: skip


def test_the_gate_runs_chaos_toolkit_experiments_and_judges_them(tmp_path: Path, http_server: HttpServer) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "a-chaosrun.yaml").write_text(held("chaosrun held", http_server.url))
    (suite / "b-ctk-held.json").write_text(_ctk("ctk held", http_server.url, "/ok"))
    (suite / "c-ctk-broken.json").write_text(_ctk("ctk not steady", http_server.url, "/status/503"))
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "chaosrun", "gate", str(suite), "--out", str(out), "--state-dir", str(tmp_path / "s")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    text = done.stdout + done.stderr
    assert done.returncode == 6, text  # the Chaos Toolkit one that missed before its method: not steady
    assert "pass  " in text and "b-ctk-held.json" in text
    journals = sorted(out.glob("*/journal.json"))
    statuses = {p.parent.name: json.loads(p.read_text())["status"] for p in journals}
    assert sorted(statuses.values()) == ["held", "held", "not_steady"], statuses
    junit = (out / "junit.xml").read_text()
    assert "b-ctk-held.json" in junit and "c-ctk-broken.json" in junit
