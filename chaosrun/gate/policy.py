"""The gate's exit policy: which outcomes fail it, and with which exit code.

- An experiment passes when its status is `held`, or a status the team allows (`--allow`).
- `--min-score N` judges held and deviated runs by their score instead: at or above N passes,
  below N fails (exit 1), as `chaosrun run --min-score` does.
- A failed rollback, an infrastructure error and an invalid file can never be allowed.
- The gate exits 0 when every experiment passed, otherwise with the most severe exit code of
  those that failed (5 > 4 > 3 > 2 > 7 > 1 > 6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # this module is imported by the CLI at start: keep the report package out of it
    from .outcome import Outcome

__all__ = ["ALLOWABLE", "SEVERITY", "Judgement", "Policy", "gate_exit_code", "most_severe"]

# Severity of exit codes for a suite of runs (shared by the gate and game days): a failed
# rollback first, then infrastructure, aborted, invalid input, inconclusive, deviated, not steady.
SEVERITY = (5, 4, 3, 2, 7, 1, 6, 0)

# Outcomes about the system under test, which a team may tolerate; never a failed rollback,
# an error of chaosrun's own infrastructure or an invalid file.
ALLOWABLE = ("deviated", "not_steady", "inconclusive", "aborted")


@dataclass(frozen=True, slots=True, kw_only=True)
class Judgement:
    passed: bool
    exit_code: int  # what this experiment contributes to the gate's exit code (0 when passed)
    why: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    allow: tuple[str, ...] = ()
    min_score: int | None = None

    def judge(self, o: Outcome) -> Judgement:
        """Whether one experiment passes the gate, and why (one line for people)."""
        if self.min_score is not None and o.status in ("held", "deviated"):
            if o.score is None:
                return Judgement(passed=False, exit_code=1, why=f"no score: --min-score {self.min_score} fails")
            if o.score < self.min_score:
                return Judgement(passed=False, exit_code=1, why=f"score {o.score} < --min-score {self.min_score}")
            return Judgement(passed=True, exit_code=0, why=f"score {o.score} >= --min-score {self.min_score}")
        if o.status == "held":
            return Judgement(passed=True, exit_code=0, why="held")
        if o.status in self.allow and o.status in ALLOWABLE:
            return Judgement(passed=True, exit_code=0, why=f"{o.status} is allowed (--allow {o.status})")
        return Judgement(passed=False, exit_code=o.exit_code or 1, why=f"{o.status} (exit {o.exit_code})")

    def describe(self) -> str:
        parts = ["held passes"]
        if self.allow:
            parts.append("allowed: " + ", ".join(self.allow))
        if self.min_score is not None:
            parts.append(f"held and deviated runs need a score >= {self.min_score}")
        return "; ".join(parts)


def gate_exit_code(judgements: Sequence[Judgement]) -> int:
    """0 when every experiment passed; else the most severe code of those that failed."""
    return most_severe([j.exit_code for j in judgements if not j.passed])


def most_severe(codes: Sequence[int]) -> int:
    """The most severe exit code of a suite's runs: 5 > 4 > 3 > 2 > 7 > 1 > 6 > 0."""
    for code in SEVERITY:
        if code in codes:
            return code
    return max(codes, default=0)
