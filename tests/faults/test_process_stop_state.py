"""process.kill STOP: "already stopped" is decided when the fault starts, not from the plan.

A process chaosrun pauses must always be resumed, by the run's undo or by `recover` from the
ledger record alone; a process someone else stopped before the fault started is left as found.
The injector writes the ledger record (`undo_record()`) immediately before `apply()`; these
tests follow that order and also call `apply()` first, as a caller without a ledger may.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaosrun.errors import FaultFailed
from chaosrun.safety.ledger import Ledger, LedgerEntry, Owner
from tests.faults.test_process import (
    ROOT,
    WAIT_S,
    Children,
    _apply,
    _experiment,
    _inject,
    _state,
    _undo,
    _wait_for,
)

_RUNNING = ("S", "R")


@pytest.fixture
def kids(tmp_path: Path) -> Iterator[Children]:
    started = Children(tmp_path)
    yield started
    started.close()


def _stop(pid: int) -> None:
    os.kill(pid, signal.SIGSTOP)
    _wait_for(lambda: _state(pid) == "T")


def _cont(pid: int) -> None:
    os.kill(pid, signal.SIGCONT)
    _wait_for(lambda: _state(pid) in _RUNNING)


def _pidfile_fault(tmp_path: Path, pid: int) -> str:
    (tmp_path / "app.pid").write_text(f"{pid}\n")
    return "    signal: STOP\n    pidfile: app.pid"


def test_stopped_at_plan_but_resumed_before_the_fault_is_paused_and_resumed(tmp_path: Path, kids: Children) -> None:
    proc, _ = kids.start()
    _stop(proc.pid)
    injections, ctx = _inject(_experiment(tmp_path, _pidfile_fault(tmp_path, proc.pid)))
    inj = injections[0]
    assert "already stopped: left stopped" in inj.describe()  # the plan sees it stopped
    _cont(proc.pid)  # the operator resumes it during the baseline
    # the injector's order: describe, ledger record, apply
    assert "already stopped" not in inj.describe()
    record = inj.undo_record()
    assert record["action"] == "cont" and record["already_stopped"] is False
    _apply(injections, ctx)
    _wait_for(lambda: _state(proc.pid) == "T")
    _undo(record, ctx)
    _wait_for(lambda: _state(proc.pid) in _RUNNING)


def test_apply_without_a_record_decides_from_the_state_right_before_the_signal(tmp_path: Path, kids: Children) -> None:
    proc, _ = kids.start()
    _stop(proc.pid)
    injections, ctx = _inject(_experiment(tmp_path, f"    signal: STOP\n    process_name: {kids.marker}"))
    _cont(proc.pid)
    _apply(injections, ctx)  # no undo_record() yet: apply decides, immediately before STOP
    _wait_for(lambda: _state(proc.pid) == "T")
    record = injections[0].undo_record()
    assert record["action"] == "cont"
    assert injections[0].undo_record() == record  # fixed once decided (it is stopped by us now)
    assert "already stopped" not in injections[0].describe()
    _undo(record, ctx)
    _wait_for(lambda: _state(proc.pid) in _RUNNING)


def test_running_at_plan_but_stopped_by_someone_else_before_the_fault_is_left_stopped(
    tmp_path: Path, kids: Children
) -> None:
    proc, _ = kids.start()
    injections, ctx = _inject(_experiment(tmp_path, _pidfile_fault(tmp_path, proc.pid)))
    inj = injections[0]
    assert "already stopped" not in inj.describe()
    _stop(proc.pid)  # someone else pauses it before the fault starts
    assert "already stopped: left stopped" in inj.describe()
    record = inj.undo_record()
    assert record["action"] == "none" and record["already_stopped"] is True
    _apply(injections, ctx)
    assert _state(proc.pid) == "T"
    _undo(record, ctx)
    time.sleep(0.2)
    assert _state(proc.pid) == "T"  # left as found
    _cont(proc.pid)


def test_no_stop_when_the_record_says_left_stopped_but_it_was_resumed_since(tmp_path: Path, kids: Children) -> None:
    """The record is on disk before apply: a STOP it would not undo is never sent."""
    proc, _ = kids.start()
    _stop(proc.pid)
    injections, ctx = _inject(_experiment(tmp_path, _pidfile_fault(tmp_path, proc.pid)))
    record = injections[0].undo_record()
    assert record["action"] == "none"
    _cont(proc.pid)  # resumed between the ledger write and apply
    messages: list[str] = []
    ctx.log = messages.append
    _apply(injections, ctx)
    time.sleep(0.2)
    assert _state(proc.pid) in _RUNNING
    assert any("not paused, left running" in m for m in messages), messages


def test_recover_from_the_ledger_resumes_a_process_paused_before_a_crash(tmp_path: Path, kids: Children) -> None:
    """Ledger before apply, STOP, then the run "dies": `recover` in a new process resumes it."""
    proc, _ = kids.start()
    _stop(proc.pid)
    injections, ctx = _inject(_experiment(tmp_path, _pidfile_fault(tmp_path, proc.pid)))
    _cont(proc.pid)  # resumed during the baseline, as in the field report
    inj = injections[0]
    ledger = Ledger(tmp_path / "state")
    ledger.add(
        LedgerEntry(
            entry_id="f1-abcd",
            run_id="crashed-run",
            owner=Owner.current(),
            experiment="stop state",
            target=inj.target,
            description=inj.describe(),
            undo=inj.undo_record(),
            created_at=time.time(),
        )
    )
    _apply(injections, ctx)
    _wait_for(lambda: _state(proc.pid) == "T")
    # no undo by the run: a new process recovers from the ledger alone (this process still
    # lives, so the recovery includes live runs)
    code = (
        "import asyncio, sys\n"
        "from chaosrun.safety.ledger import Ledger\n"
        "from chaosrun.safety.recovery import recover\n"
        "asyncio.run(recover(Ledger(sys.argv[1]), include_live=True))\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "state")], check=True, timeout=60, cwd=ROOT)
    _wait_for(lambda: _state(proc.pid) in _RUNNING)
    assert ledger.scan() == ([], [])


def test_a_process_gone_before_the_fault_gives_a_harmless_cont_record(tmp_path: Path, kids: Children) -> None:
    proc, _ = kids.start()
    injections, ctx = _inject(_experiment(tmp_path, _pidfile_fault(tmp_path, proc.pid)))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=WAIT_S)
    record = injections[0].undo_record()
    assert record["action"] == "cont"  # the safe default; undo checks pid + start time
    with pytest.raises(FaultFailed, match=r"is gone since the plan was made; nothing was signalled"):
        _apply(injections, ctx)
    _undo(record, ctx)  # nothing to resume: no error


def test_kill_records_carry_no_stop_state(tmp_path: Path, kids: Children) -> None:
    proc, _ = kids.start()
    _stop(proc.pid)
    (tmp_path / "app.pid").write_text(f"{proc.pid}\n")
    injections, _ = _inject(_experiment(tmp_path, "    signal: TERM\n    pidfile: app.pid"))
    record = injections[0].undo_record()
    assert record["action"] == "none" and "already_stopped" not in record
    assert "already stopped" not in injections[0].describe()
