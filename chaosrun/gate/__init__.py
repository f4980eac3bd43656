"""Suites of experiments: the CI resilience gate (`chaosrun gate`) and its outputs.

`outcome` reads what one run came to from its journal; `policy` is the gate's exit policy;
`suite` is a judged suite and its JUnit XML; `pages` its Markdown summary and index page;
`run` runs the files in order. Game days (chaosrun.gameday) reuse all but the policy.
"""

from __future__ import annotations

from .outcome import SEVERITY, Outcome, most_severe
from .policy import Policy
from .suite import Row, Suite

__all__ = ["SEVERITY", "Outcome", "Policy", "Row", "Suite", "most_severe"]
