"""The write-ahead fault ledger and the registry of live runs.

Layout under the state folder (`chaosrun.safety.state.default_state_dir()` unless configured):
```
ledger/<run_id>/<entry_id>.json   one per applied fault: what, where, how to undo, run id, pid
runs/<run_id>.json                one per live run: pid, experiment, targets (the run's lock)
lock                              flock'd while a run checks and claims its targets
```
Invariant: an entry is written and fsync'd (file and folder) *before* its fault is applied,
and removed only after a successful undo, so `chaosrun recover` can undo from the ledger
alone in a new process after the original one died.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import FaultFailed, InvalidInput, PlanRefused
from ..faults.base import UndoRecord

__all__ = ["Ledger", "LedgerEntry", "Owner", "RunClaim", "pid_alive"]


@functools.cache
def _here() -> str:
    """Where a pid means something: this boot and this PID namespace (a container's pid 1 is
    not the host's, and a pid from before a reboot names nothing)."""
    boot = ns = ""
    with contextlib.suppress(OSError):
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    with contextlib.suppress(OSError):
        ns = os.readlink("/proc/self/ns/pid")
    return f"{boot}/{ns}"


def _start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks after boot, /proc/<pid>/stat field 22), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True, slots=True)
class Owner:
    """The process that wrote a ledger entry or a run claim. A pid alone is not an identity:
    pids are reused, and a state folder on a volume is shared by containers and boots. Records
    written before `start`/`where` existed carry only the pid (then the pid alone decides)."""

    pid: int
    start: int | None = None
    where: str = ""

    @classmethod
    def current(cls) -> Owner:
        return cls(os.getpid(), _start_ticks(os.getpid()), _here())

    def elsewhere(self) -> bool:
        """Recorded in another PID namespace or boot: its pid names nothing we can see."""
        return bool(self.where) and self.where != _here()

    def alive(self) -> bool:
        if self.elsewhere() or not pid_alive(self.pid):
            return False
        return self.start is None or _start_ticks(self.pid) in (None, self.start)

    def is_current(self) -> bool:
        return self.pid == os.getpid() and not self.elsewhere()

    def describe(self) -> str:
        return f"pid {self.pid}" + (" in another container or boot" if self.elsewhere() else "")

    def fields(self) -> dict[str, object]:
        return {"pid": self.pid, "pid_start": self.start, "pid_where": self.where}

    @classmethod
    def from_fields(cls, d: dict[str, object]) -> Owner:
        start = d.get("pid_start")
        return cls(int(str(d["pid"])), start if isinstance(start, int) else None, str(d.get("pid_where") or ""))


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (zombies count as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _write_durably(path: Path, data: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerEntry:
    """One applied (or about to be applied) fault."""

    entry_id: str
    run_id: str
    owner: Owner
    experiment: str
    target: str
    description: str
    undo: UndoRecord
    created_at: float

    @property
    def pid(self) -> int:
        return self.owner.pid

    def to_json(self) -> str:
        return json.dumps(
            {
                "entry_id": self.entry_id,
                "run_id": self.run_id,
                **self.owner.fields(),
                "experiment": self.experiment,
                "target": self.target,
                "description": self.description,
                "undo": self.undo,
                "created_at": self.created_at,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> LedgerEntry:
        d = json.loads(text)
        return cls(
            entry_id=str(d["entry_id"]),
            run_id=str(d["run_id"]),
            owner=Owner.from_fields(d),
            experiment=str(d["experiment"]),
            target=str(d["target"]),
            description=str(d["description"]),
            undo=dict(d["undo"]),
            created_at=float(d["created_at"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RunClaim:
    """A live run and the targets it holds."""

    run_id: str
    owner: Owner
    experiment: str
    targets: tuple[str, ...]
    started_at: float

    @property
    def pid(self) -> int:
        return self.owner.pid


class Ledger:
    """The ledger and run registry in one state folder."""

    def __init__(self, state_dir: str | Path) -> None:
        self.root = Path(state_dir)
        self.entries_dir = self.root / "ledger"
        self.runs_dir = self.root / "runs"

    def recover_command(self) -> str:
        """The exact command that undoes what this ledger holds (its state folder spelled out:
        a bare `chaosrun recover` reads the default folder and would find nothing)."""
        import shlex

        return f"chaosrun recover --state-dir {shlex.quote(str(self.root.absolute()))}"

    def stop_command(self, settings: str | None = None) -> str:
        """The exact `chaosrun stop` for this state folder (and the settings naming its servers)."""
        import shlex

        command = f"chaosrun stop --state-dir {shlex.quote(str(self.root.absolute()))}"
        return command + (f" --settings {shlex.quote(str(Path(settings).absolute()))}" if settings else "")

    def _ensure(self) -> None:
        self.entries_dir.mkdir(parents=True, exist_ok=True)
        self.runs_dir.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._ensure()
        with open(self.root / "lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    # -- runs ---------------------------------------------------------------------------
    def conflicts(self, targets: tuple[str, ...], run_id: str = "") -> list[str]:
        """Why a run on `targets` must not start (read only): a live run holding one of them, or
        an un-recovered ledger entry on one. Raises PlanRefused for a corrupt entry."""
        wanted = set(targets)
        out = []
        for other in self.runs():
            if other.run_id == run_id or not other.owner.alive():
                continue
            busy = sorted(wanted & set(other.targets))
            if busy:
                out.append(
                    f"{busy[0]} is already under test by run {other.run_id} (pid {other.pid}, "
                    f"experiment {other.experiment!r}); wait for it to end, or stop that run alone with "
                    f"`kill -INT {other.pid}` (it rolls back its faults)"
                )
        for entry in self.entries():
            if entry.target in wanted and entry.run_id != run_id:
                alive = "still running" if entry.owner.alive() else "no longer running"
                out.append(
                    f"{entry.target} still has an un-recovered fault from run {entry.run_id} "
                    f"(experiment {entry.experiment!r}, {entry.owner.describe()}, {alive}): "
                    f"{entry.description}; run `chaosrun recover` first"
                )
        return out

    def claim(self, run_id: str, experiment: str, targets: tuple[str, ...]) -> None:
        """Register this run and its targets, or refuse when another run or an entry holds one.
        A state folder that cannot be written refuses too (nothing could be undone from it)."""
        try:
            self._claim(run_id, experiment, targets)
        except OSError as exc:
            raise InvalidInput(
                f"state folder {self.root}: cannot write the fault ledger there ({exc.strerror or exc}"
                f"{': ' + str(exc.filename) if exc.filename else ''}); nothing was touched: free space or give "
                "a writable --state-dir"
            ) from exc

    def _claim(self, run_id: str, experiment: str, targets: tuple[str, ...]) -> None:
        with self._locked():
            problems = self.conflicts(targets, run_id)
            if problems:
                raise PlanRefused(problems[0])
            claim = RunClaim(
                run_id=run_id, owner=Owner.current(), experiment=experiment, targets=targets, started_at=time.time()
            )
            _write_durably(
                self.runs_dir / f"{run_id}.json",
                json.dumps(
                    {
                        "run_id": claim.run_id,
                        **claim.owner.fields(),
                        "experiment": claim.experiment,
                        "targets": list(claim.targets),
                        "started_at": claim.started_at,
                    }
                ),
            )

    def release(self, run_id: str) -> str | None:
        """Drop the run's claim; a write error is returned (as text), never raised: output never
        blocks the rest of a run's ending. A claim left behind names a dead pid and is ignored."""
        try:
            (self.runs_dir / f"{run_id}.json").unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            return f"cannot remove the run claim {self.runs_dir / (run_id + '.json')}: {exc.strerror or exc}"
        return None

    def runs(self) -> list[RunClaim]:
        out = []
        for path in sorted(self.runs_dir.glob("*.json")) if self.runs_dir.exists() else []:
            try:
                d = json.loads(path.read_text())
                out.append(
                    RunClaim(
                        run_id=str(d["run_id"]),
                        owner=Owner.from_fields(d),
                        experiment=str(d["experiment"]),
                        targets=tuple(str(t) for t in d["targets"]),
                        started_at=float(d["started_at"]),
                    )
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a half-written claim of a crashed run: ignored, its pid is gone
        return out

    # -- entries ------------------------------------------------------------------------
    def add(self, entry: LedgerEntry) -> None:
        """Write an entry durably. Call before applying the fault it describes: when it cannot
        be written (full or read-only state folder), FaultFailed, and the fault is not applied."""
        folder = self.entries_dir / entry.run_id
        path = folder / f"{entry.entry_id}.json"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _fsync_dir(self.entries_dir)
            _write_durably(path, entry.to_json())
        except OSError as exc:
            with contextlib.suppress(OSError):
                path.with_suffix(".json.tmp").unlink()
            raise FaultFailed(
                f"ledger {path}: cannot write ({exc.strerror or exc}); {entry.description} was not applied: "
                "free space in the state folder or make it writable"
            ) from exc

    def remove(self, entry: LedgerEntry) -> str | None:
        """Forget an entry after its successful undo. A write error is returned (as text), never
        raised: the fault is undone; the entry stays and `recover` undoes it again (idempotent)."""
        folder = self.entries_dir / entry.run_id
        path = folder / f"{entry.entry_id}.json"
        try:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
            if self.entries_dir.exists():
                _fsync_dir(self.entries_dir)
        except OSError as exc:
            return f"cannot remove ledger entry {path}: {exc.strerror or exc}"
        return None

    def entries(self, run_id: str | None = None) -> list[LedgerEntry]:
        """Entries on disk, oldest first. A corrupt entry refuses (PlanRefused): something may be
        injected that nobody can name, so a run must not start on top of it."""
        good, bad = self.scan(run_id)
        if bad:
            path, why = bad[0]
            raise PlanRefused(f"ledger entry {path} is unreadable ({why}); inspect and remove it by hand")
        return good

    def scan(self, run_id: str | None = None) -> tuple[list[LedgerEntry], list[tuple[Path, str]]]:
        """Readable entries (oldest first) and unreadable ones with the reason (for `recover`)."""
        if not self.entries_dir.exists():
            return [], []
        good: list[LedgerEntry] = []
        bad: list[tuple[Path, str]] = []
        folders = [self.entries_dir / run_id] if run_id else sorted(self.entries_dir.iterdir())
        for folder in folders:
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.json")):
                try:
                    good.append(LedgerEntry.from_json(path.read_text()))
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    bad.append((path, str(exc)))
        return sorted(good, key=lambda e: (e.created_at, e.entry_id)), bad
