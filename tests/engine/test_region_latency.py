"""Issue 3 end to end: a service per region behind its own real Toxiproxy proxy; 300 ms of latency
in one region deviates the hypothesis only there, and that region's recovery time is recorded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_cli
from tests.fixtures.toxiproxy_server import ToxiproxyProcess, free_port
from tests.safety.support import server_state

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.toxiproxy

EXPERIMENT = """\
title: payments latency in eu-west
regions:
  us-east: {{base_url: "http://127.0.0.1:{us_proxy}"}}
  eu-west: {{base_url: "http://127.0.0.1:{eu_proxy}"}}
steady_state:
  probes:
    - name: checkout
      http: {{url: /ok, timeout: 2s}}
      every: 100ms
      tolerance: {{success_ratio: ">= 0.99", p95: "< 150ms"}}
      after: {{recover_within: 2s}}
phases: {{baseline: 1500ms, fault: 2s, recovery: 2s}}
toxiproxy:
  server: "{toxiproxy}"
  proxies:
    svc-us: {{listen: "127.0.0.1:{us_proxy}", upstream: "127.0.0.1:{us_port}", region: us-east}}
    svc-eu: {{listen: "127.0.0.1:{eu_proxy}", upstream: "127.0.0.1:{eu_port}", region: eu-west}}
method:
  - {{fault: toxiproxy.latency, region: eu-west, latency: 300ms}}
"""


def test_latency_in_one_region_deviates_only_there_and_records_its_recovery(
    toxiproxy_clean: ToxiproxyProcess, make_http_server: Any, tmp_path: Path
) -> None:
    us, eu = make_http_server("us"), make_http_server("eu")
    before = server_state(toxiproxy_clean)
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        EXPERIMENT.format(
            us_proxy=free_port(), eu_proxy=free_port(), us_port=us.port, eu_port=eu.port, toxiproxy=toxiproxy_clean.url
        )
    )
    proc = run_cli(
        "run", str(exp), "--out", str(tmp_path / "out"), "--no-report", state_dir=tmp_path / "state", timeout_s=60
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    j = json.loads((tmp_path / "out" / "journal.json").read_text())
    verdicts = {(v["region"], v["phase"]): v for v in j["verdicts"]}
    assert j["status"] == "deviated"
    assert verdicts[("eu-west", "fault")]["held"] is False
    assert verdicts[("eu-west", "fault")]["p95_ms"] > 300  # the toxic's delay is measured by the probes
    assert any("p95" in r and "breaks < 150ms" in r for r in verdicts[("eu-west", "fault")]["reasons"])
    assert all(verdicts[("us-east", p)]["held"] for p in ("baseline", "fault", "recovery"))
    assert verdicts[("eu-west", "baseline")]["held"] and verdicts[("eu-west", "recovery")]["held"]
    eu_recovery = next(r for r in j["recovery"] if r["region"] == "eu-west")
    assert eu_recovery["recovery_s"] is not None and eu_recovery["met"] is True
    (fault,) = [f for f in j["faults"] if not f["setup"]]
    assert fault["region"] == "eu-west" and fault["target"].endswith("/svc-eu") and fault["undo"] == "ok"
    assert server_state(toxiproxy_clean) == before
