"""The write-ahead fault ledger and the registry of live runs.

Layout under the state folder (`chaosrun.state.default_state_dir()` unless configured):
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
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import PlanRefused
from .faults.base import UndoRecord

__all__ = ["Ledger", "LedgerEntry", "RunClaim", "pid_alive"]


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
    pid: int
    experiment: str
    target: str
    description: str
    undo: UndoRecord
    created_at: float

    def to_json(self) -> str:
        return json.dumps(
            {
                "entry_id": self.entry_id,
                "run_id": self.run_id,
                "pid": self.pid,
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
            pid=int(d["pid"]),
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
    pid: int
    experiment: str
    targets: tuple[str, ...]
    started_at: float


class Ledger:
    """The ledger and run registry in one state folder."""

    def __init__(self, state_dir: str | Path) -> None:
        self.root = Path(state_dir)
        self.entries_dir = self.root / "ledger"
        self.runs_dir = self.root / "runs"

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
    def claim(self, run_id: str, experiment: str, targets: tuple[str, ...]) -> None:
        """Register this run and its targets, or refuse when another run or an entry holds one."""
        with self._locked():
            wanted = set(targets)
            for other in self.runs():
                if other.run_id == run_id:
                    continue
                if not pid_alive(other.pid):
                    continue
                busy = sorted(wanted & set(other.targets))
                if busy:
                    raise PlanRefused(
                        f"{busy[0]} is already under test by run {other.run_id} (pid {other.pid}, "
                        f"experiment {other.experiment!r}); wait for it to end or stop it with `chaosrun stop`"
                    )
            for entry in self.entries():
                if entry.target in wanted and entry.run_id != run_id:
                    raise PlanRefused(
                        f"{entry.target} still has an un-recovered fault from run {entry.run_id} "
                        f"({entry.description}); run `chaosrun recover` first"
                    )
            claim = RunClaim(
                run_id=run_id, pid=os.getpid(), experiment=experiment, targets=targets, started_at=time.time()
            )
            _write_durably(
                self.runs_dir / f"{run_id}.json",
                json.dumps(
                    {
                        "run_id": claim.run_id,
                        "pid": claim.pid,
                        "experiment": claim.experiment,
                        "targets": list(claim.targets),
                        "started_at": claim.started_at,
                    }
                ),
            )

    def release(self, run_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.runs_dir / f"{run_id}.json").unlink()

    def runs(self) -> list[RunClaim]:
        out = []
        for path in sorted(self.runs_dir.glob("*.json")) if self.runs_dir.exists() else []:
            try:
                d = json.loads(path.read_text())
                out.append(
                    RunClaim(
                        run_id=str(d["run_id"]),
                        pid=int(d["pid"]),
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
        """Write an entry durably. Call before applying the fault it describes."""
        folder = self.entries_dir / entry.run_id
        folder.mkdir(parents=True, exist_ok=True)
        _fsync_dir(self.entries_dir)
        _write_durably(folder / f"{entry.entry_id}.json", entry.to_json())

    def remove(self, entry: LedgerEntry) -> None:
        """Forget an entry after its successful undo."""
        folder = self.entries_dir / entry.run_id
        with contextlib.suppress(FileNotFoundError):
            (folder / f"{entry.entry_id}.json").unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty
        if self.entries_dir.exists():
            _fsync_dir(self.entries_dir)

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
