"""A Chaos Toolkit journal -> chaosrun's status and reason; Chaos Toolkit's own exit code."""

from __future__ import annotations

from typing import Any

from ..result import Status

__all__ = ["ctk_exit_code", "judge"]


def ctk_exit_code(journal: dict[str, Any]) -> int:
    """What `chaos run` exits with: 0 when completed and not deviated, else 1."""
    return 0 if journal.get("status") == "completed" and not journal.get("deviated") else 1


def _failed_probe(state: Any) -> str:
    probes = state.get("probes") if isinstance(state, dict) else None
    if not probes:
        return "?"
    last = probes[-1]
    name = last["activity"].get("name")
    if last.get("status") != "succeeded":
        return f"probe '{name}' failed to run"
    return f"probe '{name}' was not within its tolerance"


def judge(journal: dict[str, Any], *, signal: str | None, method_started: bool) -> tuple[Status, str]:
    """chaosrun's status from Chaos Toolkit's outcome (docs/chaostoolkit.md, the table):
    a failed rollback wins; then interrupted -> aborted; a hypothesis missed (or a probe error)
    before the method -> not_steady; deviated; aborted (an unexpected error in the method) ->
    error; completed -> held."""
    rollbacks = journal.get("rollbacks") or []
    failed = [str(r["activity"].get("name")) for r in rollbacks if r.get("status") != "succeeded"]
    if failed:
        return "rollback_failed", f"rollback {', '.join(repr(n) for n in failed)} failed: something may remain"
    status = journal.get("status")
    if status == "interrupted":
        played = "the rollbacks were played" if rollbacks else "no rollbacks were played (the method had not started)"
        return "aborted", f"stopped by {signal or 'an interruption'}; {played}"
    before = (journal.get("steady_states") or {}).get("before")
    if isinstance(before, dict) and not before.get("steady_state_met") and not method_started:
        return "not_steady", f"hypothesis not met before the method: {_failed_probe(before)}; method skipped"
    if journal.get("deviated"):
        after = (journal.get("steady_states") or {}).get("after")
        return "deviated", f"hypothesis not met after the method: {_failed_probe(after)}"
    if status == "aborted":
        return "error", "the method ran into an unexpected error (Chaos Toolkit: aborted)"
    if status == "failed":
        return "deviated", "the continuous hypothesis failed during the method (fail fast)"
    return "held", "the hypothesis was met before and after the method"
