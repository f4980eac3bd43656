"""Issue 10: output never blocks undo. A full --out disk during the fault phase, a read-only state
folder, a deleted --out, a closed stdout pipe and /dev/full: every fault and rollback is still
undone, the server is left as found, the exit code is documented and the journal survives
(in --out, or in its documented fallback folder, named on the terminal). No traceback."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.toxiproxy_server import ToxiproxyProcess
from tests.safety.hostile import (
    assert_server_clean,
    fill,
    journal_of,
    launch,
    ledger_entries,
    tmpfs,
    write_experiment,
)

pytestmark = [pytest.mark.toxiproxy, pytest.mark.slow]


def _undone(journal: dict[str, Any]) -> None:
    faults = [f for f in journal["faults"] if not f["setup"]]
    assert len(faults) == 3, journal["faults"]
    assert all(f["undo"] == "ok" for f in journal["faults"]), journal["faults"]
    assert [r["ok"] for r in journal["rollbacks"]] == [True]


def test_out_disk_filled_during_the_fault_phase_still_undoes_everything(
    toxiproxy_clean: ToxiproxyProcess, http_server: Any, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "small") as small:
        run = launch(tmp_path, toxiproxy_clean, http_server.port, write_experiment(tmp_path), out=small / "out")
        assert run.wait_for_event("fault_applied", setup=False), "no fault was applied"
        fill(small)  # another process fills the 1 MB disk of --out during the fault phase
        code, stdout, stderr = run.finish()
        assert_server_clean(toxiproxy_clean)
        assert run.marker.read_text() == "rolled back", "the rollback did not run"
        assert not ledger_entries(run.state), "the ledger keeps entries of undone faults"
        assert code in (0, 1), stdout + stderr  # held or deviated: the verdict stands, faults rolled back
        path, journal = journal_of(run)
        assert path.parent == run.state / "journals" / journal["run_id"], path
        assert f"written to the fallback folder {path.parent}" in stdout
        _undone(journal)
        assert any(e["type"] == "fault_removed" for e in journal["events"])
        assert not (small / "out" / "journal.json.tmp").exists(), "a partial journal was left behind"
        assert stderr.count("the run goes on and rolls back") == 1, stderr  # reported once
        assert "No space left on device" in stdout + stderr
        assert "Traceback" not in stdout + stderr


def test_state_folder_read_only_from_the_start_refuses_before_touching_anything(
    toxiproxy_clean: ToxiproxyProcess, http_server: Any, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "ro", read_only=True) as ro:
        run = launch(tmp_path, toxiproxy_clean, http_server.port, write_experiment(tmp_path), state=ro / "state")
        code, stdout, stderr = run.finish()
    assert code == 2, stdout + stderr
    assert f"state folder {ro / 'state'}: cannot write the fault ledger there" in stderr
    assert "Read-only file system" in stderr
    assert "Traceback" not in stdout + stderr
    assert toxiproxy_clean.api("GET", "/proxies") == {}, "the run touched the server"


def test_state_folder_turned_read_only_mid_run_still_undoes_and_says_what_stays(
    toxiproxy_clean: ToxiproxyProcess, http_server: Any, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "st", size="4m") as st:
        run = launch(tmp_path, toxiproxy_clean, http_server.port, write_experiment(tmp_path), state=st / "state")
        assert run.wait_for_event("fault_applied", setup=False)
        subprocess.run(["mount", "-o", "remount,ro", str(st)], check=True, timeout=30)
        code, stdout, stderr = run.finish()
        assert_server_clean(toxiproxy_clean)
        assert run.marker.read_text() == "rolled back"
        assert code in (0, 1), stdout + stderr
        assert "cannot remove ledger entry" in stderr, stderr  # the undo stands; the entry is named
        path, journal = journal_of(run)
        assert path == run.out / "journal.json"
        _undone(journal)
        assert "Traceback" not in stdout + stderr


def test_out_deleted_mid_run_keeps_the_journal(
    toxiproxy_clean: ToxiproxyProcess, http_server: Any, tmp_path: Path
) -> None:
    run = launch(tmp_path, toxiproxy_clean, http_server.port, write_experiment(tmp_path))
    assert run.wait_for_event("fault_applied", setup=False)
    shutil.rmtree(run.out)
    code, stdout, stderr = run.finish()
    assert_server_clean(toxiproxy_clean)
    assert run.marker.read_text() == "rolled back"
    assert code in (0, 1), stdout + stderr
    path, journal = journal_of(run)
    assert f"journal: {path}" in stdout
    _undone(journal)
    assert journal["status"] in ("held", "deviated")
    assert "Traceback" not in stdout + stderr


def test_stdout_pipe_closed_mid_run_degrades_quietly(
    toxiproxy_clean: ToxiproxyProcess, http_server: Any, tmp_path: Path
) -> None:
    run = launch(tmp_path, toxiproxy_clean, http_server.port, write_experiment(tmp_path))
    assert run.wait_for_event("fault_applied", setup=False)
    assert run.proc.stdout is not None
    run.proc.stdout.close()  # the reader went away (e.g. `chaosrun run ... | head -1` ended)
    code = run.proc.wait(timeout=90)
    stderr = run.stderr_path.read_text(errors="replace")
    assert_server_clean(toxiproxy_clean)
    assert run.marker.read_text() == "rolled back"
    assert code in (0, 1), stderr
    _, journal = journal_of(run)
    _undone(journal)
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


@pytest.mark.parametrize("streams", ["stdout", "stdout+stderr"])
def test_output_to_dev_full_degrades_quietly(
    streams: str, toxiproxy_clean: ToxiproxyProcess, http_server: Any, tmp_path: Path
) -> None:
    with open("/dev/full", "w") as full:
        run = launch(
            tmp_path,
            toxiproxy_clean,
            http_server.port,
            write_experiment(tmp_path),
            stdout=full,
            stderr=full if streams == "stdout+stderr" else None,
        )
        code, _, stderr = run.finish()
    assert_server_clean(toxiproxy_clean)
    assert run.marker.read_text() == "rolled back"
    assert code in (0, 1), stderr
    _, journal = journal_of(run)
    _undone(journal)
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


def test_state_folder_full_before_the_fault_refuses_the_fault_and_undoes_the_rest(
    toxiproxy_clean: ToxiproxyProcess, http_server: Any, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "st") as st:
        run = launch(
            tmp_path,
            toxiproxy_clean,
            http_server.port,
            write_experiment(tmp_path, ("2s", "1s", "200ms")),
            state=st / "state",
        )
        assert run.wait_for_event("phase_started", phase="baseline")
        fill(st)  # the ledger cannot take the faults' entries: they must not be applied
        code, stdout, stderr = run.finish()
        assert_server_clean(toxiproxy_clean)
        assert toxiproxy_clean.api("GET", "/proxies") == {}, "the proxy the run created is left"
        assert run.marker.read_text() == "rolled back"
        assert code == 4, stdout + stderr
        _, journal = journal_of(run)
        assert journal["status"] == "error"
        assert "cannot write (No space left on device)" in journal["reason"]
        assert "was not applied" in journal["reason"]
        assert not [f for f in journal["faults"] if not f["setup"] and f["applied_s"] is not None]
        assert "Traceback" not in stdout + stderr
