"""The experiment's rollbacks in the ledger, so `chaosrun recover` plays them after a `kill -9`.

The entry is written (fsync'd) when the method starts, before its first activity, with what the
rollbacks need from the entry alone: the rollback activities (a `ref` replaced by the activity it
names) and the experiment's `configuration` and `secrets` declarations (values from the
environment are read again when they are played; inline values are in the file already, and
ledger files are readable by their owner only). It is removed once the rollbacks succeeded, or
when the run ends without needing them (Chaos Toolkit's `never` / `deviated` strategies).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from typing import Any

from ..errors import RollbackFailed
from ..faults import undoer
from ..faults.base import FaultContext, UndoRecord
from ..safety.ledger import Ledger, LedgerEntry, Owner

__all__ = ["BACKEND", "ledger_entry", "resolved_rollbacks", "undo_ctk_rollbacks"]

BACKEND = "chaostoolkit.rollbacks"
_TIMEOUT_S = 600.0  # the longest `chaosrun recover` waits for the rollbacks of one run


def resolved_rollbacks(experiment: dict[str, Any]) -> list[dict[str, Any]]:
    """The rollbacks, each `{ref: name}` replaced by the activity named (the last one wins, as
    in chaoslib's lookup)."""
    named: dict[str, dict[str, Any]] = {}
    probes = (experiment.get("steady-state-hypothesis") or {}).get("probes") or []
    for activity in [*probes, *experiment["method"]]:
        if isinstance(activity, dict) and "name" in activity:
            named[activity["name"]] = activity
    out = []
    for activity in experiment.get("rollbacks") or []:
        out.append(named.get(activity["ref"], activity) if "ref" in activity else activity)
    return out


def target_of(source: str) -> str:
    return f"chaostoolkit experiment {os.path.abspath(source)}"


def ledger_entry(run_id: str, experiment: dict[str, Any], source: str, title: str) -> LedgerEntry:
    rollbacks = resolved_rollbacks(experiment)
    names = ", ".join(str(a.get("name")) for a in rollbacks)
    record: UndoRecord = {
        "backend": BACKEND,
        "rollbacks": json.loads(json.dumps(rollbacks)),
        "configuration": json.loads(json.dumps(experiment.get("configuration") or {})),
        "secrets": json.loads(json.dumps(experiment.get("secrets") or {})),
        "timeout_s": _TIMEOUT_S,
    }
    return LedgerEntry(
        entry_id=f"ctk-{uuid.uuid4().hex[:12]}",
        run_id=run_id,
        owner=Owner.current(),
        experiment=title,
        target=target_of(source),
        description=f"Chaos Toolkit rollbacks of {source}: {names}",
        undo=record,
        created_at=time.time(),
    )


def add_entry(ledger: Ledger, entry: LedgerEntry) -> None:
    ledger.add(entry)


def _play(record: UndoRecord) -> list[str]:
    """Play the recorded rollbacks in order (pauses skipped: this is a recovery); what failed."""
    from chaoslib.activity import run_activity
    from chaoslib.configuration import load_configuration
    from chaoslib.secret import load_secrets

    from .process import patched_process_provider

    configuration = load_configuration(record.get("configuration") or {})
    secrets = load_secrets(record.get("secrets") or {}, configuration)
    failed: list[str] = []
    rollbacks = record.get("rollbacks")
    with patched_process_provider():
        for activity in rollbacks if isinstance(rollbacks, list) else []:
            if not isinstance(activity, dict):
                continue
            try:
                run_activity(activity, configuration, secrets)
            except Exception as exc:
                failed.append(f"rollback '{activity.get('name')}': {' '.join(str(exc).split()) or type(exc).__name__}")
    return failed


@undoer(BACKEND)
async def undo_ctk_rollbacks(record: UndoRecord, ctx: FaultContext) -> None:
    """Play a dead run's Chaos Toolkit rollbacks; RollbackFailed names those that failed."""
    failed = await asyncio.to_thread(_play, record)
    if failed:
        raise RollbackFailed("; ".join(failed))
    ctx.log(f"chaostoolkit rollbacks played ({len(record.get('rollbacks') or [])})")  # type: ignore[arg-type]
