"""A python Chaos Toolkit action that outlives its apply (step timeout, interrupt) runs on a worker
thread that cannot be killed: its rollback must run after it, and while it may still run, the
undo must not claim success. Real modules in tmp_path, real threads, the real engine and CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

import chaosrun.faults.chaostoolkit as ctk_fault
from chaosrun.errors import FaultFailed, RollbackFailed
from chaosrun.faults import FaultContext, Injection, get_undoer, undo_timeout
from chaosrun.faults.chaostoolkit import CtkActionInjection
from chaosrun.loader import load_text
from chaosrun.running.plan import build_plan
from chaosrun.running.runner import run_experiment
from chaosrun.safety.ledger import Ledger
from chaosrun.safety.recovery import recover
from tests.cli import ROOT

RUN_ID = "20260101T000000Z-abc123"
HEAD = """\
title: CTK thread
regions: {local: }
steady_state:
  probes:
    - name: ok
      command: {argv: ["true"]}
      every: 200ms
phases: {baseline: 300ms, fault: 3s, recovery: 300ms}
method:
"""
MODULE = """\
import os
import time
from pathlib import Path


def slow(marker, started, seconds):
    Path(started).write_text("")
    time.sleep(float(seconds))
    Path(marker).write_text("applied")


def held(marker, started, release, max_s):
    Path(started).write_text("")
    deadline = time.monotonic() + float(max_s)
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.02)
    Path(marker).write_text("applied")


def remove(marker, calls):
    with open(calls, "a") as fh:
        fh.write("rollback\\n")
    Path(marker).unlink(missing_ok=True)
"""


@pytest.fixture
def mod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The actions' module in tmp_path (unique name, on sys.path for this test only)."""
    name = f"ctk_thread_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


def step(mod: str, tmp: Path, *, func: str, timeout: str, **args: object) -> str:
    """A `chaostoolkit.action` step named `mark`: python `func(...)`, rollback `remove`."""
    arguments = json.dumps({"marker": str(tmp / "marker"), "started": str(tmp / "started"), **args})
    rollback = json.dumps({"marker": str(tmp / "marker"), "calls": str(tmp / "calls")})
    return textwrap.dedent(
        f"""\
        - fault: chaostoolkit.action
          name: mark
          timeout: {timeout}
          provider: {{type: python, module: {mod}, func: {func}, arguments: {arguments}}}
          rollback: {{type: python, module: {mod}, func: remove, arguments: {rollback}}}
        """
    )


def injection(text: str) -> tuple[CtkActionInjection, FaultContext, list[str]]:
    exp = load_text(HEAD + textwrap.indent(text, "  "), environ={})
    logs: list[str] = []
    ctx = FaultContext(run_id=RUN_ID, experiment=exp, log=logs.append)
    plan = asyncio.run(build_plan(exp, ctx))
    (inj,) = plan.steps[0].injections
    assert isinstance(inj, CtkActionInjection)
    return inj, ctx, logs


async def undo(inj: Injection, ctx: FaultContext) -> None:
    """Undo as the engine does: the ledger's JSON record, within the record's undo time limit."""
    record = json.loads(json.dumps(inj.undo_record()))
    fn = get_undoer(record["backend"])
    assert fn is not None
    async with asyncio.timeout(undo_timeout(record)):
        await fn(record, ctx)


async def wait_for(cond: Callable[[], bool], timeout_s: float = 30.0) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if cond():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"not true after {timeout_s:g}s")


def test_the_undo_time_limit_covers_the_wait_for_the_thread_then_the_rollback(mod: str, tmp_path: Path) -> None:
    inj, _, _ = injection(step(mod, tmp_path, func="slow", timeout="2s", seconds=0))
    record = inj.undo_record()
    grace_s = ctk_fault.thread_grace_s(2.0)
    assert grace_s == ctk_fault.GRACE_MIN_S
    assert record["rollback_timeout_s"] == 2.0
    assert undo_timeout(record) >= 2.0 + grace_s
    assert ctk_fault.thread_grace_s(0.5) == ctk_fault.GRACE_MIN_S
    assert ctk_fault.thread_grace_s(12.0) == 12.0  # as long again as the step's timeout
    assert ctk_fault.thread_grace_s(3600.0) == ctk_fault.GRACE_MAX_S


def test_timed_out_action_is_rolled_back_only_after_its_thread_finished(mod: str, tmp_path: Path) -> None:
    marker, calls = tmp_path / "marker", tmp_path / "calls"
    inj, ctx, logs = injection(step(mod, tmp_path, func="slow", timeout="200ms", seconds=0.8))

    async def scenario() -> None:
        with pytest.raises(FaultFailed, match="no result after 200ms"):
            await inj.apply(ctx)
        await undo(inj, ctx)  # waits for the action, then rolls back: success

    asyncio.run(scenario())  # returns once every worker thread has ended
    assert calls.read_text() == "rollback\n"
    assert not marker.exists(), "the action applied its fault after the rollback removed it"
    assert any("is still running after its timeout; its undo waits up to 5s" in line for line in logs), logs
    assert any("waiting up to" in line and "before its rollback" in line for line in logs), logs


def test_cancelled_action_is_rolled_back_only_after_its_thread_finished(mod: str, tmp_path: Path) -> None:
    marker, calls, started = tmp_path / "marker", tmp_path / "calls", tmp_path / "started"
    inj, ctx, logs = injection(step(mod, tmp_path, func="slow", timeout="10s", seconds=0.8))

    async def scenario() -> None:
        task = asyncio.create_task(inj.apply(ctx))
        await wait_for(started.exists)
        task.cancel()  # what the engine does to a step on an interrupt
        with pytest.raises(asyncio.CancelledError):
            await task
        await undo(inj, ctx)

    asyncio.run(scenario())
    assert calls.read_text() == "rollback\n"
    assert not marker.exists(), "the action applied its fault after the rollback removed it"
    assert any("is still running after the run was stopped" in line for line in logs), logs


def test_an_action_still_running_after_the_grace_fails_the_undo(
    mod: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ctk_fault, "GRACE_MIN_S", 0.3)
    marker, calls, release = tmp_path / "marker", tmp_path / "calls", tmp_path / "release"
    inj, ctx, _ = injection(step(mod, tmp_path, func="held", timeout="200ms", release=str(release), max_s=30))
    errors: list[str] = []

    async def scenario() -> None:
        try:
            with pytest.raises(FaultFailed):
                await inj.apply(ctx)
            with pytest.raises(RollbackFailed) as info:
                await undo(inj, ctx)
            errors.append(str(info.value))
            # repeated in this run: fails too, without waiting again (were it to wait the grace
            # period, now 10 minutes, the 60 s bound would fail the test)
            monkeypatch.setattr(ctk_fault, "GRACE_MIN_S", 600.0)
            monkeypatch.setattr(ctk_fault, "GRACE_MAX_S", 600.0)
            with pytest.raises(RollbackFailed, match="is still running inside chaosrun"):
                await asyncio.wait_for(undo(inj, ctx), 60)
        finally:
            release.touch()  # let the thread end (asyncio.run waits for it)

    asyncio.run(scenario())
    (text,) = errors
    assert text.startswith("chaostoolkit action 'mark': the action (python ") and ".held)" in text
    for words in (
        "is still running inside chaosrun 300ms after its timeout",
        "may apply its effect after the rollback (which ran)",
        "its ledger entry is kept",
        "run `chaosrun recover` once it has finished",
    ):
        assert words in text, text
    assert calls.read_text() == "rollback\nrollback\n"  # the rollback ran anyway, each time
    assert marker.exists()  # ... and the action applied its effect after it: the undo was right to fail
    # `chaosrun recover`, once the action has finished: a fresh context, the record alone
    record = json.loads(json.dumps(inj.undo_record()))
    fn = get_undoer("chaostoolkit")
    assert fn is not None
    fresh = FaultContext(run_id=RUN_ID, experiment=ctx.experiment, log=lambda _: None)
    asyncio.run(fn(record, fresh))
    assert not marker.exists()


def test_engine_reports_rollback_failed_and_keeps_the_ledger_entry(
    mod: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ctk_fault, "GRACE_MIN_S", 0.3)
    marker, state = tmp_path / "marker", tmp_path / "state"
    text = step(mod, tmp_path, func="held", timeout="200ms", release=str(tmp_path / "never"), max_s=2)
    exp = load_text(HEAD + textwrap.indent(text, "  "), environ={})
    code = asyncio.run(
        run_experiment(
            exp, out_dir=tmp_path / "out", dry_run=False, state_dir=state, write_reports=False, echo=lambda _: None
        )
    )
    journal = json.loads((tmp_path / "out" / "journal.json").read_text())
    assert (code, journal["status"]) == (5, "rollback_failed")
    (fault,) = journal["faults"]
    assert fault["undo"] == "failed" and "is still running inside chaosrun" in fault["error"]
    assert marker.exists()  # the action finished (on its own) after the failed undo
    ledger = Ledger(state)
    assert [e.target for e in ledger.entries()] == ["chaostoolkit:ctk-thread/mark"]
    report = asyncio.run(recover(ledger, echo=lambda _: None))
    assert len(report.undone) == 1 and not report.failed
    assert not marker.exists() and ledger.entries() == []


def test_sigint_while_the_action_runs_rolls_back_after_it(mod: str, tmp_path: Path) -> None:
    marker, started, state = tmp_path / "marker", tmp_path / "started", tmp_path / "state"
    exp = tmp_path / "exp.yaml"
    exp.write_text(HEAD + textwrap.indent(step(mod, tmp_path, func="slow", timeout="20s", seconds=1.5), "  "))
    env = {**os.environ, "CI": "true", "CHAOSRUN_STATE_DIR": str(state), "PYTHONPATH": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaosrun", "run", str(exp), "--out", str(tmp_path / "out"), "--no-report"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert started.exists(), "the action never started"
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, out + err
    assert (tmp_path / "calls").read_text() == "rollback\n"
    assert not marker.exists(), "the action applied its fault after the rollback removed it"
    assert Ledger(state).entries() == []
