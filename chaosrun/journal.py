"""The only writer of run output: events as JSON Lines while the run goes, journal.json at the end.

Format: docs/journal.md (schema_version 1). Every line and file passes through the
redactor, so a secret value never reaches disk even when a probe echoes it in an error.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import socket
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from . import __version__
from .faults.base import JSON
from .model import Experiment, Guardrail, Probe, ProbeSpec
from .result import RunResult
from .safety.secret import Redactor
from .sample import Sample
from .units import format_duration

if TYPE_CHECKING:
    from .judging.verdict import Stats

__all__ = ["SCHEMA_VERSION", "Clock", "JournalWriter", "Redactor", "fallback_dirs", "iso", "probe_target"]

SCHEMA_VERSION = 1
_FLUSH_EVERY_S = 1.0
_FLUSH_EVERY_N = 2000


def iso(epoch: float | None) -> str | None:
    """UTC ISO 8601 with milliseconds and Z."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Clock:
    """The run's two clocks: monotonic seconds since start, and UTC wall time."""

    def __init__(self) -> None:
        self.mono0 = time.monotonic()
        self.wall0 = time.time()

    def t(self) -> float:
        return time.monotonic() - self.mono0

    def wall(self, t: float | None = None) -> float:
        return self.wall0 + (self.t() if t is None else t)


def probe_target(spec: ProbeSpec) -> str:
    """Short text naming what a probe hits."""
    from .model import (
        BurnRateProbe,
        ChaosToolkitProbe,
        CommandProbe,
        HttpProbe,
        KubernetesProbe,
        PrometheusProbe,
        PythonProbe,
        TcpProbe,
    )

    match spec:
        case HttpProbe(method=method, url=url):
            return f"{method} {url}"
        case TcpProbe(host=host, port=port):
            return f"tcp {host or '<region host>'}:{port}"
        case CommandProbe(argv=argv):
            return " ".join(argv)
        case PythonProbe(file=file, function=function):
            return f"{Path(file).name}:{function}"
        case ChaosToolkitProbe(provider_json=provider_json):
            return f"chaostoolkit {provider_json[:80]}"
        case PrometheusProbe(query=query):
            return f"promql {query[:80]}"
        case BurnRateProbe(objective=objective, factor=factor):
            return f"burn rate > {factor:g}x (SLO {objective * 100:g}%)"
        case KubernetesProbe(namespace=ns, selector=selector, deployment=deployment):
            return f"pods {ns}/{selector}" if selector else f"deployment {ns}/{deployment}"
    return type(spec).__name__


def _kind(spec: ProbeSpec) -> str:
    """The probe's key in the experiment file: `http`, `burn_rate`, ..."""
    name = type(spec).__name__.removesuffix("Probe").lower()
    return "burn_rate" if name == "burnrate" else name


_NO_STATUS = -(2**31)
_SPILL_EVERY = 65536  # samples per series kept in memory before they go to a scratch file


@dataclass(slots=True)
class _Columns:
    """One series' samples for journal.json, in bounded memory: compact columns, moved to an
    unnamed scratch file every `_SPILL_EVERY` samples and read back once, by `build`."""

    t: array[float] = field(default_factory=lambda: array("d"))
    latency_ms: array[float] = field(default_factory=lambda: array("d"))
    ok: array[int] = field(default_factory=lambda: array("b"))
    status: array[int] = field(default_factory=lambda: array("i"))
    error: array[int] = field(default_factory=lambda: array("i"))
    spilled: list[int] = field(default_factory=list)  # sizes of the chunks in `scratch`
    scratch: IO[bytes] | None = None

    def spill(self) -> None:
        if self.scratch is None:
            self.scratch = tempfile.TemporaryFile()  # noqa: SIM115  (closed by `read_all`)
        self.spilled.append(len(self.t))
        for col in self._all():
            col.tofile(self.scratch)
            del col[:]

    def _all(self) -> tuple[array[float], array[float], array[int], array[int], array[int]]:
        return self.t, self.latency_ms, self.ok, self.status, self.error

    def read_all(self) -> tuple[array[float], array[float], array[int], array[int], array[int]]:
        """Every sample, in order (the scratch file is then closed)."""
        if self.scratch is None:
            return self._all()
        out: tuple[array[float], array[float], array[int], array[int], array[int]] = (
            array("d"),
            array("d"),
            array("b"),
            array("i"),
            array("i"),
        )
        self.scratch.seek(0)
        for n in self.spilled:
            for col in out:
                col.fromfile(self.scratch, n)
        out[0].extend(self.t)
        out[1].extend(self.latency_ms)
        out[2].extend(self.ok)
        out[3].extend(self.status)
        out[4].extend(self.error)
        self.scratch.close()
        self.scratch = None
        return out


def _num(x: float, digits: int) -> float | None:
    return None if math.isnan(x) else round(x, digits)


class JournalWriter:
    """Appends events to `events.jsonl` (flushed) and folds them into `journal.json`."""

    def __init__(self, out_dir: Path, *, run_id: str, clock: Clock, redact: Redactor) -> None:
        self.out_dir = out_dir
        self.run_id = run_id
        self.clock = clock
        self.redact = redact
        self.events_path = out_dir / "events.jsonl"
        self.journal_path = out_dir / "journal.json"
        # Output never blocks undo: a write that fails is counted and reported once (`on_error`),
        # and the run goes on; journal.json then goes to a fallback folder (`finish`).
        self.write_errors = 0
        self.first_write_error: str | None = None
        self.on_error: Callable[[str], None] | None = None
        self._fh: IO[str] | None = None
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.events_path, "a", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            self._write_failed(self.events_path, exc)
        self._seq = 0
        self._batch: list[list[JSON]] = []
        self._last_flush = time.monotonic()
        self._series: dict[tuple[str, str], _Columns] = {}
        self._errors: dict[str, int] = {}
        self.events: list[dict[str, JSON]] = []  # non-sample events, for journal.json
        # live observers (`run --metrics`): called with every event and sample; their failure is ignored
        self.on_event: Callable[[str, dict[str, JSON]], None] | None = None
        self.on_sample: Callable[[Sample], None] | None = None

    # -- events ---------------------------------------------------------------------------
    def event(self, type_: str, **fields: JSON) -> None:
        """Append one event line and flush it to the OS."""
        t = self.clock.t()
        record: dict[str, JSON] = {"seq": self._seq, "t": round(t, 4), "at": iso(self.clock.wall(t)), "type": type_}
        record.update(fields)
        self._seq += 1
        if self.on_event is not None:
            with contextlib.suppress(Exception):
                self.on_event(type_, fields)
        if type_ != "samples":
            self.events.append(record)
        self._write(record)

    def run_started(self, experiment: Experiment, *, command: str = "", **fields: JSON) -> None:
        """The first event. It carries what journal.json's header holds (the experiment summary,
        host and chaosrun version, in journal.json's shapes), so that events.jsonl alone, left by
        a killed run, rebuilds a report with its title, its set-up and its faults' names."""
        self.event(
            "run_started",
            run_id=self.run_id,
            experiment=experiment_summary(experiment),
            chaosrun_version=__version__,
            host=host_info(),
            pid=os.getpid(),
            command=command,
            **fields,
        )

    def _write(self, record: dict[str, JSON]) -> None:
        if self._fh is None:
            return
        try:
            self._fh.write(self.redact(json.dumps(record, separators=(",", ":"))) + "\n")
            self._fh.flush()
        except OSError as exc:  # a full disk, a deleted --out: counted, never raised into an undo
            self._write_failed(self.events_path, exc)

    def _write_failed(self, path: Path, exc: OSError) -> None:
        """Count a failed write; the first one is reported once (`on_error`)."""
        self.write_errors += 1
        if self.first_write_error is None:
            self.first_write_error = f"cannot write {path}: {exc.strerror or exc}"
            if self.on_error is not None:
                with contextlib.suppress(Exception):
                    self.on_error(self.first_write_error)

    def sample(self, s: Sample) -> None:
        """Record one sample (columns for journal.json; batched into a `samples` event)."""
        if self.on_sample is not None:
            with contextlib.suppress(Exception):
                self.on_sample(s)
        cols = self._series.get((s.probe, s.region))
        if cols is None:
            cols = self._series[(s.probe, s.region)] = _Columns()
        cols.t.append(s.t_s)
        cols.latency_ms.append(math.nan if s.latency_s is None else s.latency_s * 1000)
        cols.ok.append(1 if s.ok else 0)
        cols.status.append(_NO_STATUS if s.status is None else s.status)
        if s.error is None:
            cols.error.append(-1)
        else:
            idx = self._errors.get(s.error)
            if idx is None:
                idx = self._errors[s.error] = len(self._errors)
            cols.error.append(idx)
        if len(cols.t) >= _SPILL_EVERY:
            cols.spill()
        lat = None if s.latency_s is None else round(s.latency_s * 1000, 3)
        row: list[JSON] = [s.probe, s.region, s.phase, round(s.t_s, 4), int(s.ok), lat, s.status, s.error]
        if s.retried:
            row.append(1)
        self._batch.append(row)
        if len(self._batch) >= _FLUSH_EVERY_N or time.monotonic() - self._last_flush >= _FLUSH_EVERY_S:
            self.flush_samples()

    def flush_samples(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self.event("samples", batch=batch)  # type: ignore[arg-type]
        self._last_flush = time.monotonic()

    def close(self) -> None:
        self.flush_samples()
        if self._fh is not None:
            fh, self._fh = self._fh, None
            try:
                fh.close()
            except OSError as exc:
                self._write_failed(self.events_path, exc)

    # -- journal.json ------------------------------------------------------------------------
    def finish(
        self,
        experiment: Experiment,
        result: RunResult,
        *,
        command: str,
        score_of: Callable[[dict[str, JSON]], JSON] | None = None,
        fallback: Sequence[Path] = (),
    ) -> tuple[Path | None, JSON]:
        """Build the journal once, add its score (`score_of`, a pure function of the journal),
        write journal.json atomically and redacted; returns its path and the score.

        When the output folder cannot take it (full, deleted, read-only), journal.json goes to
        the first `fallback` folder that can (see `fallback_dirs`); the path is None when no
        folder could."""
        self.close()
        doc = self.build(experiment, result, command=command)
        if score_of is not None:
            doc["score"] = score_of(doc)
        text = self.redact(json.dumps(doc, separators=(",", ":"), allow_nan=False))
        for folder in (self.out_dir, *fallback):
            path = folder / "journal.json"
            tmp = path.with_suffix(".json.tmp")
            try:
                folder.mkdir(parents=True, exist_ok=True)
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, path)
            except OSError as exc:
                self._write_failed(path, exc)
                with contextlib.suppress(OSError):
                    tmp.unlink()
                continue
            self.journal_path = path
            return path, doc["score"]
        return None, doc["score"]

    def build(self, experiment: Experiment, result: RunResult, *, command: str) -> dict[str, JSON]:
        """The journal's wire shape, built in this one place."""
        errors = [e for e, _ in sorted(self._errors.items(), key=lambda kv: kv[1])]
        series: list[JSON] = []
        for (probe, region), c in self._series.items():
            t, latency_ms, ok, status, error = c.read_all()
            series.append(
                {
                    "probe": probe,
                    "region": region,
                    "t": [round(x, 4) for x in t],
                    "latency_ms": [_num(x, 3) for x in latency_ms],
                    "ok": list(ok),
                    "status": [None if x == _NO_STATUS else x for x in status],
                    "error": list(error),
                }
            )
        return {
            "schema_version": SCHEMA_VERSION,
            "chaosrun_version": __version__,
            "run_id": result.run_id,
            "status": result.status,
            "reason": result.reason,
            "started_at": iso(result.started_at),
            "ended_at": iso(result.ended_at),
            "duration_s": round(result.duration_s, 3),
            "host": host_info(),
            "command": command,
            "experiment": experiment_summary(experiment),
            "phases": [
                {
                    "name": p.name,
                    "start_s": round(p.start_s, 4),
                    "end_s": None if p.end_s is None else round(p.end_s, 4),
                    "started_at": iso(p.started_at),
                    "ended_at": iso(p.ended_at),
                }
                for p in result.phases
            ],
            "samples": {"errors": errors, "series": series},  # type: ignore[dict-item]
            "verdicts": [
                {
                    "probe": v.probe,
                    "region": v.region,
                    "phase": v.phase,
                    "judged": v.judged,
                    "held": v.held,
                    **_stats_json(v.stats),
                    "tolerance": v.tolerance,
                    "limits": {name: round(value, 6) for name, value in v.limits},
                    "reasons": list(v.reasons),
                    "inconclusive": v.inconclusive,
                }
                for v in result.verdicts
            ],
            "recovery": [
                {
                    "probe": r.probe,
                    "region": r.region,
                    "recovery_s": None if r.recovery_s is None else round(r.recovery_s, 3),
                    "objective_s": r.objective_s,
                    "met": r.met,
                }
                for r in result.recovery
            ],
            "faults": [
                {
                    "id": f.id,
                    "name": f.name,
                    "kind": f.kind,
                    "target": f.target,
                    "region": f.region,
                    "description": f.description,
                    "setup": f.setup,
                    "applied_s": None if f.applied_s is None else round(f.applied_s, 4),
                    "removed_s": None if f.removed_s is None else round(f.removed_s, 4),
                    "applied_at": iso(f.applied_at),
                    "removed_at": iso(f.removed_at),
                    "undo": f.undo,
                    "error": f.error,
                    "missing_s": None if f.missing_s is None else round(f.missing_s, 4),
                }
                for f in result.faults
            ],
            "rollbacks": [{"name": r.name, "ok": r.ok, "error": r.error, "t": round(r.t, 4)} for r in result.rollbacks],
            "guardrails": [
                {
                    "name": g.name,
                    "tripped": True,
                    "region": g.region,
                    "t": round(g.t, 4),
                    "evidence": g.evidence,
                    "reaction_ms": None if g.reaction_ms is None else round(g.reaction_ms, 2),
                }
                for g in result.guardrails
            ],
            "errors": list(result.errors),
            "remaining": list(result.remaining),
            "signals": list(result.signals),
            "not_taken": [
                {
                    "probe": n.probe,
                    "region": n.region,
                    "from_s": round(n.from_s, 4),
                    "to_s": round(n.to_s, 4),
                    "samples": n.samples,
                    "reason": n.reason,
                }
                for n in result.not_taken
            ],
            "events": self.events,  # type: ignore[dict-item]
            "score": None,  # set by finish(score_of=...): a pure function of this journal
        }


def fallback_dirs(state_dir: Path, run_id: str) -> list[Path]:
    """Where journal.json goes when `--out` cannot take it: `<state folder>/journals/<run id>/`,
    else `<system temp folder>/chaosrun-<run id>/` (docs/journal.md)."""
    return [state_dir / "journals" / run_id, Path(tempfile.gettempdir()) / f"chaosrun-{run_id}"]


def _stats_json(s: Stats) -> dict[str, JSON]:
    return {
        "samples": s.samples,
        "failures": s.failures,
        "success_ratio": _num(s.success_ratio, 5),
        "p50_ms": _num(s.p50_s * 1000, 3),
        "p95_ms": _num(s.p95_s * 1000, 3),
        "p99_ms": _num(s.p99_s * 1000, 3),
        "max_ms": _num(s.max_s * 1000, 3),
        "mean_ms": _num(s.mean_s * 1000, 3),
        "not_taken": s.not_taken,
    }


def host_info() -> dict[str, JSON]:
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "pid": os.getpid(),
    }


def _guardrail_text(g: Guardrail) -> str:
    parts = []
    if g.success_ratio is not None:
        parts.append(f"success_ratio {g.success_ratio.describe('ratio')}")
    if g.p99 is not None:
        parts.append(f"p99 {g.p99.describe('s')}")
    text = ", ".join(parts)
    if text:
        text += f" over {format_duration(g.window_s)}"
    if g.consecutive_failures is not None:
        text += f"{'; ' if text else ''}trips after {g.consecutive_failures} consecutive failures"
    return text


def _probe_json(p: Probe) -> dict[str, JSON]:
    return {
        "name": p.name,
        "kind": _kind(p.spec),
        "target": probe_target(p.spec),
        "every_s": p.every_s,
        "tolerance": p.tolerance.describe(),
        "during": "not judged" if p.during is None else p.during.describe(),
        "recover_within_s": p.recover_within_s,
        "regions": list(p.regions),
    }


def experiment_summary(e: Experiment) -> dict[str, JSON]:
    """The experiment as the journal shows it (no secret values: they are never in the model)."""
    return {
        "title": e.title,
        "description": e.description,
        "tags": list(e.tags),
        "source": e.source,
        "source_text": e.source_text,
        "regions": [{"name": r.name, "base_url": r.base_url} for r in e.regions],
        "phases": {"baseline_s": e.phases.baseline_s, "fault_s": e.phases.fault_s, "recovery_s": e.phases.recovery_s},
        "probes": [_probe_json(p) for p in e.probes],
        "method": [
            {"name": s.name, "kind": s.kind, "start_s": s.start_s, "duration_s": s.duration_s} for s in e.method
        ],
        "guardrails": [{"name": g.name, "condition": _guardrail_text(g)} for g in e.guardrails],
        "variables": dict(e.variables),
    }
