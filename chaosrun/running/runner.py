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
import contextlib
import dataclasses
import secrets as secrets_module
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import __version__
from ..errors import ChaosrunError, InvalidInput, os_error_text

if TYPE_CHECKING:
    from ..journal import JournalWriter
    from ..model import Experiment
    from ..settings import Settings
    from .metrics import MetricsExporter

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


async def _start_metrics(listen: str | None, run_id: str, title: str) -> MetricsExporter | None:
    """`--metrics`: serve the run's figures (None when not asked for); the journal feeds it."""
    if listen is None:
        return None
    from .metrics import MetricsExporter

    exporter = MetricsExporter(run_id=run_id, title=title)
    await exporter.start(listen)
    return exporter


async def _stop_metrics(exporter: MetricsExporter | None) -> None:
    if exporter is not None:
        await exporter.stop()


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
    metrics: str | None = None,
) -> int:
    """Plan, claim targets, run, write outputs; returns the exit code."""
    from .progress import printable

    echo = _quiet(echo, printable)

    import aiohttp

    from ..faults import FaultContext
    from ..journal import fallback_dirs
    from ..loader.services import insecure_tls
    from ..result import EXIT_CODES
    from ..safety.ledger import Ledger
    from ..safety.secret import resolve_secrets
    from ..settings import stricter
    from .engine import Engine, RunOptions, new_run_id
    from .plan import build_plan, format_plan
    from .progress import Progress

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
        from ..probes.http import disable_silent_retry

        disable_silent_retry(http)  # the http probe retries a closed keep-alive connection once, visibly
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
        exporter = await _start_metrics(metrics, run_id, exp.title)  # a busy address: refused before any claim
        try:
            prepare_out_dir(out, echo)
            ledger = Ledger(state_dir)
            ledger.claim(run_id, exp.title, plan.targets)
        except BaseException:
            await _stop_metrics(exporter)
            raise
        progress = Progress()
        try:
            engine = Engine(
                plan,
                run_id=run_id,
                secrets=secrets,
                options=RunOptions(out_dir=out, ledger=ledger, command=command, progress=progress, spin_s=spin_s),
            )
            echo(f"chaosrun {__version__}: {exp.title} (run {run_id}, seed {seed})")
            for warning in insecure_tls(exp):
                echo(warning)
            if exporter is not None:
                engine.journal.on_event, engine.journal.on_sample = exporter.on_event, exporter.on_sample
                echo(f"metrics: {exporter.url}")
            stop_ticker = asyncio.Event()
            ticker = asyncio.create_task(progress.run(engine.live_snapshot, stop_ticker))
            try:
                result = await engine.run(http)
            finally:
                stop_ticker.set()
                await ticker
                await _stop_metrics(exporter)
        finally:
            released = ledger.release(run_id)
            if released is not None:
                engine.journal.write_errors += 1
                echo(f"warning: {released} (a claim of an ended run is ignored)")
    journal_path, score = engine.journal.finish(
        exp, result, command=command, score_of=_score, fallback=fallback_dirs(state_dir, run_id)
    )
    if write_reports and journal_path is not None:
        _write_reports(journal_path, state_dir)
    # a refusal by the preflight is input, not infrastructure: nothing was applied (exit 2)
    code = engine.refused.exit_code if engine.refused is not None else EXIT_CODES[result.status]
    if engine.refused is not None:  # input, not infrastructure: nothing was applied (exit 2)
        echo(f"refused before anything was injected: {engine.journal.redact(str(engine.refused))}")
    else:
        echo(f"verdict: {result.status.upper().replace('_', ' ')} - {engine.journal.redact(result.reason)}")
    if result.remaining or result.status == "rollback_failed":
        echo(f"what may still be injected (undo it with `{ledger.recover_command()}`):")
        for r in result.remaining:
            echo(f"  - {engine.journal.redact(r)}")
        if settings is not None and settings.source:  # stop also cleans the servers the settings name
            echo(f"  (or `{ledger.stop_command(settings.source)}`)")
    value = score.get("value") if isinstance(score, dict) else None
    if isinstance(value, int | float):
        echo(f"resilience score: {value:.0f}/100")
    code = _report_output(engine.journal, journal_path, out, code, echo)
    if journal_path is None:
        return code
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


def _quiet(say: Callable[[str], None], printable: Callable[[str], str]) -> Callable[[str], None]:
    """`say`, printable only (names from the experiment reach the terminal) and quiet when the
    terminal is gone (a closed stdout, /dev/full): the run goes on."""

    def echo(text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            say(printable(text))

    return echo


def _report_output(journal: JournalWriter, path: Path | None, out: Path, code: int, echo: Callable[[str], None]) -> int:
    """Say once what output could not be written and where the journal went instead. A run whose
    journal.json could not be written anywhere is an error (exit 4) unless it is worse (5)."""
    if journal.write_errors:
        echo(f"warning: {journal.write_errors} output write(s) failed; first: {journal.first_write_error}")
    if path is None:
        echo(f"journal: NOT WRITTEN (--out {out} and every fallback folder failed; see the warnings above)")
        return code if code == 5 else 4
    if path.parent != out:
        echo(f"journal: --out {out} could not take it; written to the fallback folder {path.parent}")
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
    from ..journal import Clock, JournalWriter, Redactor, fallback_dirs
    from ..result import RunResult

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
    path, _ = journal.finish(exp, result, command=command, score_of=_score, fallback=fallback_dirs(state_dir, run_id))
    if write_reports and path is not None:
        _write_reports(path, state_dir)
    echo(f"journal: {path or 'NOT WRITTEN (no folder could take it)'}")


def _score(journal: dict[str, Any]) -> Any:
    """The resilience score, a pure function of the journal (None when the report package is absent)."""
    try:
        from ..report.score import score_wire
    except ImportError:
        return None
    try:
        return score_wire(journal)
    except Exception as exc:  # a reporter problem never breaks a run
        with contextlib.suppress(OSError, ValueError):
            click.echo(f"warning: could not compute the resilience score: {exc}", err=True)
        return None


def _write_reports(journal_path: Path, state_dir: Path) -> None:
    try:
        from ..report import load_journal, write_reports
    except ImportError:
        return
    try:
        from ..history import record_run

        journal = load_journal(journal_path)
        db = state_dir / "history.sqlite"
        record_run(db, journal, journal_path)
        write_reports(journal, journal_path.parent, history_db=db)
    except Exception as exc:  # a failing reporter is logged and the run's outcome stands
        text = os_error_text(exc) if isinstance(exc, OSError) else str(exc)
        with contextlib.suppress(OSError, ValueError):
            click.echo(f"warning: could not write the reports: {text}", err=True)
