"""What ends a gate early, and what it refuses before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaosrun.errors import InvalidInput
from chaosrun.gate.run import collect_files
from tests.cli import run_cli
from tests.fixtures.servers import HttpServer

from . import support


def test_a_failed_rollback_stops_the_gate_with_exit_5(http_server: HttpServer, tmp_path: Path) -> None:
    first = support.write(
        tmp_path / "suite", "1-undo-fails.yaml", support.rollback_failed("undo fails", http_server.url)
    )
    support.write(tmp_path / "suite", "2-fine.yaml", support.held("fine", http_server.url))
    proc = run_cli("gate", str(tmp_path / "suite"), "--allow", "deviated", "--out", str(tmp_path / "out"),
                   state_dir=tmp_path / "state", timeout_s=180)  # fmt: skip
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert f"{first} ended with a failed rollback: the gate stopped (run `chaosrun recover`)" in proc.stdout
    assert "experiment 2/2" not in proc.stdout
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "2-fine.yaml: not run" in summary and "☠ Rollback failed" in summary


def test_paths_that_do_not_exist_or_hold_no_experiment_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInput, match=r"nope\.yaml: no such file or folder"):
        collect_files([str(tmp_path / "nope.yaml")], print)
    with pytest.raises(InvalidInput, match="no experiment files in"):
        collect_files([str(tmp_path / "empty")], print)
    proc = run_cli("gate", str(tmp_path / "empty"), state_dir=tmp_path / "state")
    assert proc.returncode == 2 and "error: no experiment files in" in proc.stderr
    assert not (tmp_path / "reports").exists()


def test_a_file_named_twice_runs_once_in_its_first_place(tmp_path: Path) -> None:
    a = support.write(tmp_path / "s", "a.yaml", "title: a\n")
    b = support.write(tmp_path / "s", "b.yaml", "title: b\n")
    assert collect_files([str(b), str(tmp_path / "s")], print) == [str(b), str(a)]
