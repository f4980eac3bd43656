"""What a run produced, as the engine records it (the journal turns it into JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .judging.verdict import PhaseVerdict, RecoveryResult
from .model import Phase

__all__ = [
    "EXIT_CODES",
    "FaultRecord",
    "GuardrailTrip",
    "NotTakenSpan",
    "PhaseSpan",
    "RollbackRecord",
    "RunResult",
    "Status",
]

Status = Literal["held", "deviated", "not_steady", "aborted", "error", "rollback_failed", "inconclusive"]

# The one table from status to exit code (the CLI uses it; README documents it).
EXIT_CODES: dict[Status, int] = {
    "held": 0,
    "deviated": 1,
    "aborted": 3,
    "error": 4,
    "rollback_failed": 5,
    "not_steady": 6,
    "inconclusive": 7,
}


@dataclass(slots=True, kw_only=True)
class PhaseSpan:
    name: Phase
    start_s: float
    started_at: float
    end_s: float | None = None
    ended_at: float | None = None


@dataclass(slots=True, kw_only=True)
class FaultRecord:
    id: str
    name: str
    kind: str
    target: str
    region: str | None
    description: str
    setup: bool = False
    applied_s: float | None = None
    applied_at: float | None = None
    removed_s: float | None = None
    removed_at: float | None = None
    undo: Literal["ok", "failed", "not_applied", "pending"] = "not_applied"
    error: str | None = None
    missing_s: float | None = None  # found no longer in place at this time (verified while it lasts)


@dataclass(slots=True, kw_only=True)
class RollbackRecord:
    name: str
    ok: bool
    error: str | None
    t: float


@dataclass(slots=True, kw_only=True)
class GuardrailTrip:
    name: str
    region: str
    t: float
    evidence: str
    reaction_ms: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NotTakenSpan:
    """A stretch of time in which chaosrun could not take (or time) samples honestly: a run of one
    series' samples not taken (probe and region set), or a stall of its event loop (both None)."""

    from_s: float
    to_s: float
    reason: str
    probe: str | None = None
    region: str | None = None
    samples: int = 0


@dataclass(slots=True, kw_only=True)
class RunResult:
    run_id: str
    status: Status = "error"
    reason: str = ""
    started_at: float = 0.0
    ended_at: float = 0.0
    duration_s: float = 0.0
    phases: list[PhaseSpan] = field(default_factory=list)
    verdicts: list[PhaseVerdict] = field(default_factory=list)
    recovery: list[RecoveryResult] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    rollbacks: list[RollbackRecord] = field(default_factory=list)
    guardrails: list[GuardrailTrip] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    remaining: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)
    not_taken: list[NotTakenSpan] = field(default_factory=list)  # bounded (sampling's span cap)
