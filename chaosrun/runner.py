"""One experiment run end to end: plan, claim the targets, run the engine, write the outputs.

`run_experiment` is what `chaosrun run`, `chaosrun gameday` and the demo share: it builds the
plan (or prints it for `--dry-run`), claims the targets in the ledger so a second run on them
is refused, runs the engine with live progress, writes the journal, then the reports and the
history (a failing reporter warns and the run's outcome stands), prints the verdict and
returns the exit code (`chaosrun.result.EXIT_CODES`, with the `--min-score` gate).
The caller owns the event loop (cli.py calls asyncio once per command).
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets as secrets_module
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .errors import ChaosrunError, InvalidInput

if TYPE_CHECKING:
    from .model import Experiment
    from .settings import Settings

__all__ = ["default_out_dir", "run_experiment"]


def default_out_dir(exp: Experiment, root: Path = Path("reports"), run_id: str | None = None) -> Path:
    """`<root>/<experiment slug>/<run id>/`: one folder per run. The run id starts with the UTC
    time (so folders sort by time) and ends with random hex (two runs in one second differ)."""
    if run_id is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        run_id = f"{stamp}-{secrets_module.token_hex(3)}"
    return root / exp.slug / run_id


# What a run writes into its output folder; a previous run's copies are removed first.
_OUTPUTS = ("events.jsonl", "journal.json", "report.html", "junit.xml", "summary.md")


def prepare_out_dir(out: Path, echo: Callable[[str], None]) -> None:
    """Create the run's output folder and remove a previous run's outputs from it, so two runs
    never mix (events.jsonl is appended to; `--no-report` writes no junit.xml). Other files are
    left alone. A folder that cannot be used is invalid input (exit 2), before anything runs."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        old = [out / name for name in _OUTPUTS if (out / name).exists()]
        for path in old:
            path.unlink()
    except OSError as exc:
        raise InvalidInput(f"--out {out}: cannot use it as the output folder: {exc.strerror or exc}") from exc
    if old:
        echo(f"replacing the previous run's outputs in {out}")


async def run_experiment(
    exp: Experiment,
    *,
    settings: Settings | None = None,
    spin_s: float = 0.0,
    out_dir: Path | None,
    dry_run: bool,
    out_root: Path | None = None,
    state_dir: Path,
    min_score: int | None = None,
    write_reports: bool = True,
    command: str = "",
    echo: Callable[[str], None] = lambda s: click.echo(s),
    seed: int | None = None,
) -> int:
    """Plan, claim targets, run, write outputs; returns the exit code."""
    from .progress import printable

    say = echo
    echo = lambda text: say(printable(text))  # noqa: E731  (names from the experiment reach the terminal)
    import aiohttp

    from .engine import Engine, RunOptions, new_run_id
    from .faults import FaultContext
    from .ledger import Ledger
    from .plan import build_plan, format_plan
    from .progress import Progress
    from .result import EXIT_CODES
    from .secret import resolve_secrets
    from .settings import stricter

    secrets = resolve_secrets(exp)
    run_id = new_run_id()
    # no pool limit (1,000 samples/s of 100 ms answers keep ~100 requests in flight) and no
    # session-wide timeout: every sampler and the Toxiproxy client enforce their own
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None),
        headers={"User-Agent": f"chaosrun/{__version__}"},
    ) as http:
        if settings is not None:  # fault kinds read ctx.experiment.caps: they must see the site's caps too
            exp = dataclasses.replace(exp, caps=stricter(exp.caps, settings.caps))
        if seed is None:
            seed = secrets_module.randbelow(1_000_000)
            if command.startswith("chaosrun run "):
                command += f" --seed {seed}"  # the journal's command re-runs with the same targets
        ctx = FaultContext(run_id=run_id, experiment=exp, http=http, seed=seed)
        out = out_dir or default_out_dir(exp, out_root or Path("reports"), run_id)
        try:
            plan = await build_plan(exp, ctx, exp.caps)
        except ChaosrunError as exc:
            if exc.exit_code == EXIT_CODES["error"] and not dry_run:
                prepare_out_dir(out, echo)
                _journal_failed_plan(exp, exc, run_id, secrets, out, state_dir, write_reports, command, echo)
            raise
        if dry_run:
            echo(format_plan(plan))
            echo(f"Seed: {seed} (a run with --seed {seed} picks the same targets)")
            echo("dry run: nothing was touched")
            return 0
        prepare_out_dir(out, echo)
        ledger = Ledger(state_dir)
        ledger.claim(run_id, exp.title, plan.targets)
        progress = Progress()
        try:
            engine = Engine(
                plan,
                run_id=run_id,
                secrets=secrets,
                options=RunOptions(out_dir=out, ledger=ledger, command=command, progress=progress, spin_s=spin_s),
            )
            echo(f"chaosrun {__version__}: {exp.title} (run {run_id}, seed {seed})")
            stop_ticker = asyncio.Event()
            ticker = asyncio.create_task(progress.run(engine.live_snapshot, stop_ticker))
            try:
                result = await engine.run(http)
            finally:
                stop_ticker.set()
                await ticker
        finally:
            ledger.release(run_id)
    journal_path, score = engine.journal.finish(exp, result, command=command, score_of=_score)
    if write_reports:
        _write_reports(journal_path, state_dir)
    # a refusal by the preflight is input, not infrastructure: nothing was applied (exit 2)
    code = engine.refused.exit_code if engine.refused is not None else EXIT_CODES[result.status]
    if engine.refused is not None:  # input, not infrastructure: nothing was applied (exit 2)
        echo(f"refused before anything was injected: {engine.journal.redact(str(engine.refused))}")
    else:
        echo(f"verdict: {result.status.upper().replace('_', ' ')} - {engine.journal.redact(result.reason)}")
    if result.remaining:
        echo("what may still be injected (run `chaosrun recover` once it is reachable):")
        for r in result.remaining:
            echo(f"  - {engine.journal.redact(r)}")
    value = score.get("value") if isinstance(score, dict) else None
    if isinstance(value, int | float):
        echo(f"resilience score: {value:.0f}/100")
    echo(f"journal: {journal_path}")
    if write_reports and (journal_path.parent / "report.html").exists():
        echo(f"report:  {journal_path.parent / 'report.html'}")
    if min_score is not None and result.status in ("held", "deviated"):
        # the score (impact, the worst region) decides for held and deviated runs; every other
        # status (aborted, error, not steady, rollback failed) keeps its own exit code
        if not isinstance(value, int | float):
            echo(f"no resilience score could be computed: --min-score {min_score} fails the gate")
            return 1
        if value < min_score:
            echo(f"score {value:.0f} is below --min-score {min_score}: the gate fails")
            return 1
        if result.status == "deviated":
            echo(f"deviated, but score {value:.0f} >= --min-score {min_score}: the gate passes")
            return 0
    return code


def _journal_failed_plan(
    exp: Experiment,
    exc: ChaosrunError,
    run_id: str,
    secrets: dict[str, str],
    out: Path,
    state_dir: Path,
    write_reports: bool,
    command: str,
    echo: Callable[[str], None],
) -> None:
    """A plan that failed on infrastructure (an API server unreachable or refusing, a target
    that cannot be listed) still leaves a journal, a report and a history row: scheduled game
    days are read afterwards, not watched. Nothing was applied; the error stands (exit 4)."""
    from .journal import Clock, JournalWriter, Redactor
    from .result import RunResult

    clock = Clock()
    journal = JournalWriter(out, run_id=run_id, clock=clock, redact=Redactor(list(secrets.values())))
    journal.run_started(exp, command=command, targets=[])
    journal.event("error", message=str(exc))
    result = RunResult(
        run_id=run_id,
        status="error",
        reason=f"the plan could not be built, nothing was injected: {exc}",
        started_at=clock.wall0,
        ended_at=clock.wall(),
        duration_s=clock.t(),
        errors=[str(exc)],
    )
    path, _ = journal.finish(exp, result, command=command, score_of=_score)
    if write_reports:
        _write_reports(path, state_dir)
    echo(f"journal: {path}")


def _score(journal: dict[str, Any]) -> Any:
    """The resilience score, a pure function of the journal (None when the report package is absent)."""
    try:
        from .report.score import score_wire
    except ImportError:
        return None
    try:
        return score_wire(journal)
    except Exception as exc:  # a reporter problem never breaks a run
        click.echo(f"warning: could not compute the resilience score: {exc}", err=True)
        return None


def _write_reports(journal_path: Path, state_dir: Path) -> None:
    try:
        from .report import load_journal, write_reports
    except ImportError:
        return
    try:
        from .history import record_run

        journal = load_journal(journal_path)
        db = state_dir / "history.sqlite"
        record_run(db, journal, journal_path)
        write_reports(journal, journal_path.parent, history_db=db)
    except Exception as exc:  # a failing reporter is logged and the run's outcome stands
        click.echo(f"warning: could not write the reports: {exc}", err=True)
