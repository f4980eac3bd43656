"""Values declared secret never appear in any output of a run (journal, events, report, JUnit, terminal)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cli import run_cli
from tests.safety.support import TOKEN

HEADER_EXPERIMENT = """\
title: secret in a header that the target echoes
regions: {{local: {{base_url: "http://127.0.0.1:{port}"}}}}
secrets: {{token: {{env: CHAOSRUN_TEST_TOKEN}}}}
steady_state:
  probes:
    - name: echoed
      # /headers echoes the request headers: the check fails on every sample and its message
      # quotes the header's value, so the secret has a route to every output unless it is masked.
      http: {{url: /headers, headers: {{Authorization: "Bearer ${{secret.token}}"}},
              json_path: authorization, json_expect: "Bearer not-the-token"}}
      every: 100ms
      tolerance: {{success_ratio: ">= 0.9"}}
phases: {{baseline: 500ms, fault: 500ms, recovery: 500ms}}
method: []
"""


def test_secret_in_headers_never_reaches_any_output(http_server: Any, tmp_path: Path) -> None:
    from tests.safety.support import env

    exp = tmp_path / "exp.yaml"
    exp.write_text(HEADER_EXPERIMENT.format(port=http_server.port))
    out, state = tmp_path / "out", tmp_path / "state"
    proc = run_cli("run", str(exp), "--out", str(out), "--state-dir", str(state), env=env(), timeout_s=60)
    assert proc.returncode == 6, proc.stdout + proc.stderr  # every baseline sample fails its check
    # The header reached the target with the real value ...
    assert f"Bearer {TOKEN}" in [h.get("authorization") for h in http_server.seen_headers]
    # ... the failing check's message, which quotes it, was recorded (masked) ...
    events = (out / "events.jsonl").read_text()
    assert "json authorization: expected 'Bearer not-the-token', got 'Bearer ***'" in events
    # ... and the value itself is in no output, the terminal or the state folder.
    outputs = sorted(p for p in out.rglob("*") if p.is_file())
    assert {p.name for p in outputs} >= {"events.jsonl", "journal.json", "report.html", "junit.xml"}
    for path in outputs:
        assert TOKEN not in path.read_text(errors="replace"), f"secret leaked into {path.name}"
    assert TOKEN not in proc.stdout and TOKEN not in proc.stderr
    for path in state.rglob("*"):
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
