"""`process.kill`: a signal to local processes found by pidfile, name, port or listen address.

YAML: `- fault: process.kill` with `signal: KILL|TERM|STOP` (default KILL), one of
`pidfile:` / `process_name:` / `port:` / `listen: HOST:PORT` (`name:` is the step's own
name), an optional `region:` that narrows the matches to processes listening on that
region's host (with `port:`, on exactly HOST:PORT), and `count: N` or `percent: P` of the
matches (default `count: 1`; a percentage is rounded down, at least one). Finding targets
is in `process_targets.py`.

Selection is deterministic: the matches are sorted (first listen address, then pid) and the
sample is drawn with the run's seed (`--seed`, printed by `--dry-run` and by every run), so
the dry run shows exactly the processes a real run with the same seed hits. Right before the
signal, the selector is resolved again: if it now matches more processes, or an address the
plan did not, the run refuses (PlanRefused, exit 2) instead of widening the blast radius.

Blast radius: pid 1, chaosrun itself and every ancestor of chaosrun (its parent, the shell,
...), kernel threads and zombies are never targets; the experiment's `caps.max_targets`
applies to the processes picked.

Undo: the record names the pid, its start time (field 22 of /proc/<pid>/stat) and the boot
id, so a recycled pid is never signalled (the signal goes through a pidfd opened before the
check). KILL and TERM cannot be undone: their undo is a recorded no-op, worded as such ("not
undoable; restarted by ..." when the step has a `restart:`, "replaced by pid N" when a new
process already holds its address). STOP is undone with
CONT, unless the process was already stopped (by someone else) when the fault started: then it
is left as found. That is decided from /proc when the fault starts, never from the plan's
snapshot (the process may be resumed during the baseline), and the ledger record, written
before the signal is sent, is the commitment: STOP is sent only when that record resumes the
process, so neither the run's undo nor `chaosrun recover` can leave a process chaosrun paused
stopped. Undo is idempotent: a process that is gone or resumed needs nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from ..errors import FaultFailed, PlanRefused, RollbackFailed
from ..model import FaultParams, FaultStep
from . import fault, undoer
from .base import FaultContext, FaultKind, Injection, ParseContext, UndoRecord
from .process_targets import (
    Listener,
    ProcessInfo,
    ProcessKillParams,
    Scope,
    SignalName,
    boot_id,
    find_matches,
    find_processes,
    find_targets,
    listening_inodes,
    pick,
    protected_pids,
    read_process,
    region_of,
)
from .restart import describe_restart

if TYPE_CHECKING:
    from ..node import Node

__all__ = [
    "Listener",
    "ProcessInfo",
    "ProcessKillParams",
    "SignalInjection",
    "find_processes",
    "listening_inodes",
    "protected_pids",
    "read_process",
    "undo_process",
]

_SIGNALS: dict[str, signal.Signals] = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "STOP": signal.SIGSTOP}


# --- signalling -------------------------------------------------------------------------


def _stop_pending(pid: int) -> bool:
    """SIGSTOP sent but not yet taken (a busy machine has not scheduled the process since): the
    pause is in place, its state just does not show it yet (/proc/<pid>/status SigPnd, ShdPnd)."""
    bit = 1 << (int(signal.SIGSTOP) - 1)
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("SigPnd", "ShdPnd"):
            try:
                if int(value.strip(), 16) & bit:
                    return True
            except ValueError:
                continue
    return False


def _is_stopped(info: ProcessInfo) -> bool:
    """Stopped by a signal (T) or by a tracer (t)."""
    return info.state in ("T", "t")


def _signal_checked(
    pid: int, start_ticks: int, sig: signal.Signals, send_if: Callable[[ProcessInfo], bool] | None = None
) -> tuple[ProcessInfo | None, bool]:
    """Signal the process only if it is still the one that started at `start_ticks` and
    `send_if` (given the process as read just now) agrees.

    The pidfd is opened before the check, so the pid cannot be recycled in between.
    Returns (the process as read just before the signal, or None when it is gone; whether the
    signal was sent). Raises PermissionError.
    """
    pidfd: int | None = None
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None, False
    except (OSError, AttributeError):
        pidfd = None  # no pidfd (old kernel): the start-time check still guards, with a tiny race
    try:
        info = read_process(pid)
        if info is None or info.start_ticks != start_ticks or info.state == "Z":
            return None, False
        if send_if is not None and not send_if(info):
            return info, False
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, sig)
        else:
            os.kill(pid, sig)
        return info, True
    except ProcessLookupError:
        return None, False
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _send(pid: int, start_ticks: int, sig: signal.Signals) -> bool:
    """Signal the process only if it is still the one that started at `start_ticks`.

    Returns False when that process is gone. Raises PermissionError.
    """
    return _signal_checked(pid, start_ticks, sig)[1]


# --- the fault kind ---------------------------------------------------------------------


@dataclass(kw_only=True, eq=False)
class SignalInjection(Injection):
    """One signal to one process, identified by pid and start time."""

    step: FaultStep
    target: str
    region: str | None
    signal: SignalName
    process: ProcessInfo
    boot: str
    matched: str  # `1 of 3 processes by port 8081`
    listeners: tuple[Listener, ...] = ()
    # every process the selector matched when the plan was made: (pid, start ticks), addresses
    planned: frozenset[tuple[int, int]] = frozenset()
    planned_addresses: frozenset[str] = frozenset()
    # STOP only: whether the process was already stopped (by someone else) when the fault
    # started. None until decided, then fixed for this injection. Never taken from
    # `process.state` (the plan's snapshot: the process may be resumed during the baseline),
    # but read from /proc by the first of `undo_record()` and `apply()`. The injector builds the
    # ledger record immediately before `apply()` (ledger before apply), so the record carries
    # the state of that moment, and `apply()` then sends STOP only when the record resumes it.
    stopped_before: bool | None = field(default=None, repr=False)

    def _where(self) -> str:
        on = f" on {', '.join(str(x) for x in self.listeners)}" if self.listeners else ""
        return on + (f" in {self.region}" if self.region else "")

    def describe(self) -> str:
        what = {"KILL": "kill -KILL", "TERM": "kill -TERM", "STOP": "pause (STOP, undo sends CONT)"}[self.signal]
        stopped = self.stopped_before if self.stopped_before is not None else self._stopped_now()
        note = "; already stopped: left stopped" if self.signal == "STOP" and stopped else ""
        if self.signal != "STOP":
            note = "; not undoable: " + (
                f"restarted by {describe_restart(self.step.restart)} when the step ends"
                if self.step.restart is not None
                else "nothing in this experiment restarts it (a supervisor may)"
            )
        return f"{what} pid {self.process.label}{self._where()}, {self.matched}{note}"

    def undone_words(self) -> str:
        if self.signal == "STOP":
            return f"resumed pid {self.process.label}{self._where()}"
        head = f"pid {self.process.label}{self._where()} was sent SIG{self.signal}: not undoable"
        replaced = self._replacement()
        if replaced is not None:
            return f"{head}; replaced by pid {replaced}, seen at {datetime.now(UTC).strftime('%H:%M:%S')} UTC"
        if self.step.restart is not None:
            return f"{head}; restarted by the step's restart next"
        return f"{head}; nothing in this experiment restarts it"

    def _replacement(self) -> str | None:
        """A new process holding one of the killed one's addresses (a supervisor's restart), if any."""
        for address in self.listeners:
            if address.wildcard:
                continue
            matches, _ = find_matches(scope=Scope(hosts=frozenset({address.host}), port=address.port))
            for m in matches:
                if (m.process.pid, m.process.start_ticks) != (self.process.pid, self.process.start_ticks):
                    return m.process.label
        return None

    def _stopped_now(self) -> bool:
        """Whether the target is stopped right now. A process that is gone (or whose pid was
        reused) counts as not stopped: its record then says CONT, which undo sends only to the
        same process (pid + start time), so nothing is resumed by mistake."""
        info = read_process(self.process.pid)
        return info is not None and info.start_ticks == self.process.start_ticks and _is_stopped(info)

    def undo_record(self) -> UndoRecord:
        if self.signal == "STOP" and self.stopped_before is None:
            self.stopped_before = self._stopped_now()  # the ledger record is written right before apply()
        resume = self.signal == "STOP" and not self.stopped_before
        record: UndoRecord = {
            "backend": "process",
            "action": "cont" if resume else "none",
            "signal": self.signal,
            "pid": self.process.pid,
            "start_ticks": self.process.start_ticks,
            "boot_id": self.boot,
            "comm": self.process.comm,
        }
        if self.signal == "STOP":
            record["already_stopped"] = bool(self.stopped_before)
        return record

    async def verify(self, ctx: FaultContext) -> bool | None:
        """STOP: the same process (pid + start time) is still stopped; resumed by someone else is
        False. KILL and TERM act once (what follows is the system's recovery, which the probes
        observe): not verifiable, None. A STOP target that is gone: None (nothing to tell)."""
        if self.signal != "STOP" or self.stopped_before:
            return None
        info = read_process(self.process.pid)
        if info is None or info.start_ticks != self.process.start_ticks:
            return None
        return _is_stopped(info) or _stop_pending(self.process.pid)

    async def _refuse_if_widened(self, ctx: FaultContext) -> None:
        """The selector, resolved again right before the signal, must not match more than the plan did."""
        params = self.step.params
        if not isinstance(params, ProcessKillParams) or not self.planned:
            return
        now, _ = await asyncio.to_thread(find_targets, params, ctx.experiment)
        added = [m for m in now if (m.process.pid, m.process.start_ticks) not in self.planned]
        new_addresses = sorted({str(x) for m in now for x in m.listeners} - self.planned_addresses)
        if len(now) > len(self.planned) or new_addresses:
            what = ", ".join(m.label() for m in added) or ", ".join(new_addresses)
            raise PlanRefused(
                f"{self.step.location}: process.kill step {self.step.name!r}: {params.selector} now matches "
                f"{len(now)} process(es) (the plan matched {len(self.planned)}); new: {what}. Refusing to widen the "
                "blast radius: nothing was signalled; check the processes and run `chaosrun run --dry-run` again"
            )

    async def apply(self, ctx: FaultContext) -> None:
        await self._refuse_if_widened(ctx)
        decided = self.stopped_before  # fixed by undo_record() when the ledger entry was written

        def send_if(info: ProcessInfo) -> bool:
            """Called with the process as read immediately before the signal (pidfd held)."""
            if self.signal != "STOP":
                return True
            if decided is None:  # no record handed out yet: decide here, from the state right now
                self.stopped_before = _is_stopped(info)
                return not self.stopped_before
            # The ledger record (already on disk) is the commitment. It says CONT: pause, even
            # if someone else stopped the process in the few milliseconds since it was written;
            # undo (or `recover`) will then CONT a process that someone else stopped, the lesser
            # evil next to leaving a process chaosrun paused stopped. It says "already stopped,
            # leave it": never send STOP, even if the process was resumed since, as nothing would
            # resume it afterwards.
            return not decided

        try:
            info, sent = _signal_checked(
                self.process.pid, self.process.start_ticks, _SIGNALS[self.signal], send_if=send_if
            )
        except PermissionError:
            raise FaultFailed(
                f"process.kill: not allowed to signal pid {self.process.label}; run chaosrun as its user"
            ) from None
        if info is None:
            raise FaultFailed(
                f"process.kill: pid {self.process.label} is gone since the plan was made; nothing was signalled"
            )
        if not sent and not _is_stopped(info):
            ctx.log(
                f"process.kill: pid {self.process.label} was resumed just after its ledger record was written "
                "(as already stopped): not paused, left running"
            )


@fault("process.kill")
class ProcessKill(FaultKind):
    """Send KILL, TERM or STOP (then CONT on undo) to local processes."""

    backend: ClassVar[str] = "process"
    keys: ClassVar[tuple[str, ...]] = (
        "signal", "pidfile", "process_name", "port", "listen", "region", "count", "percent",
    )  # fmt: skip

    key_schema: ClassVar[dict[str, dict[str, object]]] = {
        "signal": {"enum": ["KILL", "TERM", "STOP"], "description": "Default KILL; STOP is undone with CONT."},
        "pidfile": {"type": "string", "description": "A file holding the pid (relative to the experiment file)."},
        "process_name": {"type": "string", "description": "Matches the command name or command line."},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "Listening on this TCP port."},
        "listen": {"type": "string", "description": "Listening on exactly this HOST:PORT."},
        "region": {"type": "string", "description": "Only processes listening on this region's host."},
        "count": {"type": "integer", "minimum": 1, "description": "How many of the matches (default 1)."},
        "percent": {"type": "number", "exclusiveMinimum": 0, "maximum": 100,
                    "description": "Share of the matches, rounded down, at least one."},
    }  # fmt: skip

    def parse(self, node: Node, ctx: ParseContext) -> FaultParams | None:
        m = node.mapping(self.keys)
        if m is None:
            return None
        selectors = [k for k in ("pidfile", "process_name", "port", "listen") if k in m]
        if len(selectors) != 1:
            node.error("give exactly one of 'pidfile', 'process_name', 'port' or 'listen' to find the processes")
            return None
        if "listen" in m and "region" in m:
            m["region"].error("give 'listen: HOST:PORT' or 'region' (with 'port'), not both: listen names the address")
            return None
        if "count" in m and "percent" in m:
            node.error("give 'count' or 'percent', not both")
            return None
        sig = m["signal"].choice(tuple(_SIGNALS)) if "signal" in m else "KILL"
        pidfile = name = listen = region = None
        port = None
        if "pidfile" in m and (text := m["pidfile"].str()) is not None:
            pidfile = str(Path(ctx.base_dir, text).resolve()) if not os.path.isabs(text) else text
        if "process_name" in m:
            name = m["process_name"].str()
        if "port" in m:
            port = m["port"].int(min=1, max=65535)
        if "listen" in m:
            from ..loader.fields import _address

            listen = _address(m["listen"])
        if "region" in m:
            region = m["region"].str()
            if region is not None and region not in ctx.regions:
                m["region"].error(f"unknown region '{region}'; declared: {', '.join(ctx.regions) or '(none)'}")
                return None
        count = m["count"].int(min=1) if "count" in m else None
        percent = m["percent"].float(min=0.0, max=100.0) if "percent" in m else None
        if percent is not None and percent <= 0:
            m["percent"].error("must be more than 0")
            percent = None
        if sig is None or (pidfile, name, port, listen) == (None, None, None, None):
            return None
        if ("count" in m and count is None) or ("percent" in m and percent is None):
            return None
        return ProcessKillParams(
            signal=_signal_name(sig), pidfile=pidfile, name=name, port=port, listen=listen, region=region,
            count=count, percent=percent,
        )  # fmt: skip

    async def resolve(self, step: FaultStep, ctx: FaultContext) -> list[Injection]:
        params = step.params
        if not isinstance(params, ProcessKillParams):
            raise TypeError(f"{step.kind}: expected ProcessKillParams, got {type(params).__name__}")
        matches, skipped = await asyncio.to_thread(find_targets, params, ctx.experiment)
        for s in skipped:
            ctx.log(f"process.kill {step.name!r}: not a target: {s.label()} listens on every address (all regions)")
        if not matches:
            return []
        picked = pick(matches, params.how_many(len(matches)), ctx.seed, step.name)
        noun = "process" if len(matches) == 1 else "processes"
        matched = f"{len(picked)} of {len(matches)} {noun} by {params.selector} (seed {ctx.seed})"
        if len(matches) > len(picked):
            matched += f" (matches: {', '.join(str(m.process.pid) for m in matches)})"
        boot = boot_id()
        planned = frozenset((m.process.pid, m.process.start_ticks) for m in matches)
        addresses = frozenset(str(x) for m in matches for x in m.listeners)
        return [
            SignalInjection(
                step=step,
                target=f"process:{m.process.pid}",
                region=params.region or region_of(m.listeners, ctx.experiment),
                signal=params.signal,
                process=m.process,
                boot=boot,
                matched=matched,
                listeners=m.listeners,
                planned=planned,
                planned_addresses=addresses,
            )
            for m in picked
        ]


def _signal_name(text: str) -> SignalName:
    return "TERM" if text == "TERM" else "STOP" if text == "STOP" else "KILL"


@undoer("process")
async def undo_process(record: UndoRecord, ctx: FaultContext) -> None:
    """Resume a paused process (idempotent); KILL/TERM records need nothing."""
    if record.get("action") != "cont":
        return
    pid, ticks, boot = record.get("pid"), record.get("start_ticks"), record.get("boot_id")
    if not isinstance(pid, int) or not isinstance(ticks, int):
        raise RollbackFailed(f"process undo: ledger record without pid/start_ticks: {record}; resume it by hand")
    if isinstance(boot, str) and boot and boot != boot_id():
        return  # the machine rebooted since: that process is gone
    try:
        _send(pid, ticks, signal.SIGCONT)
    except PermissionError:
        raise RollbackFailed(
            f"process undo: not allowed to resume pid {pid} ({record.get('comm')}); run `kill -CONT {pid}` as its user"
        ) from None
