"""Whole runs through the CLI against the real Toxiproxy server: ramps, several kinds, state restored."""

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
title: ramp and down
regions:
  local: {base_url: "http://127.0.0.1:${proxy_port}"}
variables: {service_port: "1", proxy_port: "2", toxiproxy: "http://127.0.0.1:8474"}
steady_state:
  probes:
    - name: health
      http: {url: /ok, timeout: 1s}
      every: 50ms
      tolerance: {success_ratio: ">= 0.5"}
      during: ignore
phases: {baseline: 500ms, fault: 2s, recovery: 500ms}
toxiproxy:
  servers: {default: "${toxiproxy}"}
  proxies:
    svc: {listen: "127.0.0.1:${proxy_port}", upstream: "127.0.0.1:${service_port}", region: local}
    spare: {region: local}
method:
  - fault: toxiproxy.latency
    proxy: svc
    latency: 10ms
    stream: both
    ramp: {to: 50ms, steps: 3}
  - fault: toxiproxy.down
    proxy: spare
"""


def test_ramp_on_both_streams_and_a_later_down_step_leave_the_server_as_found(
    toxiproxy_clean: ToxiproxyProcess, http_server: Any, tmp_path: Path
) -> None:
    # a proxy that exists before the run and is already disabled: `down` must leave it disabled
    toxiproxy_clean.api(
        "POST",
        "/proxies",
        {"name": "spare", "listen": f"127.0.0.1:{free_port()}", "upstream": "127.0.0.1:1", "enabled": False},
    )
    before = server_state(toxiproxy_clean)
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT)
    proc = run_cli(
        "run",
        str(path),
        "--out",
        str(tmp_path / "out"),
        "--state-dir",
        str(tmp_path / "state"),
        "--no-report",
        "--var",
        f"service_port={http_server.port}",
        "--var",
        f"proxy_port={free_port()}",
        "--var",
        f"toxiproxy={toxiproxy_clean.url}",
        timeout_s=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    journal = json.loads((tmp_path / "out" / "journal.json").read_text())
    updates = [e for e in journal["events"] if e["type"] == "fault_updated"]
    assert len(updates) == 6  # 3 ramp steps x 2 streams
    assert server_state(toxiproxy_clean) == before
    assert before["spare"]["enabled"] is False  # type: ignore[index]
