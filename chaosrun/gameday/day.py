"""Running a game day: its steps in order, each experiment judged against what was expected.

The day passes (exit 0) when every experiment ended as expected. Otherwise its exit code is
the most severe of those that did not (an experiment expected to deviate that held counts as
1); a refused checkpoint or a stop signal ends the day with 3. `stop_on` statuses always end
the day; `on_failure` says what an unexpected outcome does: stop, continue, or ask.
Notifications and annotations are sent on the way; they never change the outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from ..gate.outcome import Outcome
from ..gate.policy import most_severe
from ..gate.run import iso_utc, run_file
from ..gate.suite import Row, Suite
from .plan import CheckpointStep, GameDay, PauseStep, RunStep

__all__ = ["DayResult", "Operator", "StepRecord", "run_day"]


class Operator(Protocol):
    """Who answers the day's questions: a person at the terminal, or `--yes`."""

    unattended: bool  # answers come from --yes, not from a person

    def ask(self, question: str) -> bool: ...


class Hooks(Protocol):
    """What is told about the day as it goes (webhooks, Grafana); never raises, always bounded."""

    async def started(self, day: dict[str, object], experiments: int) -> None: ...
    async def experiment_done(self, day: dict[str, object], index: int, row: Row) -> None: ...
    async def ended(self, day: dict[str, object], suite: Suite) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRecord:
    """What one step of the day came to, for the timeline."""

    kind: str  # experiment | pause | checkpoint
    label: str
    started_at: str
    ended_at: str
    result: str = ""  # a pause: "waited"; a checkpoint: "yes", "yes (--yes)", "no"
    row: Row | None = None
    notes: str = ""
    runbook: str = ""


@dataclass(slots=True, kw_only=True)
class DayResult:
    suite: Suite
    steps: list[StepRecord] = field(default_factory=list)


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "experiment"


def _say_step(echo: Callable[[str], None], i: int, n: int, what: str, notes: str, runbook: str) -> None:
    echo(f"== game day step {i}/{n}: {what}")
    if notes:
        echo(f"   notes: {notes}")
    if runbook:
        echo(f"   runbook: {runbook}")


async def _pause(seconds: float, interrupted: Callable[[], str | None]) -> bool:
    """Wait `seconds` (monotonic); False when a stop signal came first."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if interrupted() is not None:
            return False
        await asyncio.sleep(min(left, 0.1))
    return interrupted() is None


def _judge(o: Outcome, step: RunStep) -> Row:
    rule = "expected " + " or ".join(step.expect)
    if o.status in step.expect:
        return Row(outcome=o, passed=True, rule=rule, why=f"{o.status}, as expected")
    return Row(outcome=o, passed=False, rule=rule, why=f"{o.status}, not as expected (exit {o.exit_code})")


async def run_day(
    plan: GameDay,
    *,
    day_dir: Path,
    run_one: Callable[[RunStep, Path], Awaitable[int]],
    operator: Operator,
    hooks: Hooks,
    echo: Callable[[str], None],
    interrupted: Callable[[], str | None] = lambda: None,
    err: Callable[[str], None] | None = None,
) -> DayResult:
    """Run every step in order; returns the judged day (the caller writes its outputs)."""
    started, t0 = time.time(), time.monotonic()
    day_info: dict[str, object] = {"title": plan.title, "id": day_dir.name, "plan": plan.source}
    rows: list[Row] = []
    records: list[StepRecord] = []
    notes: list[str] = []
    codes: list[int] = []
    n = len(plan.steps)
    await hooks.started(day_info, len(plan.entries))
    stop = ""
    runs = 0
    for i, step in enumerate(plan.steps, 1):
        begin = time.time()
        match step:
            case PauseStep(duration_s=seconds):
                until = (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%H:%M:%S UTC")
                _say_step(echo, i, n, f"pause {seconds:g} s (until {until})", step.notes, step.runbook)
                done = await _pause(seconds, interrupted)
                records.append(StepRecord(kind="pause", label=f"pause {seconds:g} s", started_at=iso_utc(begin),
                                          ended_at=iso_utc(time.time()), result="waited" if done else "interrupted",
                                          notes=step.notes, runbook=step.runbook))  # fmt: skip
            case CheckpointStep(prompt=prompt):
                _say_step(echo, i, n, f"checkpoint: {prompt}", step.notes, step.runbook)
                yes = operator.ask(f"checkpoint: {prompt} - continue the game day?")
                answer = ("yes" if yes else "no") + (" (--yes)" if operator.unattended else "")
                echo(f"   answer: {answer}")
                records.append(StepRecord(kind="checkpoint", label=prompt, started_at=iso_utc(begin),
                                          ended_at=iso_utc(time.time()), result=answer,
                                          notes=step.notes, runbook=step.runbook))  # fmt: skip
                if not yes:
                    stop = f"checkpoint refused by the operator: {prompt}"
                    codes.append(3)
            case RunStep(file=file):
                runs += 1
                _say_step(echo, i, n, f"experiment {file} (expected {' or '.join(step.expect)})", step.notes,
                          step.runbook)  # fmt: skip
                run_dir = day_dir / f"{runs:02d}-{_slug(file.stem)}"
                outcome = await run_file(str(file), run_dir, _bind(run_one, step), err or echo)
                row = _judge(outcome, step)
                rows.append(row)
                if not row.passed:
                    codes.append(outcome.exit_code or 1)
                echo(f"   {file}: {outcome.status} (exit {outcome.exit_code}): {row.why}")
                records.append(StepRecord(kind="experiment", label=outcome.title, started_at=iso_utc(begin),
                                          ended_at=iso_utc(time.time()), result=outcome.status, row=row,
                                          notes=step.notes, runbook=step.runbook))  # fmt: skip
                await hooks.experiment_done(day_info, runs, row)
                if outcome.status in plan.stop_on:
                    stop = f"{file} ended {outcome.status}: stop_on ends the day"
                elif not row.passed and plan.on_failure == "stop":
                    stop = f"{file} did not end as expected: on_failure: stop ends the day"
                elif (
                    not row.passed
                    and plan.on_failure == "ask"
                    and not operator.ask(f"{file} ended {outcome.status}, not as expected - continue the game day?")
                ):
                    stop = f"{file} did not end as expected and the operator ended the day"
        if not stop and (sig := interrupted()) is not None:
            stop = f"interrupted by {sig}"
            codes.append(3)
        if stop:
            echo(f"stopping the game day: {stop}")
            notes.append(f"stopped early: {stop}")
            notes += [f"not run: {_describe(s)}" for s in plan.steps[i:]]
            break
    suite = Suite(
        kind="game day",
        title=plan.title,
        rows=tuple(rows),
        exit_code=most_severe(codes),
        rule="every experiment ends as expected",
        started_at=iso_utc(started),
        ended_at=iso_utc(time.time()),
        duration_s=time.monotonic() - t0,
        notes=tuple(notes),
    )
    echo(f"== game day {plan.title!r} summary: {'PASSED' if suite.passed else 'FAILED'} (exit {suite.exit_code})")
    for row in rows:
        o = row.outcome
        echo(f"  {o.file}: {o.status} (exit {o.exit_code}), {row.rule}: {'ok' if row.passed else 'NOT AS EXPECTED'}")
    for note in notes:
        echo(f"  {note}")
    await hooks.ended(day_info, suite)
    return DayResult(suite=suite, steps=records)


def _bind(run_one: Callable[[RunStep, Path], Awaitable[int]], step: RunStep) -> Callable[[str, Path], Awaitable[int]]:
    async def run(_file: str, run_dir: Path) -> int:
        return await run_one(step, run_dir)

    return run


def _describe(step: RunStep | PauseStep | CheckpointStep) -> str:
    match step:
        case RunStep(file=file):
            return str(file)
        case PauseStep(duration_s=s):
            return f"pause {s:g} s"
        case CheckpointStep(prompt=prompt):
            return f"checkpoint: {prompt}"
