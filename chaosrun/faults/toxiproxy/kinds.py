"""Toxiproxy fault kinds (`toxiproxy.<toxic type>`, `toxiproxy.down`) and their preflight.

`setup()` is the preflight: every server answers `/version`; declared proxies with
listen+upstream that are missing are created (as setup injections, so undo deletes them);
a target proxy that carries another run's toxics refuses the plan; each target proxy is
claimed on the server (`ClaimInjection`, a marker toxic that never acts), so a run from another
state folder or host is refused before its baseline. `down` records the
proxy's previous `enabled` value here, so undo restores it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, TypeVar

from ...clients.toxiproxy import Proxy, server_key
from ...errors import FaultFailed, PlanRefused
from ...model import Experiment, FaultParams, FaultStep, Location, ToxiproxyProxy
from .. import fault
from ..base import FaultContext, FaultKind, Injection, ParseContext
from .injections import ClaimInjection, DownInjection, ProxyInjection, ToxicInjection, _connect
from .params import _ATTRS, DownParams, ToxicParams, _keys, _parse_target, _parse_toxic, key_schema
from .undo import DOWN_MARKER, _same_address, claim_name, refuse_other_runs, toxic_name

if TYPE_CHECKING:
    from ...node import Node

_CACHE_KEY = "toxiproxy.setup"
P = TypeVar("P", bound=FaultParams)


def _server_url(experiment: Experiment, server: str) -> str:
    return experiment.server(server).url.rstrip("/")


def _target(url: str, proxy: str) -> str:
    return f"toxiproxy:{server_key(url)}/{proxy}"


def _targets(experiment: Experiment, proxy: str | None, region: str | None) -> list[ToxiproxyProxy]:
    found = [p for p in experiment.toxiproxy_proxies if p.name == proxy or (proxy is None and p.region == region)]
    if not found:
        what = f"proxy '{proxy}'" if proxy is not None else f"proxies of region '{region}'"
        raise FaultFailed(f"toxiproxy: no {what} in the experiment")
    return found


def _params(step: FaultStep, cls: type[P]) -> P:
    if not isinstance(step.params, cls):
        raise TypeError(f"{step.kind}: expected {cls.__name__}, got {type(step.params).__name__}")
    return step.params


def _ramp_schedule(params: ToxicParams, step: FaultStep, experiment: Experiment) -> tuple[tuple[float, int], ...]:
    """Levels after apply: the duration is split into steps+1 equal parts, the last one at `to`."""
    ramp = params.ramp
    if ramp is None:
        return ()
    duration = step.duration_s if step.duration_s is not None else experiment.phases.fault_s - step.start_s
    if duration <= 0:
        return ()
    start = dict(params.attributes)[ramp.attribute]
    return tuple(
        (duration * k / (ramp.steps + 1), round(start + (ramp.to - start) * k / ramp.steps))
        for k in range(1, ramp.steps + 1)
    )


class _ToxiproxyKind(FaultKind):
    backend: ClassVar[str] = "toxiproxy"

    async def setup(self, injections: Sequence[Injection], ctx: FaultContext) -> list[Injection]:
        return await _setup(injections, ctx)


class _ToxicKind(_ToxiproxyKind):
    toxic_type: ClassVar[str]

    def parse(self, node: Node, ctx: ParseContext) -> FaultParams | None:
        return _parse_toxic(self.toxic_type, node, ctx)

    async def resolve(self, step: FaultStep, ctx: FaultContext) -> list[Injection]:
        params = _params(step, ToxicParams)
        schedule = _ramp_schedule(params, step, ctx.experiment)
        out: list[Injection] = []
        for proxy in _targets(ctx.experiment, params.proxy, params.region):
            url = _server_url(ctx.experiment, proxy.server)
            for stream in params.streams:
                out.append(
                    ToxicInjection(
                        step=step,
                        target=_target(url, proxy.name),
                        region=proxy.region,
                        url=url,
                        proxy=proxy.name,
                        toxic=toxic_name(ctx.run_id, step.name, stream),
                        toxic_type=params.toxic_type,
                        stream=stream,
                        toxicity=params.toxicity,
                        attributes=params.attributes,
                        ramp=schedule,
                        ramp_attribute=params.ramp.attribute if params.ramp else None,
                    )
                )
        return out


def _register_toxic_kind(toxic_type: str) -> type[_ToxicKind]:
    """`toxiproxy.<type>`: one kind per toxic type, all alike but for their attributes."""

    class Kind(_ToxicKind):
        pass

    Kind.toxic_type = toxic_type
    Kind.keys = _keys(toxic_type)
    Kind.key_schema = key_schema(toxic_type)
    Kind.__name__ = Kind.__qualname__ = toxic_type.title().replace("_", "") + "Fault"
    return fault(f"toxiproxy.{toxic_type}")(Kind)


TOXIC_KINDS = {toxic_type: _register_toxic_kind(toxic_type) for toxic_type in _ATTRS}


@fault("toxiproxy.down")
class DownFault(_ToxiproxyKind):
    keys = ("proxy", "region")
    key_schema: ClassVar[Mapping[str, Mapping[str, object]]] = {
        k: v for k, v in key_schema("timeout").items() if k in ("proxy", "region")
    }

    def parse(self, node: Node, ctx: ParseContext) -> FaultParams | None:
        m = node.mapping(self.keys)
        if m is None:
            return None
        ok, proxy, region = _parse_target(node, m, ctx)
        return DownParams(proxy=proxy, region=region) if ok else None

    async def resolve(self, step: FaultStep, ctx: FaultContext) -> list[Injection]:
        params = _params(step, DownParams)
        out: list[Injection] = []
        for proxy in _targets(ctx.experiment, params.proxy, params.region):
            url = _server_url(ctx.experiment, proxy.server)
            out.append(
                DownInjection(
                    step=step,
                    target=_target(url, proxy.name),
                    region=proxy.region,
                    url=url,
                    proxy=proxy.name,
                    marker=toxic_name(ctx.run_id, step.name, DOWN_MARKER),
                )
            )
        return out


# --- setup (preflight) ------------------------------------------------------------------


@dataclass(slots=True)
class _SetupState:
    """Per run (in FaultContext.cache): servers checked, proxies this run will create."""

    checked: set[str] = field(default_factory=set)
    declared_done: bool = False
    creating: set[tuple[str, str]] = field(default_factory=set)
    claimed: set[tuple[str, str]] = field(default_factory=set)


async def _setup(injections: Sequence[Injection], ctx: FaultContext) -> list[Injection]:
    state = ctx.cache.get(_CACHE_KEY)
    if not isinstance(state, _SetupState):
        state = _SetupState()
        ctx.cache[_CACHE_KEY] = state
    experiment = ctx.experiment
    live: dict[str, dict[str, Proxy]] = {}
    for server in experiment.toxiproxy_servers:
        url = server.url.rstrip("/")
        async with _connect(ctx, url) as client:
            if url not in state.checked:
                await client.version()  # ToxiproxyUnreachable names the URL
                state.checked.add(url)
            live[url] = await client.proxies()
    out: list[Injection] = []
    if not state.declared_done:
        state.declared_done = True
        for declared in experiment.toxiproxy_proxies:
            url = _server_url(experiment, declared.server)
            have = live[url].get(declared.name)
            if have is None and declared.listen and declared.upstream:
                state.creating.add((url, declared.name))
                out.append(_proxy_injection(declared, url))
            elif have is not None and declared.upstream and not _same_address(have.upstream, declared.upstream):
                raise PlanRefused(
                    f"toxiproxy {url}: proxy '{declared.name}' exists with upstream {have.upstream}, but "
                    f"{declared.location} declares {declared.upstream}; fix the declaration or delete the proxy "
                    f"(DELETE {url}/proxies/{declared.name}) so chaosrun creates it"
                )
    targets = _targeted(experiment) | {(i.url, i.proxy) for i in injections if isinstance(i, _Targeted)}
    for url, name in sorted(targets):
        have = live.get(url, {}).get(name)
        if have is None:
            if (url, name) in state.creating:
                continue  # created by this run, enabled, without toxics
            raise PlanRefused(
                f"toxiproxy {url}: proxy '{name}' does not exist and the experiment gives no listen and "
                "upstream to create it; create it on the server or declare listen/upstream"
            )
        refuse_other_runs(url, have, ctx.run_id)
        if (url, name) not in state.claimed:  # the claim lives on the server: other state folders see it
            state.claimed.add((url, name))
            out.append(_claim_injection(experiment, url, name, ctx.run_id))
    for inj in injections:
        if isinstance(inj, DownInjection) and (have := live.get(inj.url, {}).get(inj.proxy)) is not None:
            inj.previous_enabled = have.enabled
    return out


_Targeted = ToxicInjection | DownInjection


def _targeted(experiment: Experiment) -> set[tuple[str, str]]:
    """(server url, proxy) of every toxiproxy step: checked whichever kind's setup runs first."""
    out: set[tuple[str, str]] = set()
    for step in experiment.method:
        if isinstance(step.params, ToxicParams | DownParams):
            for proxy in _targets(experiment, step.params.proxy, step.params.region):
                out.add((_server_url(experiment, proxy.server), proxy.name))
    return out


def _claim_injection(experiment: Experiment, url: str, proxy: str, run_id: str) -> ClaimInjection:
    region = next((p.region for p in experiment.toxiproxy_proxies if p.name == proxy), None)
    declared = next((p for p in experiment.toxiproxy_proxies if p.name == proxy), None)
    location = declared.location if declared is not None else Location(file=experiment.source, line=0, column=0)
    step = FaultStep(kind="toxiproxy.claim", name=f"claim-{proxy}", params=FaultParams(), location=location)
    return ClaimInjection(
        step=step,
        target=_target(url, proxy),
        region=region,
        url=url,
        proxy=proxy,
        marker=claim_name(run_id),
        run_id=run_id,
    )


def _proxy_injection(declared: ToxiproxyProxy, url: str) -> ProxyInjection:
    step = FaultStep(
        kind="toxiproxy.proxy", name=f"proxy-{declared.name}", params=FaultParams(), location=declared.location
    )
    return ProxyInjection(
        step=step,
        target=_target(url, declared.name),
        region=declared.region,
        url=url,
        proxy=declared.name,
        listen=declared.listen or "127.0.0.1:0",
        upstream=declared.upstream or "",
    )
