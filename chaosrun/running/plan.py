"""Model + settings -> a resolved, timed plan. Pure: resolving reads, never changes anything."""

from __future__ import annotations

from dataclasses import dataclass

from ..clients.toxiproxy import server_key
from ..errors import PlanRefused
from ..faults import FaultContext, Injection, get_kind
from ..model import Caps, Experiment, FaultStep
from ..units import format_duration

__all__ = ["Plan", "PlannedStep", "build_plan", "check_caps", "format_plan"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedStep:
    step: FaultStep
    injections: tuple[Injection, ...]

    @property
    def start_s(self) -> float:
        return self.step.start_s

    def end_s(self, fault_phase_s: float) -> float:
        if self.step.duration_s is None:
            return fault_phase_s
        return min(fault_phase_s, self.step.start_s + self.step.duration_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    experiment: Experiment
    steps: tuple[PlannedStep, ...]

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(sorted({i.target for s in self.steps for i in s.injections}))


async def build_plan(experiment: Experiment, ctx: FaultContext, caps: Caps | None = None) -> Plan:
    """Resolve every method step to concrete injections and check the blast-radius caps."""
    steps = []
    for step in experiment.method:
        kind = get_kind(step.kind)
        if kind is None:  # the loader refuses unknown kinds; a plugin may have vanished since
            raise PlanRefused(f"{step.location}: unknown fault kind {step.kind!r}")
        injections = await kind.resolve(step, ctx)
        if not injections:
            raise PlanRefused(f"{step.location}: method step {step.name!r} matches no target; nothing to inject")
        steps.append(PlannedStep(step=step, injections=tuple(injections)))
    plan = Plan(experiment=experiment, steps=tuple(steps))
    check_caps(plan, caps or experiment.caps)
    return plan


def check_caps(plan: Plan, caps: Caps) -> None:
    """Refuse a plan beyond any cap, before anything runs."""
    targets = plan.targets
    fault_s = plan.experiment.phases.fault_s
    if caps.max_targets is not None and len(targets) > caps.max_targets:
        raise PlanRefused(
            f"the plan touches {len(targets)} targets but caps.max_targets is {caps.max_targets}: {', '.join(targets)}"
        )
    if caps.max_targets_percent is not None:
        # the pool a percentage refers to: the proxies this experiment declares (Toxiproxy
        # targets); process and pod kinds apply their own `percent` against their matches
        proxies = [t for t in targets if t.startswith("toxiproxy:")]
        pool = len(plan.experiment.toxiproxy_proxies)
        if pool and len(proxies) * 100 > caps.max_targets_percent * pool:
            raise PlanRefused(
                f"the plan touches {len(proxies)} of {pool} Toxiproxy proxies "
                f"({len(proxies) * 100 / pool:.0f}%) but caps.max_targets_percent is {caps.max_targets_percent:g}%"
            )
    if caps.max_fault_duration_s is not None:
        for s in plan.steps:
            length = s.end_s(fault_s) - s.start_s
            if length > caps.max_fault_duration_s:
                raise PlanRefused(
                    f"{s.step.location}: fault {s.step.name!r} lasts {format_duration(length)}, beyond "
                    f"caps.max_fault_duration {format_duration(caps.max_fault_duration_s)}"
                )
    allowed_servers = {server_key(a) for a in caps.allowed_toxiproxy}
    for t in targets:
        if t.startswith("toxiproxy:"):
            server, _, proxy = t.removeprefix("toxiproxy:").rpartition("/")  # targets carry server_key()
            if caps.allowed_toxiproxy and server not in allowed_servers:
                raise PlanRefused(f"Toxiproxy server {server} is not in caps.allowed_toxiproxy")
            if caps.allowed_proxies and proxy not in caps.allowed_proxies:
                raise PlanRefused(f"proxy {proxy!r} is not in caps.allowed_proxies")


def format_plan(plan: Plan) -> str:
    """The timed plan as text (`--dry-run`)."""
    e = plan.experiment
    ph = e.phases
    lines = [
        f"Experiment: {e.title}",
        f"Regions: {', '.join(r.name for r in e.regions)}",
        f"Phases: baseline {format_duration(ph.baseline_s)}, fault {format_duration(ph.fault_s)}, "
        f"recovery {format_duration(ph.recovery_s)} (total {format_duration(ph.total_s)})",
        "Probes (sampled in every phase):",
    ]
    for p in e.probes:
        every = "back to back" if p.every_s == 0 else f"every {format_duration(p.every_s)}"
        lines.append(f"  - {p.name} in {', '.join(p.regions)}, {every}: {p.tolerance.describe()}")
        if p.during is None:
            lines.append("      during the fault: not judged")
        elif p.during != p.tolerance:
            lines.append(f"      during the fault: {p.during.describe()}")
        if p.recover_within_s is not None:
            lines.append(
                f"      after the fault: back within tolerance within {format_duration(p.recover_within_s)} "
                f"({p.recovery_streak} good samples in a row)"
            )
    for g in e.guardrails:
        lines.append(f"Guardrail {g.name} in {', '.join(g.regions)}")
    lines.append("Faults (times from the start of the fault phase):")
    if not plan.steps:
        lines.append("  (none: the method is empty)")
    for s in sorted(plan.steps, key=lambda x: x.start_s):  # in time order, as they will happen
        end = s.end_s(ph.fault_s)
        lines.append(
            f"  - {s.step.name} [{s.step.kind}] at +{format_duration(s.start_s)} until +{format_duration(end)}"
        )
        for inj in s.injections:
            lines.append(f"      {inj.describe()}  (target {inj.target})")
            steps = inj.describe_updates()
            if steps:
                lines.append(
                    "      then "
                    + ", ".join(f"+{format_duration(s.start_s + offset)} {text}" for offset, text in steps)
                )
        if s.step.restart is not None:
            from ..faults.restart import describe_restart

            lines.append(
                f"      when it ends (before recovery is measured): restart {describe_restart(s.step.restart)}"
            )
    lines.append(f"Targets: {len(plan.targets)}")
    return "\n".join(lines)
