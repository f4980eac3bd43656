"""Run a Chaos Toolkit experiment with Chaos Toolkit's semantics, and chaosrun's safety and outputs.

The run itself is chaostoolkit-lib's (`chaoslib.run.Runner`): order, hypothesis, method,
background activities, pauses, refs, tolerances, providers, configuration and secrets,
controls and runtime strategies are exactly `chaos run`'s. Around it, chaosrun adds (the
deliberate differences, docs/chaostoolkit.md):
- SIGINT, SIGTERM and SIGHUP interrupt the run and the rollbacks are played once the method has
  started, whatever the status (Chaos Toolkit's default strategy skips them when interrupted or
  failed); signals during the rollbacks are recorded, not obeyed, until the third;
- the rollbacks are in the ledger from the start of the method (`chaosrun recover`);
- process providers run in their own process group (ctk/process.py);
- the hypothesis is also sampled through the method (ctk/sampler.py);
- chaosrun's statuses and exit codes (ctk/outcome.py), chaosrun's journal, report, JUnit and
  summary, and Chaos Toolkit's journal on request (secrets masked);
- no call to a release server, no Chaos Toolkit settings file (`~/.chaostoolkit/settings.yaml`).
Synchronous on purpose: chaostoolkit-lib runs on the main thread, where signals arrive.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..journal import Clock, JournalWriter, Redactor, fallback_dirs
from ..judging.verdict import PhaseVerdict, compute_stats
from ..result import EXIT_CODES, RunResult
from ..safety.ledger import Ledger, LedgerEntry
from .experiment import REGION, CtkExperiment
from .outcome import ctk_exit_code, judge
from .recover import ledger_entry, target_of

__all__ = ["DEFAULT_EVERY_S", "CtkRunOptions", "run_ctk_experiment"]

# One sample per second per hypothesis probe through the method: Chaos Toolkit's own default
# period for its continuous strategy, enough to draw the fault period, and a load (one probe run
# per second) that any system a hypothesis already probes takes without notice.
DEFAULT_EVERY_S = 1.0
_FORCE_AFTER = 3  # signals during the rollbacks: the third one stops them (the ledger keeps them)


@dataclass(frozen=True, slots=True, kw_only=True)
class CtkRunOptions:
    out_dir: Path | None
    state_dir: Path
    every_s: float = DEFAULT_EVERY_S  # 0: no continuous sampling
    ctk_journal: Path | None = None
    ctk_exit_codes: bool = False
    write_reports: bool = True
    command: str = ""
    variables: tuple[tuple[str, str], ...] = ()  # `--var`: configuration values, as `chaos run --var`


@dataclass(slots=True)
class _Signals:
    received: list[str] = field(default_factory=list)
    rolling_back: bool = False


@contextlib.contextmanager
def _patched(name: str, value: object) -> Iterator[None]:
    import chaoslib.run as run_module

    original = getattr(run_module, name)
    setattr(run_module, name, value)
    try:
        yield
    finally:
        setattr(run_module, name, original)


_Installer = Callable[[], contextlib.AbstractContextManager[None]]


def _signal_handlers(state: _Signals, echo: Callable[[str], None]) -> _Installer:
    """chaoslib's `exit_signals`, with SIGINT/SIGTERM/SIGHUP all meaning "interrupt, then roll back"."""
    from chaoslib import exit as ctk_exit

    def handler(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        state.received.append(name)
        if state.rolling_back and len(state.received) < _FORCE_AFTER:
            echo(f"chaosrun: {name} received; the rollbacks are being played (a third signal stops them)")
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed() -> Iterator[None]:
        sigs = {signal.SIGINT: handler, signal.SIGTERM: handler, signal.SIGHUP: handler,
                signal.SIGUSR1: ctk_exit._leave_now, signal.SIGUSR2: ctk_exit._leave_now}  # fmt: skip
        old = {s: signal.signal(s, h) for s, h in sigs.items()}
        try:
            yield
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    return installed


def _strategies(document: dict[str, Any]) -> tuple[str, str, float, bool]:
    runtime = document.get("runtime") or {}
    hypothesis = runtime.get("hypothesis") or {}
    rollbacks = runtime.get("rollbacks") or {}
    strategy = str(hypothesis.get("strategy") or "default")
    strategy = "continuously" if strategy == "continously" else strategy
    return (
        strategy,
        str(rollbacks.get("strategy") or "default"),
        float(hypothesis.get("frequency") or 1.0),
        bool(hypothesis.get("fail_fast")),
    )


def _hypothesis_probes(document: dict[str, Any]) -> list[dict[str, Any]]:
    probes = (document.get("steady-state-hypothesis") or {}).get("probes") or []
    named = {a["name"]: a for a in [*probes, *document["method"]] if isinstance(a, dict) and "name" in a}
    return [named.get(p["ref"], p) if "ref" in p else p for p in probes]


def _typed(variables: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """`--var name:int=8080` as `chaos run --var` reads it (int, float, bytes or str)."""
    out: dict[str, Any] = {}
    for name, value in variables:
        key, _, kind = name.partition(":")
        try:
            match kind:
                case "int":
                    out[key] = int(value)
                case "float":
                    out[key] = float(value)
                case "bytes":
                    out[key] = value.encode()
                case _:
                    out[key] = value
        except ValueError as exc:
            raise InvalidInput(f"--var {name}={value}: not a valid {kind}") from exc
    return out


def _secret_values(secrets: Any) -> list[str]:
    out: list[str] = []
    for scope in (secrets or {}).values():
        if isinstance(scope, dict):
            out += [str(v) for v in scope.values() if isinstance(v, str | int | float) and not isinstance(v, bool)]
    return out


def run_ctk_experiment(exp: CtkExperiment, opts: CtkRunOptions, echo: Callable[[str], None]) -> int:
    """Run it; returns the exit code (chaosrun's table, or Chaos Toolkit's with `ctk_exit_codes`)."""
    logger = logging.getLogger("chaostoolkit")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    from chaoslib.caching import cache_activities, clear_cache
    from chaoslib.exceptions import ChaosException
    from chaoslib.run import Runner, initialize_run_journal
    from chaoslib.types import Schedule, Strategy

    from ..running.engine import new_run_id
    from ..running.runner import _score, _write_reports, default_out_dir, prepare_out_dir
    from .observe import CtkEvents, Recorder
    from .process import patched_process_provider
    from .sampler import ContinuousSampler

    document = exp.document()
    document["dry"] = None
    hyp, rb, frequency, fail_fast = _strategies(document)
    settings: dict[str, Any] = {"runtime": {"hypothesis": {"strategy": hyp}, "rollbacks": {"strategy": rb}}}
    model = exp.summary_model(opts.every_s)
    run_id = new_run_id()

    class _Runner(Runner):  # type: ignore[misc]
        """configure() once: the secrets are needed (for masking) before the run starts."""

        configured = False

        def configure(self, experiment: Any, settings: Any, experiment_vars: Any) -> None:
            if not self.configured:
                super().configure(experiment, settings, experiment_vars)
                self.configured = True

    schedule = Schedule(continuous_hypothesis_frequency=frequency, fail_fast=fail_fast)
    runner = _Runner(Strategy.from_string(hyp), schedule)
    with patched_process_provider():
        try:
            runner.configure(document, settings, (_typed(opts.variables), None))
        except ChaosException as exc:
            raise InvalidInput(f"{exp.source}: configuration or secrets: {' '.join(str(exc).split())}") from exc
    from chaoslib import substitute

    model = dataclasses.replace(model, title=str(substitute(exp.title, runner.config, runner.secrets)))
    out = opts.out_dir or default_out_dir(model, Path("reports"), run_id)
    prepare_out_dir(out, echo)
    ledger = Ledger(opts.state_dir)
    ledger.claim(run_id, exp.title, (target_of(exp.source),))
    clock = Clock()
    redact = Redactor(_secret_values(runner.secrets))
    journal = JournalWriter(out, run_id=run_id, clock=clock, redact=redact)
    recorder = Recorder(journal, lambda s: echo(redact(s)))
    state = _Signals()
    entry: list[LedgerEntry] = []

    def on_method() -> None:
        if rb != "never" and document.get("rollbacks"):
            entry.append(ledger_entry(run_id, exp.document(), exp.source, exp.title))
            ledger.add(entry[0])
            recorder.event("ledger_written", entry=entry[0].entry_id, rollbacks=len(document["rollbacks"]))

    def make_sampler() -> ContinuousSampler | None:
        probes = _hypothesis_probes(document)
        if opts.every_s <= 0 or not probes:
            return None
        return ContinuousSampler(probes, configuration=runner.config, secrets=runner.secrets,
                                 every_s=opts.every_s, clock=clock, record=recorder.sample)  # fmt: skip

    import chaoslib.run as run_module

    original_rollback = run_module.run_rollback

    def run_rollback(strategy: str, pool: Any, experiment: Any, ctk_journal: Any, *args: Any) -> None:
        state.rolling_back = True  # from here on, signals are recorded, not obeyed (until the third)
        if strategy == "default" and recorder.method_started and ctk_journal["status"] in ("failed", "interrupted"):
            strategy = "always"  # the method ran: undo it, however the run ended (a deliberate difference)
        original_rollback(strategy, pool, experiment, ctk_journal, *args)

    runner.register_event_handler(CtkEvents(recorder, on_method=on_method, make_sampler=make_sampler))
    journal.run_started(model, command=opts.command, targets=[target_of(exp.source)], format="chaostoolkit")
    echo(f"chaosrun: Chaos Toolkit experiment '{redact(model.title)}' (run {run_id})")
    ctk_journal: dict[str, Any] = initialize_run_journal(document)
    forced: str | None = None
    try:
        with (
            patched_process_provider(),
            _patched("exit_signals", _signal_handlers(state, echo)),
            _patched("run_rollback", run_rollback),
        ):
            try:
                cache_activities(document)  # what chaoslib's run_experiment does (`ref` lookups)
                runner.run(document, settings, (_typed(opts.variables), None), ctk_journal)
            except KeyboardInterrupt:  # a third signal during the rollbacks, or one after them
                forced = state.received[-1] if state.received else "SIGINT"
                ctk_journal["status"] = "interrupted"
    finally:
        clear_cache()
        ctk_journal["experiment"]["title"] = document["title"]  # substituted by the run, as in `chaos run`
        recorder.close_phase()
        ledger.release(run_id)
    for name in state.received:
        journal.event("signal", signal=name)
    status, reason = judge(ctk_journal, signal=state.received[0] if state.received else None,
                           method_started=recorder.method_started)  # fmt: skip
    if len(state.received) >= _FORCE_AFTER:
        forced = state.received[-1]
    remaining = _settle_ledger(ledger, entry, ctk_journal, rb, forced)
    if remaining and status != "rollback_failed":
        status, reason = "rollback_failed", f"the rollbacks did not all run (stopped by {forced or 'a signal'})"
    _mark_undo(recorder, ctk_journal)
    journal.event("run_ended", status=status, reason=reason)
    result = RunResult(
        run_id=run_id,
        status=status,
        reason=reason,
        started_at=clock.wall0,
        ended_at=clock.wall(),
        duration_s=clock.t(),
        phases=recorder.phases,
        verdicts=_verdicts(recorder, _hypothesis_probes(document)),
        faults=recorder.faults,
        rollbacks=recorder.rollbacks,
        remaining=remaining,
        signals=state.received,
    )
    journal_path, _ = journal.finish(
        model, result, command=opts.command, score_of=_score, fallback=fallback_dirs(opts.state_dir, run_id)
    )
    if opts.write_reports and journal_path is not None:
        _write_reports(journal_path, opts.state_dir)
    if opts.ctk_journal is not None:
        _write_ctk_journal(opts.ctk_journal, ctk_journal, redact)
    echo(f"verdict: {status.upper().replace('_', ' ')} - {redact(reason)}")
    deviated = "true" if ctk_journal.get("deviated") else "false"
    echo(f"Chaos Toolkit outcome: status {ctk_journal.get('status')}, deviated {deviated}")
    for r in remaining:
        echo(f"  - may remain: {r} (run `chaosrun recover`)")
    echo(f"journal: {journal_path}")
    if opts.write_reports and (out / "report.html").exists():
        echo(f"report:  {out / 'report.html'}")
    if opts.ctk_journal is not None:
        echo(f"Chaos Toolkit journal: {opts.ctk_journal}")
    return ctk_exit_code(ctk_journal) if opts.ctk_exit_codes else EXIT_CODES[status]


def _settle_ledger(
    ledger: Ledger, entry: list[LedgerEntry], ctk_journal: dict[str, Any], strategy: str, forced: str | None
) -> list[str]:
    """Remove the ledger entry when nothing is left to undo; else what may remain."""
    if not entry:
        return []
    runs = ctk_journal.get("rollbacks") or []
    expected = len(entry[0].undo.get("rollbacks") or [])  # type: ignore[arg-type]
    played = len(runs) == expected and all(r.get("status") == "succeeded" for r in runs)
    chosen_not_to = strategy in ("never", "deviated") and not ctk_journal.get("deviated") and not forced
    if played or chosen_not_to:
        ledger.remove(entry[0])
        return []
    return [entry[0].description]


def _mark_undo(recorder: Any, ctk_journal: dict[str, Any]) -> None:
    """The report's undo column for method activities: the experiment's rollbacks, as a whole."""
    runs = ctk_journal.get("rollbacks") or []
    if not runs:
        return  # no rollbacks played: "not applied"
    failed = [str(r["activity"].get("name")) for r in runs if r.get("status") != "succeeded"]
    for f in recorder.faults:
        f.undo = "failed" if failed else "ok"
        if failed:
            f.error = f"rollback {', '.join(failed)} failed"


def _verdicts(recorder: Any, probes: list[dict[str, Any]]) -> list[PhaseVerdict]:
    """Per probe and phase: before and after as Chaos Toolkit judged them (every run within its
    tolerance), during the method the continuous samples, shown but not judged."""
    out = []
    for probe in probes:
        name = str(probe.get("name"))
        for phase in ("baseline", "fault", "recovery"):
            samples = [s for s in recorder.samples if s.probe == name and s.phase == phase]
            if not samples:
                continue
            stats = compute_stats([s.ok for s in samples], [s.latency_s or 0.0 for s in samples])
            judged = phase != "fault"
            bad = [s for s in samples if not s.ok]
            out.append(
                PhaseVerdict(
                    probe=name,
                    region=REGION,
                    phase=phase,
                    judged=judged,
                    held=(not bad) if judged else None,
                    stats=stats,
                    tolerance=f"Chaos Toolkit tolerance {json.dumps(probe.get('tolerance'))}"[:200],
                    reasons=tuple(sorted({s.error or "failed" for s in bad}))[:5],
                )
            )
    return out


def _write_ctk_journal(path: Path, ctk_journal: dict[str, Any], redact: Redactor) -> None:
    """Chaos Toolkit's journal.json, as `chaos run` writes it, with secret values masked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redact(json.dumps(ctk_journal, indent=2, ensure_ascii=False, default=str)), encoding="utf-8")
