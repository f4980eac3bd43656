"""Suites of experiments: the CI resilience gate (`chaosrun gate`) and its outputs.

`outcome` reads what one run came to from its journal; `policy` is the gate's exit policy and
the severity order; `suite` is a judged suite and its JUnit XML; `pages` its Markdown summary
and index page; `run` runs the files in order. Game days (chaosrun.gameday) reuse all but the
policy. Only `policy` is imported when the CLI starts (the others load the report package).
"""

from __future__ import annotations

from .policy import SEVERITY, Policy, most_severe

__all__ = ["SEVERITY", "Policy", "most_severe"]
