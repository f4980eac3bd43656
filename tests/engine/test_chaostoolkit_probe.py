"""Chaos Toolkit providers as steady-state probes, run through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]

EXPERIMENT = """\
title: ctk probes
regions: {{local: {{base_url: "http://127.0.0.1:{port}"}}}}
steady_state:
  probes:
    - name: ctk-http
      chaostoolkit:
        provider: {{type: http, url: "http://127.0.0.1:{port}{path}", timeout: 2}}
      every: 100ms
      tolerance: {{success_ratio: ">= 0.9"}}
    - name: ctk-process
      chaostoolkit:
        provider: {{type: process, path: "true"}}
      every: 200ms
      tolerance: {{success_ratio: ">= 0.9"}}
phases: {{baseline: 600ms, fault: 300ms, recovery: 300ms}}
method: []
"""


@pytest.mark.parametrize(
    ("path", "code", "status"),
    [
        pytest.param("/ok", 0, "held", id="healthy-holds"),
        pytest.param("/status/503", 6, "not_steady", id="503-not-steady"),
    ],
)
def test_chaostoolkit_provider_probes(http_server: Any, tmp_path: Path, path: str, code: int, status: str) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT.format(port=http_server.port, path=path))
    proc = run_cli(
        "run", str(exp), "--out", str(tmp_path / "out"), "--no-report", state_dir=tmp_path / "state", timeout_s=120
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    j = json.loads((tmp_path / "out" / "journal.json").read_text())
    assert j["status"] == status
    series = {s["probe"]: s for s in j["samples"]["series"]}
    assert len(series["ctk-http"]["ok"]) >= 5 and len(series["ctk-process"]["ok"]) >= 3
    assert all(series["ctk-process"]["ok"])
    assert all(series["ctk-http"]["ok"]) is (status == "held")
    if status == "not_steady":
        assert series["ctk-http"]["status"][0] == 503
