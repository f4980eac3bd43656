"""`chaosrun run` and `chaosrun validate` on a Chaos Toolkit experiment (called from cli.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path

from .experiment import CtkExperiment
from .load import load_ctk_experiment
from .run import CtkRunOptions, run_ctk_experiment

__all__ = ["format_ctk_plan", "run_ctk_file", "run_ctk_in_child", "validate_ctk_file"]


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


async def run_ctk_in_child(
    file: str,
    *,
    out_dir: Path,
    state_dir: Path,
    variables: Mapping[str, str],
    interrupted: Callable[[], str | None],
) -> int:
    """Run a Chaos Toolkit experiment as `chaosrun run` in a child process, for the gate and game
    days (chaostoolkit-lib's Runner is synchronous and must own the main thread and its signals).
    The child shares our process group, so a Ctrl-C at the terminal reaches it too; a stop signal
    sent to us alone is passed on (SIGTERM) so it rolls back. Returns its exit code."""
    import asyncio
    import signal
    import sys

    argv = [sys.executable, "-m", "chaosrun", "run", file, "--out", str(out_dir), "--state-dir", str(state_dir)]
    for name, value in variables.items():
        argv += ["--var", f"{name}={value}"]
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL)
    done = asyncio.ensure_future(proc.wait())  # one waiter for the child's whole life
    passed_on = False
    while not (await asyncio.wait({done}, timeout=0.1))[0]:
        if interrupted() and not passed_on:
            passed_on = True
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
    return done.result()
