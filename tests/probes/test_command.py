"""Command probe: real children, started and reaped by the tests."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from chaosrun.errors import InvalidInput
from chaosrun.model import CommandProbe
from chaosrun.probes import ProbeContext, build_sampler

from ._support import LOCAL, take_sample

PY = sys.executable


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _wait_gone(pids: list[int], within_s: float = 5.0) -> list[int]:
    deadline = time.monotonic() + within_s
    while (alive := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.02)
    return alive


def _tree(pidfile: Path, *, leader_waits: bool) -> tuple[str, ...]:
    """argv of a shell with two background sleeps; every pid is written to `pidfile`."""
    tail = "wait" if leader_waits else "echo done"
    script = f"sleep 300 & echo $! >> {pidfile}; sleep 300 & echo $! >> {pidfile}; echo $$ >> {pidfile}; {tail}"
    return ("sh", "-c", script)


def _pids(pidfile: Path) -> list[int]:
    return [int(line) for line in pidfile.read_text().split()]


@pytest.mark.parametrize(
    ("spec", "ok", "status", "error"),
    [
        pytest.param(CommandProbe(argv=(PY, "-c", "print('ready')")), True, 0, None, id="exit-0"),
        pytest.param(CommandProbe(argv=(PY, "-c", "raise SystemExit(3)")), False, 3, "exit 3", id="exit-3"),
        pytest.param(
            CommandProbe(argv=(PY, "-c", "raise SystemExit(3)"), expect_exit=(0, 3)),
            True,
            3,
            None,
            id="exit-3-expected",
        ),
        pytest.param(
            CommandProbe(argv=(PY, "-c", "print('ready')"), stdout_regex="^ready$"), True, 0, None, id="stdout-matches"
        ),
        pytest.param(
            CommandProbe(argv=(PY, "-c", "print('busy')"), stdout_regex="^ready"),
            False,
            0,
            "stdout does not match /^ready/",
            id="stdout-mismatch",
        ),
        pytest.param(
            CommandProbe(argv=(PY, "-c", "import sys; print(repr(sys.stdin.read()))"), stdout_regex="^''$"),
            True,
            0,
            None,
            id="stdin-is-devnull",
        ),
        pytest.param(
            CommandProbe(argv=(PY, "-c", "import sys; sys.stdout.write('x' * 2_000_000); print('end')")),
            True,
            0,
            None,
            id="big-output-drained",
        ),
        pytest.param(
            CommandProbe(argv=("/nonexistent/probe",)),
            False,
            None,
            "command not found: /nonexistent/probe",
            id="missing",
        ),
        pytest.param(
            CommandProbe(argv=(PY, "-c", "print('${region.name}')"), stdout_regex="^local$"),
            True,
            0,
            None,
            id="region-in-argv",
        ),
    ],
)
def test_checks(spec: CommandProbe, ok: bool, status: int | None, error: str | None) -> None:
    outcome = take_sample(spec)
    assert (outcome.ok, outcome.status, outcome.error) == (ok, status, error)


def test_env_is_merged_over_os_environ_with_secrets() -> None:
    code = "import os; print(os.environ['TOKEN'], 'PATH' in os.environ)"
    spec = CommandProbe(argv=(PY, "-c", code), env=(("TOKEN", "t=${secret.token}"),), stdout_regex="^t=s3cr3t True$")
    assert take_sample(spec, secrets={"token": "s3cr3t"}).ok


def test_secrets_are_refused_in_argv() -> None:
    with pytest.raises(InvalidInput, match="not allowed here"):
        take_sample(CommandProbe(argv=("echo", "${secret.token}")), secrets={"token": "x"})


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    # take_sample fails the test if the sample waits for the 300 s sleeps (a hang, not a slow pass)
    outcome = take_sample(CommandProbe(argv=_tree(pidfile, leader_waits=True), timeout_s=0.5))
    assert (outcome.ok, outcome.error) == (False, "timeout after 500ms")
    pids = _pids(pidfile)
    assert len(pids) == 3
    assert _wait_gone(pids) == []


def test_background_children_do_not_outlive_a_normal_exit(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    outcome = take_sample(CommandProbe(argv=_tree(pidfile, leader_waits=False), stdout_regex="done", timeout_s=20))
    assert (outcome.ok, outcome.status) == (True, 0)
    assert outcome.latency_s is not None and outcome.latency_s < 20
    assert _wait_gone(_pids(pidfile)) == []


def test_cancelling_a_sample_kills_the_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"

    async def main() -> None:
        async with aiohttp.ClientSession() as http:
            sampler = build_sampler(
                CommandProbe(argv=_tree(pidfile, leader_waits=True)), LOCAL, ProbeContext(http=http, secrets={})
            )
            task = asyncio.ensure_future(sampler())
            for _ in range(250):  # until the tree has written its pids (bounded: 5 s)
                if pidfile.exists() and len(pidfile.read_text().split()) == 3:
                    break
                await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    assert _wait_gone(_pids(pidfile)) == []


def test_the_probe_runs_in_its_own_session() -> None:
    ours = os.getsid(0)  # may be 0 in a container whose init set no session: compare, don't assume
    spec = CommandProbe(
        argv=(PY, "-c", f"import os; print(os.getsid(0) == os.getpid() and os.getsid(0) != {ours})"),
        stdout_regex="^True$",
    )
    assert take_sample(spec).ok  # the child leads a new session, not ours
    assert os.getsid(0) == ours  # and ours is untouched
