"""Game days through the real CLI: experiments in order, the most severe exit code, located plan errors."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]

EXPERIMENT = """\
title: {title}
regions: {{local: {{base_url: "http://127.0.0.1:${{port}}"}}}}
variables: {{port: "1"}}
steady_state:
  probes:
    - {{name: health, http: {{url: "{path}"}}, every: 100ms, tolerance: {{success_ratio: ">= 0.9"}}}}
phases: {{baseline: 300ms, fault: 300ms, recovery: 300ms}}
method: []
"""


def chaosrun(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, state_dir=tmp / "state", timeout_s=120)


def test_gameday_runs_every_experiment_and_exits_with_the_most_severe_code(http_server: Any, tmp_path: Path) -> None:
    (tmp_path / "healthy.yaml").write_text(EXPERIMENT.format(title="healthy", path="/ok"))
    (tmp_path / "broken.yaml").write_text(EXPERIMENT.format(title="broken", path="/status/503"))
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        f"title: drill\nvariables: {{port: '{http_server.port}'}}\n"
        "experiments:\n  - file: healthy.yaml\n  - file: broken.yaml\n"
    )
    proc = chaosrun("gameday", str(plan), "--out", str(tmp_path / "runs"), tmp=tmp_path)
    assert proc.returncode == 6, proc.stdout + proc.stderr  # broken is not steady; healthy held
    assert "healthy.yaml: held (exit 0)" in proc.stdout
    assert "broken.yaml: not_steady (exit 6)" in proc.stdout
    assert len(list((tmp_path / "runs").rglob("journal.json"))) == 2


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        pytest.param(
            "title: x\nexperiments:\n  - file: nope.yaml\n",
            "plan.yaml:3:11: experiments[0].file: no experiment file at",
            id="missing-file",
        ),
        pytest.param(
            "title: x\nexperimnts: []\n",
            "plan.yaml:2:1: experimnts: unknown key 'experimnts'; did you mean 'experiments'?",
            id="typo",
        ),
        pytest.param("title: x\nstop_on: [eror]\nexperiments: []\n", "stop_on[0]: expected one of", id="bad-status"),
        pytest.param("- a\n", "plan.yaml:1:1: expected a mapping", id="list-at-top"),
    ],
)
def test_bad_gameday_plans_are_located_errors_with_exit_2(tmp_path: Path, plan: str, message: str) -> None:
    (tmp_path / "plan.yaml").write_text(plan)
    proc = chaosrun("gameday", str(tmp_path / "plan.yaml"), tmp=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreadable_plan_and_settings_files_get_the_loaders_file_checks(tmp_path: Path) -> None:
    proc = chaosrun("gameday", str(tmp_path), tmp=tmp_path)
    assert proc.returncode == 2 and "is a directory, not a game-day plan file" in proc.stderr
    binary = tmp_path / "settings.yaml"
    binary.write_bytes(b"caps: {max_targets: 1}\n\xff\xfe")
    (tmp_path / "e.yaml").write_text(EXPERIMENT.format(title="x", path="/ok"))
    proc = chaosrun("run", str(tmp_path / "e.yaml"), "--settings", str(binary), "--dry-run", tmp=tmp_path)
    assert proc.returncode == 2
    assert "settings.yaml:2:1: not UTF-8 text (byte 0xff); save the file as UTF-8" in proc.stderr
    assert "Traceback" not in proc.stderr
