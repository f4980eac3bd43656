"""Child processes: no shell, their own process group, the whole group killed on timeout or exit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Finished", "kill_all_children", "kill_group", "run_argv"]

_MAX_OUTPUT = 64 * 1024
_LIVE_GROUPS: set[int] = set()  # process groups of children still running (their leader's pid)


def kill_all_children() -> None:
    """SIGKILL every child process group still running (a forced exit must orphan nothing)."""
    for pgid in list(_LIVE_GROUPS):
        kill_group(pgid)


@dataclass(frozen=True, slots=True)
class Finished:
    exit_code: int | None  # None: killed on timeout or could not start
    stdout: str  # with stderr merged in, unless run with separate_stderr
    error: str | None
    stderr: str = ""


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal a child's whole process group (it was started in its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


async def run_argv(
    argv: Sequence[str],
    *,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    separate_stderr: bool = False,
) -> Finished:
    """Run argv with a timeout; on timeout or cancellation the whole process group is killed and reaped."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE if separate_stderr else asyncio.subprocess.STDOUT,
            start_new_session=True,
            env=full_env,
            cwd=cwd,
        )
    except OSError as exc:
        return Finished(None, "", f"cannot start {argv[0]}: {exc.strerror or exc}")
    _LIVE_GROUPS.add(proc.pid)
    try:
        async with asyncio.timeout(timeout_s):
            assert proc.stdout is not None
            if proc.stderr is not None:
                out, err = await asyncio.gather(proc.stdout.read(_MAX_OUTPUT), proc.stderr.read(_MAX_OUTPUT))
            else:
                out, err = await proc.stdout.read(_MAX_OUTPUT), b""
            await proc.wait()
    except TimeoutError:
        kill_group(proc.pid)
        await proc.wait()
        return Finished(None, "", f"timeout after {timeout_s:g}s")
    except asyncio.CancelledError:
        kill_group(proc.pid)
        await proc.wait()
        raise
    finally:
        kill_group(proc.pid)  # leftovers of the group (e.g. backgrounded grandchildren)
        _LIVE_GROUPS.discard(proc.pid)
    return Finished(proc.returncode, out.decode("utf-8", "replace"), None, err.decode("utf-8", "replace"))
