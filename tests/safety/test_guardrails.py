"""A guardrail on a service that degrades on a timer: the run aborts, exits 3, records the reaction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.toxiproxy_server import ToxiproxyProcess, free_port
from tests.safety.support import chaosrun_toxics, server_state

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.toxiproxy

EXPERIMENT = """\
title: guardrail on a degrading service
regions: {{local: {{base_url: "http://127.0.0.1:{proxy_port}"}}}}
steady_state:
  probes:
    - name: health
      http: {{url: /mode, timeout: 1s}}
      every: 100ms
      tolerance: {{success_ratio: ">= 0.9"}}
      during: ignore
phases: {{baseline: 1s, fault: 20s, recovery: 1s}}
toxiproxy:
  server: "{toxiproxy}"
  proxies:
    svc: {{listen: "127.0.0.1:{proxy_port}", upstream: "127.0.0.1:{service_port}", region: local}}
method:
  - {{fault: toxiproxy.latency, proxy: svc, latency: 30ms}}
guardrails:
  - name: error-budget
    probe: health
    window: 2s
    success_ratio: ">= 0.5"
    consecutive_failures: 3
"""


def test_guardrail_trips_on_a_service_degrading_on_a_timer(
    toxiproxy_clean: ToxiproxyProcess, http_server: Any, tmp_path: Path
) -> None:
    before = server_state(toxiproxy_clean)
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        EXPERIMENT.format(proxy_port=free_port(), service_port=http_server.port, toxiproxy=toxiproxy_clean.url)
    )
    out = tmp_path / "out"
    run = subprocess.Popen(
        [sys.executable, "-m", "chaosrun", "run", str(exp), "--out", str(out), "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "CI": "true"},
    )  # fmt: skip
    # the service degrades on a timer started once the fault is in place (not at the test's start:
    # on a loaded machine chaosrun's start-up alone can outlast a fixed delay, tripping in the baseline)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and run.poll() is None and '"setup":false' not in _events(out):
        time.sleep(0.02)
    http_server.set_mode("failing", after_s=1.0)
    stdout, stderr = run.communicate(timeout=60)
    proc = subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    j = json.loads((tmp_path / "out" / "journal.json").read_text())
    assert j["status"] == "aborted"
    (trip,) = j["guardrails"]
    assert trip["name"] == "error-budget" and trip["region"] == "local"
    assert "3 consecutive failures" in trip["evidence"]
    assert trip["reaction_ms"] is not None and trip["reaction_ms"] > 0
    fault = next(f for f in j["faults"] if not f["setup"])
    assert fault["undo"] == "ok" and fault["removed_s"] >= trip["t"]
    assert "GUARDRAIL error-budget tripped" in proc.stderr
    assert chaosrun_toxics(toxiproxy_clean) == [] and server_state(toxiproxy_clean) == before
    assert (tmp_path / "out" / "report.html").exists()


def _events(out: Path) -> str:
    try:
        return (out / "events.jsonl").read_text()
    except OSError:
        return ""
