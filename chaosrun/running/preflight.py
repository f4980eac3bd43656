"""The preflight (`chaosrun check EXPERIMENT...`): connects to everything a run needs, touches nothing.

What it checks, in order, each as one line (`ok`, `FAIL` with where and what next, `info`):
- every Toxiproxy server the experiment names answers `GET /version` (its version shown);
- the plan resolves: every process, pod and proxy target found, within the caps (the seed is
  printed: a run with the same `--seed` picks the same processes);
- the back ends' own preflight (the run's set-up, read only): proxies exist or will be
  created, declared upstreams match, no other run's toxics on a target;
- Kubernetes: the credentials may `get`, `list` and `delete` pods in each namespace a step
  targets (a SelfSubjectAccessReview per verb: nothing is created but the review);
- one sample of every probe in every region, which must succeed (else the run would stop
  as not steady), and of every guardrail's own probe (else it would trip);
- the ledger: no un-recovered fault and no live run holding one of the targets;
- what undoes what, and when (restarts, rollbacks), listed for information.

A failure carries the exit code the real run would end with (2 refused or invalid, 3 a
guardrail would trip, 4 a back end unreachable or refusing, 6 not steady); `chaosrun check`
exits with the most severe one, 0 only when the real run would start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ChaosrunError
from ..faults import FaultContext, Injection, get_kind
from ..model import Experiment, ProbeSpec, Region
from ..safety.ledger import Ledger
from ..units import format_duration

if TYPE_CHECKING:
    import aiohttp

    from ..settings import Settings
    from .plan import Plan

__all__ = ["Check", "check_experiment", "check_files", "preflight", "render_checks"]

_POD_VERBS = ("get", "list", "delete")


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One line of the preflight."""

    ok: bool
    what: str
    where: str = ""  # file:line:col, or the file
    code: int = 0  # for a failure: the exit code the real run would end with
    info: bool = False

    def line(self) -> str:
        mark = "info" if self.info else "ok  " if self.ok else "FAIL"
        where = f"{self.where}: " if self.where and not self.ok else ""
        return f"  {mark}  {where}{self.what}"


def render_checks(source: str, checks: list[Check]) -> str:
    failures = [c for c in checks if not c.ok]
    verdict = "the run would start" if not failures else f"the run would NOT start ({len(failures)} problem(s))"
    return "\n".join([f"check {source}", *(c.line() for c in checks), f"{source}: {verdict}"])


async def preflight(
    exp: Experiment,
    *,
    http: aiohttp.ClientSession,
    state_dir: Path,
    seed: int,
    secrets: dict[str, str],
    log: Callable[[str], None] = lambda _s: None,
) -> list[Check]:
    """Every check of the module docstring, in order; never raises a ChaosrunError."""
    out: list[Check] = []
    ctx = FaultContext(run_id=f"preflight-{seed}", experiment=exp, http=http, seed=seed, log=log)
    out += await _toxiproxy_servers(exp, ctx)
    servers_up = all(c.ok for c in out)
    plan = await _plan(exp, ctx, out)
    if plan is not None and servers_up:  # a server that is down was reported once, above
        out += await _setup(plan, ctx)
        out += await _kubernetes(plan)
    out += await _probes(exp, http, secrets)
    if plan is not None:
        out += _ledger(plan, state_dir)
    out += _undo_steps(exp)
    return out


async def _toxiproxy_servers(exp: Experiment, ctx: FaultContext) -> list[Check]:
    from ..clients.toxiproxy import ToxiproxyClient

    uses = bool(exp.toxiproxy_proxies) or any(s.kind.startswith("toxiproxy.") for s in exp.method)
    out = []
    for server in exp.toxiproxy_servers if uses else ():
        try:
            async with ToxiproxyClient(server.url, session=ctx.http) as client:
                version = await client.version()
        except ChaosrunError as exc:
            out.append(Check(ok=False, what=f"toxiproxy {server.name}: {exc}", where=exp.source, code=exc.exit_code))
        else:
            out.append(Check(ok=True, what=f"toxiproxy {server.name} {server.url}: reachable, version {version}"))
    return out


async def _plan(exp: Experiment, ctx: FaultContext, out: list[Check]) -> Plan | None:
    from .plan import build_plan

    try:
        plan = await build_plan(exp, ctx, exp.caps)
    except ChaosrunError as exc:
        located = str(exc).startswith(f"{exp.source}:")  # the error names its own line
        out.append(Check(ok=False, what=f"plan: {exc}", where="" if located else exp.source, code=exc.exit_code))
        return None
    for s in plan.steps:
        for inj in s.injections:
            out.append(Check(ok=True, what=f"step {s.step.name}: target found: {inj.describe()}"))
    out.append(Check(ok=True, what=f"plan: {len(plan.targets)} target(s) within the caps (seed {ctx.seed})"))
    return plan


async def _setup(plan: Plan, ctx: FaultContext) -> list[Check]:
    """The back ends' set-up checks, read only: what they would create is listed, not created."""
    by_kind: dict[str, list[Injection]] = {}
    for s in plan.steps:
        by_kind.setdefault(s.step.kind, []).extend(s.injections)
    out = []
    for kind_name, injections in by_kind.items():
        kind = get_kind(kind_name)
        if kind is None:
            continue
        try:
            extra = await kind.setup(injections, ctx)
        except ChaosrunError as exc:
            where = str(next(s.step.location for s in plan.steps if s.step.kind == kind_name))
            out.append(Check(ok=False, what=f"{kind_name}: {exc}", where=where, code=exc.exit_code))
            continue
        out += [Check(ok=True, what=f"the run will set up: {inj.describe()}") for inj in extra]
    return out


async def _kubernetes(plan: Plan) -> list[Check]:
    """A SelfSubjectAccessReview per verb the pod-kill steps need, in their namespace."""
    from ..faults.kubernetes import PodKillParams

    out = []
    seen: set[tuple[str | None, str | None, str]] = set()
    for s in plan.steps:
        p = s.step.params
        if not isinstance(p, PodKillParams) or (p.kubeconfig, p.context, p.namespace) in seen:
            continue
        seen.add((p.kubeconfig, p.context, p.namespace))
        try:
            host, denied = await _review(p.kubeconfig, p.context, p.namespace)
        except ChaosrunError as exc:
            out.append(Check(ok=False, what=str(exc), where=str(s.step.location), code=exc.exit_code))
            continue
        if denied:
            out.append(Check(
                ok=False, where=str(s.step.location), code=4,
                what=f"kubernetes {host}: the credentials may not {', '.join(denied)} pods in namespace "
                     f"{p.namespace!r}; grant them (a Role with verbs {', '.join(_POD_VERBS)} on pods) or use "
                     "another kubeconfig/context",
            ))  # fmt: skip
        else:
            out.append(Check(ok=True, what=f"kubernetes {host}: may {', '.join(_POD_VERBS)} pods in {p.namespace!r}"))
    return out


async def _review(kubeconfig: str | None, context: str | None, namespace: str) -> tuple[str, list[str]]:
    from ..clients.kubernetes import api_call_in_thread

    def ask(api: object) -> list[str]:
        from kubernetes.client import (
            AuthorizationV1Api,
            V1ResourceAttributes,
            V1SelfSubjectAccessReview,
            V1SelfSubjectAccessReviewSpec,
        )

        denied = []
        for verb in _POD_VERBS:
            attrs = V1ResourceAttributes(namespace=namespace, verb=verb, resource="pods")
            review = V1SelfSubjectAccessReview(spec=V1SelfSubjectAccessReviewSpec(resource_attributes=attrs))
            answer = AuthorizationV1Api(api).create_self_subject_access_review(review, _request_timeout=10)
            if not (answer.status and answer.status.allowed):
                denied.append(verb)
        return denied

    return await api_call_in_thread(kubeconfig, context, f"review access to pods in {namespace}", ask)


async def _probes(exp: Experiment, http: aiohttp.ClientSession, secrets: dict[str, str]) -> list[Check]:
    """One sample of every probe in every region, all at once (bounded by each probe's timeout)."""
    from ..probes import ProbeContext, build_sampler

    pctx = ProbeContext(http=http, secrets=secrets, base_dir=str(Path(exp.source).parent) if exp.source else ".")
    # (name, spec, region, where, exit code if it fails): steady-state probes, then guard probes
    jobs: list[tuple[str, ProbeSpec, Region, str, int]] = [
        (f"probe {p.name}", p.spec, exp.region(r), str(p.location), 6) for p in exp.probes for r in p.regions
    ]
    jobs += [
        (f"guardrail {g.name}", g.spec, exp.region(r), str(g.location), 3)
        for g in exp.guardrails
        if g.spec is not None
        for r in g.regions
    ]

    async def one(spec: ProbeSpec, region: Region) -> tuple[bool, float | None, str | None]:
        limit = spec.timeout_s + 2.0
        try:
            sampler = build_sampler(spec, region, pctx)
            async with asyncio.timeout(limit):
                outcome = await sampler()
        except TimeoutError:
            return False, None, f"no answer within {format_duration(limit)}"
        except Exception as exc:  # a probe kind's bug is one failed line, never a traceback
            return False, None, f"{type(exc).__name__}: {exc}"
        return outcome.ok, outcome.latency_s, outcome.error

    results = await asyncio.gather(*(one(spec, region) for _, spec, region, _, _ in jobs))
    out = []
    for (name, _, region, where, code), (ok, latency, error) in zip(jobs, results, strict=True):
        took = f" in {latency * 1000:.0f}ms" if latency is not None else ""
        if ok:
            out.append(Check(ok=True, what=f"{name} in {region.name}: ok{took}"))
            continue
        then = (
            "the baseline would not hold (the run would stop as not steady)"
            if code == 6
            else "the guardrail would trip (the run would abort)"
        )
        what = f"{name} in {region.name}: failed{took}: {error or 'no reason given'}; {then}"
        out.append(Check(ok=False, where=where, code=code, what=what))
    return out


def _ledger(plan: Plan, state_dir: Path) -> list[Check]:
    """Un-recovered faults and live runs on this plan's targets (read only)."""
    ledger = Ledger(state_dir)
    src = plan.experiment.source
    out = []
    problems = ledger.conflicts(plan.targets)
    out += [Check(ok=False, what=f"ledger {state_dir}: {p}", where=src, code=2) for p in problems]
    try:
        entries = ledger.entries()
    except ChaosrunError as exc:
        return [*out, Check(ok=False, what=f"ledger {state_dir}: {exc}", where=src, code=exc.exit_code)]
    wanted = set(plan.targets)
    others = [e for e in entries if e.target not in wanted and not e.owner.alive()]
    for e in others:
        out.append(Check(ok=True, info=True, what=f"ledger: an un-recovered fault of run {e.run_id} on another "
                                                  f"target ({e.target}); `chaosrun recover` undoes it"))  # fmt: skip
    if not problems:
        out.append(Check(ok=True, what=f"ledger {state_dir}: no un-recovered fault or live run on these targets"))
    return out


def _undo_steps(exp: Experiment) -> list[Check]:
    from ..faults.restart import describe_restart

    out = []
    for step in exp.method:
        if step.restart is not None:
            out.append(Check(ok=True, info=True, what=f"step {step.name}: when it ends, before recovery is measured, "
                                                      f"restart {describe_restart(step.restart)}"))  # fmt: skip
    for rb in exp.rollbacks:
        when = f"(timeout {format_duration(rb.timeout_s)}), after the recovery phase"
        out.append(Check(ok=True, info=True, what=f"rollback {rb.name}: `{' '.join(rb.argv)}` {when}"))
    return out


async def check_experiment(
    exp: Experiment, *, state_dir: Path, seed: int, settings: Settings | None, echo: Callable[[str], None]
) -> int:
    """Run the preflight of one loaded experiment, print its lines; the exit code the real run would
    start with (0) or end with (the most severe failure)."""
    import dataclasses

    import aiohttp

    from .. import __version__
    from ..gate.policy import most_severe as worst_exit_code
    from ..safety.secret import resolve_secrets
    from ..settings import stricter

    if settings is not None:
        exp = dataclasses.replace(exp, caps=stricter(exp.caps, settings.caps))
    source = exp.source or exp.title
    try:
        secrets = resolve_secrets(exp)
    except ChaosrunError as exc:
        echo(render_checks(source, [Check(ok=False, what=f"secrets: {exc}", where=source, code=exc.exit_code)]))
        return exc.exit_code
    async with aiohttp.ClientSession(headers={"User-Agent": f"chaosrun/{__version__} (check)"}) as http:
        checks = await preflight(exp, http=http, state_dir=state_dir, seed=seed, secrets=secrets)
    echo(render_checks(source, checks))
    return worst_exit_code([c.code for c in checks if not c.ok] or [0])


async def check_files(
    files: Sequence[tuple[str, Mapping[str, str]]],
    *,
    state_dir: Path,
    seed: int,
    settings: Settings | None,
    echo: Callable[[str], None],
    strict_variables: bool = True,
) -> int:
    """`chaosrun check` / `chaosrun gameday --dry-run`: the preflight of every file, the most severe code."""
    from ..ctk import is_ctk_experiment
    from ..gate.policy import most_severe as worst_exit_code
    from ..loader import load_experiment

    codes = []
    for file, variables in files:
        if is_ctk_experiment(file):  # Chaos Toolkit's format: chaostoolkit-lib's own validation, located
            codes.append(_check_ctk_file(file, echo))
            continue
        try:
            exp = load_experiment(file, variables=dict(variables), strict_variables=strict_variables)
        except ChaosrunError as exc:
            lines = [Check(ok=False, what=line, code=exc.exit_code) for line in str(exc).splitlines()]
            echo(render_checks(file, lines))
            codes.append(exc.exit_code)
            continue
        codes.append(await check_experiment(exp, state_dir=state_dir, seed=seed, settings=settings, echo=echo))
    return worst_exit_code(codes or [0])


def _check_ctk_file(file: str, echo: Callable[[str], None]) -> int:
    """A Chaos Toolkit experiment: validated as `chaosrun run` would (python modules importable with
    arguments that bind, process paths found, env configuration present); its activities are
    chaostoolkit-lib's to run, so the preflight does not call them."""
    from ..ctk.command import validate_ctk_file

    try:
        text = validate_ctk_file(file)
    except ChaosrunError as exc:
        echo(render_checks(file, [Check(ok=False, what=line, code=exc.exit_code) for line in str(exc).splitlines()]))
        return exc.exit_code
    what = text.removeprefix(f"{file}: ok ").strip("()") + "; its activities are not called by the preflight"
    echo(render_checks(file, [Check(ok=True, what=what)]))
    return 0
