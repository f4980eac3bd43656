"""The journal as typed, frozen data: what the reports read, and all they read.

`report.wire.parse_journal` builds it from the wire dict (docs/journal.md), once; nothing
past that module sees the wire dict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "PHASE_ORDER",
    "SCHEMA_VERSION",
    "STATUSES",
    "UNDO_RESULTS",
    "ExperimentInfo",
    "FaultRecord",
    "GuardrailInfo",
    "GuardrailTrip",
    "HostInfo",
    "Journal",
    "MatrixCell",
    "NotTaken",
    "PhasePlan",
    "PhaseSpan",
    "ProbeInfo",
    "Recovery",
    "RegionInfo",
    "RollbackRecord",
    "Series",
    "Status",
    "StepInfo",
    "UndoResult",
    "Verdict",
]

Status = Literal["held", "deviated", "not_steady", "aborted", "error", "rollback_failed", "crashed", "inconclusive"]
STATUSES: tuple[Status, ...] = (
    "held",
    "deviated",
    "not_steady",
    "aborted",
    "error",
    "rollback_failed",
    "crashed",
    "inconclusive",
)
UndoResult = Literal["ok", "failed", "not_applied", "pending"]
UNDO_RESULTS: tuple[UndoResult, ...] = ("ok", "failed", "not_applied", "pending")
PHASE_ORDER = ("baseline", "fault", "recovery")
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class HostInfo:
    hostname: str = ""
    platform: str = ""
    python: str = ""
    pid: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionInfo:
    name: str
    base_url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeInfo:
    name: str
    kind: str = ""
    target: str = ""
    every_s: float | None = None
    tolerance: str = ""
    during: str = ""
    recover_within_s: float | None = None
    regions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class StepInfo:
    name: str
    kind: str = ""
    start_s: float | None = None
    duration_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardrailInfo:
    name: str
    condition: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PhasePlan:
    baseline_s: float = 0.0
    fault_s: float = 0.0
    recovery_s: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ExperimentInfo:
    title: str = "untitled experiment"
    description: str = ""
    tags: tuple[str, ...] = ()
    source: str = ""
    source_text: str = ""
    regions: tuple[RegionInfo, ...] = ()
    phases: PhasePlan = PhasePlan()
    probes: tuple[ProbeInfo, ...] = ()
    method: tuple[StepInfo, ...] = ()
    guardrails: tuple[GuardrailInfo, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseSpan:
    name: str
    start_s: float
    end_s: float | None  # None: the run ended (or crashed) in this phase
    started_at: str = ""
    ended_at: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """All samples of one probe in one region, as columns of equal length."""

    probe: str
    region: str
    t: tuple[float, ...]
    latency_ms: tuple[float, ...]  # nan where nothing was measured
    ok: tuple[bool, ...]
    status: tuple[int | None, ...]
    error: tuple[int, ...]  # index into Journal.sample_errors; -1: no error

    def __len__(self) -> int:
        return len(self.t)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    probe: str
    region: str
    phase: str
    judged: bool
    held: bool | None
    samples: int = 0
    failures: int = 0
    success_ratio: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    mean_ms: float | None = None
    tolerance: str = ""
    reasons: tuple[str, ...] = ()
    not_taken: int = 0  # samples chaosrun could not take or time (not in the figures above)
    inconclusive: bool = False
    limits: tuple[tuple[str, float], ...] = ()  # the tolerance as numbers: success_ratio, p95_ms, ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Recovery:
    probe: str
    region: str
    recovery_s: float | None  # None: it did not recover
    objective_s: float | None
    met: bool | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRecord:
    id: str
    name: str
    kind: str = ""
    target: str = ""
    region: str | None = None  # None: every region
    description: str = ""
    applied_s: float | None = None
    removed_s: float | None = None
    applied_at: str = ""
    removed_at: str = ""
    undo: UndoResult = "pending"
    error: str | None = None
    setup: bool = False
    updates: tuple[str, ...] = ()
    missing_s: float | None = None  # found no longer in place at this time (a gap in the fault window)


@dataclass(frozen=True, slots=True, kw_only=True)
class RollbackRecord:
    name: str
    ok: bool | None
    error: str | None = None
    t: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardrailTrip:
    name: str
    tripped: bool
    region: str | None = None
    t: float | None = None
    evidence: str = ""
    reaction_ms: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MatrixCell:
    """Region-to-region probing (in-cluster agents with `matrix: true`): from one region's
    cluster to another region's endpoint, how many samples and how many succeeded."""

    source: str
    target: str
    samples: int
    ok: int


@dataclass(frozen=True, slots=True, kw_only=True)
class NotTaken:
    """Samples chaosrun could not take honestly (a series' run of them, or a stall: no probe/region)."""

    from_s: float
    to_s: float
    reason: str = ""
    probe: str | None = None
    region: str | None = None
    samples: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Journal:
    """One run, as the report sees it."""

    schema_version: int = SCHEMA_VERSION
    chaosrun_version: str = ""
    run_id: str = ""
    status: Status = "crashed"
    reason: str = ""
    started_at: str = ""
    ended_at: str = ""
    duration_s: float | None = None
    host: HostInfo = HostInfo()
    command: str = ""
    experiment: ExperimentInfo = ExperimentInfo()
    phases: tuple[PhaseSpan, ...] = ()
    sample_errors: tuple[str, ...] = ()
    series: tuple[Series, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    recovery: tuple[Recovery, ...] = ()
    faults: tuple[FaultRecord, ...] = ()
    rollbacks: tuple[RollbackRecord, ...] = ()
    guardrails: tuple[GuardrailTrip, ...] = ()
    errors: tuple[str, ...] = ()
    remaining: tuple[str, ...] = ()
    not_taken: tuple[NotTaken, ...] = ()
    matrix: tuple[MatrixCell, ...] = ()
    notes: tuple[str, ...] = ()  # what the parser had to guess or drop, shown in the report

    @property
    def regions(self) -> tuple[str, ...]:
        """Region names: the experiment's order first, then any only seen in data."""
        names = [r.name for r in self.experiment.regions]
        names += [s.region for s in self.series] + [v.region for v in self.verdicts]
        return tuple(dict.fromkeys(names))

    @property
    def probes(self) -> tuple[str, ...]:
        names = [p.name for p in self.experiment.probes]
        names += [s.probe for s in self.series] + [v.probe for v in self.verdicts]
        return tuple(dict.fromkeys(names))

    @property
    def end_s(self) -> float:
        """The last moment the journal knows of (seconds since start)."""
        ends = [self.duration_s or 0.0]
        ends += [p.end_s if p.end_s is not None else p.start_s for p in self.phases]
        ends += [s.t[-1] for s in self.series if s.t]
        ends += [f.removed_s or f.applied_s or 0.0 for f in self.faults]
        return max(ends)

    def phase_bounds(self) -> list[tuple[str, float, float]]:
        """(phase, start_s, end_s): a sample at t belongs to the phase with start <= t < end.

        A phase ends where the next one starts; the last one never ends (open to the right).
        """
        spans = sorted(self.phases, key=lambda p: p.start_s)
        if not spans:  # the run ended before its baseline (e.g. a preflight error or a stop signal)
            return []
        ends = [p.start_s for p in spans[1:]] + [math.inf]
        return [(p.name, p.start_s, end) for p, end in zip(spans, ends, strict=True)]
