"""Values declared secret never appear in any output of a run (journal, events, report, JUnit, terminal)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_cli
from tests.fixtures.toxiproxy_server import ToxiproxyProcess
from tests.safety.support import TOKEN, start_run, write_experiment

pytestmark = pytest.mark.toxiproxy


def test_secret_in_headers_never_reaches_any_output(
    toxiproxy_clean: ToxiproxyProcess, http_server: Any, tmp_path: Path
) -> None:
    trial = start_run(
        tmp_path, toxiproxy_clean, http_server.port, write_experiment(tmp_path, ("500ms", "500ms", "500ms"))
    )
    code, stdout, stderr = trial.wait()
    assert code in (0, 1), stderr
    outputs = sorted(p for p in trial.out.rglob("*") if p.is_file())
    assert {p.name for p in outputs} >= {"events.jsonl", "journal.json"}
    for path in outputs:
        assert TOKEN not in path.read_text(errors="replace"), f"secret leaked into {path.name}"
    assert TOKEN not in stdout and TOKEN not in stderr
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), f"secret leaked into the state folder: {path.name}"


ROLLBACK_EXPERIMENT = """\
title: secret in rollback arguments
regions: {{local: {{base_url: "http://127.0.0.1:{port}"}}}}
secrets: {{token: {{env: CHAOSRUN_TEST_TOKEN}}}}
steady_state:
  probes:
    - name: health
      http: {{url: /headers, headers: {{X-Token: "${{secret.token}}"}}}}
      every: 100ms
      tolerance: {{success_ratio: ">= 0.9"}}
phases: {{baseline: 300ms, fault: 300ms, recovery: 300ms}}
method: []
rollbacks:
  - name: notify
    command: [/bin/sh, -c, 'echo "token was $0"; exit 3', "${{secret.token}}"]
"""


def test_secret_in_rollback_arguments_and_its_failing_output_never_reaches_any_output(
    http_server: Any, tmp_path: Path
) -> None:

    from tests.safety.support import env

    exp = tmp_path / "exp.yaml"
    exp.write_text(ROLLBACK_EXPERIMENT.format(port=http_server.port))
    proc = run_cli(
        "run", str(exp), "--out", str(tmp_path / "out"), "--state-dir", str(tmp_path / "state"), env=env(), timeout_s=60
    )
    assert proc.returncode == 5, proc.stdout + proc.stderr  # the rollback failed: the loudest outcome
    assert "rollback notify" in proc.stdout and "token was ***" in proc.stdout + proc.stderr
    for path in [p for p in (tmp_path / "out").rglob("*") if p.is_file()]:
        assert TOKEN not in path.read_text(errors="replace"), f"secret leaked into {path.name}"
    assert TOKEN not in proc.stdout + proc.stderr
