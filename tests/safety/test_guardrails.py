"""A guardrail on a service that degrades on a timer: the run aborts, exits 3, records the reaction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli import wait_for_event
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
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaosrun", "run", str(exp), "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env={**os.environ, "CI": "true", "CHAOSRUN_STATE_DIR": str(tmp_path / "state")},
    )  # fmt: skip
    try:
        assert wait_for_event(out / "events.jsonl", "phase_started", proc, 60, phase="fault"), "no fault phase"
        http_server.set_mode("failing", after_s=1.0)  # the service degrades 1 s into the fault phase
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 3, stdout + stderr
    j = json.loads((tmp_path / "out" / "journal.json").read_text())
    assert j["status"] == "aborted"
    (trip,) = j["guardrails"]
    assert trip["name"] == "error-budget" and trip["region"] == "local"
    assert "3 consecutive failures" in trip["evidence"]
    assert trip["reaction_ms"] is not None and trip["reaction_ms"] > 0
    fault = next(f for f in j["faults"] if not f["setup"])
    assert fault["undo"] == "ok" and fault["removed_s"] >= trip["t"]
    assert "GUARDRAIL error-budget tripped" in stderr
    assert chaosrun_toxics(toxiproxy_clean) == [] and server_state(toxiproxy_clean) == before
    assert (tmp_path / "out" / "report.html").exists()

