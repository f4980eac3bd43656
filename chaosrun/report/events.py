"""Rebuild a journal from `events.jsonl`: the evidence a crashed or killed run leaves behind.

The fold yields the journal.json wire shape (docs/journal.md) so one parser reads both.
Events carry no verdicts: the report shows exact statistics for them, marked "not judged".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

__all__ = ["fold_events", "read_events"]


def read_events(path: Path) -> tuple[list[dict[str, object]], int]:
    """The events of a JSON Lines file, and how many lines could not be read (a torn last write)."""
    events: list[dict[str, object]] = []
    unreadable = 0
    with path.open("rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            try:
                event = json.loads(raw)
            except ValueError:
                unreadable += 1
                continue
            if isinstance(event, dict):
                events.append(event)
            else:
                unreadable += 1
    return events, unreadable


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _experiment(e: dict[str, object]) -> dict[str, object]:
    """The experiment summary of a `run_started` event. Older events.jsonl files hold only the
    title (a string) and the source file beside it: the summary is then just those two."""
    experiment = e.get("experiment")
    if isinstance(experiment, dict):
        return experiment
    summary: dict[str, object] = {"title": experiment if isinstance(experiment, str) else ""}
    if isinstance(e.get("source"), str):
        summary["source"] = e["source"]
    return summary


class _Fold:
    """The state of the fold: one wire journal being filled in, event by event."""

    def __init__(self) -> None:
        self.wire: dict[str, object] = {"schema_version": 1}
        self.phases: list[dict[str, object]] = []
        self.faults: dict[str, dict[str, object]] = {}
        self.rollbacks: list[dict[str, object]] = []
        self.guardrails: list[dict[str, object]] = []
        self.errors: list[str] = []
        self.sample_errors: dict[str, int] = {}
        self.columns: dict[tuple[str, str], dict[str, list[object]]] = {}
        self.signal: str | None = None
        self.first_at = ""
        self.last_at = ""
        self.last_t = 0.0

    def add(self, e: dict[str, object]) -> None:
        t = _num(e.get("t")) or 0.0
        at = str(e.get("at") or "")
        self.first_at = self.first_at or at
        self.last_at = at or self.last_at
        self.last_t = max(self.last_t, t)
        kind = e.get("type")
        if kind == "run_started":
            host = e.get("host")
            self.wire.update(
                run_id=e.get("run_id", ""),
                experiment=_experiment(e),
                chaosrun_version=e.get("chaosrun_version", ""),
                host=host if isinstance(host, dict) else {"hostname": str(host or ""), "pid": e.get("pid")},
                command=e.get("command", ""),
            )
        elif kind == "phase_started":
            if self.phases:
                self.phases[-1].update(end_s=t, ended_at=at)
            self.phases.append({"name": e.get("phase"), "start_s": t, "started_at": at})
        elif kind == "fault_applied":
            fid = str(e.get("fault") or f"f{len(self.faults) + 1}")
            # events.jsonl before the flag: set-up is what chaosrun applies before the baseline
            flag = e.get("setup")
            setup = flag if isinstance(flag, bool) else not self.phases
            self.faults[fid] = {
                "id": fid,
                "name": e.get("name") or self._fault_name(e, fid, setup=setup),
                "setup": setup,
                "kind": e.get("kind"),
                "target": e.get("target"),
                "region": e.get("region"),
                "description": e.get("description"),
                "applied_s": t,
                "applied_at": at,
                "undo": "pending",
                "updates": [],
            }
        elif kind == "fault_updated":
            fault = self.faults.get(str(e.get("fault")))
            if fault is not None and isinstance(fault["updates"], list):
                fault["updates"].append(f"{t:.1f}s: {e.get('description') or ''}")
        elif kind == "fault_removed":
            fault = self.faults.get(str(e.get("fault")))
            if fault is not None:
                ok = e.get("ok") is True
                fault.update(removed_s=t, removed_at=at, undo="ok" if ok else "failed", error=e.get("error"))
        elif kind == "samples":
            self._samples(e.get("batch"))
        elif kind == "guardrail_tripped":
            self.guardrails.append(
                {
                    "name": e.get("guardrail"),
                    "tripped": True,
                    "region": e.get("region"),
                    "t": t,
                    "evidence": e.get("evidence"),
                }
            )
        elif kind == "rollback":
            self.rollbacks.append({"name": e.get("name"), "ok": e.get("ok"), "error": e.get("error"), "t": t})
        elif kind == "signal":
            self.signal = str(e.get("signal") or "a signal")
        elif kind == "error":
            self.errors.append(str(e.get("message") or ""))
        elif kind == "run_ended":
            if self.phases and "end_s" not in self.phases[-1]:
                self.phases[-1].update(end_s=t, ended_at=at)
            self.wire["status"] = e.get("status")
            self.wire["reason"] = e.get("reason") or f"status {e.get('status')} (journal.json was not written)"

    def _fault_name(self, e: dict[str, object], fid: str, *, setup: bool) -> str:
        """The name of a fault whose event does not carry one (events.jsonl of older versions):
        as the run names it when that is certain, else its id."""
        if setup:
            return f"setup: {e.get('description') or e.get('kind') or fid}"
        experiment = self.wire.get("experiment")
        method = experiment.get("method") if isinstance(experiment, dict) else None
        steps = [m for m in method if isinstance(m, dict)] if isinstance(method, list) else []
        names = {str(m.get("name")) for m in steps if m.get("kind") == e.get("kind") and m.get("name")}
        return names.pop() if len(names) == 1 else fid

    def _samples(self, batch: object) -> None:
        if not isinstance(batch, list):
            return
        for row in batch:
            if not isinstance(row, list) or len(row) < 6:
                continue
            probe, region, _phase, t, ok, latency = row[:6]
            status = row[6] if len(row) > 6 else None
            error = row[7] if len(row) > 7 else None
            cols = self.columns.setdefault(
                (str(probe), str(region)), {"t": [], "latency_ms": [], "ok": [], "status": [], "error": []}
            )
            cols["t"].append(t)
            cols["latency_ms"].append(latency)
            cols["ok"].append(1 if ok else 0)
            cols["status"].append(status)
            cols["error"].append(
                -1 if error is None else self.sample_errors.setdefault(str(error), len(self.sample_errors))
            )

    def journal(self, unreadable: int) -> dict[str, object]:
        notes = ["rebuilt from events.jsonl: no verdicts were recorded, statistics are computed from the samples"]
        if unreadable:
            notes.append(f"{unreadable} unreadable line(s) in events.jsonl were skipped")
        finished = "status" in self.wire
        if not finished:
            self.wire["status"] = "crashed"
            self.wire["reason"] = (
                f"the run stopped without finishing (interrupted by {self.signal})"
                if self.signal
                else "the run stopped without finishing: no run_ended event (crashed or killed)"
            )
            for fault in self.faults.values():
                if fault["undo"] == "pending":
                    notes.append(f"fault {fault['id']} has no recorded undo: it may still be injected")
        self.wire.update(
            started_at=self.first_at,
            ended_at=self.last_at,
            duration_s=self.last_t,
            phases=self.phases,
            samples={
                "errors": list(self.sample_errors),
                "series": [{"probe": p, "region": r, **cols} for (p, r), cols in self.columns.items()],
            },
            faults=list(self.faults.values()),
            rollbacks=self.rollbacks,
            guardrails=self.guardrails,
            errors=self.errors,
            remaining=[]
            if finished
            else [
                f"{f['id']}: {f['description'] or f['kind']}" for f in self.faults.values() if f["undo"] == "pending"
            ],
            _notes=notes,
        )
        return self.wire


def fold_events(events: Iterable[dict[str, object]], unreadable: int = 0) -> dict[str, object]:
    """Events (in file order) -> a journal.json-shaped dict, status `crashed` when unfinished."""
    fold = _Fold()
    for event in events:
        fold.add(event)
    return fold.journal(unreadable)
