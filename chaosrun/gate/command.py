"""The `chaosrun gate` command (registered on the CLI group by chaosrun.cli)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from ..cli import EXIT_HELP, SETTINGS_HELP, _fail, _parse_vars, _run_async, _state_dir
from ..errors import ChaosrunError
from .policy import ALLOWABLE

__all__ = ["gate"]

GATE_HELP = (
    EXIT_HELP
    + """
\b
Gate policy:
  An experiment passes when it held, or ended with a status named by --allow
  (deviated, not_steady, inconclusive, aborted); with --min-score N, held and deviated
  runs pass at a score >= N and fail below it (exit 1). A failed rollback, an error and
  an invalid file always fail. The gate exits 0 when every experiment passed, otherwise
  with the most severe code of those that failed: 5 > 4 > 3 > 2 > 7 > 1 > 6.
  A failed rollback or a stop signal ends the gate early.
"""
)


@click.command(epilog=GATE_HELP)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="reports/gate",
    show_default=True,
    help="Folder for junit.xml, summary.md, index.html and one sub-folder per experiment.",
)
@click.option(
    "--allow", multiple=True, type=click.Choice(ALLOWABLE), help="A status that passes the gate (repeatable)."
)
@click.option(
    "--min-score", type=click.IntRange(0, 100), help="Judge held and deviated runs by their score: pass at or above it."
)
@click.option("--title", default="resilience gate", show_default=True, help="The gate's title in its outputs.")
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="A variable for every experiment.")
@click.option(
    "--state-dir", type=click.Path(file_okay=False), help="Ledger and history folder (default XDG state dir)."
)
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False), help=SETTINGS_HELP)
def gate(
    paths: tuple[str, ...],
    out_dir: str,
    allow: tuple[str, ...],
    min_score: int | None,
    title: str,
    variables: tuple[str, ...],
    state_dir: str | None,
    settings_file: str | None,
) -> None:
    """The CI resilience gate: run experiment files and folders in order and judge them by one policy.

    Writes OUT/junit.xml (a testsuite per experiment), OUT/summary.md (also appended to
    $GITHUB_STEP_SUMMARY when set) and OUT/index.html (every report, verdict, score, recovery).
    """
    from ..ctk import is_ctk_experiment
    from ..ctk.command import run_ctk_in_child
    from ..loader import load_experiment
    from ..running.engine import install_interrupt_handlers, interrupted
    from ..running.runner import run_experiment
    from ..settings import load_settings, settings_path
    from .pages import render_index
    from .policy import Policy
    from .run import GateOptions, collect_files, run_gate, write_suite_outputs

    install_interrupt_handlers()
    try:
        values = _parse_vars(variables)
        settings = load_settings(settings_path(settings_file))
        files = collect_files(paths, click.echo)
    except ChaosrunError as exc:
        _fail(exc)
    state = _state_dir(state_dir)
    out = Path(out_dir)
    command = shlex.join(["chaosrun", *sys.argv[1:]])

    async def run_one(file: str, run_dir: Path) -> int:
        if is_ctk_experiment(file):  # Chaos Toolkit's format: `chaosrun run` in a child (docs/chaostoolkit.md)
            return await run_ctk_in_child(
                file, out_dir=run_dir, state_dir=state, variables=values, interrupted=interrupted
            )
        exp = load_experiment(file, variables=values)
        return await run_experiment(
            exp, settings=settings, out_dir=run_dir, dry_run=False, state_dir=state, command=command
        )

    options = GateOptions(out=out, policy=Policy(allow=allow, min_score=min_score), title=title)
    suite = _run_async(run_gate(files, options, run_one, click.echo, interrupted, lambda s: click.echo(s, err=True)))
    try:
        written = write_suite_outputs(suite, out, render_index)
    except OSError as exc:  # the outcome stands; say where the outputs could not go
        click.echo(f"warning: could not write the gate's outputs into {out}: {exc}", err=True)
        written = {}
    passed = sum(r.passed for r in suite.rows)
    click.echo(f"== gate {'PASSED' if suite.passed else 'FAILED'}: {passed} of {len(suite.rows)} passed ({suite.rule})")
    for row in suite.rows:
        click.echo(f"  {'pass' if row.passed else 'FAIL'}  {row.outcome.file}: {row.why}")
    for name, path in written.items():
        click.echo(f"{name}: {path}")
    sys.exit(suite.exit_code)
