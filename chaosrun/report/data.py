"""The journal as typed, frozen data: the wire dict (docs/journal.md) is parsed here, once.

Parsing is tolerant: a journal of a crashed or interrupted run may lack keys, hold pending
faults or columns of unequal length. Nothing past this module sees the wire dict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import numpy.typing as npt

__all__ = [
    "PHASE_ORDER",
    "STATUSES",
    "ExperimentInfo",
    "FaultRecord",
    "GuardrailInfo",
    "GuardrailTrip",
    "HostInfo",
    "Journal",
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
    "parse_journal",
]

Status = Literal["held", "deviated", "not_steady", "aborted", "error", "rollback_failed", "crashed"]
STATUSES: tuple[Status, ...] = ("held", "deviated", "not_steady", "aborted", "error", "rollback_failed", "crashed")
UndoResult = Literal["ok", "failed", "not_applied", "pending"]
_UNDO: tuple[UndoResult, ...] = ("ok", "failed", "not_applied", "pending")
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
        ends = [p.start_s for p in spans[1:]] + [math.inf]
        return [(p.name, p.start_s, end) for p, end in zip(spans, ends, strict=True)]


class _Wire:
    """Typed, forgiving reads from one JSON object."""

    __slots__ = ("_d",)

    def __init__(self, value: object) -> None:
        self._d: Mapping[str, object] = cast(Mapping[str, object], value) if isinstance(value, dict) else {}

    def has(self, key: str) -> bool:
        return key in self._d

    def text(self, key: str, default: str = "") -> str:
        value = self._d.get(key)
        if value is None:
            return default
        return value if isinstance(value, str) else _text(value)

    def opt_text(self, key: str) -> str | None:
        return None if self._d.get(key) is None else self.text(key)

    def num(self, key: str) -> float | None:
        value = self._d.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value) if math.isfinite(value) else None

    def integer(self, key: str, default: int = 0) -> int:
        value = self.num(key)
        return default if value is None else int(value)

    def flag(self, key: str) -> bool | None:
        value = self._d.get(key)
        return value if isinstance(value, bool) else None

    def items(self, key: str) -> list[object]:
        value = self._d.get(key)
        return list(value) if isinstance(value, list) else []

    def obj(self, key: str) -> _Wire:
        return _Wire(self._d.get(key))

    def objs(self, key: str) -> list[_Wire]:
        return [_Wire(v) for v in self.items(key) if isinstance(v, dict)]

    def strs(self, key: str) -> tuple[str, ...]:
        return tuple(v if isinstance(v, str) else _text(v) for v in self.items(key) if v is not None)


def _text(value: object) -> str:
    """A JSON value as one line of text (for lists of objects where text was expected)."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    return "" if value is None else str(value)


def _column(values: list[object], n: int) -> npt.NDArray[np.float64]:
    """A numeric column cut or padded to length n: None (or junk) becomes nan."""
    try:
        arr = np.asarray(values[:n], dtype=float)
    except (TypeError, ValueError):
        arr = np.asarray([v if isinstance(v, int | float) else None for v in values[:n]], dtype=float)
    return np.concatenate([arr, np.full(n - len(arr), np.nan)]) if len(arr) < n else arr


def _series(w: _Wire, n_errors: int) -> Series:
    t, lat, ok, status, err = (w.items(k) for k in ("t", "latency_ms", "ok", "status", "error"))
    n = min(len(t), len(lat), len(ok)) if ok else min(len(t), len(lat))
    times = _column(t, n)
    placed = ~np.isnan(times)  # rows without a time cannot be placed: dropped
    oks = _column(ok, n) if ok else np.ones(n)
    codes = _column(status, n)
    errors = np.nan_to_num(_column(err, n), nan=-1.0)
    errors[(errors < 0) | (errors >= n_errors) | (errors != np.floor(errors))] = -1
    return Series(
        probe=w.text("probe", "?"),
        region=w.text("region", "?"),
        t=tuple(times[placed].tolist()),
        latency_ms=tuple(_column(lat, n)[placed].tolist()),
        ok=tuple((np.nan_to_num(oks[placed]) != 0).tolist()),
        status=tuple(None if math.isnan(c) else int(c) for c in codes[placed].tolist()),
        error=tuple(errors[placed].astype(np.int64).tolist()),
    )


def _experiment(w: _Wire) -> ExperimentInfo:
    phases = w.obj("phases")
    variables = w.obj("variables")
    return ExperimentInfo(
        title=w.text("title") or "untitled experiment",
        description=w.text("description"),
        tags=w.strs("tags"),
        source=w.text("source"),
        source_text=w.text("source_text"),
        regions=tuple(RegionInfo(name=r.text("name", "?"), base_url=r.opt_text("base_url")) for r in w.objs("regions")),
        phases=PhasePlan(
            baseline_s=phases.num("baseline_s") or 0.0,
            fault_s=phases.num("fault_s") or 0.0,
            recovery_s=phases.num("recovery_s") or 0.0,
        ),
        probes=tuple(
            ProbeInfo(
                name=p.text("name", "?"),
                kind=p.text("kind"),
                target=p.text("target"),
                every_s=p.num("every_s"),
                tolerance=p.text("tolerance"),
                during=p.text("during"),
                recover_within_s=p.num("recover_within_s"),
                regions=p.strs("regions"),
            )
            for p in w.objs("probes")
        ),
        method=tuple(
            StepInfo(
                name=m.text("name", "?"), kind=m.text("kind"), start_s=m.num("start_s"), duration_s=m.num("duration_s")
            )
            for m in w.objs("method")
        ),
        guardrails=tuple(
            GuardrailInfo(name=g.text("name", "?"), condition=g.text("condition")) for g in w.objs("guardrails")
        ),
        variables=tuple((k, variables.text(k)) for k in sorted(variables._d)),
    )


def _verdict(w: _Wire) -> Verdict:
    judged = w.flag("judged")
    held = w.flag("held")
    return Verdict(
        probe=w.text("probe", "?"),
        region=w.text("region", "?"),
        phase=w.text("phase", "?"),
        judged=judged if judged is not None else held is not None,
        held=held,
        samples=w.integer("samples"),
        failures=w.integer("failures"),
        success_ratio=w.num("success_ratio"),
        p50_ms=w.num("p50_ms"),
        p95_ms=w.num("p95_ms"),
        p99_ms=w.num("p99_ms"),
        max_ms=w.num("max_ms"),
        mean_ms=w.num("mean_ms"),
        tolerance=w.text("tolerance"),
        reasons=w.strs("reasons"),
    )


def _fault(w: _Wire, index: int) -> FaultRecord:
    undo = w.text("undo", "pending")
    fid = w.text("id") or f"f{index + 1}"
    return FaultRecord(
        id=fid,
        name=w.text("name") or fid,
        kind=w.text("kind"),
        target=w.text("target"),
        region=w.opt_text("region") or None,
        description=w.text("description"),
        applied_s=w.num("applied_s"),
        removed_s=w.num("removed_s"),
        applied_at=w.text("applied_at"),
        removed_at=w.text("removed_at"),
        undo=undo if undo in _UNDO else "pending",
        error=w.opt_text("error"),
        setup=w.flag("setup") or False,
        updates=w.strs("updates"),
    )


def parse_journal(wire: object) -> Journal:
    """The journal.json wire dict -> Journal. Never raises on missing or odd fields."""
    w = _Wire(wire)
    notes = list(w.strs("_notes"))  # set by the events fold
    signals = w.strs("signals")
    if signals:
        notes.append(f"signal received during the run: {', '.join(signals)}")
    version = w.integer("schema_version", SCHEMA_VERSION)
    if version > SCHEMA_VERSION:
        notes.append(f"journal schema_version {version} is newer than this chaosrun reads ({SCHEMA_VERSION})")
    status = w.text("status")
    if status not in STATUSES:
        notes.append(f"unknown status {status!r}: shown as error" if status else "no status: the run did not finish")
        status = "error" if status else "crashed"
    samples = w.obj("samples")
    sample_errors = samples.strs("errors")
    series = tuple(_series(s, len(sample_errors)) for s in samples.objs("series"))
    host = w.obj("host")
    return Journal(
        schema_version=version,
        chaosrun_version=w.text("chaosrun_version"),
        run_id=w.text("run_id"),
        status=cast(Status, status),
        reason=w.text("reason"),
        started_at=w.text("started_at"),
        ended_at=w.text("ended_at"),
        duration_s=w.num("duration_s"),
        host=HostInfo(
            hostname=host.text("hostname"),
            platform=host.text("platform"),
            python=host.text("python"),
            pid=host.integer("pid", -1) if host.num("pid") is not None else None,
        ),
        command=w.text("command"),
        experiment=_experiment(w.obj("experiment")),
        phases=tuple(
            PhaseSpan(
                name=p.text("name", "?"),
                start_s=p.num("start_s") or 0.0,
                end_s=p.num("end_s"),
                started_at=p.text("started_at"),
                ended_at=p.text("ended_at"),
            )
            for p in w.objs("phases")
        ),
        sample_errors=sample_errors,
        series=series,
        verdicts=tuple(_verdict(v) for v in w.objs("verdicts")),
        recovery=tuple(
            Recovery(
                probe=r.text("probe", "?"),
                region=r.text("region", "?"),
                recovery_s=r.num("recovery_s"),
                objective_s=r.num("objective_s"),
                met=r.flag("met"),
            )
            for r in w.objs("recovery")
        ),
        faults=tuple(_fault(f, i) for i, f in enumerate(w.objs("faults"))),
        rollbacks=tuple(
            RollbackRecord(name=r.text("name", "?"), ok=r.flag("ok"), error=r.opt_text("error"), t=r.num("t"))
            for r in w.objs("rollbacks")
        ),
        guardrails=tuple(
            GuardrailTrip(
                name=g.text("name", "?"),
                tripped=g.flag("tripped") is not False,
                region=g.opt_text("region") or None,
                t=g.num("t"),
                evidence=g.text("evidence"),
                reaction_ms=g.num("reaction_ms"),
            )
            for g in w.objs("guardrails")
        ),
        errors=w.strs("errors"),
        remaining=w.strs("remaining"),
        notes=tuple(notes),
    )
