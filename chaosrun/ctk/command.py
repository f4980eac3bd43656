"""`chaosrun run` and `chaosrun validate` on a Chaos Toolkit experiment (called from cli.py)."""

from __future__ import annotations

from collections.abc import Callable

from .experiment import CtkExperiment
from .load import load_ctk_experiment
from .run import CtkRunOptions, run_ctk_experiment

__all__ = ["format_ctk_plan", "run_ctk_file", "validate_ctk_file"]


def validate_ctk_file(file: str) -> str:
    """Raises ValidationFailed with located problems; the `ok` line otherwise."""
    exp = load_ctk_experiment(file)
    return (
        f"{file}: ok (Chaos Toolkit experiment: {len(exp.hypothesis)} hypothesis probes, "
        f"{len(exp.method)} method activities, {len(exp.rollbacks)} rollbacks)"
    )


def format_ctk_plan(exp: CtkExperiment) -> str:
    lines = [f"Chaos Toolkit experiment: {exp.title}"]
    for label, items in (("hypothesis", exp.hypothesis), ("method", exp.method), ("rollbacks", exp.rollbacks)):
        lines.append(f"{label}:")
        lines += [f"  - {a.type} {a.name} ({a.provider}{', background' if a.background else ''})" for a in items]
        if not items:
            lines.append("  (none)")
    return "\n".join(lines)


def run_ctk_file(file: str, opts: CtkRunOptions, *, dry_run: bool, echo: Callable[[str], None]) -> int:
    exp = load_ctk_experiment(file)
    if dry_run:
        echo(format_ctk_plan(exp))
        echo("dry run: nothing was touched")
        return 0
    return run_ctk_experiment(exp, opts, echo)
