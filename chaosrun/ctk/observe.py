"""What chaostoolkit-lib reports while it runs, turned into chaosrun's journal as it happens.

`Recorder` is the run's one writer (thread-safe: background activities and the continuous
sampler report from their own threads). `CtkEvents` is chaostoolkit-lib's `RunEventHandler`:
the phases (hypothesis before = baseline, method = fault, hypothesis after and rollbacks =
recovery), every activity as an event, method activities as the report's fault windows, the
hypothesis' probe runs as samples, rollbacks as rollback records. At the start of the method it
writes the ledger entry that lets `chaosrun recover` play the rollbacks after a `kill -9`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from chaoslib.run import RunEventHandler

from ..journal import JournalWriter
from ..model import Phase
from ..result import FaultRecord, PhaseSpan, RollbackRecord
from ..sample import Sample
from .experiment import REGION
from .sampler import ContinuousSampler, output_status

__all__ = ["CtkEvents", "Recorder"]

_MAX_TEXT = 300


def describe_provider(activity: dict[str, Any]) -> str:
    provider = activity.get("provider") or {}
    match provider.get("type"):
        case "python":
            return f"python {provider.get('module')}.{provider.get('func')}"
        case "process":
            args = provider.get("arguments")
            words = args if isinstance(args, str) else " ".join(str(a) for a in args or ())
            return f"process {provider.get('path')} {words}".strip()[:_MAX_TEXT]
        case "http":
            return f"http {str(provider.get('method') or 'GET').upper()} {provider.get('url')}"
    return "?"


def run_error(run: dict[str, Any]) -> str | None:
    """The last line of a failed run's exception (chaoslib keeps the formatted traceback)."""
    lines = run.get("exception") or []
    if not lines:
        return None if run.get("status") != "failed" else "failed"
    return " ".join(str(lines[-1]).split())[:_MAX_TEXT]


class Recorder:
    """Journal events, samples and result records, from any thread."""

    def __init__(self, journal: JournalWriter, echo: Callable[[str], None]) -> None:
        self.journal = journal
        self.echo = echo
        self.lock = threading.Lock()
        self.phases: list[PhaseSpan] = []
        self.samples: list[Sample] = []
        self.faults: list[FaultRecord] = []
        self.rollbacks: list[RollbackRecord] = []
        self.method_started = False

    def event(self, type_: str, **fields: Any) -> None:
        with self.lock:
            self.journal.event(type_, **fields)

    def sample(self, s: Sample) -> None:
        with self.lock:
            self.samples.append(s)
            self.journal.sample(s)

    def phase(self, name: Phase) -> None:
        with self.lock:
            t = self.journal.clock.t()
            if self.phases and self.phases[-1].end_s is None:
                self.phases[-1].end_s, self.phases[-1].ended_at = t, self.journal.clock.wall(t)
            self.phases.append(PhaseSpan(name=name, start_s=t, started_at=self.journal.clock.wall(t)))
            self.journal.event("phase_started", phase=name)

    def close_phase(self) -> None:
        with self.lock:
            if self.phases and self.phases[-1].end_s is None:
                t = self.journal.clock.t()
                self.phases[-1].end_s, self.phases[-1].ended_at = t, self.journal.clock.wall(t)


class CtkEvents(RunEventHandler):  # type: ignore[misc]
    """chaostoolkit-lib's run events -> chaosrun's journal (module docstring)."""

    def __init__(
        self,
        recorder: Recorder,
        *,
        on_method: Callable[[], None],
        make_sampler: Callable[[], ContinuousSampler | None],
    ) -> None:
        self.rec = recorder
        self._on_method = on_method
        self._make_sampler = make_sampler
        self._sampler: ContinuousSampler | None = None
        self._starts: dict[int, float] = {}
        self._section = "hypothesis"
        self._continuous_thread: int | None = None

    def start_hypothesis_before(self, experiment: Any) -> None:
        self._section = "hypothesis"
        self.rec.phase("baseline")

    def hypothesis_before_completed(self, experiment: Any, state: Any, journal: Any) -> None:
        self._hypothesis("before", state, "baseline")

    def start_method(self, experiment: Any) -> None:
        self._section = "method"
        self.rec.method_started = True
        self._on_method()  # the ledger entry, before the first activity of the method
        self.rec.phase("fault")
        self._sampler = self._make_sampler()
        if self._sampler is not None:
            self._sampler.start()

    def method_completed(self, experiment: Any, state: Any = None) -> None:
        if self._sampler is not None:
            self._sampler.stop()
            if self._sampler.skipped:
                self.rec.event("samples_skipped", count=self._sampler.skipped)
            self._sampler = None

    def start_continuous_hypothesis(self, frequency: Any) -> None:
        self._continuous_thread = threading.get_ident()  # called on chaoslib's continuous-hypothesis thread

    def continuous_hypothesis_iteration(self, iteration: Any, state: Any) -> None:
        met = bool(state.get("steady_state_met")) if isinstance(state, dict) else None
        self.rec.event("ctk_hypothesis", when="during", met=met, iteration=int(iteration))

    def start_hypothesis_after(self, experiment: Any) -> None:
        self._section = "hypothesis"
        self.rec.phase("recovery")

    def hypothesis_after_completed(self, experiment: Any, state: Any, journal: Any) -> None:
        self._hypothesis("after", state, "recovery")

    def start_rollbacks(self, experiment: Any) -> None:
        self._section = "rollbacks"
        if not self.rec.phases or self.rec.phases[-1].name != "recovery":
            self.rec.phase("recovery")
        self.rec.event("ctk_rollbacks_started")

    def start_activity(self, activity: Any) -> None:
        if threading.get_ident() == self._continuous_thread:
            return
        with self.rec.lock:
            self._starts[id(activity)] = self.rec.journal.clock.t()

    def activity_completed(self, activity: Any, run: Any) -> None:
        if threading.get_ident() == self._continuous_thread:
            return  # Chaos Toolkit's continuous hypothesis: its iterations are `ctk_hypothesis` events
        with self.rec.lock:
            t = self.rec.journal.clock.t()
            started = self._starts.pop(id(activity), t)
        section = self._section
        status = str(run.get("status") or "interrupted")
        code = output_status(run.get("output"))
        error = run_error(run)
        name = str(activity.get("name"))
        self.rec.event(
            "ctk_activity",
            section=section,
            name=name,
            activity_type=str(activity.get("type")),
            provider=describe_provider(activity),
            status=status,
            start_t=round(started, 4),
            output_status=code,
            error=error,
        )
        mark = ("ok" if status == "succeeded" else status) + ("" if code is None else f", status {code}")
        self.rec.echo(f"  {section} {activity.get('type')} '{name}': {mark}" + (f" ({error})" if error else ""))
        if section == "method":
            with self.rec.lock:
                self.rec.faults.append(
                    FaultRecord(
                        id=f"m{len(self.rec.faults) + 1}",
                        name=name,
                        kind=f"chaostoolkit.{activity.get('type')}",
                        target=describe_provider(activity),
                        region=None,
                        description=f"{status}" + (f": {error}" if error else ""),
                        applied_s=started,
                        applied_at=self.rec.journal.clock.wall(started),
                        removed_s=t,
                        removed_at=self.rec.journal.clock.wall(t),
                        undo="not_applied",
                        error=error,
                    )
                )
        elif section == "rollbacks":
            with self.rec.lock:
                self.rec.rollbacks.append(RollbackRecord(name=name, ok=status == "succeeded", error=error, t=t))
            self.rec.event("rollback", name=name, ok=status == "succeeded", error=error)

    def _hypothesis(self, when: str, state: Any, phase: Phase) -> None:
        if not isinstance(state, dict):
            return
        clock = self.rec.journal.clock
        for run in state.get("probes") or []:
            t = clock.t()
            self.rec.sample(
                Sample(
                    probe=str(run["activity"].get("name")),
                    region=REGION,
                    phase=phase,
                    t_s=t,
                    at=clock.wall(t),
                    ok=bool(run.get("tolerance_met")),
                    latency_s=float(run.get("duration") or 0.0),
                    status=output_status(run.get("output")),
                    error=None if run.get("tolerance_met") else (run_error(run) or "tolerance not met"),
                )
            )
        met = bool(state.get("steady_state_met"))
        self.rec.event("ctk_hypothesis", when=when, met=met)
        self.rec.echo(f"  hypothesis {when} the method: {'met' if met else 'NOT met'}")
