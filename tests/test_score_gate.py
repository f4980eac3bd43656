"""`--min-score`: the CI gate on the resilience score, through the real CLI.

Two regions on two real HTTP servers; a Chaos Toolkit process action switches only eu-west's
server to failing for the fault phase (its rollback switches it back). us-east loses nothing
(it scores 100); eu-west loses every fault-phase sample against `success_ratio: ">= 0.9"`, which
consumes all of its tolerance (0.5 + 0.5 x (1 - 0.1) / (1 - 0.1) = 1): eu-west scores 0 and the
run scores its worst region, 0, however healthy us-east is (docs/experiment.md, "The score").
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_cli
from tests.fixtures.servers import HttpServer

EXPERIMENT = """\
title: score gate
regions:
  us-east: {{base_url: "{a}"}}
  eu-west: {{base_url: "{b}"}}
steady_state:
  probes:
    - {{name: mode, http: {{url: /mode, timeout: 1s}}, every: 100ms, tolerance: {{success_ratio: ">= 0.9"}}}}
phases: {{baseline: 600ms, fault: 2s, recovery: 800ms}}
method:
  - fault: chaostoolkit.action
    name: break-eu-west
    provider: {{type: process, path: "{py}", arguments: ["-c", "{post}", "failing"]}}
    rollback: {{type: process, path: "{py}", arguments: ["-c", "{post}", "healthy"]}}
"""

POST = (
    "import json, sys, urllib.request as u; "
    "u.urlopen(u.Request('{url}/control', data=json.dumps({{'mode': sys.argv[1]}}).encode(), "
    "headers={{'Content-Type': 'application/json'}}), timeout=5).read()"
)


@pytest.fixture
def eu_west_outage(make_http_server: Callable[[str], HttpServer], tmp_path: Path) -> Path:
    a, b = make_http_server("us-east"), make_http_server("eu-west")
    exp = tmp_path / "gate.yaml"
    exp.write_text(EXPERIMENT.format(a=a.url, b=b.url, py=sys.executable, post=POST.format(url=b.url)))
    return exp


def run(exp: Path, tmp: Path, name: str, *extra: str) -> tuple[int, str, dict[str, Any]]:
    out = tmp / name
    proc = run_cli("run", str(exp), "--out", str(out), "--no-report", *extra, state_dir=tmp / "state", timeout_s=120)
    return proc.returncode, proc.stdout + proc.stderr, json.loads((out / "journal.json").read_text())


def test_a_regional_outage_decides_the_score(eu_west_outage: Path, tmp_path: Path) -> None:
    code, output, journal = run(eu_west_outage, tmp_path, "plain")
    assert (journal["status"], journal["score"]["value"]) == ("deviated", 0), output
    regions = journal["score"]["regions"]
    assert (regions["us-east"]["value"], regions["eu-west"]["value"]) == (100, 0)
    assert "mode during fault: " in regions["eu-west"]["worst"] and "100% consumed" in regions["eu-west"]["worst"]
    failed = [(v["region"], v["phase"]) for v in journal["verdicts"] if v["judged"] and not v["held"]]
    assert failed == [("eu-west", "fault")]
    assert code == 1


def test_min_score_80_fails_a_run_with_a_regional_outage(eu_west_outage: Path, tmp_path: Path) -> None:
    code, output, journal = run(eu_west_outage, tmp_path, "fail", "--min-score", "80")
    assert journal["status"] == "deviated" and code == 1, output
    assert "score 0 is below --min-score 80: the gate fails" in output


def test_a_gate_at_or_below_the_score_passes(eu_west_outage: Path, tmp_path: Path) -> None:
    code, output, journal = run(eu_west_outage, tmp_path, "pass", "--min-score", "0")
    assert journal["status"] == "deviated" and code == 0, output
    assert "deviated, but score 0 >= --min-score 0: the gate passes" in output


def test_other_statuses_keep_their_codes(make_http_server: Callable[[str], HttpServer], tmp_path: Path) -> None:
    a, b = make_http_server("us-east"), make_http_server("eu-west")
    b.set_mode("failing")  # not steady before the fault: exit 6 even with a gate at 0
    exp = tmp_path / "gate.yaml"
    exp.write_text(EXPERIMENT.format(a=a.url, b=b.url, py=sys.executable, post=POST.format(url=b.url)))
    code, output, journal = run(exp, tmp_path, "not-steady", "--min-score", "0")
    assert journal["status"] == "not_steady" and code == 6, output
