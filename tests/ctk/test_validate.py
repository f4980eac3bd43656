"""Malformed Chaos Toolkit files: located messages (file:line:col field), exit 2, nothing run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chaosrun.ctk import is_ctk_experiment

from .sidebyside import env

GOOD = """\
title: fine
description: d
steady-state-hypothesis:
  title: h
  probes:
    - type: probe
      name: n
      tolerance: 42
      provider: {type: python, module: tests.ctk.ctkmod, func: number}
method: []
"""


def _chaosrun(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chaosrun", *args], capture_output=True, text=True, env=env(),
                          timeout=60)  # fmt: skip


CASES = [
    pytest.param(GOOD.replace("description: d\n", ""), ":1:1: missing required key 'description'", id="no-description"),
    pytest.param(GOOD.replace("      tolerance: 42\n", ""), ":6:7: steady-state-hypothesis.probes[0]: missing required "
                 "key 'tolerance'", id="no-tolerance"),
    pytest.param(GOOD.replace("func: number", "func: nope"), ":6:7: steady-state-hypothesis.probes[0]: ",
                 id="python-function-missing"),
    pytest.param(GOOD.replace("module: tests.ctk.ctkmod", "module: no_such_module_xyz"),
                 "could not find Python module 'no_such_module_xyz'", id="python-module-missing"),
    pytest.param(GOOD.replace("func: number}", "func: number, arguments: {bogus: 1}}"),
                 "argument 'bogus' is not part of the function signature", id="arguments-do-not-bind"),
    pytest.param(GOOD.replace("method: []", "method:\n  - {type: action, name: a, provider: {type: process, path: "
                              "/no/such/bin}}"), ":11:5: method[0]: path '/no/such/bin' cannot be found",
                 id="process-path"),
    pytest.param(GOOD.replace("method: []", "method:\n  - {ref: missing}"), ":11:11: method[0].ref: no activity named "
                 "'missing'", id="ref-unknown"),
    pytest.param(GOOD + "configuration:\n  url: {type: env, key: CTK_TEST_NEVER_SET_ABC}\n",
                 ":12:8: configuration.url: environment variable CTK_TEST_NEVER_SET_ABC is not set", id="env-missing"),
    pytest.param(GOOD.replace("tolerance: 42", "tolerance: {type: regex}"), "tolerance",
                 id="regex-without-pattern"),
    pytest.param(GOOD.replace("func: number}", "func: number, arguments: null}"),
                 "provider.arguments: arguments: null", id="arguments-null"),
    pytest.param(GOOD.replace("method: []", "method:\n  - {type: action, name: a, pauses: {after: soon}, "
                              "provider: {type: python, module: os, func: getcwd}}"),
                 "method[0].pauses.after: expected a number of seconds", id="pause-not-a-number"),
    pytest.param(GOOD + "runtime: {rollbacks: {strategy: sometimes}}\n", "runtime.rollbacks.strategy: expected one of",
                 id="unknown-strategy"),
    pytest.param(GOOD.replace("  title: h\n", "  title: h\n  title: again\n") + "\n", "", id="duplicate-key-accepted"),
    pytest.param(GOOD.replace("tolerance: 42", "tolerance: [1, 2"), "malformed YAML", id="malformed-yaml"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_malformed_files_are_located_and_exit_2(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "experiment.yaml"
    path.write_text(text, encoding="utf-8")
    validate = _chaosrun("validate", str(path))
    if not expected:  # YAML keeps the last duplicate, as Chaos Toolkit does
        assert validate.returncode == 0, validate.stderr
        return
    assert validate.returncode == 2, validate.stdout + validate.stderr
    assert f"error: {path}" in validate.stderr and expected in validate.stderr
    run = _chaosrun("run", str(path), "--out", str(tmp_path / "out"), "--state-dir", str(tmp_path / "state"))
    assert run.returncode == 2 and expected in run.stderr
    assert not (tmp_path / "out").exists()  # nothing ran
    assert "Traceback" not in validate.stderr + run.stderr


def test_valid_json_and_yaml_are_recognised(tmp_path: Path) -> None:
    yaml_path = tmp_path / "e.yaml"
    yaml_path.write_text(GOOD, encoding="utf-8")
    json_path = tmp_path / "e.json"
    json_path.write_text('{"title": "t", "description": "d", "method": [\n  {"type": "action", "name": "a",\n'
                         '   "provider": {"type": "process", "path": "true"}}]}', encoding="utf-8")  # fmt: skip
    done = _chaosrun("validate", str(yaml_path), str(json_path))
    assert done.returncode == 0, done.stderr
    assert "ok (Chaos Toolkit experiment: 1 hypothesis probes, 0 method activities, 0 rollbacks)" in done.stdout
    assert "ok (Chaos Toolkit experiment: 0 hypothesis probes, 1 method activities" in done.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"title": "t", "description": "d",\n "method": [{"type": "actoin", "name": "a"}]}')
    done = _chaosrun("validate", str(bad))
    assert done.returncode == 2 and f"{bad}:2:22: method[0].type: expected type: probe or type: action" in done.stderr


def test_detection(tmp_path: Path) -> None:
    ctk = tmp_path / "ctk.yaml"
    ctk.write_text("title: t\nmethod: []\n")
    ours = tmp_path / "ours.yaml"
    ours.write_text("title: t\nsteady_state: {}\nmethod: []\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("method: [\n")
    listing = tmp_path / "list.yaml"
    listing.write_text("- method\n")
    assert is_ctk_experiment(str(ctk))
    assert not is_ctk_experiment(str(ours)) and not is_ctk_experiment(str(broken))
    assert not is_ctk_experiment(str(listing)) and not is_ctk_experiment(str(tmp_path / "missing.yaml"))


def test_dry_run_touches_nothing(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(GOOD.replace("method: []", "method:\n  - {type: action, name: mark, provider: {type: process, "
                                 f"path: touch, arguments: ['{tmp_path / 'touched'}']}}}}"))  # fmt: skip
    done = _chaosrun("run", str(path), "--dry-run", "--state-dir", str(tmp_path / "state"))
    assert done.returncode == 0, done.stderr
    assert "action mark (process)" in done.stdout and not (tmp_path / "touched").exists()


def test_the_preflight_validates_chaos_toolkit_files(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"title": "t", "description": "d", "method": [\n  {"type": "action", "name": "a",\n'
                    '   "provider": {"type": "process", "path": "true"}}]}', encoding="utf-8")  # fmt: skip
    bad = tmp_path / "bad.json"
    bad.write_text('{"title": "t", "description": "d", "method": [\n  {"type": "action", "name": "a",\n'
                   '   "provider": {"type": "process", "path": "/no/such/bin"}}]}', encoding="utf-8")  # fmt: skip
    ok = _chaosrun("check", str(good), "--state-dir", str(tmp_path / "s"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Chaos Toolkit experiment: 0 hypothesis probes, 1 method activities" in ok.stdout
    refused = _chaosrun("check", str(bad), "--state-dir", str(tmp_path / "s"))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"{bad}:2:" in refused.stdout and "'/no/such/bin' cannot be found" in refused.stdout
