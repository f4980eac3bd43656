"""A fault step's own undo: `restart: {command: [...], timeout: 30s, ready: {tcp: HOST:PORT}}`.

When it runs: when its step ends (the end of the step's `duration`, or of the fault phase),
right after the step's own faults are undone, and before the recovery phase starts, so a
probe's `recover_within` is measured from the moment the restart finished (its command
exited 0 and its ready check answered). On an abort (guardrail, signal, error) it runs with
the other undos, before the experiment's `rollbacks`. It is written to the ledger before the
step's faults are applied, so `chaosrun recover` runs it too when chaosrun died mid-run.

The command is run without a shell, in a session of its own, with its output going to a
file (never a pipe: a daemonizing child that keeps its output open would hold a pipe open
forever) and without the parent-death signal, so what it starts outlives chaosrun. It must
return: a daemonizing start (`setsid -f redis-server ...`, `redis-server --daemonize yes`)
is judged by its exit code. A command still running at `timeout` is killed (its process
group) and the undo fails (exit 5). Then the ready check is polled every 200 ms within what
is left of `timeout`: `tcp` accepts a connection, or `http` answers with a status below 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import ClassVar

from ..errors import RollbackFailed
from ..model import FaultStep, Restart
from . import undoer
from .base import FaultContext, Injection, UndoRecord

__all__ = ["RestartInjection", "describe_restart", "run_restart", "undo_restart"]

_POLL_S = 0.2
_OUTPUT_KEPT = 400  # characters of the command's output quoted in a failure message


def describe_restart(restart: Restart) -> str:
    """`restart `redis-server --daemonize yes` (ready: tcp 127.0.1.1:6379, within 30s)`."""
    import shlex

    ready = f"tcp {restart.ready_tcp}" if restart.ready_tcp else ""
    ready = ready or (f"http {restart.ready_http}" if restart.ready_http else "")
    within = f"ready: {ready}, within {restart.timeout_s:g}s" if ready else f"within {restart.timeout_s:g}s"
    return f"`{shlex.join(restart.argv)}` ({within})"


@dataclass(kw_only=True, eq=False)
class RestartInjection(Injection):
    """The commitment to run a step's restart: armed (in the ledger) before the step's faults are
    applied, undone (the command run) after them. Applying it changes nothing."""

    step: FaultStep
    target: str
    region: str | None
    restart: Restart
    cwd: str
    kind_name: ClassVar[str] = "restart"

    def describe(self) -> str:
        return f"restart for step {self.step.name!r} when it ends: {describe_restart(self.restart)}"

    def applied_words(self) -> str:
        return f"armed {self.describe()}"

    def undone_words(self) -> str:
        return f"restart for step {self.step.name!r} finished: recovery is measured from here"

    def undo_record(self) -> UndoRecord:
        return {
            "backend": "restart",
            "step": self.step.name,
            "argv": list(self.restart.argv),
            "timeout_s": self.restart.timeout_s,
            "ready_tcp": self.restart.ready_tcp,
            "ready_http": self.restart.ready_http,
            "cwd": self.cwd,
        }

    async def apply(self, ctx: FaultContext) -> None:
        return None


def restart_injection(step: FaultStep, region: str | None) -> RestartInjection | None:
    """The restart of `step`, or None when it has none."""
    if step.restart is None:
        return None
    return RestartInjection(
        step=step, target=f"restart:{step.name}", region=region, restart=step.restart, cwd=os.getcwd()
    )


def _start_detached(argv: list[str], cwd: str | None, out: int) -> subprocess.Popen[bytes]:
    """No shell, a session of its own, output to a file, no parent-death signal (it must outlive us)."""
    cwd = cwd if cwd and os.path.isdir(cwd) else None
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True
    )


async def run_restart(
    argv: list[str], *, timeout_s: float, ready_tcp: str | None, ready_http: str | None, cwd: str | None
) -> tuple[float, str]:
    """Run a restart command, then wait until it is ready. Returns (seconds taken, what answered).

    Raises RollbackFailed (naming the command) on a non-zero exit, a timeout or a ready check
    that never answered."""
    started = time.monotonic()
    deadline = started + timeout_s
    shown = " ".join(argv)
    with tempfile.TemporaryFile() as out:
        try:
            proc = await asyncio.to_thread(_start_detached, argv, cwd, out.fileno())
        except OSError as exc:
            why = exc.strerror or exc
            raise RollbackFailed(f"restart `{shown}` could not start: {why}; start it by hand") from None
        try:
            code = await _wait_exit(proc, deadline)
        finally:
            if proc.returncode is None:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await asyncio.to_thread(proc.wait)
        out.seek(0)
        text = out.read(64 * 1024).decode("utf-8", "replace").strip()[-_OUTPUT_KEPT:]
    if code is None:
        raise RollbackFailed(
            f"restart `{shown}` was still running after {timeout_s:g}s and was killed: a restart must return "
            "(start the service daemonized, e.g. `setsid -f ...`); start it by hand"
        )
    if code != 0:
        raise RollbackFailed(f"restart `{shown}` exited {code}: {text or '(no output)'}; start it by hand")
    if ready_tcp is None and ready_http is None:
        return time.monotonic() - started, "exit 0"
    what = f"tcp {ready_tcp}" if ready_tcp else f"http {ready_http}"
    while True:
        if await _ready(ready_tcp, ready_http, max(0.05, min(2.0, deadline - time.monotonic()))):
            return time.monotonic() - started, what
        if time.monotonic() + _POLL_S > deadline:
            raise RollbackFailed(
                f"restart `{shown}` exited 0 but {what} did not answer within {timeout_s:g}s; check the service"
            )
        await asyncio.sleep(_POLL_S)


async def _wait_exit(proc: subprocess.Popen[bytes], deadline: float) -> int | None:
    """The exit code, or None when `deadline` passed first (bounded polling; no SIGCHLD games)."""
    while True:
        code = proc.poll()
        if code is not None:
            return code
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.02)


async def _ready(tcp: str | None, http: str | None, timeout_s: float) -> bool:
    try:
        async with asyncio.timeout(timeout_s):
            if tcp is not None:
                host, _, port = tcp.rpartition(":")
                _, writer = await asyncio.open_connection(host.strip("[]"), int(port))
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return True
            import aiohttp

            assert http is not None
            async with aiohttp.ClientSession() as session, session.get(http, allow_redirects=False) as resp:
                return resp.status < 400
    except (OSError, TimeoutError, ValueError):
        return False
    except Exception as exc:  # aiohttp's own errors: not ready yet
        import aiohttp

        if isinstance(exc, aiohttp.ClientError):
            return False
        raise


@undoer("restart")
async def undo_restart(record: UndoRecord, ctx: FaultContext) -> None:
    """Run the step's restart command and wait until it is ready (see the module docstring)."""
    argv = record.get("argv")
    timeout = record.get("timeout_s")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise RollbackFailed(f"restart undo: ledger record without a command: {record}; restart it by hand")
    tcp, http, cwd = record.get("ready_tcp"), record.get("ready_http"), record.get("cwd")
    took, what = await run_restart(
        [str(a) for a in argv],
        timeout_s=float(timeout) if isinstance(timeout, int | float) else 30.0,
        ready_tcp=tcp if isinstance(tcp, str) else None,
        ready_http=http if isinstance(http, str) else None,
        cwd=cwd if isinstance(cwd, str) else None,
    )
    note = ""
    if isinstance(tcp, str):
        from .process_targets import listener_of

        pid = await asyncio.to_thread(listener_of, tcp)
        note = f"; replaced by pid {pid}" if pid is not None else ""
    shown = " ".join(map(str, argv))
    ctx.log(f"restart for step {record.get('step')!r}: `{shown}` ready ({what}) after {took:.1f}s{note}")
