"""`process.kill`: a signal to local processes found by pidfile, name or listening port.

YAML: `- fault: process.kill` with `signal: KILL|TERM|STOP` (default KILL), one of
`pidfile:` / `process_name:` / `port:` (`name:` is the step's own name), and `count: N` or
`percent: P` of the matches (default `count: 1`; a percentage is rounded down, at least one).
Which matches are hit is drawn at random per run; `--dry-run` lists every match and the draw.

Blast radius: pid 1, chaosrun itself and every ancestor of chaosrun (its parent, the shell,
...), kernel threads and zombies are never targets; the experiment's `caps.max_targets`
applies to the processes picked.

Undo: the record names the pid, its start time (field 22 of /proc/<pid>/stat) and the boot
id, so a recycled pid is never signalled (the signal goes through a pidfd opened before the
check). KILL and TERM cannot be undone: their undo is a recorded no-op. STOP is undone with
CONT, unless the process was already stopped (by someone else) when the fault started: then it
is left as found. That is decided from /proc when the fault starts, never from the plan's
snapshot (the process may be resumed during the baseline), and the ledger record, written
before the signal is sent, is the commitment: STOP is sent only when that record resumes the
process, so neither the run's undo nor `chaosrun recover` can leave a process chaosrun paused
stopped. Undo is idempotent: a process that is gone or resumed needs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from ..errors import FaultFailed, PlanRefused, RollbackFailed
from ..model import FaultParams, FaultStep
from . import fault, undoer
from .base import FaultContext, FaultKind, Injection, ParseContext, UndoRecord

if TYPE_CHECKING:
    from ..node import Node

__all__ = [
    "ProcessInfo",
    "ProcessKillParams",
    "SignalInjection",
    "find_processes",
    "listening_inodes",
    "protected_pids",
    "read_process",
    "undo_process",
]

SignalName = Literal["KILL", "TERM", "STOP"]
_SIGNALS: dict[str, signal.Signals] = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "STOP": signal.SIGSTOP}
_PROC = Path("/proc")
_PF_KTHREAD = 0x00200000
_TCP_LISTEN = "0A"


# --- reading /proc ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessInfo:
    """One process as /proc shows it."""

    pid: int
    ppid: int
    start_ticks: int  # clock ticks after boot; with the pid, identifies the process
    state: str  # R, S, D, T (stopped), t (traced), Z (zombie), ...
    comm: str
    cmdline: tuple[str, ...]
    kernel_thread: bool

    @property
    def label(self) -> str:
        """`1234 (storefront)` for messages."""
        return f"{self.pid} ({self.comm})"


def read_process(pid: int, proc: Path = _PROC) -> ProcessInfo | None:
    """The process `pid`, or None when it is gone (or unreadable)."""
    try:
        stat = (proc / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
        raw_cmdline = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    open_paren, close_paren = stat.find("("), stat.rfind(")")
    fields = stat[close_paren + 2 :].split()
    if open_paren < 0 or close_paren < 0 or len(fields) < 20:
        return None
    cmdline = tuple(part.decode("utf-8", "replace") for part in raw_cmdline.split(b"\0") if part)
    return ProcessInfo(
        pid=pid,
        ppid=int(fields[1]),
        start_ticks=int(fields[19]),
        state=fields[0],
        comm=stat[open_paren + 1 : close_paren],
        cmdline=cmdline,
        kernel_thread=bool(int(fields[6]) & _PF_KTHREAD),
    )


def _all_pids(proc: Path = _PROC) -> Iterator[int]:
    with contextlib.suppress(OSError):
        for entry in os.scandir(proc):
            if entry.name.isdigit():
                yield int(entry.name)


def boot_id(proc: Path = _PROC) -> str:
    """This boot's id (start times count from boot, so a record from another boot is stale)."""
    try:
        return (proc / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""


def protected_pids() -> frozenset[int]:
    """Never targets: pid 1, this process and all its ancestors."""
    out = {1, os.getpid()}
    pid = os.getppid()
    for _ in range(256):  # bounded walk up the tree
        if pid <= 1 or pid in out:
            break
        out.add(pid)
        info = read_process(pid)
        if info is None:
            break
        pid = info.ppid
    return frozenset(out)


def listening_inodes(port: int, netns_pid: int | str = "self", proc: Path = _PROC) -> set[int]:
    """Socket inodes listening on TCP `port` (IPv4 and IPv6) in the network namespace of `netns_pid`."""
    inodes: set[int] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / str(netns_pid) / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) < 10 or cols[3] != _TCP_LISTEN:
                continue
            if int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(int(cols[9]))
    return inodes


def _socket_inodes(pid: int, proc: Path = _PROC) -> set[int]:
    out: set[int] = set()
    with contextlib.suppress(OSError):
        for entry in os.scandir(proc / str(pid) / "fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(entry.path)
                if link.startswith("socket:["):
                    out.add(int(link[8:-1]))
    return out


def _netns(pid: int, proc: Path = _PROC) -> str:
    try:
        return os.readlink(proc / str(pid) / "ns" / "net")
    except OSError:
        return ""


def _pids_on_port(port: int, candidates: Iterable[ProcessInfo], proc: Path = _PROC) -> set[int]:
    """Pids holding a socket that listens on `port` (looked up in each process's own netns)."""
    by_ns: dict[str, set[int]] = {}
    out: set[int] = set()
    for info in candidates:
        ns = _netns(info.pid, proc)
        if ns not in by_ns:
            by_ns[ns] = listening_inodes(port, info.pid if ns else "self", proc)
        if by_ns[ns] and _socket_inodes(info.pid, proc) & by_ns[ns]:
            out.add(info.pid)
    return out


def _matches_name(info: ProcessInfo, name: str) -> bool:
    if info.comm == name[:15] or (info.cmdline and os.path.basename(info.cmdline[0]) == name):
        return True
    return name in " ".join(info.cmdline)


def find_processes(
    *, pidfile: Path | None = None, name: str | None = None, port: int | None = None, proc: Path = _PROC
) -> list[ProcessInfo]:
    """Live processes matching one selector, sorted by pid; protected ones are left out.

    Raises PlanRefused for a pidfile that is missing or does not hold a pid.
    """
    protected = protected_pids()

    def eligible(info: ProcessInfo | None) -> bool:
        return info is not None and info.pid not in protected and not info.kernel_thread and info.state != "Z"

    if pidfile is not None:
        pid = _read_pidfile(pidfile)
        info = read_process(pid, proc)
        return [info] if info is not None and eligible(info) else []
    candidates = [i for i in (read_process(p, proc) for p in _all_pids(proc)) if i is not None and eligible(i)]
    if name is not None:
        return [i for i in candidates if _matches_name(i, name)]
    if port is not None:
        on_port = _pids_on_port(port, candidates, proc)
        return [i for i in candidates if i.pid in on_port]
    return []


def _read_pidfile(path: Path) -> int:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except FileNotFoundError:
        raise PlanRefused(f"process.kill: pidfile {path} does not exist; is the process running?") from None
    except OSError as exc:
        raise PlanRefused(f"process.kill: cannot read pidfile {path}: {exc.strerror or exc}") from None
    first = text.split()[0] if text else ""
    if not first.isdigit() or int(first) <= 0:
        raise PlanRefused(f"process.kill: pidfile {path} does not hold a pid (got {text[:40]!r})")
    return int(first)


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


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessKillParams(FaultParams):
    """Which processes, how many, which signal."""

    signal: SignalName = "KILL"
    pidfile: str | None = None  # absolute path
    name: str | None = None
    port: int | None = None
    count: int | None = None
    percent: float | None = None

    @property
    def selector(self) -> str:
        if self.pidfile is not None:
            return f"pidfile {self.pidfile}"
        if self.name is not None:
            return f"process_name {self.name!r}"
        return f"port {self.port}"

    def how_many(self, matches: int) -> int:
        """Processes to hit out of `matches` (percent rounds down, but at least one)."""
        if self.percent is not None:
            return min(matches, max(1, int(matches * self.percent / 100)))
        return min(matches, self.count if self.count is not None else 1)


@dataclass(kw_only=True, eq=False)
class SignalInjection(Injection):
    """One signal to one process, identified by pid and start time."""

    step: FaultStep
    target: str
    region: str | None
    signal: SignalName
    process: ProcessInfo
    boot: str
    matched: str  # `1 of 3 processes on port 8081`
    # STOP only: whether the process was already stopped (by someone else) when the fault
    # started. None until decided, then fixed for this injection. Never taken from
    # `process.state` (the plan's snapshot: the process may be resumed during the baseline),
    # but read from /proc by the first of `undo_record()` and `apply()`. The injector builds the
    # ledger record immediately before `apply()` (ledger before apply), so the record carries
    # the state of that moment, and `apply()` then sends STOP only when the record resumes it.
    stopped_before: bool | None = field(default=None, repr=False)

    def describe(self) -> str:
        what = {"KILL": "kill -KILL", "TERM": "kill -TERM", "STOP": "pause (STOP, undo sends CONT)"}[self.signal]
        stopped = self.stopped_before if self.stopped_before is not None else self._stopped_now()
        note = "; already stopped: left stopped" if self.signal == "STOP" and stopped else ""
        return f"{what} pid {self.process.label}, {self.matched}{note}"

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

    async def apply(self, ctx: FaultContext) -> None:
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
    keys: ClassVar[tuple[str, ...]] = ("signal", "pidfile", "process_name", "port", "count", "percent")

    def parse(self, node: Node, ctx: ParseContext) -> FaultParams | None:
        m = node.mapping(self.keys)
        if m is None:
            return None
        selectors = [k for k in ("pidfile", "process_name", "port") if k in m]
        if len(selectors) != 1:
            node.error("give exactly one of 'pidfile', 'process_name' or 'port' to find the processes")
            return None
        if "count" in m and "percent" in m:
            node.error("give 'count' or 'percent', not both")
            return None
        sig = m["signal"].choice(tuple(_SIGNALS)) if "signal" in m else "KILL"
        pidfile = name = None
        port = None
        if "pidfile" in m and (text := m["pidfile"].str()) is not None:
            pidfile = str(Path(ctx.base_dir, text).resolve()) if not os.path.isabs(text) else text
        if "process_name" in m:
            name = m["process_name"].str()
        if "port" in m:
            port = m["port"].int(min=1, max=65535)
        count = m["count"].int(min=1) if "count" in m else None
        percent = m["percent"].float(min=0.0, max=100.0) if "percent" in m else None
        if percent is not None and percent <= 0:
            m["percent"].error("must be more than 0")
            percent = None
        if sig is None or (pidfile, name, port) == (None, None, None):
            return None
        if ("count" in m and count is None) or ("percent" in m and percent is None):
            return None
        return ProcessKillParams(
            signal=_signal_name(sig), pidfile=pidfile, name=name, port=port, count=count, percent=percent
        )

    async def resolve(self, step: FaultStep, ctx: FaultContext) -> list[Injection]:
        params = step.params
        if not isinstance(params, ProcessKillParams):
            raise TypeError(f"{step.kind}: expected ProcessKillParams, got {type(params).__name__}")
        matches = await asyncio.to_thread(
            find_processes,
            pidfile=Path(params.pidfile) if params.pidfile else None,
            name=params.name,
            port=params.port,
        )
        if not matches:
            return []
        picked = random.sample(matches, params.how_many(len(matches)))
        noun = "process" if len(matches) == 1 else "processes"
        matched = f"{len(picked)} of {len(matches)} {noun} by {params.selector}"
        if len(matches) > len(picked):
            matched += f" (matches: {', '.join(str(i.pid) for i in matches)})"
        boot = boot_id()
        return [
            SignalInjection(
                step=step,
                target=f"process:{info.pid}",
                region=None,
                signal=params.signal,
                process=info,
                boot=boot,
                matched=matched,
            )
            for info in sorted(picked, key=lambda i: i.pid)
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
