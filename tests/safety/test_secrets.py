"""Values declared secret never appear in any output of a run (journal, events, report, JUnit, terminal)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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
