"""The agents of one run: one Job per region that names its cluster, created before sampling
starts, its samples fed into the run's sampling (the same journal, verdicts, guardrails and
live display as local samples), deleted when probing ends.

Order and honesty:
- Each Job is in the ledger (fsync'd) before it is created; `stop()` deletes it and clears
  the entry; `chaosrun recover` deletes what a dead run left (`jobs.undo_agent`).
- `start()` waits for every agent to run; one that cannot (image, scheduling, start timeout)
  refuses the run before anything is injected (PlanRefused, exit 2).
- A stream that breaks while the pod runs is resumed with `sinceTime` (bounded attempts);
  lines read twice are dropped by their sequence number. An agent that dies, or whose stream
  cannot be resumed, is journaled as `agent_lost`: the samples it would have taken are not
  taken (they are missing, never failures of the target).
- Clock: each line carries the agent's own send time and the container runtime's timestamp
  (the node's clock); their difference (median of the last lines) is the agent's clock offset,
  and samples are placed at their scheduled time minus that offset. The node's clock is taken
  as chaosrun's (NTP-synced clusters; exact on one machine). `agent_clock` events report the
  offset and the log path's latency (runtime timestamp to chaosrun's receipt), p50/p99.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import secrets
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..errors import ChaosrunError, InvalidInput, PlanRefused
from ..judging.verdict import PhaseVerdict
from ..model import Experiment, RegionCluster
from ..result import PhaseSpan
from ..safety.ledger import Ledger, LedgerEntry, Owner
from ..sample import Outcome
from .follow import log_source, parse_timestamp, stream_lines
from .jobs import AgentJob
from .wire import AgentLine, AgentPlan, AgentSeries, decode_line

if TYPE_CHECKING:
    import aiohttp

    from ..journal import Clock, JournalWriter

__all__ = ["AgentFleet", "Record"]

Record = Callable[[str, str, float, Outcome, float], None]
"""`record(probe, region, t_s, outcome, lag_s)`: a sample into the run's sampling."""

_RESUMES = 5
# failures that only say "not enough samples": after an agent was lost, its samples were not taken
_FOR_WANT_OF_SAMPLES = re.compile(r"^(only \d+ samples|did not recover within)")
_WINDOW = 4096  # log-path latencies kept for the p50/p99 (bounded memory)
_OFFSETS = 64


@dataclass(slots=True)
class _Agent:
    job: AgentJob
    plan: AgentPlan
    entry: LedgerEntry
    pod: str = ""
    node: str = ""
    last_seq: int = 0
    last_stamp: str | None = None
    last_sched: float = 0.0  # aligned wall time of the newest sample
    samples: int = 0
    ended: bool = False  # the agent wrote its end line at its plan's end
    stopped_early: bool = False  # it wrote its end line on SIGTERM
    lost: bool = False
    lost_t: float | None = None  # run time when chaosrun knew it was lost
    offsets: deque[float] = field(default_factory=lambda: deque(maxlen=_OFFSETS))
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=_WINDOW))


def remote_regions(experiment: Experiment) -> dict[str, RegionCluster]:
    return {r.name: r.cluster for r in experiment.regions if r.cluster is not None}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class AgentFleet:
    """One run's agents."""

    def __init__(
        self,
        experiment: Experiment,
        *,
        run_id: str,
        clock: Clock,
        journal: JournalWriter,
        ledger: Ledger,
        record: Record,
        log: Callable[[str], None],
        phases: list[PhaseSpan],
    ) -> None:
        self.exp = experiment
        self.run_id = run_id
        self.clock = clock
        self.journal = journal
        self.ledger = ledger
        self.record = record
        self.log = log
        self._phases = phases  # the engine's list, appended to as phases start
        self.agents: list[_Agent] = []
        self.matrix: dict[tuple[str, str], list[int]] = {}  # (from, to) -> [samples, ok]
        self._stopping = False

    @staticmethod
    def wanted(experiment: Experiment) -> bool:
        return bool(remote_regions(experiment))

    def _plan(self, region: str, cluster: RegionCluster) -> AgentPlan:
        """The agent's series: its region's probes against its region; with `matrix`, against every
        region of each probe too (other regions' endpoints as `endpoints` says this cluster reaches them)."""
        endpoints = dict(cluster.endpoints)
        pairs = [
            (p, target)
            for p in self.exp.probes
            if region in p.regions or cluster.matrix
            for target in (p.regions if cluster.matrix else (region,))
        ]
        now = self.clock.t()
        series = []
        for i, (p, target) in enumerate(pairs):
            base_url = endpoints.get(target) or self.exp.region(target).base_url
            host = urlsplit(endpoints[target]).hostname if target in endpoints else self.exp.region(target).host
            series.append(
                AgentSeries(
                    probe=p.name,
                    target=target,
                    base_url=base_url,
                    host=host,
                    spec=p.spec,
                    every_s=p.every_s,
                    offset_s=now + p.every_s * i / max(1, len(pairs)),
                )
            )
        stop_s = now + self.exp.phases.total_s + 30.0
        return AgentPlan(
            run_id=self.run_id, region=region, start_wall=self.clock.wall0, stop_s=stop_s, series=tuple(series)
        )

    async def start(self) -> None:
        """Create every agent (ledger first) and wait until each runs; PlanRefused if one cannot."""
        planned = []
        for region, cluster in remote_regions(self.exp).items():  # every plan first: a refusal creates nothing
            plan = self._plan(region, cluster)
            try:
                planned.append((region, cluster, plan, plan.to_json()))
            except InvalidInput as exc:
                raise PlanRefused(f"region {region}: {exc}") from exc
        for region, cluster, plan, plan_json in planned:
            job = AgentJob.for_region(region, cluster, self.run_id)
            entry = LedgerEntry(
                entry_id=f"agent-{secrets.token_hex(3)}",
                run_id=self.run_id,
                owner=Owner.current(),
                experiment=self.exp.title,
                target=f"kubernetes:{cluster.namespace}/job/{job.name}",
                description=job.describe(),
                undo=job.undo_record(),
                created_at=self.clock.wall(),
            )
            self.ledger.add(entry)
            self.agents.append(_Agent(job=job, plan=plan, entry=entry))
            deadline = plan.stop_s - self.clock.t() + cluster.start_timeout_s
            await job.create(plan_json, deadline)
            self.journal.event("agent_created", region=region, job=job.name, namespace=cluster.namespace)
        pods = await asyncio.gather(*(a.job.wait_running() for a in self.agents))
        for agent, (pod, node) in zip(self.agents, pods, strict=True):
            agent.pod, agent.node = pod, node
            self.journal.event("agent_running", region=agent.job.region, pod=pod, node=node)
            self.log(f"agent for region {agent.job.region} runs: pod {pod} on node {node or '?'}")

    def follow(self, http: aiohttp.ClientSession) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self._follow(http, a)) for a in self.agents]

    async def settle(self, before_t: float, timeout_s: float) -> None:
        """Wait (bounded) until every live agent's samples reached `before_t` (run time)."""
        deadline = time.monotonic() + timeout_s
        wall = self.clock.wall0 + before_t
        for _ in range(int(timeout_s / 0.02) + 2):
            if all(a.lost or a.ended or a.last_sched >= wall for a in self.agents) or time.monotonic() >= deadline:
                return
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Delete every agent Job; clear its ledger entry once deleted (or already gone)."""
        self._stopping = True
        for agent in self.agents:
            try:
                await agent.job.delete()
            except ChaosrunError as exc:
                self.journal.event("error", message=f"could not delete {agent.job.describe()}: {exc}")
                self.log(f"error: could not delete {agent.job.describe()}: {exc}; `chaosrun recover` deletes it")
                continue
            self.ledger.remove(agent.entry)
            self._report_clock(agent, final=True)
            self.journal.event("agent_deleted", region=agent.job.region, job=agent.job.name)
        if any(a.job.cluster.matrix for a in self.agents):
            cells = [
                {"from": src, "to": dst, "samples": n, "ok": ok, "success_ratio": round(ok / n, 4) if n else None}
                for (src, dst), (n, ok) in sorted(self.matrix.items())
            ]
            self.journal.event("agent_matrix", cells=cells)  # type: ignore[arg-type]
            for c in cells:
                self.log(f"matrix {c['from']} -> {c['to']}: {c['ok']}/{c['samples']} samples ok")

    def excuse(self, verdicts: list[PhaseVerdict], phases: list[PhaseSpan]) -> list[PhaseVerdict]:
        """The verdicts of a lost agent's series in a phase that had not ended when it was lost are
        inconclusive (the observer-honesty rule: the rest of the phase was not observed), unless
        they deviated on samples taken before the loss: samples not taken are never failures of
        the target, and a phase not observed to its end is never held. Each one is journaled as
        `samples_not_taken`."""
        lost = {(s.probe, s.target): a for a in self.agents if a.lost and a.lost_t is not None for s in a.plan.series}
        out = []
        for v in verdicts:
            agent = lost.get((v.probe, v.region))
            span = next((p for p in phases if p.name == v.phase), None)
            lost_t = None if agent is None else agent.lost_t
            in_time = lost_t is not None and span is not None and (span.end_s is None or lost_t <= span.end_s)
            if agent is None or lost_t is None or not in_time or not v.judged:
                out.append(v)
                continue
            if v.held is False and not all(_FOR_WANT_OF_SAMPLES.match(r) for r in v.reasons):
                out.append(v)  # real failures, sampled before the agent was lost, still count
                continue
            why = f"samples not taken: the agent for region {agent.job.region} was lost at {lost_t:.1f}s"
            self.journal.event("samples_not_taken", probe=v.probe, region=v.region, phase=v.phase, reason=why)
            out.append(dataclasses.replace(v, held=None, inconclusive=True, reasons=(why, *v.reasons)))
        return out

    # ------------------------------------------------------------------ the log stream
    async def _follow(self, http: aiohttp.ClientSession, agent: _Agent) -> None:
        src = await log_source(agent.job.cluster, agent.pod)
        read_timeout = 10.0 + max((s.every_s + s.spec.timeout_s for s in agent.plan.series), default=0.0)
        why = ""
        for attempt in range(_RESUMES + 1):
            try:
                async for stamp, text in stream_lines(
                    http, src, since_time=agent.last_stamp, read_timeout_s=read_timeout
                ):
                    self._line(agent, stamp, text)
                why = "the agent was stopped early (SIGTERM)" if agent.stopped_early else "the container ended"
            except (OSError, TimeoutError, ChaosrunError) as exc:
                why = f"stream broken: {type(exc).__name__}: {str(exc)[:200]}"
            except Exception as exc:  # aiohttp.ClientError and the like
                why = f"stream broken: {type(exc).__name__}: {str(exc)[:200]}"
            if agent.ended or self._stopping:
                return
            if why.startswith("stream broken") and attempt < _RESUMES:
                self.journal.event("agent_stream_resumed", region=agent.job.region, reason=why, since=agent.last_stamp)
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            break
        agent.lost, agent.lost_t = True, self.clock.t()
        last_t = None if not agent.last_sched else round(agent.last_sched - self.clock.wall0, 4)
        self.journal.event(
            "agent_lost",
            region=agent.job.region,
            pod=agent.pod,
            reason=why,
            last_sample_t=last_t,
            note="samples after this are not taken (missing, not failures of the target)",
        )
        self.log(f"agent for region {agent.job.region} lost ({why}): its samples from now on are not taken")

    def _line(self, agent: _Agent, stamp: str, text: str) -> None:
        receipt = time.time()
        try:
            obj = json.loads(text)
            line = decode_line(obj) if isinstance(obj, dict) else None
        except ValueError:
            return  # not ours (a runtime warning); never a sample
        agent.last_stamp = stamp
        if line is None:
            if isinstance(obj, dict) and obj.get("end"):
                agent.ended = obj.get("why") == "plan"
                agent.stopped_early = not agent.ended
            return
        if line.seq <= agent.last_seq or not 0 <= line.series < len(agent.plan.series):
            return
        agent.last_seq = line.seq
        with contextlib.suppress(ValueError):
            runtime = parse_timestamp(stamp)
            agent.offsets.append(line.sent - runtime)
            agent.latencies.append(receipt - runtime)
        self._feed(agent, line)

    def _feed(self, agent: _Agent, line: AgentLine) -> None:
        series = agent.plan.series[line.series]
        offset = statistics.median(agent.offsets) if agent.offsets else 0.0
        aligned = line.sched - offset
        agent.last_sched = max(agent.last_sched, aligned)
        if not self._phases or aligned - self.clock.wall0 < self._phases[0].start_s:
            return  # sampled while the run was still setting up: before the baseline, never judged
        agent.samples += 1
        outcome = Outcome(line.ok, line.latency_s, line.status, line.error)
        cell = self.matrix.setdefault((agent.job.region, series.target), [0, 0])
        cell[0] += 1
        cell[1] += line.ok
        if series.target == agent.job.region:
            self.record(series.probe, series.target, aligned - self.clock.wall0, outcome, line.lag_s)
        else:  # another region seen from this one: journaled (its own series), not judged
            self.record(
                f"{series.probe} from {agent.job.region}",
                series.target,
                aligned - self.clock.wall0,
                outcome,
                line.lag_s,
            )
        if agent.samples == 32:
            self._report_clock(agent, final=False)

    def _report_clock(self, agent: _Agent, *, final: bool) -> None:
        latencies = list(agent.latencies)
        p50, p99 = _pct(latencies, 0.5), _pct(latencies, 0.99)
        self.journal.event(
            "agent_clock",
            region=agent.job.region,
            final=final,
            samples=agent.samples,
            offset_s=round(statistics.median(agent.offsets), 6) if agent.offsets else None,
            log_latency_p50_s=None if p50 is None else round(p50, 6),
            log_latency_p99_s=None if p99 is None else round(p99, 6),
        )
