"""What one experiment of a gate or a game day came to, read back from its journal.

An `Outcome` is what the suite-level outputs (JUnit, summary, index page) and the exit policy
read: the status (or `invalid` when the file never ran), the exit code, the score, the worst
recovery, where the report is. It is built from the run's folder after the run, so the suite
outputs are pure functions of the journals, like every other report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..report import Journal, load_journal, score_journal
from ..report.results import recovery_result

__all__ = ["Outcome", "RecoveryFigure", "outcome_not_run", "outcome_of_run"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryFigure:
    """How one region recovered (the slowest probe of that region)."""

    region: str
    recovery_s: float | None  # None: never recovered
    met: bool | None  # None: no objective


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """One experiment of a suite, as the suite's outputs show it."""

    file: str  # as given (relative to the working directory when it was)
    title: str
    status: str  # a run status, "crashed" for a run without a journal end, or "invalid"
    exit_code: int
    reason: str = ""
    score: int | None = None
    run_id: str = ""
    started_at: str = ""
    ended_at: str = ""
    duration_s: float | None = None
    run_dir: Path | None = None
    recovery: tuple[RecoveryFigure, ...] = ()
    journal: Journal | None = None

    @property
    def report(self) -> Path | None:
        """The run's report.html, when it was written."""
        if self.run_dir is None:
            return None
        path = self.run_dir / "report.html"
        return path if path.exists() else None

    @property
    def worst_recovery_s(self) -> float | None:
        """The slowest region's recovery; inf when a region never recovered; None when unmeasured."""
        if not self.recovery:
            return None
        if any(r.recovery_s is None for r in self.recovery):
            return math.inf
        return max(r.recovery_s for r in self.recovery if r.recovery_s is not None)


def _recovery(journal: Journal) -> tuple[RecoveryFigure, ...]:
    by_region: dict[str, RecoveryFigure] = {}
    for r in journal.recovery:
        kind, _ = recovery_result(r)
        met = None if kind == "none" else kind == "met"
        old = by_region.get(r.region)
        if old is None:
            by_region[r.region] = RecoveryFigure(region=r.region, recovery_s=r.recovery_s, met=met)
            continue
        worse_time = old.recovery_s is not None and (r.recovery_s is None or r.recovery_s > old.recovery_s)
        by_region[r.region] = RecoveryFigure(
            region=r.region,
            recovery_s=r.recovery_s if worse_time else old.recovery_s,
            met=None if old.met is None and met is None else bool(old.met is not False and met is not False),
        )
    return tuple(by_region.values())


def outcome_of_run(file: str, run_dir: Path, exit_code: int | None = None) -> Outcome:
    """The outcome of a run that wrote a journal (or at least events) into `run_dir`;
    `exit_code`: what the run returned (default: its status's code; a crashed run is 4)."""
    from ..result import EXIT_CODES

    journal = load_journal(run_dir)
    if exit_code is None:
        exit_code = next((c for s, c in EXIT_CODES.items() if s == journal.status), 4)
    return Outcome(
        file=file,
        title=journal.experiment.title,
        status=journal.status,
        exit_code=exit_code,
        reason=journal.reason,
        score=score_journal(journal).value,
        run_id=journal.run_id,
        started_at=journal.started_at,
        ended_at=journal.ended_at,
        duration_s=journal.duration_s,
        run_dir=run_dir,
        recovery=_recovery(journal),
        journal=journal,
    )


def outcome_not_run(file: str, title: str, reason: str, exit_code: int, status: str = "invalid") -> Outcome:
    """An experiment that never ran: its file was invalid, its targets refused, its secrets missing."""
    return Outcome(file=file, title=title, status=status, exit_code=exit_code, reason=reason)
