"""Command probe: run argv (never through a shell) in its own process group, per sample.

Contract: when a sample ends, nothing it started is left running. On timeout or cancellation
the whole process group gets SIGKILL and the leader is reaped; after a normal exit, any
background descendants still in the group are killed too (they would otherwise hold stdout
open and outlive the probe). stdout is read up to `MAX_STDOUT_BYTES` (the rest is drained and
discarded so the child never blocks on a full pipe); stderr is discarded.

Caveat: a descendant that moves itself to another session (setsid) escapes the group kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import time

from ..model import CommandProbe, Region
from ..safety.procs import kill_group, preexec_die_with_chaosrun
from ..sample import Outcome
from . import ProbeContext, Sampler, probe_kind
from ._common import describe_exception, substitute, timeout_text

__all__ = ["MAX_STDOUT_BYTES", "build_command_sampler"]

MAX_STDOUT_BYTES = 64 * 1024
_SETTLE_TIMEOUT_S = 2.0


@probe_kind(CommandProbe)
def build_command_sampler(spec: CommandProbe, region: Region, ctx: ProbeContext) -> Sampler:
    """A sampler running `spec.argv`; `${region.*}` in argv, also `${secret.*}` in env values."""
    where = f"command probe {spec.argv[0] if spec.argv else '?'}"
    # Secrets go through the environment only: argv is visible to every user in `ps`.
    argv = tuple(substitute(a, region, {}, where=where, allow_secrets=False) for a in spec.argv)
    env = dict(os.environ)
    env.update((k, substitute(v, region, ctx.secrets, where=f"{where} env {k}")) for k, v in spec.env)
    stdout_re = None if spec.stdout_regex is None else re.compile(spec.stdout_regex.encode())
    timeout_s = spec.timeout_s
    timed_out = timeout_text(timeout_s)

    async def sample() -> Outcome:
        started = time.perf_counter()
        try:
            transport, proto = await _spawn(argv, env)
        except FileNotFoundError:
            return Outcome(False, None, None, f"command not found: {argv[0]}")
        except PermissionError:
            return Outcome(False, None, None, f"permission denied: {argv[0]}")
        except OSError as exc:
            return Outcome(False, None, None, describe_exception(exc, ctx.secrets))
        try:
            try:
                async with asyncio.timeout(timeout_s):
                    await asyncio.shield(proto.exited)  # _settle awaits it again
            except TimeoutError:
                pass
            latency_s = time.perf_counter() - started
            code = transport.get_returncode()
        finally:
            # Timeout, cancellation, or background descendants still holding stdout: the group
            # never outlives the sample.
            kill_group(transport.get_pid())
            await _settle(transport, proto)
        if code is None:
            return Outcome(False, latency_s, None, timed_out)
        if code not in spec.expect_exit:
            return Outcome(False, latency_s, code, f"exit {code}")
        if stdout_re is not None and stdout_re.search(proto.stdout) is None:
            return Outcome(False, latency_s, code, f"stdout does not match /{spec.stdout_regex}/")
        return Outcome(True, latency_s, code)

    return sample


async def _spawn(argv: tuple[str, ...], env: dict[str, str]) -> tuple[asyncio.SubprocessTransport, _Protocol]:
    """Start argv in a new session; a cancellation during the start still kills its group."""
    loop = asyncio.get_running_loop()
    spawn = asyncio.ensure_future(
        loop.subprocess_exec(
            lambda: _Protocol(loop),
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            preexec_fn=preexec_die_with_chaosrun(),  # SIGKILL from the kernel if chaosrun dies
        )
    )
    try:
        return await asyncio.shield(spawn)
    except asyncio.CancelledError:
        # asyncio's own clean-up on a cancelled start kills only the leader, orphaning its children.
        with contextlib.suppress(Exception):
            transport, proto = await spawn
            kill_group(transport.get_pid())
            await _settle(transport, proto)
        raise


class _Protocol(asyncio.SubprocessProtocol):
    """Keeps the first MAX_STDOUT_BYTES of stdout (reading on, so the child never blocks).

    `exited` resolves when the leader exits, `closed` when its pipes are closed as well: in
    Python 3.11 `Process.wait()` waits for both, so a background descendant holding stdout
    would hide the leader's exit until the timeout.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stdout = bytearray()
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | bytearray) -> None:
        room = MAX_STDOUT_BYTES - len(self.stdout)
        if room > 0:
            self.stdout += data[:room]

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def _settle(transport: asyncio.SubprocessTransport, proto: _Protocol) -> None:
    """After the group was killed: reap the leader, let the pipes close, release the transport."""
    try:
        async with asyncio.timeout(_SETTLE_TIMEOUT_S):
            await asyncio.shield(proto.exited)
            await asyncio.shield(proto.closed)
    except TimeoutError:  # a descendant moved to another session and holds stdout open
        pass
    finally:
        transport.close()
