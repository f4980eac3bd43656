"""The resilience score: 0 to 100 from impact, per region, the worst region deciding.

For every region, each judged check after the baseline (a probe's fault or recovery phase,
and its recovery objective) consumes part of what its tolerance allows; the region scores
`floor(100 x (1 - the largest consumption))`, the run scores its worst region, capped by
its status. A consumption is 0 when nothing was used, 0.5 exactly at the tolerance's limit,
and 1 at total loss, so **a score of 50 is the edge of the tolerance**: a region within its
tolerance scores 50..100, a region beyond it 0..49.

- errors, with `a` = 1 - the lowest success_ratio allowed (0 when every sample must succeed)
  and `f` = the failed share of the samples: `0.5 x f / a` while `f <= a` (0 when a = 0 and
  nothing failed), `0.5 + 0.5 x (f - a) / (1 - a)` beyond.
- latency, for each bounded statistic (p50, p95, p99, max, mean) with limit `L` and the same
  probe's baseline value `b` in that region (0 when none, or when not below L): 0 up to `b`,
  `0.5 x (v - b) / (L - b)` up to `L`, `0.5 + 0.5 x min(1, (v - L) / L)` beyond (1 at 2 x L).
- recovery, with objective `o` and recovery time `r`: `0.5 x r / o` within it,
  `0.5 + 0.5 x min(1, (r - o) / (2 x o))` when late (1 at 3 x o), 1 when it never recovered.
- a check that deviated for another reason (a sliding window, too few samples) consumes at
  least 0.51, so a region with a deviation never scores 50 or more.

Not counted: the baseline (before any fault), checks that are not judged (`during: ignore`,
no `recover_within`). A region with nothing judged has no score; a run with no region scored
scores 0. Status caps: held 100, deviated 49, aborted 40, inconclusive 25, not_steady,
error and crashed 25, rollback_failed 0.

Worked examples (docs/experiment.md has the same): 2 of 40 samples failed against
`success_ratio: ">= 0.9"` consumes 0.25 (score 75); p95 300 ms against `p95: "< 500ms"` with
a 100 ms baseline consumes 0.25 (75); recovery in 15 s against `recover_within: 10s`
consumes 0.625 (37); 24 of 32 samples failed against `">= 0.99"` consumes 0.8737 (12), and
that region's 12 is the run's score however healthy the other regions are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from .data import Journal, Recovery, Verdict
from .wire import parse_journal

__all__ = [
    "RECOVERY_ZERO_AT",
    "STATUS_CAPS",
    "Consumption",
    "RegionScore",
    "Score",
    "compute_score",
    "error_consumption",
    "latency_consumption",
    "recovery_consumption",
    "score_journal",
    "score_wire",
]

AT_LIMIT = 0.5  # the consumption at the tolerance's limit: a score of 50
DEVIATED_AT_LEAST = 0.51
RECOVERY_ZERO_AT = 3.0  # x objective: a recovery this late consumes everything
STATUS_CAPS: dict[str, int] = {
    "held": 100,
    "deviated": 49,
    "aborted": 40,
    "inconclusive": 25,
    "not_steady": 25,
    "error": 25,
    "crashed": 25,
    "rollback_failed": 0,
}
_CAP_REASONS: dict[str, str] = {
    "deviated": "the hypothesis deviated: capped at 49, below the edge of the tolerance",
    "aborted": "the run was aborted (a guardrail or an interrupt): capped at 40",
    "inconclusive": "the run could not be judged honestly: capped at 25",
    "not_steady": "the system was not steady before the fault: capped at 25",
    "error": "the run failed with an error: capped at 25",
    "crashed": "the run did not finish: capped at 25",
    "rollback_failed": "an undo failed and a fault may remain: the score is 0",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Consumption:
    """How much of one tolerance one check used (0..1; 0.5 at the limit), and why."""

    probe: str
    phase: str  # fault, recovery, or "recovery time"
    what: str  # errors, p95, recovery
    consumed: float
    detail: str

    @property
    def points(self) -> int:
        """The score this check alone allows."""
        return _points(self.consumed)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionScore:
    region: str
    value: int | None  # None: nothing judged in this region
    items: tuple[Consumption, ...]  # largest consumption first

    @property
    def worst(self) -> Consumption | None:
        return self.items[0] if self.items else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Score:
    value: int  # 0..100
    raw: int  # the worst region's score before the status cap
    cap: int
    cap_reason: str  # "" when the cap did not lower the score
    regions: tuple[RegionScore, ...]

    @property
    def worst_region(self) -> RegionScore | None:
        scored = [r for r in self.regions if r.value is not None]
        return min(scored, key=lambda r: r.value or 0) if scored else None

    def as_wire(self) -> dict[str, object]:
        """The journal's `score` object."""
        return {
            "value": self.value,
            "raw": self.raw,
            "cap": self.cap,
            "cap_reason": self.cap_reason,
            "regions": {
                r.region: {
                    "value": r.value,
                    "worst": r.worst.detail if r.worst else None,
                    "items": [
                        {
                            "probe": c.probe,
                            "phase": c.phase,
                            "what": c.what,
                            "consumed": round(c.consumed, 4),
                            "detail": c.detail,
                        }
                        for c in r.items
                    ],
                }
                for r in self.regions
            },
        }


def _points(consumed: float) -> int:
    return max(0, min(100, math.floor(100.0 * (1.0 - consumed) + 1e-9)))


def error_consumption(failures: int, samples: int, min_ratio: float) -> float:
    """Errors against the error budget `1 - min_ratio` (see the module docstring)."""
    if samples <= 0:
        return 0.0
    f, a = failures / samples, max(0.0, 1.0 - min_ratio)
    if f <= a:
        return AT_LIMIT * f / a if a > 0 else 0.0
    return min(1.0, AT_LIMIT + AT_LIMIT * (f - a) / (1.0 - a)) if a < 1.0 else 1.0


def latency_consumption(value: float, limit: float, baseline: float | None) -> float:
    """A latency statistic against its limit, from the baseline's value (see the module docstring)."""
    b = baseline if baseline is not None and 0.0 <= baseline < limit else 0.0
    if value <= b:
        return 0.0
    if value <= limit:
        return AT_LIMIT * (value - b) / (limit - b) if limit > b else AT_LIMIT
    return AT_LIMIT + AT_LIMIT * min(1.0, (value - limit) / limit) if limit > 0 else 1.0


def recovery_consumption(recovery_s: float | None, objective_s: float) -> float:
    """A recovery time against its objective (see the module docstring); 1 when it never recovered."""
    if recovery_s is None or math.isnan(recovery_s):
        return 1.0
    if objective_s <= 0:
        return 0.0 if recovery_s <= 0 else 1.0
    if recovery_s <= objective_s:
        return AT_LIMIT * recovery_s / objective_s
    late = (recovery_s - objective_s) / ((RECOVERY_ZERO_AT - 1.0) * objective_s)
    return AT_LIMIT + AT_LIMIT * min(1.0, late)


def _verdict_items(v: Verdict, baseline: Verdict | None) -> list[Consumption]:
    limits = dict(v.limits)
    out: list[Consumption] = []
    if "success_ratio" in limits and v.samples:
        c = error_consumption(v.failures, v.samples, limits["success_ratio"])
        budget = 1.0 - limits["success_ratio"]
        allowed = f"{budget:.2%} allowed" if budget > 0 else "none allowed"
        out.append(Consumption(probe=v.probe, phase=v.phase, what="errors", consumed=c,
                               detail=f"{v.probe} during {v.phase}: {v.failures} of {v.samples} samples failed "
                                      f"({allowed}): {c:.0%} consumed"))  # fmt: skip
    for key, limit in limits.items():
        if not key.endswith("_ms"):
            continue
        value = getattr(v, key, None)
        if not isinstance(value, float):
            continue
        base = getattr(baseline, key, None) if baseline is not None else None
        c = latency_consumption(value, limit, base if isinstance(base, float) else None)
        name = key.removesuffix("_ms")
        since = f" from a baseline of {base:.0f}ms" if isinstance(base, float) else ""
        out.append(Consumption(probe=v.probe, phase=v.phase, what=name, consumed=c,
                               detail=f"{v.probe} during {v.phase}: {name} {value:.0f}ms against {limit:.0f}ms"
                                      f"{since}: {c:.0%} consumed"))  # fmt: skip
    if v.held is False and all(c.consumed < DEVIATED_AT_LEAST for c in out):
        why = v.reasons[0] if v.reasons else "deviated"
        out.append(Consumption(probe=v.probe, phase=v.phase, what="deviated", consumed=DEVIATED_AT_LEAST,
                               detail=f"{v.probe} during {v.phase}: {why}"))  # fmt: skip
    return out


def _recovery_item(r: Recovery) -> Consumption | None:
    if r.objective_s is None:
        return None
    c = recovery_consumption(r.recovery_s, r.objective_s)
    took = "never recovered" if r.recovery_s is None else f"recovered in {r.recovery_s:.1f}s"
    detail = f"{r.probe}: {took} against recover_within {r.objective_s:g}s: {c:.0%} consumed"
    return Consumption(probe=r.probe, phase="recovery time", what="recovery", consumed=c, detail=detail)


def region_scores(
    regions: Iterable[str], verdicts: Iterable[Verdict], recovery: Iterable[Recovery]
) -> list[RegionScore]:
    """Each region's score and what made it up (largest consumption first)."""
    verdicts, recovery = list(verdicts), list(recovery)
    baselines = {(v.probe, v.region): v for v in verdicts if v.phase == "baseline"}
    out = []
    for region in regions:
        items: list[Consumption] = []
        for v in verdicts:
            if v.region == region and v.phase != "baseline" and v.judged and v.held is not None:
                items += _verdict_items(v, baselines.get((v.probe, v.region)))
        items += [c for r in recovery if r.region == region and (c := _recovery_item(r)) is not None]
        items.sort(key=lambda c: -c.consumed)
        value = _points(items[0].consumed) if items else None
        out.append(RegionScore(region=region, value=value, items=tuple(items)))
    return out


def compute_score(
    status: str, verdicts: Iterable[Verdict], recovery: Iterable[Recovery], regions: Iterable[str] = ()
) -> Score:
    """The score of a run from its status, verdicts and recoveries (see the module docstring)."""
    verdicts, recovery = list(verdicts), list(recovery)
    names = list(dict.fromkeys([*regions, *(v.region for v in verdicts), *(r.region for r in recovery)]))
    per_region = region_scores(names, verdicts, recovery)
    scored = [r.value for r in per_region if r.value is not None]
    raw = min(scored) if scored else 0
    cap = STATUS_CAPS.get(status, 0)
    return Score(
        value=min(raw, cap),
        raw=raw,
        cap=cap,
        cap_reason=_CAP_REASONS.get(status, "") if raw > cap else "",
        regions=tuple(per_region),
    )


def score_journal(journal: Journal) -> Score:
    """The resilience score of a journal."""
    return compute_score(journal.status, journal.verdicts, journal.recovery, journal.regions)


def score_wire(wire: object) -> dict[str, object]:
    """The journal's `score` object from a journal wire dict (as the engine builds it)."""
    keys = ("status", "verdicts", "recovery", "experiment")
    parts = {k: wire[k] for k in keys if k in wire} if isinstance(wire, dict) else {}
    return score_journal(parse_journal(parts)).as_wire()
