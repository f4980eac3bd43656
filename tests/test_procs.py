"""run_argv: children die with chaosrun, output never blocks them, timeouts kill the whole group."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from chaosrun.safety import procs
from chaosrun.safety.procs import run_argv
from tests.cli import ROOT

PY = sys.executable
# chaosrun's safety needs prctl(PR_SET_PDEATHSIG) (Linux); under CI its absence fails the tests.
linux_only = pytest.mark.skipif(
    procs._PRCTL is None and not os.environ.get("CI"), reason="needs Linux prctl(PR_SET_PDEATHSIG)"
)
T = TypeVar("T")


@pytest.fixture(params=["asyncio", "uvloop"])
def loop_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)  # uvloop is a dependency of chaosrun: a missing one fails the test


HANG_S = 60.0
"""A call still running after this long has hung: it fails the test (the children sleep 300 s)."""


def _run(coro: Coroutine[Any, Any, T], loop_kind: str = "asyncio") -> T:
    """Run `coro` on the chosen loop; a hang (HANG_S) is a failure, never a slow pass."""
    factory = None
    if loop_kind == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(asyncio.wait_for(coro, HANG_S))


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _wait_until(cond: object, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def _pids(pidfile: Path) -> list[int]:
    return [int(line) for line in pidfile.read_text().split()] if pidfile.exists() else []


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# -- the child dies with chaosrun --------------------------------------------------------------


@linux_only
def test_a_child_is_killed_when_its_parent_is_killed(tmp_path: Path, loop_kind: str) -> None:
    pidfile = tmp_path / "child.pid"
    parent_src = textwrap.dedent(
        f"""
        import asyncio, sys
        from chaosrun.safety.procs import run_argv
        factory = None
        if {loop_kind!r} == "uvloop":
            import uvloop
            factory = uvloop.new_event_loop
        argv = ["sh", "-c", "echo $$ > {pidfile}; exec sleep 30"]
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(run_argv(argv, timeout_s=60))
        """
    )
    parent = subprocess.Popen([PY, "-c", parent_src], cwd=ROOT, stdin=subprocess.DEVNULL)
    child: list[int] = []
    try:
        assert _wait_until(lambda: _pids(pidfile), 20), "the child never started"
        child = _pids(pidfile)
        assert _wait_until(lambda: Path(f"/proc/{child[0]}/cmdline").read_bytes().startswith(b"sleep"), 5)
        assert _alive(child[0])
        parent.kill()  # kill -9: no handler, no clean-up in the parent
        parent.wait(timeout=10)
        assert _wait_until(lambda: not _alive(child[0]), 5), "the child outlived its parent's kill -9"
    finally:
        parent.kill()
        parent.wait(timeout=10)
        _kill(child)


@linux_only
def test_a_child_whose_parent_died_before_the_prctl_exits_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    # The child sees a parent pid other than the one captured before the fork: as if chaosrun
    # had died between the fork and the prctl. It must exit before exec.
    done = subprocess.run(["touch", str(marker)], preexec_fn=lambda: procs._die_with(0), timeout=10, check=False)
    assert done.returncode == 127
    assert not marker.exists()


@linux_only
def test_children_are_started_with_the_parent_death_signal(loop_kind: str) -> None:
    script = "import ctypes; v = ctypes.c_int(); ctypes.CDLL(None).prctl(2, ctypes.byref(v), 0, 0, 0); print(v.value)"
    done = _run(run_argv([PY, "-c", script], timeout_s=20), loop_kind)
    assert done.exit_code == 0, done
    assert done.stdout.strip() == str(int(signal.SIGKILL))


# -- output ------------------------------------------------------------------------------------


def test_a_lot_of_output_succeeds_and_is_capped(loop_kind: str) -> None:
    done = _run(run_argv(["seq", "1", "200000"], timeout_s=30), loop_kind)
    assert done.exit_code == 0, done
    assert done.error is None  # not cut by the timeout: the output was drained as it came
    assert done.stdout.startswith("1\n2\n3\n")
    assert done.stdout.endswith(procs._TRUNCATED)
    assert len(done.stdout) == procs._MAX_OUTPUT + len(procs._TRUNCATED)


def test_a_lot_of_output_on_separate_stderr_succeeds_and_is_capped(loop_kind: str) -> None:
    script = "import sys; sys.stderr.write('e' * 1_000_000); sys.stdout.write('x' * 1_000_000)"
    done = _run(run_argv([PY, "-c", script], timeout_s=20, separate_stderr=True), loop_kind)
    assert done.exit_code == 0, done
    assert done.stdout == "x" * procs._MAX_OUTPUT + procs._TRUNCATED
    assert done.stderr == "e" * procs._MAX_OUTPUT + procs._TRUNCATED


@pytest.mark.parametrize(("size", "truncated"), [(procs._MAX_OUTPUT, False), (procs._MAX_OUTPUT + 1, True)])
def test_output_is_marked_only_when_something_was_dropped(size: int, truncated: bool, loop_kind: str) -> None:
    done = _run(run_argv([PY, "-c", f"import sys; sys.stdout.write('x' * {size})"], timeout_s=20), loop_kind)
    assert done.exit_code == 0, done
    expected = "x" * procs._MAX_OUTPUT + (procs._TRUNCATED if truncated else "")
    assert done.stdout == expected


def test_small_output_and_exit_code_are_kept(loop_kind: str) -> None:
    done = _run(run_argv(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout_s=10, separate_stderr=True), loop_kind)
    assert (done.exit_code, done.stdout, done.stderr, done.error) == (3, "out\n", "err\n", None)


def test_endless_output_still_times_out(loop_kind: str) -> None:
    done = _run(run_argv(["yes"], timeout_s=0.5), loop_kind)
    assert done.exit_code is None
    assert done.error == "timeout after 0.5s"


# -- timeout and cancellation kill the whole group ---------------------------------------------


def _tree(pidfile: Path) -> list[str]:
    """A shell with a background sleep (holding stdout open) and a foreground one."""
    return ["sh", "-c", f"sleep 300 & echo $! >> {pidfile}; echo $$ >> {pidfile}; sleep 300"]


def test_a_timeout_kills_and_reaps_the_whole_group(tmp_path: Path, loop_kind: str) -> None:
    pidfile = tmp_path / "pids"
    try:
        done = _run(run_argv(_tree(pidfile), timeout_s=0.8), loop_kind)  # not the 300 s the group would take
        assert done.exit_code is None
        assert done.error == "timeout after 0.8s"
        pids = _pids(pidfile)
        assert len(pids) == 2
        assert _wait_until(lambda: not any(_alive(p) for p in pids), 5), "a process of the group survived"
        assert not procs._LIVE_GROUPS
    finally:
        _kill(_pids(pidfile))


def test_a_cancellation_kills_and_reaps_the_whole_group(tmp_path: Path, loop_kind: str) -> None:
    pidfile = tmp_path / "pids"

    async def cancel_soon() -> None:
        task = asyncio.create_task(run_argv(_tree(pidfile), timeout_s=600))
        for _ in range(1000):  # bounded: 20 s
            if len(_pids(pidfile)) >= 2:
                break
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        _run(cancel_soon(), loop_kind)
        pids = _pids(pidfile)
        assert _wait_until(lambda: not any(_alive(p) for p in pids), 5), "a process of the group survived"
        assert not procs._LIVE_GROUPS
    finally:
        _kill(_pids(pidfile))


def test_a_descendant_holding_the_pipes_after_leaving_the_group_does_not_hang_the_run(
    tmp_path: Path, loop_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(procs, "_REAP_GRACE_S", 0.3)
    pidfile = tmp_path / "pids"
    # `setsid sh` forks into a new session (out of the group's reach) and keeps stdout open
    argv = ["sh", "-c", f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 300' & sleep 300"]
    try:
        done = _run(run_argv(argv, timeout_s=0.5), loop_kind)  # a hang on the held pipe fails (HANG_S)
        assert done.error == "timeout after 0.5s"
        assert not procs._LIVE_GROUPS
    finally:
        assert _wait_until(lambda: _pids(pidfile), 5)
        _kill(_pids(pidfile))


def test_a_missing_executable_is_reported(loop_kind: str) -> None:
    done = _run(run_argv(["/nonexistent/chaosrun-test"], timeout_s=5), loop_kind)
    assert done.exit_code is None
    assert done.error is not None and done.error.startswith("cannot start /nonexistent/chaosrun-test:")
