"""journal.json's wire dict (docs/journal.md) -> report.data.Journal: the one place it is read.

Parsing is tolerant and never raises on missing or odd fields: a journal of a crashed or
interrupted run may lack keys, hold pending faults or columns of unequal length. What does
not fit is dropped or given a default (an unknown undo is "pending", a row without a time
is dropped, columns are cut to the shortest); what the reader should know (no or an unknown
status, a newer schema_version, signals, the events fold's notes) goes into Journal.notes,
which the report shows. A file that is not a journal at all is `report.load_journal`'s to
refuse (InvalidInput).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import cast

import numpy as np
import numpy.typing as npt

from .data import (
    SCHEMA_VERSION,
    STATUSES,
    UNDO_RESULTS,
    ExperimentInfo,
    FaultRecord,
    GuardrailInfo,
    GuardrailTrip,
    HostInfo,
    Journal,
    MatrixCell,
    NotTaken,
    PhasePlan,
    PhaseSpan,
    ProbeInfo,
    Recovery,
    RegionInfo,
    RollbackRecord,
    Series,
    Status,
    StepInfo,
    Verdict,
)

__all__ = ["parse_journal"]


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
        not_taken=w.integer("not_taken"),
        inconclusive=w.flag("inconclusive") is True,
        limits=tuple((k, v) for k in sorted(w.obj("limits")._d) if (v := w.obj("limits").num(k)) is not None),
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
        undo=undo if undo in UNDO_RESULTS else "pending",
        error=w.opt_text("error"),
        setup=w.flag("setup") or False,
        updates=w.strs("updates"),
        missing_s=w.num("missing_s"),
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
        not_taken=tuple(
            NotTaken(
                from_s=f,
                to_s=max(f, n.num("to_s") or f),
                reason=n.text("reason"),
                probe=n.opt_text("probe") or None,
                region=n.opt_text("region") or None,
                samples=n.integer("samples"),
            )
            for n in w.objs("not_taken")
            if (f := n.num("from_s")) is not None
        ),
        matrix=_matrix(w),
        notes=tuple(notes),
    )


def _matrix(w: _Wire) -> tuple[MatrixCell, ...]:
    """The last `agent_matrix` event's cells (the run's totals), if the run had one."""
    last = [e for e in w.objs("events") if e.text("type") == "agent_matrix"][-1:]
    return tuple(
        MatrixCell(source=c.text("from", "?"), target=c.text("to", "?"), samples=c.integer("samples"),
                   ok=c.integer("ok"))
        for e in last
        for c in e.objs("cells")
    )  # fmt: skip
