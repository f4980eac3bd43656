"""Child processes: no shell, their own process group, the whole group killed on timeout or exit.

Every child also dies with chaosrun, however chaosrun dies (even `kill -9`): on Linux it is
started with the parent-death signal set to SIGKILL (`prctl(PR_SET_PDEATHSIG)`), so a fault's
command cannot go on and apply its fault after `chaosrun recover` undid it. That covers the
direct child only: its own children (e.g. a `sleep` under `sh -c`) are not signalled when
chaosrun dies and may run to their end; the direct child, which would run the next command,
is gone. Elsewhere (no `prctl`) children are started without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .secret import cut_head

__all__ = ["Finished", "kill_all_children", "kill_group", "preexec_die_with_chaosrun", "run_argv"]

_MAX_OUTPUT = 64 * 1024  # characters shown per stream (the first ones); the rest is read and discarded
_KEEP = 2 * _MAX_OUTPUT  # bytes kept per stream before masking (so a secret at the cut is masked whole)
_DRAIN_S = 1.0  # after the leader exited, how long output still arriving (a daemon's pipe) is read
_TRUNCATED = "…[truncated]"
_REAP_GRACE_S = 2.0  # after a SIGKILL, the longest wait for the child's exit and pipes' EOF
_LIVE_GROUPS: set[int] = set()  # process groups of children still running (their leader's pid)

_PR_SET_PDEATHSIG = 1
_PR_GET_PDEATHSIG = 2
_SIGKILL = int(signal.SIGKILL)


def _load_prctl() -> Callable[..., int] | None:
    """libc's `prctl`, resolved once at import (never in a forked child); None when unusable."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
        prctl.restype = ctypes.c_int
        # glibc declares prctl variadic; all its arguments are integers, passed as unsigned longs
        prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        current = ctypes.c_int(0)
        if prctl(_PR_GET_PDEATHSIG, ctypes.addressof(current), 0, 0, 0) != 0:  # e.g. blocked by seccomp
            return None
    except (OSError, AttributeError):
        return None
    fn: Callable[..., int] = prctl
    return fn


_PRCTL = _load_prctl()


def _die_with(parent_pid: int) -> None:
    """`preexec_fn`: runs in the forked child before exec, while chaosrun has other threads.

    Kept minimal: no imports, no locks, one ctypes call with plain ints. If chaosrun died
    between the fork and the prctl, no signal will come: the child exits instead.
    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process:
    run_argv must run on the event loop thread, which lives as long as chaosrun (asyncio and
    uvloop both fork from the thread that runs the loop). Do not call run_argv from a loop on
    a short-lived thread: its children would be killed when that thread ends.
    """
    prctl = _PRCTL
    if prctl is None:
        return
    prctl(_PR_SET_PDEATHSIG, _SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(127)


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


class _Collect(asyncio.SubprocessProtocol):
    """Reads every byte the child writes, so it never blocks on a full pipe; keeps the first
    `_KEEP` bytes of each stream (twice what is shown: a secret straddling the cut is still
    whole when it is masked) and drops the rest. `text()` masks, then cuts at `_MAX_OUTPUT`
    characters without splitting a mask, then marks a cut with a trailing `_TRUNCATED`.

    `exited` resolves when the leader has exited; `closed` when it has exited *and* its pipes
    are closed (a daemon it started may keep them open: see `run_argv`).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, redact: Callable[[str], str] | None = None) -> None:
        self.kept: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
        self.truncated: dict[int, bool] = {1: False, 2: False}
        self.closed: asyncio.Future[None] = loop.create_future()
        self.exited: asyncio.Future[None] = loop.create_future()
        self.redact = redact

    def pipe_data_received(self, fd: int, data: bytes | bytearray) -> None:
        kept = self.kept.setdefault(fd, bytearray())
        room = _KEEP - len(kept)
        if room > 0:
            kept += data[:room]
        if len(data) > room:
            self.truncated[fd] = True

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.exited.done():
            self.exited.set_result(None)
        if not self.closed.done():
            self.closed.set_result(None)

    def text(self, fd: int) -> str:
        text = self.kept.get(fd, bytearray()).decode("utf-8", "replace")
        if self.redact is not None:
            text = self.redact(text)
        cut = cut_head(text, _MAX_OUTPUT)
        return cut + _TRUNCATED if self.truncated.get(fd) or len(cut) < len(text) else cut


async def _settle(transport: asyncio.SubprocessTransport, proto: _Collect) -> None:
    """After the group was killed: let the leader be reaped and its pipes close, release the transport.

    Bounded: a descendant that left the group (setsid) can hold the pipes open for ever; the
    leader itself is reaped by the loop's child watcher whether or not this wait completes.
    """
    try:
        async with asyncio.timeout(_REAP_GRACE_S):
            await asyncio.shield(proto.closed)
    except TimeoutError:
        pass
    finally:
        transport.close()


def preexec_die_with_chaosrun() -> Callable[[], None] | None:
    """A `preexec_fn` for `subprocess`/`loop.subprocess_exec` giving the child SIGKILL when
    chaosrun dies (see `_die_with`); None where prctl is unavailable. Call it on the thread
    that starts the child, right before starting it."""
    if _PRCTL is None:
        return None
    parent_pid = os.getpid()
    return lambda: _die_with(parent_pid)


async def run_argv(
    argv: Sequence[str],
    *,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    separate_stderr: bool = False,
    redact: Callable[[str], str] | None = None,
) -> Finished:
    """Run argv with a timeout; on timeout or cancellation the whole process group is killed and reaped.

    A command is judged by its own exit: the timeout covers the leader's run; once it exited,
    output still arriving is read for `_DRAIN_S` at most (a daemon it started, `setsid -f` or
    `--daemonize yes`, keeps the pipe open for ever and is not waited for). Each of stdout and
    stderr keeps its first `_MAX_OUTPUT` characters, masked with `redact` before the cut (see
    `_Collect`). Must run on the event loop's thread (see `_die_with`).
    """
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    loop = asyncio.get_running_loop()
    proto = _Collect(loop, redact)
    spawn = asyncio.ensure_future(
        loop.subprocess_exec(
            lambda: proto,
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if separate_stderr else subprocess.STDOUT,
            start_new_session=True,
            env=full_env,
            cwd=cwd,
            preexec_fn=preexec_die_with_chaosrun(),
        )
    )
    try:
        transport, _ = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        # asyncio's own clean-up of a cancelled start kills only the leader, not its group
        with contextlib.suppress(Exception):
            transport, _ = await spawn
            kill_group(transport.get_pid())
            await _settle(transport, proto)
        raise
    except (OSError, subprocess.SubprocessError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Finished(None, "", f"cannot start {argv[0]}: {reason}")
    pid = transport.get_pid()
    _LIVE_GROUPS.add(pid)
    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.shield(proto.exited)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_DRAIN_S):
                await asyncio.shield(proto.closed)
    except TimeoutError:
        kill_group(pid)
        await _settle(transport, proto)
        return Finished(None, "", f"timeout after {timeout_s:g}s")
    except asyncio.CancelledError:
        kill_group(pid)
        await _settle(transport, proto)
        raise
    finally:
        kill_group(pid)  # leftovers of the group (e.g. backgrounded grandchildren)
        _LIVE_GROUPS.discard(pid)
    code = transport.get_returncode()
    transport.close()
    return Finished(code, proto.text(1), None, proto.text(2))
