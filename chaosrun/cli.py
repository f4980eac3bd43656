"""The command line: the only place that calls asyncio (once per command) and exits.

Exit codes (one table, `chaosrun.result.EXIT_CODES`, plus input errors):
  0 held · 1 deviated · 2 invalid input or usage (nothing executed) · 3 aborted (guardrail
  or signal; faults rolled back) · 4 infrastructure error (faults rolled back) · 5 a rollback
  failed (something may still be injected) · 6 not steady before the fault (method skipped) ·
  7 inconclusive (chaosrun could not judge the run honestly)
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .errors import ChaosrunError, InvalidInput
from .running.runner import run_experiment

__all__ = ["main"]

T = TypeVar("T")
SETTINGS_HELP = (
    "Site settings (caps for every experiment, servers for `stop`); default $CHAOSRUN_SETTINGS or "
    "~/.config/chaosrun/settings.yaml when present."
)
EXIT_HELP = """\b
Exit codes:
  0  hypothesis held in every phase and region
  1  deviated: a tolerance failed during or after the fault
  2  invalid input or usage; nothing was executed
  3  aborted (guardrail or signal); faults were rolled back
  4  error in fault injection or probing infrastructure; faults were rolled back
  5  a rollback failed: something may still be injected (the message says what)
  6  not steady before the fault: the method was skipped
  7  inconclusive: chaosrun could not judge the run honestly (samples not taken, or a fault
     not in place); faults were rolled back
"""


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio, once: uvloop when available (lower scheduling jitter for probes)."""
    from .running.scheduler import fast_loop_factory

    with asyncio.Runner(loop_factory=fast_loop_factory()) as runner:
        return runner.run(coro)


def _fail(exc: ChaosrunError) -> None:
    from .running.progress import printable

    for line in str(exc).splitlines() or [type(exc).__name__]:
        _say(f"error: {printable(line)}")
    _exit(exc.exit_code)


def _parse_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidInput(f"--var expects name=value, got {pair!r}")
        out[name] = value
    return out


def _state_dir(option: str | None) -> Path:
    if option:
        return Path(option)
    from .safety.state import default_state_dir

    return Path(default_state_dir())


@click.group(epilog=EXIT_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="chaosrun")
def cli() -> None:
    """chaosrun: prove a service survives faults.

    Probes the steady-state hypothesis across regions before, during and after injected
    faults, always rolls back, and writes a journal, an HTML report, JUnit XML and a summary.
    """


@cli.command(epilog=EXIT_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="Override a variable.")
def validate(files: tuple[str, ...], variables: tuple[str, ...]) -> None:
    """Check experiment files (chaosrun's or Chaos Toolkit's); every problem is named with
    file:line:column and field."""
    from .ctk import is_ctk_experiment
    from .loader import load_experiment
    from .loader.services import insecure_tls

    try:
        values = _parse_vars(variables)
    except ChaosrunError as exc:
        _fail(exc)
    bad: list[ChaosrunError] = []
    for f in files:
        try:
            if is_ctk_experiment(f):  # Chaos Toolkit's format (docs/chaostoolkit.md)
                from .ctk.command import validate_ctk_file

                click.echo(validate_ctk_file(f))
                continue
            exp = load_experiment(f, variables=values, strict_variables=True)
            click.echo(f"{f}: ok")
            for warning in insecure_tls(exp):
                click.echo(warning, err=True)
        except ChaosrunError as exc:
            bad.append(exc)
            for line in str(exc).splitlines():
                click.echo(f"error: {line}", err=True)
    sys.exit(2 if bad else 0)


CHECK_HELP = """\b
Exit codes (the code the real run would end with; the most severe one):
  0  every check passed: the run would start
  2  invalid input, or the run would be refused (caps, un-recovered fault, another run on a target)
  3  a guardrail's own probe failed: the guardrail would trip
  4  a back end is unreachable or refuses (Toxiproxy down, Kubernetes credentials without the verbs)
  6  a probe failed its sample: the baseline would not hold
"""


@cli.command(epilog=CHECK_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="Override a variable.")
@click.option(
    "--state-dir", type=click.Path(file_okay=False), help="Ledger and history folder (default XDG state dir)."
)
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False), help=SETTINGS_HELP)
@click.option("--seed", type=click.IntRange(0), help="Seed of the random choice of targets (as `run --seed`).")
def check(
    files: tuple[str, ...], variables: tuple[str, ...], state_dir: str | None, settings_file: str | None,
    seed: int | None,
) -> None:  # fmt: skip
    """Preflight: connect to everything a run needs and touch nothing (back ends and their versions,
    Kubernetes permissions, process targets, one sample of every probe in every region, the ledger,
    the rollbacks). Exit 0 only when the real run would start; each failure is one located line."""
    import secrets as secrets_module

    from .running.engine import install_interrupt_handlers
    from .running.preflight import check_files
    from .settings import load_settings, settings_path

    install_interrupt_handlers()
    try:
        values = _parse_vars(variables)
        settings = load_settings(settings_path(settings_file))
    except ChaosrunError as exc:
        _fail(exc)
    chosen = secrets_module.randbelow(1_000_000) if seed is None else seed
    code = _run_async(
        check_files([(f, values) for f in files], state_dir=_state_dir(state_dir), seed=chosen, settings=settings,
                    echo=click.echo)
    )  # fmt: skip
    sys.exit(code)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of experiment files (for editors such as VS Code YAML)."""
    import json

    from .schema import experiment_schema

    click.echo(json.dumps(experiment_schema(), indent=2))


@cli.command(epilog=EXIT_HELP)
@click.argument("file", type=click.Path())
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False), help="Output folder (default reports/<slug>/<run id>/)."
)
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="Override a variable (repeatable).")
@click.option("--dry-run", is_flag=True, help="Validate, resolve targets and print the timed plan; touch nothing.")
@click.option(
    "--state-dir", type=click.Path(file_okay=False), help="Ledger and history folder (default XDG state dir)."
)
@click.option(
    "--min-score",
    type=click.IntRange(0, 100),
    help="CI gate on the score instead of the verdict: a held or deviated run exits 0 at or above it, 1 below.",
)
@click.option("--no-report", is_flag=True, help="Write only the journal (no HTML, JUnit or summary).")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False), help=SETTINGS_HELP)
@click.option(
    "--seed",
    type=click.IntRange(0),
    help="Seed of the random choice of targets (process.kill count/percent); printed by every run and "
    "--dry-run: the same seed picks the same processes.",
)
@click.option(
    "--precise-timing",
    is_flag=True,
    help="Spin up to 1 ms before each sample: p99 client overhead under 1 ms at 1,000 samples/s, for about "
    "one CPU core (benchmarks/bench_timing_fidelity.py).",
)
@click.option(
    "--metrics",
    metavar="HOST:PORT",
    help="Serve the run's figures live at http://HOST:PORT/metrics (Prometheus format) while it runs.",
)
@click.option(
    "--ctk-journal",
    type=click.Path(dir_okay=False),
    help="Chaos Toolkit experiments: also write Chaos Toolkit's own journal.json here (for `chaos report`).",
)
@click.option(
    "--ctk-exit-codes",
    is_flag=True,
    help="Chaos Toolkit experiments: exit as `chaos run` does (0 completed and not deviated, else 1).",
)
@click.option(
    "--probe-every",
    type=click.FloatRange(0, 3600),
    default=1.0,
    show_default=True,
    help="Chaos Toolkit experiments: seconds between samples of the hypothesis through the method (0: off).",
)
def run(
    file: str,
    out_dir: str | None,
    variables: tuple[str, ...],
    dry_run: bool,
    state_dir: str | None,
    min_score: int | None,
    no_report: bool,
    settings_file: str | None,
    seed: int | None,
    precise_timing: bool,
    metrics: str | None,
    ctk_journal: str | None,
    ctk_exit_codes: bool,
    probe_every: float,
) -> None:
    """Run an experiment (chaosrun's, or Chaos Toolkit's as it is): baseline, fault, recovery;
    Ctrl-C rolls back."""
    from .ctk import is_ctk_experiment
    from .loader import load_experiment
    from .running.engine import install_interrupt_handlers
    from .settings import load_settings, settings_path

    install_interrupt_handlers()
    try:
        if is_ctk_experiment(file):  # Chaos Toolkit's format, run with its semantics (docs/chaostoolkit.md)
            from .ctk.command import run_ctk_file
            from .ctk.run import CtkRunOptions

            opts = CtkRunOptions(
                out_dir=Path(out_dir) if out_dir else None,
                state_dir=_state_dir(state_dir),
                every_s=probe_every,
                ctk_journal=Path(ctk_journal) if ctk_journal else None,
                ctk_exit_codes=ctk_exit_codes,
                write_reports=not no_report,
                command=shlex.join(["chaosrun", *sys.argv[1:]]),
                variables=tuple(_parse_vars(variables).items()),
            )
            sys.exit(run_ctk_file(file, opts, dry_run=dry_run, echo=click.echo))
        exp = load_experiment(file, variables=_parse_vars(variables), strict_variables=True)
        settings = load_settings(settings_path(settings_file))
        code = _run_async(
            run_experiment(
                exp,
                settings=settings,
                spin_s=0.001 if precise_timing else 0.0,
                out_dir=Path(out_dir) if out_dir else None,
                dry_run=dry_run,
                state_dir=_state_dir(state_dir),
                min_score=min_score,
                write_reports=not no_report,
                command=shlex.join(["chaosrun", *sys.argv[1:]]),
                seed=seed,
                metrics=metrics,
            )
        )
    except ChaosrunError as exc:
        _fail(exc)
    sys.exit(code)


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="reports/demo", show_default=True)
@click.option(
    "--state-dir", type=click.Path(file_okay=False), help="Ledger and history folder (default XDG state dir)."
)
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="Override a variable (e.g. fault=4s).")
@click.option("--only", multiple=True, metavar="NAME", help="Run only these demo experiments (repeatable).")
@click.option("--attach", is_flag=True, help="Use a demo system that is already running (docker-compose.yml).")
@click.option(
    "--kubernetes",
    is_flag=True,
    help="Instead: a pod kill on the cluster of $KUBECONFIG (a node that runs hostNetwork pods, "
    "scripts/kube-up.sh --node), probed from an in-cluster agent.",
)
def demo(
    out_dir: str,
    state_dir: str | None,
    variables: tuple[str, ...],
    only: tuple[str, ...],
    attach: bool,
    kubernetes: bool,
) -> None:
    """The whole loop in one command, offline: Toxiproxy + a 3-region storefront, four faults, reports.

    \b
    1. latency on us-east payments: held (timeouts, retries, failover)
    2. the same on a fragile storefront: deviated
    3. eu-west payments down: held
    4. a storefront replica killed: held (its supervisor restarts it)
    Exit 0 when every experiment ended as designed, 1 when one did not, 3 when interrupted,
    4 when the demo system could not start. Everything started is stopped, also on Ctrl-C.
    """
    from .demo import DEMOS, run_demo
    from .running.engine import install_interrupt_handlers

    install_interrupt_handlers()
    known = {d.name for d in DEMOS}
    try:
        values = _parse_vars(variables)
        unknown = [n for n in only if n not in known]
        if unknown:
            raise InvalidInput(f"--only {unknown[0]!r}: no such demo; choose from {', '.join(sorted(known))}")
    except ChaosrunError as exc:
        _fail(exc)
    if kubernetes:
        from .demo.kubernetes import run_kube_demo

        kube_demo = run_kube_demo(
            out_root=Path(out_dir), state_dir=_state_dir(state_dir), echo=lambda s: click.echo(s), variables=values
        )
        sys.exit(_run_async(kube_demo))
    code = _run_async(
        run_demo(
            out_root=Path(out_dir),
            state_dir=_state_dir(state_dir),
            echo=lambda s: click.echo(s),
            variables=values,
            only=only,
            attach=attach,
        )
    )
    sys.exit(code)


@cli.command()
@click.argument("journal", type=click.Path())
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="HTML file (default report.html next to the journal)."
)
@click.option(
    "--state-dir", type=click.Path(file_okay=False), help="History folder for the trend (default XDG state dir)."
)
def report(journal: str, output: str | None, state_dir: str | None) -> None:
    """Rebuild the HTML report (and JUnit, summary) from a journal.json, an events.jsonl or a run folder.

    Works for interrupted, aborted and crashed runs too (then from the JSON Lines events).
    """
    from .history import list_runs
    from .report import load_journal, render_html, write_reports

    try:
        data = load_journal(journal)
    except ChaosrunError as exc:
        _fail(exc)
    db = _state_dir(state_dir) / "history.sqlite"
    if output:
        out = Path(output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_html(data, history=list_runs(db, data.experiment.title)), encoding="utf-8")
        click.echo(f"report: {out}")
        return
    folder = Path(journal) if Path(journal).is_dir() else Path(journal).parent
    for kind, path in write_reports(data, folder, history_db=db).items():
        click.echo(f"{kind}: {path}")


@cli.command()
@click.argument("experiment", required=False)
@click.option("--state-dir", type=click.Path(file_okay=False), help="History folder (default XDG state dir).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def history(experiment: str | None, state_dir: str | None, limit: int) -> None:
    """List past runs (verdict, score, p95 per region), newest first; EXPERIMENT filters by title, slug or file."""
    from .history import format_history, list_runs

    click.echo(format_history(list_runs(_state_dir(state_dir) / "history.sqlite", experiment, limit=limit)))


RECOVER_HELP = """\b
Exit codes:
  0  every entry was undone (or there was nothing to undo)
  5  an undo failed: something may still be injected (the message says what)
"""


@cli.command(epilog=RECOVER_HELP)
@click.option("--state-dir", type=click.Path(file_okay=False), help="Ledger folder (default XDG state dir).")
@click.option("--include-live", is_flag=True, help="Also undo entries of runs that are still alive.")
def recover(state_dir: str | None, include_live: bool) -> None:
    """Undo every fault left in the ledger by runs that died (kill -9, power loss). Safe to repeat."""
    from .safety.ledger import Ledger
    from .safety.recovery import recover as do_recover

    report = _run_async(do_recover(Ledger(_state_dir(state_dir)), include_live=include_live, echo=click.echo))
    click.echo(f"recovered {len(report.undone)}, failed {len(report.failed)}, skipped {len(report.skipped_live)}")
    sys.exit(5 if report.failed else 0)


@cli.command(
    epilog=RECOVER_HELP.replace(
        "every entry was undone (or there was nothing to undo)", "every chaosrun fault found was removed"
    )
)
@click.option("--state-dir", type=click.Path(file_okay=False), help="Ledger folder (default XDG state dir).")
@click.option(
    "--toxiproxy",
    "toxiproxy_urls",
    multiple=True,
    help="Toxiproxy servers to clean of chaosrun toxics (repeatable); also those of the settings file and "
    "the ledger. With none named, http://127.0.0.1:8474 is cleaned if it answers.",
)
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False), help=SETTINGS_HELP)
@click.option(
    "--wait", "wait_s", type=float, default=20.0, show_default=True, help="Seconds to wait for runs to roll back."
)
def stop(state_dir: str | None, toxiproxy_urls: tuple[str, ...], settings_file: str | None, wait_s: float) -> None:
    """Emergency stop: abort every chaosrun run on this host and remove every chaosrun-owned fault."""
    from .safety.ledger import Ledger
    from .safety.recovery import emergency_stop
    from .settings import load_settings, settings_path

    try:
        settings = load_settings(settings_path(settings_file))
    except ChaosrunError as exc:  # a broken settings file must not stop the stop: say so, clean what is named
        click.echo(f"warning: settings not read: {exc}", err=True)
        servers = tuple(toxiproxy_urls)
    else:
        servers = (*toxiproxy_urls, *settings.toxiproxy)
    optional = () if servers else ("http://127.0.0.1:8474",)
    report = _run_async(
        emergency_stop(Ledger(_state_dir(state_dir)), servers, wait_s=wait_s, echo=click.echo, optional_urls=optional)
    )
    sys.exit(5 if report.failed else 0)


@cli.command(hidden=True)
@click.option("--plan", "plan_json", required=True, help="The agent's plan (JSON), written by chaosrun.")
def agent(plan_json: str) -> None:
    """Run one region's probes inside its cluster; samples as JSON lines on stdout (see chaosrun/kube/)."""
    from .kube.agent import run_agent
    from .kube.wire import AgentPlan

    _run_async(run_agent(AgentPlan.from_json(plan_json)))


def main() -> None:
    """Console entry point: the one place that turns a ChaosrunError into its message and exit code.

    Click runs in non-standalone mode so that a stop signal outside a run's own handling (while
    loading, planning or writing reports, between game-day experiments, during `recover`) is
    exit 3 with a message, not click's "Aborted!" with exit 1 (which would read as "deviated")."""
    try:
        code = cli.main(prog_name="chaosrun", standalone_mode=False)
    except ChaosrunError as exc:
        _fail(exc)
    except click.ClickException as exc:  # usage errors: click's own message, exit 2
        exc.show()
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        engine = sys.modules.get("chaosrun.running.engine")
        name = (engine.interrupted() if engine is not None else None) or "SIGINT"
        _say(f"\nchaosrun: stopped by {name}; if a fault may still be active, run `chaosrun recover`")
        _exit(3)
    except OSError as exc:  # a full disk, a closed pipe, no file descriptors left: one located line
        from .errors import os_error_text

        _say(f"error: {os_error_text(exc)}")
        _exit(4)
    _exit(code if isinstance(code, int) else 0)


def _say(text: str) -> None:
    import contextlib

    with contextlib.suppress(OSError, ValueError):  # stderr is gone too: the exit code still tells
        click.echo(text, err=True)


def _exit(code: int) -> None:
    """Exit without a traceback even when stdout is a closed pipe or /dev/full: Python flushes
    stdout at exit and would print an "Exception ignored" report; point it at /dev/null first."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
            except (OSError, ValueError):
                pass
    sys.exit(code)


def _register() -> None:
    """Commands that live in their own modules."""
    from .gameday.command import gameday
    from .gate.command import gate

    cli.add_command(gate)
    cli.add_command(gameday)


_register()
