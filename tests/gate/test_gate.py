"""`chaosrun gate` over a folder with mixed outcomes against real local servers.

One gate run (the real CLI) is shared by the module: its exit code, its JUnit (checked against
junit-10.xsd's attributes and sequence), its summary and its index page (headless Chromium);
the exit policy is then applied to the real outcomes read back from those runs.
"""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaosrun.gate.outcome import Outcome, outcome_not_run, outcome_of_run
from chaosrun.gate.policy import Policy, gate_exit_code
from tests.cli import run_cli
from tests.fixtures.servers import HttpServer
from tests.report.browser import open_page
from tests.report.test_ci_outputs import ALLOWED

from . import support


@dataclass
class GateRun:
    folder: Path
    out: Path
    returncode: int
    stdout: str
    stderr: str
    files: dict[str, Path]


@pytest.fixture(scope="module")
def gate_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GateRun]:
    tmp = tmp_path_factory.mktemp("gate")
    stable, fragile = HttpServer("stable"), HttpServer("fragile")
    try:
        folder = tmp / "suite"
        files = {
            "held": support.write(folder, "a-checkout.yaml", support.held("checkout holds", stable.url)),
            "deviated": support.write(folder, "b-payments.yaml", support.deviated("payments <fragile>", fragile.url)),
            "not_steady": support.write(folder, "c-search.yaml", support.not_steady("search is down", stable.url)),
            "invalid": support.write(folder, "d-typo.yaml", support.invalid("typo", stable.url)),
        }
        support.write(folder / "gamedays", "day.yaml", "title: a day\nexperiments: []\n")
        support.write(folder, "shared-probes.yaml", "probes:\n  - {name: x, http: {url: /ok}}\n")
        summary = tmp / "step-summary.md"
        summary.write_text("earlier step\n")
        proc = run_cli(
            "gate", str(folder), "--out", str(tmp / "out"), "--title", "checkout gate",
            state_dir=tmp / "state", env={"GITHUB_STEP_SUMMARY": str(summary)}, timeout_s=240,
        )  # fmt: skip
        yield GateRun(folder, tmp / "out", proc.returncode, proc.stdout, proc.stderr, files)
    finally:
        stable.close()
        fragile.close()


def _outcomes(run: GateRun) -> dict[str, Outcome]:
    """The real outcomes, read back from the gate's run folders."""
    dirs = sorted(p for p in run.out.iterdir() if p.is_dir())
    by_file = {str(run.files[k]): k for k in run.files}
    out = {}
    for d in dirs:
        o = outcome_of_run("?", d)
        key = next(k for f, k in by_file.items() if Path(f).stem in d.name)
        out[key] = o
    out["invalid"] = outcome_not_run(str(run.files["invalid"]), "typo", "invalid file", 2)
    return out


def test_the_gate_runs_the_folder_in_order_and_fails_with_the_most_severe_code(gate_run: GateRun) -> None:
    assert gate_run.returncode == 2, gate_run.stdout + gate_run.stderr  # invalid (2) > deviated (1) > not steady (6)
    lines = [line for line in gate_run.stdout.splitlines() if line.startswith("== gate: experiment")]
    assert [line.rsplit(" ", 1)[1] for line in lines] == [str(gate_run.files[k]) for k in
                                                          ("held", "deviated", "not_steady", "invalid")]  # fmt: skip
    assert "skipping " + str(gate_run.folder / "gamedays" / "day.yaml") + ": a game-day plan" in gate_run.stdout
    assert "shared-probes.yaml: probe definitions for include:" in gate_run.stdout
    assert f"  pass  {gate_run.files['held']}: held" in gate_run.stdout
    assert f"  FAIL  {gate_run.files['deviated']}: deviated (exit 1)" in gate_run.stdout
    assert f"  FAIL  {gate_run.files['not_steady']}: not_steady (exit 6)" in gate_run.stdout
    assert f"  FAIL  {gate_run.files['invalid']}: invalid (exit 2)" in gate_run.stdout
    assert "d-typo.yaml:7:1: phasez: unknown key 'phasez'; did you mean 'phases'?" in gate_run.stderr
    assert "Traceback" not in gate_run.stderr
    assert [o.status for o in _outcomes(gate_run).values()] == ["held", "deviated", "not_steady", "invalid"]


def _policy_cases() -> list[object]:
    three = ("held", "deviated", "not_steady")
    every = (*three, "invalid")
    return [
        pytest.param(three, (), None, 1, id="default-deviated-beats-not-steady"),
        pytest.param(three, ("deviated",), None, 6, id="allow-deviated-leaves-not-steady"),
        pytest.param(three, ("deviated", "not_steady"), None, 0, id="allow-both-passes"),
        pytest.param(three, ("not_steady",), "score", 0, id="min-score-at-the-deviated-score-passes"),
        pytest.param(three, ("not_steady",), "score+1", 1, id="min-score-above-the-deviated-score-fails"),
        pytest.param(("held",), (), "held", 0, id="held-at-its-own-score-passes"),
        pytest.param(("held",), (), "held+1", 1, id="held-below-the-gate-fails"),
        pytest.param(every, ("deviated", "not_steady"), None, 2, id="an-invalid-file-is-never-allowed"),
        pytest.param(("held", "not_steady"), (), "score", 6, id="min-score-does-not-judge-not-steady"),
    ]


@pytest.mark.parametrize(("which", "allow", "min_score", "code"), _policy_cases())
def test_exit_code_under_each_policy(
    gate_run: GateRun, which: tuple[str, ...], allow: tuple[str, ...], min_score: object, code: int
) -> None:
    outcomes = _outcomes(gate_run)
    score = outcomes["deviated"].score
    assert score is not None and 0 <= score <= 49  # a deviated run scores at most 49 (README)
    held = outcomes["held"].score
    assert held is not None and 50 < held <= 100  # held: within its tolerances, so above the edge (50)
    marks = {"score": score, "score+1": score + 1, "held": held, "held+1": held + 1}
    threshold = marks.get(min_score, min_score)  # type: ignore[call-overload]
    policy = Policy(allow=allow, min_score=threshold)
    assert gate_exit_code([policy.judge(outcomes[k]) for k in which]) == code


def test_a_failed_rollback_or_an_error_cannot_be_allowed(gate_run: GateRun) -> None:
    outcomes = _outcomes(gate_run)
    policy = Policy(allow=("rollback_failed", "error", "invalid"))
    for status, code in (("rollback_failed", 5), ("error", 4)):
        o = outcome_not_run("x.yaml", "x", "boom", code, status)
        assert not policy.judge(o).passed and policy.judge(o).exit_code == code
    assert not policy.judge(outcomes["invalid"]).passed


def test_allowed_statuses_pass_end_to_end(gate_run: GateRun, tmp_path: Path) -> None:
    """The same policy through the CLI: explicit files in the order given, --allow, exit 0."""
    stable, fragile = HttpServer("stable"), HttpServer("fragile")
    try:
        a = support.write(tmp_path, "z.yaml", support.deviated("fragile", fragile.url))
        b = support.write(tmp_path, "a.yaml", support.held("stable", stable.url))
        proc = run_cli("gate", str(a), str(b), "--allow", "deviated", "--out", str(tmp_path / "out"),
                       state_dir=tmp_path / "state", timeout_s=180)  # fmt: skip
    finally:
        stable.close()
        fragile.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.index(str(a)) < proc.stdout.index(str(b))
    assert f"pass  {a}: deviated is allowed (--allow deviated)" in proc.stdout
    proc = run_cli("gate", str(a), "--allow", "rollback_failed", state_dir=tmp_path / "state")
    assert proc.returncode == 2 and "'rollback_failed' is not one of" in proc.stderr


def test_junit_has_a_testsuite_per_experiment_and_fits_junit_10_xsd(gate_run: GateRun) -> None:
    root = ET.parse(gate_run.out / "junit.xml").getroot()
    assert root.tag == "testsuites"
    for element in root.iter():
        assert set(element.attrib) <= ALLOWED[element.tag], (element.tag, sorted(element.attrib))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [str(gate_run.files[k]) for k in
                                               ("held", "deviated", "not_steady", "invalid")]  # fmt: skip
    order = {"properties": 0, "testcase": 1, "system-out": 2, "system-err": 3}
    for suite in suites:
        kinds = [order[child.tag] for child in suite]
        assert kinds == sorted(kinds), [c.tag for c in suite]  # junit-10.xsd: a sequence, in this order
        cases = suite.findall("testcase")
        assert int(suite.get("tests", "-1")) == len(cases)
        assert int(suite.get("failures", "-1")) == sum(c.find("failure") is not None for c in cases)
        assert int(suite.get("errors", "-1")) == sum(c.find("error") is not None for c in cases)
    for key in ("tests", "failures", "errors"):
        assert int(root.get(key, "-1")) == sum(int(s.get(key, "0")) for s in suites)
    assert re.fullmatch(r"[0-9]+\.[0-9]{3}", root.get("time", ""))

    def policy_case(i: int) -> ET.Element:
        found = [c for c in suites[i].findall("testcase") if (c.get("classname"), c.get("name")) == ("gate", "policy")]
        assert len(found) == 1
        return found[0]

    assert policy_case(0).find("failure") is None
    failure = policy_case(1).find("failure")
    assert failure is not None and failure.get("message") == "deviated (exit 1)"
    props = {p.get("name"): p.get("value") for p in suites[1].iter("property")}
    assert props["title"] == "payments <fragile>" and props["passed"] == "false" and props["status"] == "deviated"
    invalid_cases = suites[3].findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in invalid_cases] == [("run", "verdict"), ("gate", "policy")]
    error = invalid_cases[0].find("error")
    assert error is not None and "missing required key 'phases'" in (error.get("message") or "")


def test_summary_lists_every_experiment_and_is_appended_to_the_step_summary(gate_run: GateRun) -> None:
    text = (gate_run.out / "summary.md").read_text()
    assert text.startswith("# ✗ chaosrun gate failed: checkout gate\n")
    assert "**4 experiments: 1 passed, 3 failed** · exit 2 · held passes" in text
    rows = [line for line in text.splitlines() if re.match(r"\| [0-9] \|", line)]
    assert len(rows) == 4
    held = _outcomes(gate_run)["held"].score
    assert "| 1 | checkout holds (`" in rows[0] and f"| ✓ Held | held | {held} |" in rows[0]
    assert "| pass: held |" in rows[0]
    assert (
        r"payments \<fragile\>" in rows[1] and "✗ Deviated" in rows[1] and r"**fail**: deviated \(exit 1\)" in rows[1]
    )
    assert "report.html`" in rows[1]
    assert "! Not steady" in rows[2] and "! Invalid" in rows[3] and rows[3].endswith("| – |")
    assert "## Why" in text and "success\\_ratio" in text
    assert "](" not in text  # link-free: a runner's paths are no links in a job summary
    step = (gate_run.folder.parent / "step-summary.md").read_text()
    assert step == "earlier step\n" + text + "\n"


@pytest.mark.browser
def test_index_page_links_every_report_in_headless_chromium(gate_run: GateRun) -> None:
    support.require_chromium()
    index = gate_run.out / "index.html"
    html = index.read_text()
    assert "script-src 'none'" in html
    assert re.findall(r"<script[^>]*>", html) == ['<script type="application/json" id="chaosrun-data">']  # inert data
    assert "payments &lt;fragile&gt;" in html and "<fragile>" not in html
    queries = {
        "links": "[...document.querySelectorAll('table.suite a')].map(a => a.getAttribute('href'))",
        "rows": "document.querySelectorAll('table.suite tbody tr').length",
        "failed": "document.querySelectorAll('table.suite tr.fail').length",
        "verdicts": "[...document.querySelectorAll('table.suite .badge')].map(b => b.textContent.trim())",
        "cells": "[...document.querySelectorAll('table.suite tbody tr')].map(r => r.innerText)",
    }
    page = asyncio.run(open_page(index.as_uri(), queries))
    assert page.console_errors == []
    assert page.requests == [index.as_uri()]  # no network: the page loads nothing else
    assert page.values["rows"] == 4 and page.values["failed"] == 3
    links = page.values["links"]
    assert len(links) == 3 and all(not link.startswith(("/", "http")) for link in links)
    assert all((gate_run.out / link).is_file() for link in links)
    assert page.values["verdicts"][:2] == ["✓ Held", "✓ pass"]
    assert "72" in page.values["cells"][1] or re.search(r"\b\d+ / 100", page.values["cells"][1])
    assert re.search(r"local \d+(\.\d)? (ms|s)", page.values["cells"][0])
    assert len(page.screenshot) > 1000
