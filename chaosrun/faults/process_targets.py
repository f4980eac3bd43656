"""Finding `process.kill` targets in /proc: by pidfile, name, port or listen address, scoped to a region.

Reads only. A listening socket is read from the `tcp`/`tcp6` tables of each process's own
network namespace, with its address, so `listen: 127.0.1.1:9001` matches the process bound
to that address and not the ones bound to 127.0.2.1:9001. A process listening on every
address (`0.0.0.0` or `::`) serves every region: an address-scoped selector never matches it
(it is reported as skipped, so the plan says why it is not a target).

`ProcessKillParams` is a step's selector; `pick` draws `count`/`percent` of the sorted
matches with the run's seed, so the same seed picks the same processes.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import socket
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import PlanRefused
from ..model import Experiment, FaultParams

__all__ = [
    "Listener",
    "Match",
    "ProcessInfo",
    "ProcessKillParams",
    "Scope",
    "SignalName",
    "boot_id",
    "find_matches",
    "find_processes",
    "find_targets",
    "listener_of",
    "listening_inodes",
    "pick",
    "protected_pids",
    "read_process",
    "region_of",
    "resolve_host",
]

SignalName = Literal["KILL", "TERM", "STOP"]
_PROC = Path("/proc")
_PF_KTHREAD = 0x00200000
_TCP_LISTEN = "0A"
_WILDCARDS = ("0.0.0.0", "::")


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Listener:
    """A listening TCP socket: its address as text (`127.0.1.1`, `::1`) and port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def wildcard(self) -> bool:
        return self.host in _WILDCARDS


@dataclass(frozen=True, slots=True, kw_only=True)
class Scope:
    """Which listen addresses a selector accepts: `hosts` (IP texts; empty: any) and `port` (None: any)."""

    hosts: frozenset[str] = frozenset()
    port: int | None = None

    def accepts(self, listener: Listener) -> bool:
        if self.port is not None and listener.port != self.port:
            return False
        if not self.hosts:
            return True
        return listener.host in self.hosts  # a wildcard listener is never inside an address scope

    def near_miss(self, listener: Listener) -> bool:
        """A wildcard listener on the right port, left out by an address scope."""
        return bool(self.hosts) and listener.wildcard and (self.port is None or listener.port == self.port)


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    """A process found by a selector, with the listen addresses that made it match."""

    process: ProcessInfo
    listeners: tuple[Listener, ...] = ()

    @property
    def sort_key(self) -> tuple[str, int]:
        """Selection order: by first listen address, then pid (stable for a given set of processes)."""
        first = min((str(x) for x in self.listeners), default="")
        return (first, self.process.pid)

    def label(self) -> str:
        where = f" on {', '.join(str(x) for x in self.listeners)}" if self.listeners else ""
        return f"pid {self.process.label}{where}"


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


def _decode_address(hex_addr: str) -> str:
    """/proc/net/tcp's `0101007F` (IPv4, 32-bit words in host order) or 32 hex digits (IPv6) -> text."""
    raw = b"".join(struct.pack("=I", int(hex_addr[i : i + 8], 16)) for i in range(0, len(hex_addr), 8))
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw)
    text = socket.inet_ntop(socket.AF_INET6, raw)
    mapped = ipaddress.IPv6Address(text).ipv4_mapped
    return str(mapped) if mapped is not None else text


def _listening(netns_pid: int | str, proc: Path = _PROC) -> dict[int, Listener]:
    """Socket inode -> listen address, for the network namespace of `netns_pid`."""
    out: dict[int, Listener] = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / str(netns_pid) / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) < 10 or cols[3] != _TCP_LISTEN:
                continue
            addr, _, port = cols[1].rpartition(":")
            with contextlib.suppress(ValueError, OSError):
                out[int(cols[9])] = Listener(host=_decode_address(addr), port=int(port, 16))
    return out


def listening_inodes(port: int, netns_pid: int | str = "self", proc: Path = _PROC) -> set[int]:
    """Socket inodes listening on TCP `port` (any address) in the network namespace of `netns_pid`."""
    return {inode for inode, x in _listening(netns_pid, proc).items() if x.port == port}


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


def _listeners_by_pid(candidates: Iterable[ProcessInfo], proc: Path = _PROC) -> dict[int, tuple[Listener, ...]]:
    """Each candidate's listen addresses (read in its own network namespace); pids without any are left out."""
    by_ns: dict[str, dict[int, Listener]] = {}
    out: dict[int, tuple[Listener, ...]] = {}
    for info in candidates:
        ns = _netns(info.pid, proc)
        if ns not in by_ns:
            by_ns[ns] = _listening(info.pid if ns else "self", proc)
        if not by_ns[ns]:
            continue
        mine = sorted({by_ns[ns][i] for i in _socket_inodes(info.pid, proc) if i in by_ns[ns]}, key=str)
        if mine:
            out[info.pid] = tuple(mine)
    return out


def _matches_name(info: ProcessInfo, name: str) -> bool:
    if info.comm == name[:15] or (info.cmdline and os.path.basename(info.cmdline[0]) == name):
        return True
    return name in " ".join(info.cmdline)


def resolve_host(host: str) -> frozenset[str]:
    """The IP addresses of a host name or literal (loopback names resolve through /etc/hosts)."""
    with contextlib.suppress(ValueError):
        return frozenset({str(ipaddress.ip_address(host.strip("[]")))})
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return frozenset()
    return frozenset(str(ipaddress.ip_address(str(i[4][0]).split("%")[0])) for i in infos)


def find_matches(
    *,
    pidfile: Path | None = None,
    name: str | None = None,
    scope: Scope | None = None,
    proc: Path = _PROC,
) -> tuple[list[Match], list[Match]]:
    """(matches, skipped): live processes matching one selector, narrowed to `scope`'s listen
    addresses when given, sorted for selection; and wildcard listeners an address scope left out.

    With only a scope, the scope is the selector (every process listening inside it). Protected
    processes (pid 1, chaosrun and its ancestors), kernel threads and zombies are never matched.
    Raises PlanRefused for a pidfile that is missing or does not hold a pid.
    """
    protected = protected_pids()

    def eligible(info: ProcessInfo | None) -> bool:
        return info is not None and info.pid not in protected and not info.kernel_thread and info.state != "Z"

    if pidfile is not None:
        info = read_process(_read_pidfile(pidfile), proc)
        candidates = [info] if info is not None and eligible(info) else []
    else:
        candidates = [i for i in (read_process(p, proc) for p in _all_pids(proc)) if i is not None and eligible(i)]
        if name is not None:
            candidates = [i for i in candidates if _matches_name(i, name)]
    if scope is None:
        return [Match(process=i) for i in candidates], []
    listeners = _listeners_by_pid(candidates, proc)
    matches, skipped = [], []
    for info in candidates:
        mine = listeners.get(info.pid, ())
        inside = tuple(x for x in mine if scope.accepts(x))
        if inside:
            matches.append(Match(process=info, listeners=inside))
        elif any(scope.near_miss(x) for x in mine):
            skipped.append(Match(process=info, listeners=tuple(x for x in mine if scope.near_miss(x))))
    return sorted(matches, key=lambda m: m.sort_key), sorted(skipped, key=lambda m: m.sort_key)


def find_processes(
    *, pidfile: Path | None = None, name: str | None = None, port: int | None = None, proc: Path = _PROC
) -> list[ProcessInfo]:
    """Live processes matching one selector, sorted by pid; protected ones are left out."""
    scope = Scope(port=port) if port is not None and pidfile is None and name is None else None
    matches, _ = find_matches(pidfile=pidfile, name=name, scope=scope, proc=proc)
    return sorted((m.process for m in matches), key=lambda i: i.pid)


def listener_of(address: str) -> int | None:
    """The pid listening on `host:port` (the lowest, when several share it), or None."""
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        return None
    matches, _ = find_matches(scope=Scope(hosts=resolve_host(host), port=int(port)))
    return min((m.process.pid for m in matches), default=None)


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


# --- a step's selector -------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessKillParams(FaultParams):
    """Which processes, how many, which signal."""

    signal: SignalName = "KILL"
    pidfile: str | None = None  # absolute path
    name: str | None = None
    port: int | None = None
    listen: str | None = None  # HOST:PORT
    region: str | None = None  # narrows the matches to processes listening on the region's host
    count: int | None = None
    percent: float | None = None

    @property
    def selector(self) -> str:
        if self.pidfile is not None:
            what = f"pidfile {self.pidfile}"
        elif self.name is not None:
            what = f"process_name {self.name!r}"
        elif self.listen is not None:
            what = f"listen {self.listen}"
        else:
            what = f"port {self.port}"
        return what + (f" in region {self.region}" if self.region else "")

    def how_many(self, matches: int) -> int:
        """Processes to hit out of `matches` (percent rounds down, but at least one)."""
        if self.percent is not None:
            return min(matches, max(1, int(matches * self.percent / 100)))
        return min(matches, self.count if self.count is not None else 1)

    def scope(self, experiment: Experiment) -> Scope | None:
        """The listen addresses the selector accepts (None: not scoped by address).

        Raises PlanRefused when a host does not resolve (or the region has no host)."""
        hosts: frozenset[str] = frozenset()
        port = self.port
        if self.listen is not None:
            host, _, text = self.listen.rpartition(":")
            hosts, port = resolve_host(host), int(text)
            if not hosts:
                raise PlanRefused(f"process.kill: listen {self.listen}: host {host!r} does not resolve")
        elif self.region is not None:
            region = next((r for r in experiment.regions if r.name == self.region), None)
            if region is None or not region.host:
                raise PlanRefused(
                    f"process.kill: region {self.region!r} has no host to narrow the targets to; give the region a "
                    "base_url or host, or use 'listen: HOST:PORT'"
                )
            hosts = resolve_host(region.host)
            if not hosts:
                raise PlanRefused(f"process.kill: region {self.region}: host {region.host!r} does not resolve")
        if not hosts and port is None:
            return None
        return Scope(hosts=hosts, port=port)


def region_of(listeners: tuple[Listener, ...], experiment: Experiment) -> str | None:
    """The one region whose host is among these listen addresses, or None."""
    hosts = {x.host for x in listeners}
    found = {r.name for r in experiment.regions if r.host and resolve_host(r.host) & hosts}
    return next(iter(found)) if len(found) == 1 else None


def pick(matches: list[Match], k: int, seed: int, step_name: str) -> list[Match]:
    """`k` of the (sorted) matches, the same ones for the same seed, step and processes."""
    rng = random.Random(f"{seed}/{step_name}")  # a str seed is hashed (sha512): stable across runs
    return sorted(rng.sample(matches, k), key=lambda m: m.sort_key)


def find_targets(params: ProcessKillParams, experiment: Experiment) -> tuple[list[Match], list[Match]]:
    return find_matches(
        pidfile=Path(params.pidfile) if params.pidfile else None,
        name=params.name,
        scope=params.scope(experiment),
    )
