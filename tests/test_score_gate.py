"""`--min-score`: the CI gate on the resilience score, through the real CLI.

Two regions on two real HTTP servers; a Chaos Toolkit process action switches only eu-west's
server to failing for the fault phase (its rollback switches it back). us-east loses nothing
(it scores 100); eu-west loses every fault-phase sample against `success_ratio: ">= 0.9"`, which
consumes nearly all of its tolerance (all of them: 0.5 + 0.5 x (1 - 0.1) / (1 - 0.1) = 1; the
first few samples pass while the action applies): eu-west scores well below 50 and the run
scores its worst region, however healthy us-east is (docs/experiment.md, "The score").
"""

from __future__ import annotations

import json
import math
import re
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
    (fault,) = [v for v in journal["verdicts"] if (v["region"], v["phase"]) == ("eu-west", "fault")]
    f = fault["failures"] / fault["samples"]  # most of them: the action needs a moment to apply
    assert f > 0.5, output
    # the documented formula, beyond the 10% budget of ">= 0.9": 0.5 + 0.5 x (f - 0.1) / (1 - 0.1)
    expected = math.floor(100 * (1 - (0.5 + 0.5 * (f - 0.1) / 0.9)) + 1e-9)
    assert expected < 50
    assert (journal["status"], journal["score"]["value"]) == ("deviated", expected), output
    regions = journal["score"]["regions"]
    assert (regions["us-east"]["value"], regions["eu-west"]["value"]) == (100, expected)
    worst = regions["eu-west"]["worst"]
    assert f"mode during fault: {fault['failures']} of {fault['samples']} samples failed (10.00% allowed)" in worst
    failed = [(v["region"], v["phase"]) for v in journal["verdicts"] if v["judged"] and not v["held"]]
    assert failed == [("eu-west", "fault")]
    assert code == 1


def test_min_score_80_fails_a_run_with_a_regional_outage(eu_west_outage: Path, tmp_path: Path) -> None:
    code, output, journal = run(eu_west_outage, tmp_path, "fail", "--min-score", "80")
    assert journal["status"] == "deviated" and code == 1, output
    assert re.search(r"score \d+ is below --min-score 80: the gate fails", output)
    assert journal["score"]["value"] < 50


def test_a_gate_at_or_below_the_score_passes(eu_west_outage: Path, tmp_path: Path) -> None:
    code, output, journal = run(eu_west_outage, tmp_path, "pass", "--min-score", "0")
    assert journal["status"] == "deviated" and code == 0, output
    assert f"deviated, but score {journal['score']['value']} >= --min-score 0: the gate passes" in output


def test_other_statuses_keep_their_codes(make_http_server: Callable[[str], HttpServer], tmp_path: Path) -> None:
    a, b = make_http_server("us-east"), make_http_server("eu-west")
    b.set_mode("failing")  # not steady before the fault: exit 6 even with a gate at 0
    exp = tmp_path / "gate.yaml"
    exp.write_text(EXPERIMENT.format(a=a.url, b=b.url, py=sys.executable, post=POST.format(url=b.url)))
    code, output, journal = run(exp, tmp_path, "not-steady", "--min-score", "0")
    assert journal["status"] == "not_steady" and code == 6, output
