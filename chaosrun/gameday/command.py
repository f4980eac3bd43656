"""The `chaosrun gameday` command (registered on the CLI group by chaosrun.cli)."""

from __future__ import annotations

import secrets
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..cli import EXIT_HELP, SETTINGS_HELP, _fail, _parse_vars, _run_async, _state_dir
from ..errors import ChaosrunError, InvalidInput

if TYPE_CHECKING:
    from .plan import GameDay

__all__ = ["gameday"]

DAY_HELP = (
    EXIT_HELP
    + """
\b
A game day passes (exit 0) when every experiment ended as its `expect:` says (default held);
otherwise it exits with the most severe code of those that did not (5 > 4 > 3 > 2 > 7 > 1 > 6;
one expected to deviate that held counts as 1). A refused checkpoint or a stop signal: 3.
"""
)


class TerminalOperator:
    """Asks at the terminal; anything but an explicit yes (or end of input) is no."""

    unattended = False

    def ask(self, question: str) -> bool:
        try:
            return click.confirm(question, default=False)
        except click.Abort:
            click.echo("")
            return False


class UnattendedOperator:
    """`--yes`: every checkpoint and every 'continue?' is answered yes, and the log says so."""

    unattended = True

    def ask(self, question: str) -> bool:
        click.echo(f"{question} yes (--yes)")
        return True


def _check_operator(plan: GameDay, yes: bool) -> None:
    """A day that may ask a question needs a terminal or --yes: refused before anything runs."""
    from .plan import CheckpointStep

    if yes or not plan.needs_operator or sys.stdin.isatty():
        return
    checkpoint = next((s for s in plan.steps if isinstance(s, CheckpointStep)), None)
    what = f"a checkpoint at {checkpoint.where}" if checkpoint is not None else "'on_failure: ask'"
    raise InvalidInput(
        f"{plan.source}: the plan has {what} and there is no terminal to answer it; run the game day from a "
        "terminal, or pass --yes to answer yes to every checkpoint and question (nothing was run)"
    )


@click.command(epilog=DAY_HELP)
@click.argument("plan_file", type=click.Path())
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Folder for the day (default reports/).")
@click.option(
    "--var", "variables", multiple=True, metavar="NAME=VALUE", help="Override a variable in every experiment."
)
@click.option(
    "--state-dir", type=click.Path(file_okay=False), help="Ledger and history folder (default XDG state dir)."
)
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False), help=SETTINGS_HELP)
@click.option("--yes", "-y", is_flag=True, help="Unattended: answer yes to every checkpoint and question.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Run the preflight (`chaosrun check`) of every experiment in the plan; touch nothing.",
)
def gameday(
    plan_file: str,
    out_dir: str | None,
    variables: tuple[str, ...],
    state_dir: str | None,
    settings_file: str | None,
    yes: bool,
    dry_run: bool,
) -> None:
    """Run a game-day plan: experiments, pauses and checkpoints in order, each judged against its `expect:`.

    Writes OUT/gameday-<plan>/<day id>/: index.html (the day's report), junit.xml, summary.md
    (also appended to $GITHUB_STEP_SUMMARY when set) and one folder per experiment.
    A stop signal (Ctrl-C, SIGTERM, SIGHUP) rolls back the current experiment and ends the plan."""
    from ..ctk import is_ctk_experiment
    from ..ctk.command import run_ctk_in_child
    from ..gate.run import write_suite_outputs
    from ..loader import load_experiment
    from ..running.engine import install_interrupt_handlers, interrupted
    from ..running.runner import run_experiment
    from ..settings import load_settings, settings_path
    from .day import run_day
    from .plan import RunStep, load_gameday
    from .report import render_day

    install_interrupt_handlers()  # before anything else: also as PID 1, where SIG_DFL would ignore SIGTERM
    try:
        plan = load_gameday(plan_file, _parse_vars(variables))
        settings = load_settings(settings_path(settings_file))
        if not dry_run:
            _check_operator(plan, yes)
    except ChaosrunError as exc:
        _fail(exc)
    state = _state_dir(state_dir)
    if dry_run:
        from ..running.preflight import check_files

        entries = [(str(s.file), dict(s.variables)) for s in plan.steps if isinstance(s, RunStep)]
        sys.exit(
            _run_async(
                check_files(
                    entries,
                    state_dir=state,
                    seed=secrets.randbelow(1_000_000),
                    settings=settings,
                    echo=click.echo,
                    strict_variables=False,
                )
            )
        )
    slug = "".join(c if c.isalnum() else "-" for c in plan.title.lower()).strip("-")[:50] or "gameday"
    day_id = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"
    day_dir = (Path(out_dir) if out_dir else Path("reports")) / f"gameday-{slug}" / day_id
    command = shlex.join(["chaosrun", *sys.argv[1:]])
    operator = UnattendedOperator() if yes else TerminalOperator()

    async def run_one(step: RunStep, run_dir: Path) -> int:
        if is_ctk_experiment(str(step.file)):  # Chaos Toolkit's format: `chaosrun run` in a child
            return await run_ctk_in_child(
                str(step.file), out_dir=run_dir, state_dir=state, variables=dict(step.variables),
                interrupted=interrupted,
            )  # fmt: skip
        exp = load_experiment(step.file, variables=dict(step.variables))
        return await run_experiment(
            exp, settings=settings, out_dir=run_dir, dry_run=False, state_dir=state, command=command
        )

    async def main() -> int:
        import aiohttp

        from .hooks import DayHooks

        def warn(text: str) -> None:
            click.echo(text, err=True)

        async with aiohttp.ClientSession() as http:
            hooks = DayHooks(plan, http, warn, day_dir)
            result = await run_day(
                plan, day_dir=day_dir, run_one=run_one, operator=operator, hooks=hooks, echo=click.echo,
                interrupted=interrupted, err=warn,
            )  # fmt: skip
        try:
            written = write_suite_outputs(result.suite, day_dir, lambda _s, base: render_day(result, base), "gameday")
        except OSError as exc:  # the day's outcome stands
            warn(f"warning: could not write the game day's outputs into {day_dir}: {exc}")
            written = {}
        for name, path in written.items():
            click.echo(f"{name}: {path}")
        return result.suite.exit_code

    sys.exit(_run_async(main()))
