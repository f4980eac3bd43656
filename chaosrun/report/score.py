"""The resilience score: one number from 0 to 100, with the parts that explain it.

    score = floor(min(cap[status], 70% * steady_state + 30% * recovery))   clamped to 0..100

- steady_state (0..1): the weighted share of judged verdicts (probe x region x phase) that
  held. A verdict weighs 1 in the baseline phase and 2 in the fault and recovery phases:
  holding up under the fault and coming back is what resilience means.
- recovery (0..1): the mean credit of every probe x region recovery: full credit when it
  recovered within its objective, decaying linearly to 0 at 3x the objective; 0 when it
  never recovered. A probe without an objective (`objective_s` and `met` null) is not judged
  on its recovery time, as a verdict with `judged: false` is not: it is left out, neither
  credit nor penalty (its recovery phase is still judged whole in steady_state).
- A part with nothing to judge (no recovery objectives, say) is left out and the other
  carries the whole weight. With nothing judged at all the score is 0.
- cap[status]: held 100, deviated 90, aborted 40 (guardrail or interrupt), not_steady 25, error 25, crashed 25,
  rollback_failed 0: a run that stopped early or left a fault behind can never look good.

The result is floored, so 100 means everything held and recovered within its objective; it
is clamped to 0..100, so it can never exceed 100.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from .data import Journal, Recovery, Status, Verdict
from .wire import parse_journal

__all__ = [
    "PHASE_WEIGHTS",
    "RECOVERY_ZERO_AT",
    "STATUS_CAPS",
    "WEIGHTS",
    "Score",
    "ScorePart",
    "compute_score",
    "recovery_credit",
    "score_journal",
    "score_wire",
]

WEIGHTS = {"steady_state": 70.0, "recovery": 30.0}
PHASE_WEIGHTS = {"baseline": 1.0, "fault": 2.0, "recovery": 2.0}
RECOVERY_ZERO_AT = 3.0  # x objective: recovery credit reaches 0 here
STATUS_CAPS: dict[Status, int] = {
    "held": 100,
    "deviated": 90,
    "aborted": 40,
    "not_steady": 25,
    "error": 25,
    "crashed": 25,
    "rollback_failed": 0,
    "inconclusive": 25,
}
_CAP_REASONS: dict[Status, str] = {
    "held": "",
    "deviated": "the hypothesis deviated: capped at 90",
    "aborted": "the run was aborted (a guardrail or an interrupt): capped at 40",
    "not_steady": "the system was not steady before the fault: inconclusive, capped at 25",
    "error": "the run failed with an error: inconclusive, capped at 25",
    "crashed": "the run did not finish: inconclusive, capped at 25",
    "rollback_failed": "an undo failed and a fault may remain: the score is 0",
    "inconclusive": "chaosrun could not judge the run honestly (samples not taken): capped at 25",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ScorePart:
    """One term of the score: its nominal weight, its credit (0..1) and what it counted."""

    name: str
    weight: float
    credit: float | None  # None: nothing to judge, left out
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Score:
    value: int  # 0..100
    raw: float  # the weighted parts before the cap, 0..100
    cap: int
    cap_reason: str  # "" when the cap did not lower the score
    parts: tuple[ScorePart, ...]

    def points(self, part: ScorePart) -> float:
        """What a part contributes to `raw` (0..its share of 100)."""
        if part.credit is None:
            return 0.0
        total = sum(p.weight for p in self.parts if p.credit is not None)
        return 100.0 * part.weight / total * part.credit if total else 0.0

    def as_wire(self) -> dict[str, object]:
        """The journal's `score` object."""
        return {
            "value": self.value,
            "raw": round(self.raw, 2),
            "cap": self.cap,
            "cap_reason": self.cap_reason,
            "parts": {p.name: {"weight": p.weight, "credit": p.credit, "detail": p.detail} for p in self.parts},
        }


def recovery_credit(recovery_s: float | None, objective_s: float | None) -> float:
    """1 within the objective, linear down to 0 at RECOVERY_ZERO_AT x objective; 0 if never."""
    if recovery_s is None or math.isnan(recovery_s):
        return 0.0
    if objective_s is None or recovery_s <= objective_s:
        return 1.0
    if objective_s <= 0:
        return 0.0
    late = (recovery_s - objective_s) / ((RECOVERY_ZERO_AT - 1.0) * objective_s)
    return max(0.0, 1.0 - late)


def _steady_state(verdicts: Iterable[Verdict]) -> ScorePart:
    held_w = total_w = 0.0
    held = judged = 0
    for v in verdicts:
        if not v.judged or v.held is None:
            continue
        w = PHASE_WEIGHTS.get(v.phase, 1.0)
        total_w += w
        judged += 1
        if v.held:
            held_w += w
            held += 1
    credit = held_w / total_w if total_w else None
    detail = (
        f"{held} of {judged} verdicts held (weighted {held_w:g}/{total_w:g})" if judged else "no verdict was judged"
    )
    return ScorePart(name="steady_state", weight=WEIGHTS["steady_state"], credit=credit, detail=detail)


def _recovery(recovery: Iterable[Recovery]) -> ScorePart:
    rows = list(recovery)
    judged = [r for r in rows if r.objective_s is not None]
    unjudged = len(rows) - len(judged)
    if not judged:
        detail = f"no recovery objective was set ({unjudged} measured)" if rows else "no recovery was measured"
        return ScorePart(name="recovery", weight=WEIGHTS["recovery"], credit=None, detail=detail)
    credits = [recovery_credit(r.recovery_s, r.objective_s) for r in judged]
    within = sum(c == 1.0 for c in credits)
    detail = f"{within} of {len(credits)} recovered within objective (mean credit {sum(credits) / len(credits):.2f})"
    if unjudged:
        detail += f"; {unjudged} without an objective not counted"
    return ScorePart(name="recovery", weight=WEIGHTS["recovery"], credit=sum(credits) / len(credits), detail=detail)


def compute_score(status: Status, verdicts: Iterable[Verdict], recovery: Iterable[Recovery]) -> Score:
    """The score of a run from its status, verdicts and recoveries (see the module docstring)."""
    parts = (_steady_state(verdicts), _recovery(recovery))
    counted = [p for p in parts if p.credit is not None]
    total = sum(p.weight for p in counted)
    raw = 100.0 * sum(p.weight * (p.credit or 0.0) for p in counted) / total if total else 0.0
    raw = min(100.0, max(0.0, raw))
    cap = STATUS_CAPS.get(status, 0)
    value = min(100, max(0, math.floor(min(raw, float(cap)) + 1e-9)))
    return Score(value=value, raw=raw, cap=cap, cap_reason=_CAP_REASONS[status] if raw > cap else "", parts=parts)


def score_journal(journal: Journal) -> Score:
    """The resilience score of a journal."""
    return compute_score(journal.status, journal.verdicts, journal.recovery)


def score_wire(wire: object) -> dict[str, object]:
    """The journal's `score` object from a journal wire dict (as the engine builds it)."""
    parts = {k: wire[k] for k in ("status", "verdicts", "recovery") if k in wire} if isinstance(wire, dict) else {}
    return score_journal(parse_journal(parts)).as_wire()
