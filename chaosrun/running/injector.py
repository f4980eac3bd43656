"""Drives a run's faults for the engine: "ledger -> apply -> ... -> undo -> clear ledger".

Every injection is written (fsync'd) to the ledger before it is applied, and stays armed until
its undo succeeds. An undo failure is never lost: it is recorded on the fault, in the run's
`remaining` list and in `undo_failures`, and its ledger entry is kept for `chaosrun recover`.
The injector records facts only; the engine decides the run's status from them.
"""

from __future__ import annotations

import asyncio
import secrets as _random
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ChaosrunError, InfrastructureError, ToxiproxyUnreachable
from ..faults import FaultContext, Injection, get_kind, get_undoer, undo_timeout
from ..faults.restart import restart_injection
from ..journal import Clock, JournalWriter
from ..result import FaultRecord, RunResult
from ..safety.ledger import Ledger, LedgerEntry, Owner
from .plan import Plan, PlannedStep

__all__ = ["Injector"]

_VERIFY_TIMEOUT_S = 3.0  # one read-back of one fault; a slower back end is the health check's concern


@dataclass(slots=True)
class _Armed:
    """An injection whose ledger entry is on disk (so it must be undone)."""

    injection: Injection
    entry: LedgerEntry
    record: FaultRecord
    kind_name: str
    undo_started: bool = False  # an undo was started (it may still be running)
    undone: bool = False  # the undo finished successfully
    missing: bool = False  # found no longer in place while it should have been


def _one_region(injections: tuple[Injection, ...]) -> str | None:
    regions = {i.region for i in injections}
    return next(iter(regions)) if len(regions) == 1 else None


class Injector:
    """Applies, ramps and undoes one run's injections, through the ledger."""

    def __init__(
        self,
        plan: Plan,
        *,
        run_id: str,
        ledger: Ledger,
        journal: JournalWriter,
        clock: Clock,
        result: RunResult,
        log: Callable[[str], None],
        on_error: Callable[[ChaosrunError], None],
    ) -> None:
        self.plan = plan
        self.run_id = run_id
        self.ledger = ledger
        self._owner = Owner.current()  # this process, as the ledger entries name it
        self.journal = journal
        self.clock = clock
        self.result = result
        self._log = log
        self._on_error = on_error
        self._armed: list[_Armed] = []
        self.applied_steps: set[str] = set()  # steps whose every injection was applied
        self._fault_seq = 0
        self.undo_failures: list[tuple[FaultRecord, bool]] = []  # (fault, server unreachable)
        self.missing: list[FaultRecord] = []  # faults found no longer in place, in the order found
        self.output_errors: list[str] = []  # ledger writes that failed after an undo (the undo stands)

    def still_armed(self) -> list[FaultRecord]:
        """Faults not (yet) undone, including one whose undo is still running."""
        return [a.record for a in self._armed if not a.undone]

    async def setup(self, ctx: FaultContext) -> None:
        """Back-end preflight and setup injections (e.g. create missing proxies) before the baseline."""
        by_kind: dict[str, list[Injection]] = {}
        for s in self.plan.steps:
            by_kind.setdefault(s.step.kind, []).extend(s.injections)
        for kind_name, injections in by_kind.items():
            kind = get_kind(kind_name)
            assert kind is not None
            # every kind sees its own injections (e.g. `down` reads each proxy's current state);
            # a back end doing once-per-run work keeps that idempotent through ctx.cache
            for inj in await kind.setup(injections, ctx):
                await self.apply(inj, kind_name, ctx, setup=True)

    async def drive_step(self, planned: PlannedStep, ctx: FaultContext) -> None:
        """Apply one step's injections at its start, run its ramps, undo at its end."""
        fault_start = self.clock.t()
        await asyncio.sleep(max(0.0, planned.start_s - (self.clock.t() - fault_start)))
        restart = restart_injection(planned.step, _one_region(planned.injections))
        # the step's restart is armed (in the ledger) before its faults, so it is undone after them
        armed = [await self.apply(restart, "restart", ctx)] if restart is not None else []
        armed += [await self.apply(inj, planned.step.kind, ctx) for inj in planned.injections]
        self.applied_steps.add(planned.step.name)
        updates = sorted(((off, fn, a) for a in armed for off, fn in a.injection.updates()), key=lambda u: u[0])
        applied_at = self.clock.t()
        for offset, fn, a in updates:
            await asyncio.sleep(max(0.0, applied_at + offset - self.clock.t()))
            await fn(ctx)
            self.journal.event("fault_updated", fault=a.record.id, description=a.injection.describe())
        end = planned.end_s(self.plan.experiment.phases.fault_s)
        if planned.step.duration_s is not None:
            await asyncio.sleep(max(0.0, fault_start + end - self.clock.t()))
            for a in reversed(armed):
                await self.undo(a, ctx)

    async def apply(self, inj: Injection, kind_name: str, ctx: FaultContext, *, setup: bool = False) -> _Armed:
        """Ledger first (fsync'd), then apply. The armed record is undone whatever happens next."""
        self._fault_seq += 1
        record = FaultRecord(
            id=f"f{self._fault_seq}",
            name=inj.step.name if not setup else f"setup: {inj.describe()}",
            kind=kind_name,
            target=inj.target,
            region=inj.region,
            description=inj.describe(),
            setup=setup,
        )
        self.result.faults.append(record)
        entry = LedgerEntry(
            entry_id=f"{record.id}-{_random.token_hex(2)}",
            run_id=self.run_id,
            owner=self._owner,
            experiment=self.plan.experiment.title,
            target=inj.target,
            description=inj.describe(),
            undo=inj.undo_record(),
            created_at=self.clock.wall(),
        )
        self.ledger.add(entry)
        armed = _Armed(injection=inj, entry=entry, record=record, kind_name=kind_name)
        self._armed.append(armed)
        record.undo = "pending"
        await inj.apply(ctx)
        t = self.clock.t()
        record.applied_s, record.applied_at = t, self.clock.wall(t)
        self.journal.event(
            "fault_applied",
            fault=record.id,
            name=record.name,
            kind=kind_name,
            target=inj.target,
            region=inj.region,
            description=record.description,
            setup=setup,
        )
        if not setup:
            self._log(inj.applied_words())
        return armed

    async def undo(self, armed: _Armed, ctx: FaultContext, *, verify: bool = True) -> None:
        """Undo once, within the undo time limit; success clears the ledger entry, failure is recorded.
        First (unless `verify` is False: the caller just did) a last read-back of the fault."""
        if armed.undo_started:
            return
        if verify and not armed.record.setup and armed.record.applied_s is not None and not armed.missing:
            await self.verify(armed, ctx, before_undo=True)  # the last look: was it there until now?
        if armed.undo_started:
            return
        armed.undo_started = True
        rec = armed.record
        undo = get_undoer(str(armed.entry.undo.get("backend")))
        limit_s = undo_timeout(armed.entry.undo)
        try:
            if undo is None:
                raise InfrastructureError(f"no undo function for back end {armed.entry.undo.get('backend')!r}")
            async with asyncio.timeout(limit_s):
                await undo(armed.entry.undo, ctx)
        except asyncio.CancelledError:
            # a step's task cancelled at the end of the fault phase while undoing at its own end
            # (a restart still running, say): not undone, so the engine's undo_all runs it again
            armed.undo_started = False
            raise
        except Exception as exc:  # an undo failure is recorded and reported, never lost
            text = str(exc) or type(exc).__name__
            if isinstance(exc, TimeoutError):
                text = f"undo timed out after {limit_s:g}s"
            rec.undo, rec.error = "failed", text
            unreachable = isinstance(exc, ToxiproxyUnreachable)
            self.result.remaining.append(
                f"{rec.description} (target {rec.target}; run id {self.run_id})"
                + (" — its server is unreachable" if unreachable else "")
            )
            self.undo_failures.append((rec, unreachable))
            self.journal.event("fault_removed", fault=rec.id, ok=False, error=text)
            self._log(f"UNDO FAILED for {rec.description}: {text}")
            return
        t = self.clock.t()
        rec.undo, rec.removed_s, rec.removed_at = "ok", t, self.clock.wall(t)
        armed.undone = True
        problem = self.ledger.remove(armed.entry)
        if problem is not None:
            self.output_errors.append(problem)
            self._log(f"warning: {problem} (the fault is undone; `chaosrun recover` would only undo it again)")
        if armed.missing:  # undo "succeeded" on nothing: say so, never a silent "ok"
            self.journal.event("fault_removed", fault=rec.id, ok=True, error=None, already_gone=True)
            self._log(f"{rec.description} was already gone (not in place since t={rec.missing_s:.2f}s)")
            return
        self.journal.event("fault_removed", fault=rec.id, ok=True, error=None)
        if not rec.setup:
            self._log(armed.injection.undone_words())

    async def undo_all(self, ctx: FaultContext, *, include_setup: bool) -> bool:
        """Undo every armed fault, newest first, then (when asked) setup injections, newest first.

        True when at least one (non-setup) fault was undone or attempted."""
        pending = [a for a in self._armed if not a.undo_started]
        faults_first = [a for a in reversed(pending) if not a.record.setup]
        setups = [a for a in reversed(pending) if a.record.setup] if include_setup else []
        # the last read-back of every fault, at once (bounded): one slow server does not add up per fault
        await asyncio.gather(
            *(self.verify(a, ctx, before_undo=True) for a in faults_first if a.record.applied_s is not None)
        )
        for a in faults_first + setups:
            try:
                await self.undo(a, ctx, verify=False)
            except Exception as exc:  # never: undo records its own failures; but one must not skip the rest
                self._undo_failed(a, exc, unreachable=False)
        return bool(faults_first)

    def _undo_failed(self, armed: _Armed, exc: BaseException, *, unreachable: bool) -> None:
        rec = armed.record
        if rec.undo == "failed":
            return
        text = str(exc) or type(exc).__name__
        rec.undo, rec.error = "failed", text
        self.result.remaining.append(f"{rec.description} (target {rec.target}; run id {self.run_id})")
        self.undo_failures.append((rec, unreachable))
        self._log(f"UNDO FAILED for {rec.description}: {text}")

    # -- verification: faults are verified while they last ----------------------------------
    async def verify(self, armed: _Armed, ctx: FaultContext, *, before_undo: bool = False) -> None:
        """Ask the back end whether this fault is still in place (bounded); a fault found gone
        is recorded once: on its record (`missing_s`), in `missing` and as a `fault_missing`
        event. A back end that cannot tell (None) or cannot be asked (an error) records nothing:
        reachability is the health check's job."""
        try:
            async with asyncio.timeout(_VERIFY_TIMEOUT_S):
                present = await armed.injection.verify(ctx)
        except Exception:
            return
        if present is not False or armed.missing or (armed.undo_started and not before_undo):
            return
        armed.missing = True
        rec = armed.record
        t = self.clock.t()
        rec.missing_s = t
        self.missing.append(rec)
        self.journal.event("fault_missing", fault=rec.id, description=rec.description, target=rec.target)
        self._log(
            f"FAULT NOT IN PLACE: {rec.description} is gone (found at t={t:.2f}s); "
            "the hypothesis was not tested under it for the whole fault phase"
        )

    async def verify_all(self, ctx: FaultContext) -> None:
        """Verify every applied, not yet undone fault (setup injections are not faults)."""
        for a in [a for a in self._armed if not a.undo_started and not a.record.setup and not a.missing]:
            if a.record.applied_s is not None:
                await self.verify(a, ctx)

    async def watch_health(self, ctx: FaultContext) -> None:
        """About once a second, ask the back ends of applied faults whether they are still there,
        then whether each fault is still in place (`verify_all`).

        The first failure is handed to `on_error` and ends the watch."""
        while True:
            await asyncio.sleep(1.0)
            live = [a for a in self._armed if not a.undo_started]
            by_kind: dict[str, list[Injection]] = {}
            for a in live:
                by_kind.setdefault(a.kind_name, []).append(a.injection)
            for kind_name, injections in by_kind.items():
                kind = get_kind(kind_name)
                if kind is None:
                    continue
                try:
                    await kind.healthcheck(injections, ctx)
                except ChaosrunError as exc:
                    self._on_error(exc)
                    return
            await self.verify_all(ctx)
