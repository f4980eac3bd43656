"""Runs a plan: the only owner of time, cancellation, signals and the order
"ledger -> apply -> ... -> undo -> clear ledger", and the only place that decides a run's status.

Phases: baseline (also the steady-state gate) -> faults injected -> fault phase -> faults
removed -> recovery. Probes sample continuously in every phase. Undo always runs: on held,
deviated, error, guardrail trip and signals (SIGINT, SIGTERM, SIGHUP are handled by the loop,
never as exceptions, so nothing interrupts an undo half way).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets as _random
import signal
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ChaosrunError, PlanRefused, os_error_text
from ..faults import FaultContext
from ..journal import Clock, JournalWriter, Redactor
from ..judging.verdict import GuardrailMonitor
from ..kube.fleet import AgentFleet
from ..model import Experiment, Phase, Rollback
from ..result import GuardrailTrip, PhaseSpan, RollbackRecord, RunResult, Status
from ..safety.ledger import Ledger
from ..safety.procs import kill_all_children, run_argv
from ..safety.secret import cut_tail
from .injector import Injector
from .plan import Plan
from .sampling import Sampling

if TYPE_CHECKING:
    import aiohttp

    from .progress import Progress

__all__ = ["Engine", "RunOptions", "install_interrupt_handlers", "interrupted", "new_run_id"]

_FORCE_AFTER_SIGNALS = 3


# Process-wide: the signals that asked this process to stop. A game day ends on the first one,
# whatever its plan's `stop_on` says (a kubelet's SIGTERM means stop, not "next experiment").
_received: list[str] = []


def interrupted() -> str | None:
    """The first stop signal this process received (`SIGTERM`, ...), or None."""
    return _received[0] if _received else None


def _interrupt(signum: int, frame: object) -> None:
    _received.append(signal.Signals(signum).name)
    raise KeyboardInterrupt


def install_interrupt_handlers() -> None:
    """Outside a run's own handling (while loading and planning, while writing reports),
    SIGTERM and SIGHUP end the command like Ctrl-C: exit 3, never a silent death by signal."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)


def _end_own_process_group() -> None:
    """On a forced exit, end children left in our process group (e.g. a Chaos Toolkit rollback
    run by chaoslib), so nothing is orphaned. Only when chaosrun leads its group (a terminal job):
    otherwise the group belongs to whoever started us and is not ours to signal."""
    if os.getpgrp() != os.getpid():
        return
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.killpg(os.getpgrp(), signal.SIGTERM)


def new_run_id() -> str:
    """`20261126T170000Z-3f9a1c`: sortable, unique enough, safe in toxic names."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + _random.token_hex(3)


@dataclass(slots=True, kw_only=True)
class RunOptions:
    out_dir: Path
    ledger: Ledger
    command: str = ""
    progress: Progress | None = None
    handle_signals: bool = True
    spin_s: float = 0.0  # busy-wait this long before each tick: sub-ms sampling precision for a CPU core


class Engine:
    """One run of one experiment."""

    def __init__(self, plan: Plan, *, run_id: str, secrets: dict[str, str], options: RunOptions) -> None:
        self.plan = plan
        self.exp: Experiment = plan.experiment
        self.run_id = run_id
        self.secrets = secrets
        self.opt = options
        self.refused: PlanRefused | None = None  # set when the preflight refused: nothing ran (exit 2)
        self.clock = Clock()
        self.result = RunResult(run_id=run_id, started_at=self.clock.wall0)
        self.journal = JournalWriter(
            options.out_dir, run_id=run_id, clock=self.clock, redact=Redactor(list(secrets.values()))
        )
        self.journal.on_error = self._output_failed
        self.abort = asyncio.Event()
        self.abort_reason = ""
        self._aborted_at: float | None = None
        guards_by_probe: dict[str, list[GuardrailMonitor]] = {}
        for m in (GuardrailMonitor(g) for g in self.exp.guardrails):
            key = m.guardrail.probe or f"guardrail:{m.guardrail.name}"
            guards_by_probe.setdefault(key, []).append(m)
        self._signals = 0
        self._stop_probes = asyncio.Event()
        self._sampling = Sampling(
            self.exp,
            journal=self.journal,
            clock=self.clock,
            secrets=secrets,
            phases=self.result.phases,
            guards_by_probe=guards_by_probe,
            spin_s=options.spin_s,
            stop=self._stop_probes,
            on_breach=self._on_guardrail,
            log=self._log,
        )
        self._baseline_unjudged = False  # the baseline was inconclusive: chaosrun could not observe it
        # in-cluster agents: the probes of regions that name their cluster (chaosrun/kube/)
        self._agents = (
            AgentFleet(
                self.exp,
                run_id=run_id,
                clock=self.clock,
                journal=self.journal,
                ledger=options.ledger,
                record=self._sampling.record,
                log=self._log,
                phases=self.result.phases,
            )
            if AgentFleet.wanted(self.exp)
            else None
        )
        self._skip_method = False
        self._injector = Injector(
            plan,
            run_id=run_id,
            ledger=options.ledger,
            journal=self.journal,
            clock=self.clock,
            result=self.result,
            log=self._log,
            on_error=self._on_backend_error,
        )

    # ------------------------------------------------------------------ public
    async def run(self, http: aiohttp.ClientSession) -> RunResult:
        """Run every phase; always undo; decide the status; write journal.json."""
        ctx = FaultContext(run_id=self.run_id, experiment=self.exp, http=http, log=self._log)
        loop = asyncio.get_running_loop()
        if self.opt.handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.add_signal_handler(sig, self._on_signal, sig)
        self.journal.run_started(self.exp, command=self.opt.command, targets=list(self.plan.targets))
        probe_tasks: list[asyncio.Task[None]] = []
        try:
            agents = self._agents
            # agents first: one that cannot start refuses the run before anything is set up
            if (agents is None or await self._unless_aborted(agents.start())) and await self._unless_aborted(
                self._injector.setup(ctx)
            ):
                probe_tasks = self._sampling.start(http) + ([] if agents is None else agents.follow(http))
                probe_tasks.append(asyncio.create_task(self._sampling.watch(self._stop_probes)))
                health = asyncio.create_task(self._injector.watch_health(ctx))
                try:
                    await self._phases(ctx)
                finally:
                    health.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await health
        except PlanRefused as exc:  # the preflight refused a target (e.g. another run's toxics on it)
            self.refused = exc
            self._error(str(exc))
        except ChaosrunError as exc:
            self._error(str(exc))
        except OSError as exc:  # e.g. out of file descriptors: what and where, never "internal error"
            self._error(os_error_text(exc))
        except Exception as exc:  # a bug must still never skip the undo below
            self._error(f"internal error: {type(exc).__name__}: {exc}")
        finally:
            # Probing ends before the teardown: what the run's own cleanup does to the service
            # (removing proxies it created, the experiment's rollbacks) is not the service's
            # behaviour under the fault, and after an abort it would be judged as such.
            self._stop_probes.set()
            for t in probe_tasks:
                t.cancel()
            for t in probe_tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            with contextlib.suppress(Exception):
                await self._sampling.aclose()
            try:
                await self._undo_all(ctx, include_setup=True)
            except Exception as exc:  # never expected (each undo records its own failure); rollbacks still run
                self._error(f"internal error while undoing: {type(exc).__name__}: {exc}")
            await self._run_rollbacks()
            if self._agents is not None:
                await self._agents.stop()
            if self.opt.handle_signals:
                for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                    loop.remove_signal_handler(sig)
                install_interrupt_handlers()  # asyncio restored SIG_DFL: a late SIGTERM must still exit 3
        self._judge()
        return self.result

    # ------------------------------------------------------------------ phases
    def _phase(self, name: Phase) -> None:
        t = self.clock.t()
        if self.result.phases:
            last = self.result.phases[-1]
            last.end_s, last.ended_at = t, self.clock.wall(t)
        self.result.phases.append(PhaseSpan(name=name, start_s=t, started_at=self.clock.wall(t)))
        self.journal.event("phase_started", phase=name)
        if self.opt.progress:
            self.opt.progress.phase(name, self._phase_length(name))

    def _phase_length(self, name: Phase) -> float:
        ph = self.exp.phases
        return {"baseline": ph.baseline_s, "fault": ph.fault_s, "recovery": ph.recovery_s}[name]

    def _close_last_phase(self) -> None:
        if self.result.phases and self.result.phases[-1].end_s is None:
            t = self.clock.t()
            self.result.phases[-1].end_s, self.result.phases[-1].ended_at = t, self.clock.wall(t)

    async def _unless_aborted(self, work: Coroutine[Any, Any, None]) -> bool:
        """Run `work` (the preflight and set-up) unless an abort comes first: then cancel it, so a
        stop signal is not held up by a server that never answers. True when `work` finished;
        its errors propagate. What it applied is in the ledger and undone like the rest."""
        task = asyncio.create_task(work)
        aborted = asyncio.create_task(self.abort.wait())
        try:
            await asyncio.wait({task, aborted}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            aborted.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return False
        task.result()
        return not self.abort.is_set()

    async def _wait(self, seconds: float) -> bool:
        """Sleep unless aborted; True when the full time passed."""
        if seconds <= 0:
            return not self.abort.is_set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.abort.wait()
        return not self.abort.is_set()

    async def _phases(self, ctx: FaultContext) -> None:
        self._phase("baseline")
        if not await self._wait(self.exp.phases.baseline_s):
            return
        # the gate counts the baseline's samples still in flight (bounded by the probes' timeouts)
        await self._sampling.settle(time.monotonic(), max((p.spec.timeout_s for p in self.exp.probes), default=0.0))
        if self._agents is not None:  # their samples come through the log: wait for the baseline's last ones
            await self._agents.settle(self.clock.t(), 10.0)
        if self.abort.is_set():
            return
        if self._baseline_inconclusive():
            self.journal.event("error", message="chaosrun could not observe the baseline: the method is skipped")
            self._log("the baseline is INCONCLUSIVE (too many samples not taken): skipping the method")
            self._baseline_unjudged = True
            self._skip_method = True
            return
        if not self._baseline_held():
            self.journal.event("error", message="steady state not met in the baseline: the method is skipped")
            self._log("steady state NOT met in the baseline: skipping the method")
            self.result.reason = "the steady-state hypothesis did not hold in the baseline; the method was skipped"
            self._skip_method = True
            return
        self._phase("fault")
        steps = [asyncio.create_task(self._injector.drive_step(s, ctx)) for s in self.plan.steps]
        try:
            done_in_time = await self._wait_or_step_error(steps, self.exp.phases.fault_s)
        finally:
            for t in steps:
                t.cancel()
            for t in steps:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
        late = [s.step.name for s in self.plan.steps if s.step.name not in self._injector.applied_steps]
        if done_in_time and not self.abort.is_set() and late:
            # the hypothesis was never tested under these faults: never a verdict of held
            self._error(
                f"fault step(s) {', '.join(repr(n) for n in late)} had not finished applying when the fault "
                f"phase ended ({self.exp.phases.fault_s:g}s): the hypothesis was not tested under them; "
                "lengthen the fault phase or make the step faster (its timeout)"
            )
        await self._undo_all(ctx, include_setup=not done_in_time)
        if not done_in_time or self.abort.is_set():
            return
        removed_t = self.clock.t()
        for acc in self._sampling.series.values():
            acc.fault_removed_t = removed_t
        self._phase("recovery")
        await self._wait(self.exp.phases.recovery_s)

    async def _wait_or_step_error(self, steps: list[asyncio.Task[None]], seconds: float) -> bool:
        """Wait out the fault phase; a failing step (apply error) aborts it and re-raises."""
        deadline = asyncio.get_running_loop().time() + seconds
        pending = set(steps)
        abort_wait = asyncio.create_task(self.abort.wait())
        try:
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    return True
                done, _ = await asyncio.wait(
                    pending | {abort_wait}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                if abort_wait in done:
                    return False
                for t in done:
                    pending.discard(t)
                    exc = t.exception()
                    if exc is not None:
                        raise exc
        finally:
            abort_wait.cancel()

    def _baseline_inconclusive(self) -> bool:
        """Some series' baseline is inconclusive, and none failed it for certain."""
        verdicts = [v for acc in self._sampling.series.values() for v in acc.verdicts(("baseline",))[0]]
        return any(v.inconclusive for v in verdicts) and not any(v.judged and v.held is False for v in verdicts)

    def _baseline_held(self) -> bool:
        for acc in self._sampling.series.values():
            verdicts, _ = acc.verdicts(("baseline",))
            if any(v.judged and not v.held for v in verdicts):
                return False
        return True

    # ------------------------------------------------------------------ faults and rollbacks
    async def _undo_all(self, ctx: FaultContext, *, include_setup: bool) -> None:
        """Undo every armed fault (see Injector.undo_all), then note guardrail reaction times."""
        if await self._injector.undo_all(ctx, include_setup=include_setup) and self._aborted_at is not None:
            reaction_ms = (self.clock.t() - self._aborted_at) * 1000
            for g in self.result.guardrails:
                if g.reaction_ms is None:
                    g.reaction_ms = reaction_ms

    def _on_backend_error(self, exc: ChaosrunError) -> None:
        """A fault back end failed its health check: record the error and abort the run."""
        self._error(str(exc))
        self._trigger_abort(f"infrastructure error: {exc}")

    def _output_failed(self, problem: str) -> None:
        """The journal could not write (reported once): the run goes on and undoes everything."""
        self._log(f"warning: {problem}; the run goes on and rolls back; journal.json goes to a fallback folder")

    async def _run_rollbacks(self) -> None:
        for rb in self.exp.rollbacks:
            try:
                await self._run_rollback(rb)
            except Exception as exc:  # one rollback's problem never skips the next one
                text = os_error_text(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
                self.result.rollbacks.append(RollbackRecord(name=rb.name, ok=False, error=text, t=self.clock.t()))
                self.journal.event("rollback", name=rb.name, ok=False, error=text)
                self._log(f"rollback {rb.name}: FAILED: {text}")

    async def _run_rollback(self, rb: Rollback) -> None:
        done = await run_argv(
            [self._with_secrets(a) for a in rb.argv], timeout_s=rb.timeout_s, redact=self.journal.redact
        )
        ok = done.exit_code == 0
        # run_argv masked before its cut; this cut never splits a mask
        out = cut_tail(done.stdout.strip(), 200)
        err = None if ok else (done.error or f"exit code {done.exit_code}: {out}")
        self.result.rollbacks.append(RollbackRecord(name=rb.name, ok=ok, error=err, t=self.clock.t()))
        self.journal.event("rollback", name=rb.name, ok=ok, error=err)
        self._log(f"rollback {rb.name}: {'ok' if ok else 'FAILED: ' + str(err)}")

    def _with_secrets(self, text: str) -> str:
        for name, value in self.secrets.items():
            text = text.replace("${secret." + name + "}", value)
        return text

    # ------------------------------------------------------------------ guardrails
    def _on_guardrail(self, monitor: GuardrailMonitor, region: str, evidence: str, breach_t: float) -> None:
        """Abort at once. The reaction time runs from the breach sample's scheduled start (so it
        includes that sample's own latency) until every fault is undone."""
        g = monitor.guardrail
        self.result.guardrails.append(GuardrailTrip(name=g.name, region=region, t=breach_t, evidence=evidence))
        self.journal.event("guardrail_tripped", guardrail=g.name, region=region, evidence=evidence)
        self._log(f"GUARDRAIL {g.name} tripped: {evidence}; rolling back")
        self._trigger_abort(f"guardrail {g.name} tripped: {evidence}", at=breach_t)

    # ------------------------------------------------------------------ signals, aborts
    def _trigger_abort(self, reason: str, *, at: float | None = None) -> None:
        if not self.abort.is_set():
            self.abort_reason = reason
            self._aborted_at = self.clock.t() if at is None else at
            self.abort.set()

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        _received.append(sig.name)
        name = sig.name
        self.result.signals.append(name)
        self.journal.event("signal", signal=name)
        if self._signals == 1:
            self._log(f"{name} received: stopping and rolling back (press Ctrl-C twice more to force exit)")
            self._trigger_abort(f"interrupted by {name}")
        elif self._signals < _FORCE_AFTER_SIGNALS:
            self._log(f"{name} received again: rollback in progress, please wait (once more forces exit)")
        else:
            left = self._injector.still_armed()  # includes an undo still running
            lines = [f"  - {r.description} (target {r.target})" for r in left]
            what = "\n".join(lines) if lines else "  (nothing: every fault was already undone)"
            with contextlib.suppress(OSError, ValueError):  # stderr may be gone: the exit code still says it
                sys.stderr.write(
                    self.journal.redact(
                        "\nforced exit: rollback interrupted. "
                        f"What may still be injected (run {self.run_id}):\n{what}\n"
                        f"Undo it with: {self.opt.ledger.recover_command()}\n"
                    )
                )
                sys.stderr.flush()
            self.journal.event("error", message="forced exit during rollback")
            self.journal.close()
            kill_all_children()
            _end_own_process_group()
            os._exit(5 if left else 3)

    def _error(self, message: str) -> None:
        self.result.errors.append(message)
        self.journal.event("error", message=message)
        self._log(f"error: {message}")

    def _log(self, text: str) -> None:
        """A line for the terminal, redacted like the journal (an error text may echo a secret)."""
        if self.opt.progress is not None:
            self.opt.progress.event(self.clock.t(), self.journal.redact(text))

    def live_snapshot(self) -> dict[str, tuple[float, float]]:
        return self._sampling.live_snapshot()

    # ------------------------------------------------------------------ verdicts and status
    def _judge(self) -> None:
        self._close_last_phase()
        self._sampling.close_spans()
        self.result.not_taken = list(self._sampling.spans)
        self.journal.flush_samples()
        # a fault or recovery phase of 0 s (an experiment that only watches, or no
        # recovery phase) has nothing to judge: it is left out, not failed for want of samples
        phases = tuple(p.name for p in self.result.phases if p.name == "baseline" or self._phase_length(p.name) > 0)
        for acc in self._sampling.series.values():
            verdicts, recovery = acc.verdicts(phases)
            if self._agents is not None:
                verdicts = self._agents.excuse(verdicts, self.result.phases)
            self.result.verdicts.extend(verdicts)
            if recovery is not None:
                self.result.recovery.append(recovery)
        status, reason = self._status()
        self.result.status, self.result.reason = status, self.result.reason or reason
        if status not in ("not_steady",):
            self.result.reason = reason
        t = self.clock.t()
        self.result.ended_at = self.clock.wall(t)
        self.result.duration_s = t
        self.journal.event("run_ended", status=status, reason=self.result.reason)

    def _not_taken_text(self) -> str:
        v = next((v for v in self.result.verdicts if v.inconclusive), None)
        stalls = self._sampling.health.stall_count
        what = f"{self._sampling.not_taken} samples not taken (chaosrun could not keep up"
        what += f"; {stalls} stall(s) of its event loop)" if stalls else ")"
        if v is not None:
            scheduled = v.stats.samples + v.stats.not_taken
            what += f", {v.stats.not_taken} of {scheduled} in that phase"
        return what

    def _status(self) -> tuple[Status, str]:
        # every undo not confirmed (failed, hung, timed out, server unreachable) may have left
        # something injected: the loudest outcome, whatever else happened
        failures = self._injector.undo_failures
        failed_rb = [r for r in self.result.rollbacks if not r.ok]
        if failures or failed_rb:
            what = "; ".join(
                [f"{r.description}: {r.error}" for r, _ in failures] + [f"rollback {r.name}" for r in failed_rb]
            )
            return "rollback_failed", (
                f"an undo was not confirmed, something may still be injected: {what}; "
                f"undo it with `{self.opt.ledger.recover_command()}`"
            )
        if self.result.errors:
            return "error", self.result.errors[0]
        if self.abort.is_set():
            return "aborted", self.abort_reason
        if self._baseline_unjudged:
            return "inconclusive", (
                f"chaosrun could not observe the baseline: {self._not_taken_text()}; the method was skipped"
            )
        if self._skip_method:
            return "not_steady", "the steady-state hypothesis did not hold in the baseline; the method was skipped"
        bad = [v for v in self.result.verdicts if v.judged and v.held is False and v.phase != "baseline"]
        if bad:
            v = bad[0]
            return "deviated", f"{v.probe} in {v.region} during {v.phase}: {'; '.join(v.reasons)}"
        unjudged = [v for v in self.result.verdicts if v.judged and v.inconclusive]
        if unjudged:
            v = unjudged[0]
            return "inconclusive", (
                f"chaosrun could not judge {v.probe} in {v.region} during {v.phase}: {self._not_taken_text()}"
            )
        if self._injector.missing:  # the hypothesis was not tested under every fault for the whole phase
            gone = "; ".join(f"{r.description} (gone at t={r.missing_s or 0:.2f}s)" for r in self._injector.missing)
            return "inconclusive", f"a fault was not in place for the whole fault phase: {gone}"
        return "held", "the steady-state hypothesis held in every phase and region"
