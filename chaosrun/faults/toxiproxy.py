"""Toxiproxy fault kinds: toxics on proxies (`toxiproxy.latency`, ...) and `toxiproxy.down`.

Ownership: every toxic chaosrun creates is named `chaosrun-<run id>-<step>-<stream>`, and its
undo record names the server, the proxy and the toxic, so undo (and `chaosrun stop`) removes
exactly what this run made. `down` records the proxy's previous `enabled` value (read by
`setup()`) and undo restores it. Undo is idempotent: a 404 means already gone.

`setup()` is the preflight: every server answers `/version`; declared proxies with
listen+upstream that are missing are created (as setup injections, so undo deletes them);
a target proxy that carries another run's toxics refuses the plan.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal, TypeVar

from ..errors import FaultFailed, PlanRefused, RollbackFailed, ToxiproxyConflict, ToxiproxyNotFound
from ..model import Experiment, FaultParams, FaultStep, ToxiproxyProxy
from ..toxiproxy_client import Proxy, Stream, ToxiproxyClient
from . import fault, undoer
from .base import FaultContext, FaultKind, Injection, ParseContext, UndoRecord, Update

if TYPE_CHECKING:
    import aiohttp

    from ..node import Node

__all__ = [
    "TOXIC_KINDS",
    "DownFault",
    "DownInjection",
    "DownParams",
    "ProxyInjection",
    "Ramp",
    "ToxicInjection",
    "ToxicParams",
    "owner_of",
    "remove_owned_toxics",
    "toxic_name",
    "undo_toxiproxy",
]

PREFIX = "chaosrun-"
_OWNER = re.compile(r"^chaosrun-([^-]+-[^-]+)-.+$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_INT = 2**53 - 1  # exact in JSON everywhere
_MAX_MS_S = 86_400.0  # one day: a longer toxic is a typo
_CACHE_KEY = "toxiproxy.setup"
P = TypeVar("P", bound=FaultParams)


def toxic_name(run_id: str, step: str, stream: str) -> str:
    """`chaosrun-<run id>-<step>-<stream>`; characters a URL path would mangle become `_`."""
    return f"{PREFIX}{run_id}-{_UNSAFE.sub('_', step)}-{stream}"


def owner_of(name: str) -> str | None:
    """The run id in a chaosrun toxic name (`chaosrun-20261126T170000Z-3f9a1c-step-downstream`), else None."""
    m = _OWNER.match(name)
    return m.group(1) if m else None


def _is_mine(name: str, run_id: str) -> bool:
    return name.startswith(f"{PREFIX}{run_id}-")


# --- parameters -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Attr:
    key: str  # the YAML key and the Toxiproxy attribute
    unit: Literal["ms", "us", "B", "KB/s"]
    required: bool = False
    min: int = 0
    why_min: str = ""

    def format(self, value: int) -> str:
        return f"{value}µs" if self.unit == "us" else f"{value}{self.unit}"


_ATTRS: dict[str, tuple[_Attr, ...]] = {
    "latency": (_Attr(key="latency", unit="ms", required=True), _Attr(key="jitter", unit="ms")),
    "bandwidth": (
        _Attr(key="rate", unit="KB/s", required=True, min=1, why_min="Toxiproxy stalls the link for ever at 0"),
    ),
    "slow_close": (_Attr(key="delay", unit="ms", required=True),),
    "timeout": (_Attr(key="timeout", unit="ms", required=True),),
    "reset_peer": (_Attr(key="timeout", unit="ms"),),
    "slicer": (
        _Attr(key="average_size", unit="B", required=True, min=1),
        _Attr(key="size_variation", unit="B"),
        _Attr(key="delay", unit="us"),
    ),
    "limit_data": (_Attr(key="bytes", unit="B", required=True),),
}
_RAMPED = {"latency": "latency", "bandwidth": "rate"}
_COMMON = ("proxy", "region", "stream", "toxicity")


@dataclass(frozen=True, slots=True, kw_only=True)
class Ramp:
    """Move `attribute` to `to` in `steps` equal updates spread over the fault's duration."""

    attribute: str
    to: int
    steps: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ToxicParams(FaultParams):
    """One toxic type on one proxy (or every proxy of a region), on one or both streams."""

    toxic_type: str
    proxy: str | None
    region: str | None
    streams: tuple[Stream, ...]
    toxicity: float = 1.0
    attributes: tuple[tuple[str, int], ...]
    ramp: Ramp | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DownParams(FaultParams):
    """The proxy (or every proxy of a region) is disabled: new connections are refused."""

    proxy: str | None
    region: str | None


def _parse_target(node: Node, m: Mapping[str, Node], ctx: ParseContext) -> tuple[bool, str | None, str | None]:
    """(ok, proxy, region): exactly one of them, and it names something declared."""
    if ("proxy" in m) == ("region" in m):
        node.error("give exactly one of 'proxy' (one proxy) or 'region' (every proxy of that region)")
        return False, None, None
    if "proxy" in m:
        proxy = m["proxy"].str()
        if proxy is None:
            return False, None, None
        if proxy not in ctx.proxies:
            import difflib

            hint = difflib.get_close_matches(proxy, list(ctx.proxies), n=1)
            more = f"did you mean '{hint[0]}'?" if hint else f"declared: {', '.join(sorted(ctx.proxies)) or '(none)'}"
            m["proxy"].error(f"unknown toxiproxy proxy '{proxy}'; {more}")
            return False, None, None
        return True, proxy, None
    region = m["region"].str()
    if region is None:
        return False, None, None
    if region not in ctx.regions:
        m["region"].error(f"unknown region '{region}'; declared: {', '.join(ctx.regions) or '(none)'}")
        return False, None, None
    if region not in ctx.proxies.values():
        m["region"].error(f"no toxiproxy proxy is declared for region '{region}'; give a proxy that region")
        return False, None, None
    return True, None, region


def _parse_attr(node: Node, attr: _Attr) -> int | None:
    if attr.unit in ("ms", "us"):
        seconds = node.duration(max_s=_MAX_MS_S)
        if seconds is None:
            return None
        scale = 1_000 if attr.unit == "ms" else 1_000_000
        value = round(seconds * scale)
        if abs(seconds * scale - value) > 1e-6:
            unit = "milliseconds" if attr.unit == "ms" else "microseconds"
            node.error(f"Toxiproxy takes whole {unit}, got {node.raw.value!r}")
            return None
    else:
        number = node.int(max=_MAX_INT)
        if number is None:
            return None
        value = number
    if value < attr.min:
        why = f": {attr.why_min}" if attr.why_min else ""
        node.error(f"must be at least {attr.format(attr.min)}, got {attr.format(value)}{why}")
        return None
    return value


def _parse_toxic(toxic_type: str, node: Node, ctx: ParseContext) -> ToxicParams | None:
    attrs = _ATTRS[toxic_type]
    ramped = _RAMPED.get(toxic_type)
    allowed = (*_COMMON, *(a.key for a in attrs), *(("ramp",) if ramped else ()))
    m = node.mapping(allowed, required=tuple(a.key for a in attrs if a.required))
    if m is None:
        return None
    ok, proxy, region = _parse_target(node, m, ctx)
    values: dict[str, int] = {}
    for attr in attrs:
        value = _parse_attr(m[attr.key], attr) if attr.key in m else (None if attr.required else 0)
        ok = ok and value is not None
        values[attr.key] = value or 0
    if toxic_type == "slicer" and ok and values["size_variation"] >= values["average_size"]:
        m["size_variation"].error("must be smaller than average_size")
        ok = False
    stream = m["stream"].choice(("upstream", "downstream", "both")) if "stream" in m else "downstream"
    toxicity = m["toxicity"].float(min=0.0, max=1.0) if "toxicity" in m else 1.0
    ramp = None
    if ramped is not None and "ramp" in m:
        ramp = _parse_ramp(m["ramp"], next(a for a in attrs if a.key == ramped))
        ok = ok and ramp is not None
    if not ok or stream is None or toxicity is None:
        return None
    streams: tuple[Stream, ...] = ("upstream", "downstream") if stream == "both" else (_stream(stream),)
    return ToxicParams(
        toxic_type=toxic_type,
        proxy=proxy,
        region=region,
        streams=streams,
        toxicity=toxicity,
        attributes=tuple(values.items()),
        ramp=ramp,
    )


def _stream(text: str) -> Stream:
    return "upstream" if text == "upstream" else "downstream"


def _parse_ramp(node: Node, attr: _Attr) -> Ramp | None:
    m = node.mapping(("to", "steps"), required=("to",))
    if m is None or "to" not in m:
        return None
    to = _parse_attr(m["to"], attr)
    steps = m["steps"].int(min=1, max=1000) if "steps" in m else 5
    if to is None or steps is None:
        return None
    return Ramp(attribute=attr.key, to=to, steps=steps)


# --- injections -------------------------------------------------------------------------


@asynccontextmanager
async def _connect(ctx: FaultContext, url: str) -> AsyncIterator[ToxiproxyClient]:
    """A client on the run's shared session, or on its own session when there is none."""
    async with ToxiproxyClient(url, session=ctx.http) as client:
        yield client


@dataclass(kw_only=True, eq=False)
class ToxicInjection(Injection):
    """One named toxic on one proxy and stream."""

    step: FaultStep
    target: str
    region: str | None
    url: str
    proxy: str
    toxic: str  # chaosrun-<run id>-<step>-<stream>
    toxic_type: str
    stream: Stream
    toxicity: float
    attributes: tuple[tuple[str, int], ...]
    ramp: tuple[tuple[float, int], ...] = ()  # (seconds after apply, value of the ramped attribute)
    ramp_attribute: str | None = None
    level: int | None = None  # the ramped attribute's current value, once a ramp step ran
    ramp_done: int = 0  # ramp steps run so far

    def describe(self) -> str:
        units = {a.key: a for a in _ATTRS[self.toxic_type]}
        values = dict(self.attributes)
        if self.ramp_attribute is not None and self.level is not None:
            values[self.ramp_attribute] = self.level
        primary = _ATTRS[self.toxic_type][0].key
        parts = [
            (units[k].format(v) if k == primary else f"{k} {units[k].format(v)}")
            for k, v in values.items()
            if v or units[k].required
        ]
        if self.ramp and self.ramp_attribute is not None:
            last = units[self.ramp_attribute].format(self.ramp[-1][1])
            if self.ramp_done:
                parts.append(f"ramp step {self.ramp_done}/{len(self.ramp)} to {last}")
            else:
                parts.append(f"ramping to {last} in {len(self.ramp)} steps")
        if self.toxicity < 1.0:
            parts.append(f"toxicity {self.toxicity:g}")
        return f"{self.toxic_type} {', '.join(parts)} ({self.stream}) on {self.proxy}"

    def undo_record(self) -> UndoRecord:
        return {
            "backend": "toxiproxy",
            "action": "remove_toxics",
            "url": self.url,
            "proxy": self.proxy,
            "toxics": [self.toxic],
        }

    async def apply(self, ctx: FaultContext) -> None:
        attributes = dict(self.attributes)
        async with _connect(ctx, self.url) as client:
            try:
                await client.create_toxic(
                    self.proxy,
                    type=self.toxic_type,
                    name=self.toxic,
                    stream=self.stream,
                    toxicity=self.toxicity,
                    attributes=attributes,
                )
            except ToxiproxyConflict:
                # Our own name: an earlier apply of this run got through. Make it match.
                existing = await client.get_toxic(self.proxy, self.toxic)
                if existing.type != self.toxic_type or existing.stream != self.stream:
                    raise FaultFailed(
                        f"toxiproxy {self.url}: proxy '{self.proxy}' already has a toxic named '{self.toxic}' "
                        f"of type {existing.type} ({existing.stream}); remove it and retry"
                    ) from None
                await client.update_toxic(self.proxy, self.toxic, attributes=attributes, toxicity=self.toxicity)

    def updates(self) -> Sequence[Update]:
        return [(offset, self._ramp_action(value)) for offset, value in self.ramp]

    def _ramp_action(self, value: int) -> Callable[[FaultContext], Awaitable[None]]:
        attribute = self.ramp_attribute or self.toxic_type

        async def ramp_step(ctx: FaultContext) -> None:
            async with _connect(ctx, self.url) as client:
                await client.update_toxic(self.proxy, self.toxic, attributes={attribute: value})
            self.level = value
            self.ramp_done += 1

        return ramp_step


@dataclass(kw_only=True, eq=False)
class DownInjection(Injection):
    """A proxy disabled: its listener and connections close; undo restores `previous_enabled`."""

    step: FaultStep
    target: str
    region: str | None
    url: str
    proxy: str
    previous_enabled: bool = True  # read by setup() before the ledger entry is written

    def describe(self) -> str:
        return f"down: proxy {self.proxy} disabled (connections refused)"

    def undo_record(self) -> UndoRecord:
        return {
            "backend": "toxiproxy",
            "action": "enable",
            "url": self.url,
            "proxy": self.proxy,
            "enabled": self.previous_enabled,
        }

    async def apply(self, ctx: FaultContext) -> None:
        async with _connect(ctx, self.url) as client:
            await client.update_proxy(self.proxy, enabled=False)


@dataclass(kw_only=True, eq=False)
class ProxyInjection(Injection):
    """A declared proxy that was missing: created by setup, deleted by undo (server left as found)."""

    step: FaultStep
    target: str
    region: str | None
    url: str
    proxy: str
    listen: str
    upstream: str

    def describe(self) -> str:
        return f"create proxy {self.proxy} ({self.listen} -> {self.upstream})"

    def undo_record(self) -> UndoRecord:
        return {
            "backend": "toxiproxy",
            "action": "delete_proxy",
            "url": self.url,
            "proxy": self.proxy,
            "upstream": self.upstream,
        }

    async def apply(self, ctx: FaultContext) -> None:
        async with _connect(ctx, self.url) as client:
            try:
                await client.create_proxy(self.proxy, listen=self.listen, upstream=self.upstream)
            except ToxiproxyConflict as exc:
                raise FaultFailed(
                    f"toxiproxy {self.url}: proxy '{self.proxy}' appeared between the preflight and its "
                    "creation; another tool manages it: remove it or drop listen/upstream from the experiment"
                ) from exc


# --- kinds ------------------------------------------------------------------------------


def _server_url(experiment: Experiment, server: str) -> str:
    return experiment.server(server).url.rstrip("/")


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
                        target=f"toxiproxy:{url}/{proxy.name}",
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


def _keys(toxic_type: str) -> tuple[str, ...]:
    return (*_COMMON, *(a.key for a in _ATTRS[toxic_type]), *(("ramp",) if toxic_type in _RAMPED else ()))


def _register_toxic_kind(toxic_type: str) -> type[_ToxicKind]:
    """`toxiproxy.<type>`: one kind per toxic type, all alike but for their attributes."""

    class Kind(_ToxicKind):
        pass

    Kind.toxic_type = toxic_type
    Kind.keys = _keys(toxic_type)
    Kind.__name__ = Kind.__qualname__ = toxic_type.title().replace("_", "") + "Fault"
    return fault(f"toxiproxy.{toxic_type}")(Kind)


TOXIC_KINDS = {toxic_type: _register_toxic_kind(toxic_type) for toxic_type in _ATTRS}


@fault("toxiproxy.down")
class DownFault(_ToxiproxyKind):
    keys = ("proxy", "region")

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
                    step=step, target=f"toxiproxy:{url}/{proxy.name}", region=proxy.region, url=url, proxy=proxy.name
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


def _same_address(a: str, b: str) -> bool:
    def norm(addr: str) -> str:
        host, _, port = addr.rpartition(":")
        return f"{'127.0.0.1' if host in ('localhost', '') else host}:{port}"

    return norm(a) == norm(b)


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
        foreign = sorted(t.name for t in have.toxics if t.name.startswith(PREFIX) and not _is_mine(t.name, ctx.run_id))
        if foreign:
            runs = sorted({owner_of(n) or n for n in foreign})
            raise PlanRefused(
                f"toxiproxy {url}: proxy '{name}' carries toxics of another chaosrun run "
                f"({', '.join(runs)}): {', '.join(foreign)}; that run is still going or was not undone: "
                f"run `chaosrun recover` for it (or `chaosrun stop --toxiproxy {url}`), then retry"
            )
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


def _proxy_injection(declared: ToxiproxyProxy, url: str) -> ProxyInjection:
    step = FaultStep(
        kind="toxiproxy.proxy", name=f"proxy-{declared.name}", params=FaultParams(), location=declared.location
    )
    return ProxyInjection(
        step=step,
        target=f"toxiproxy:{url}/{declared.name}",
        region=declared.region,
        url=url,
        proxy=declared.name,
        listen=declared.listen or "127.0.0.1:0",
        upstream=declared.upstream or "",
    )


# --- undo and emergency stop ------------------------------------------------------------


def _field(record: UndoRecord, key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise RollbackFailed(f"toxiproxy undo: ledger record without '{key}': {record}; remove it by hand")
    return value


@undoer("toxiproxy")
async def undo_toxiproxy(record: UndoRecord, ctx: FaultContext) -> None:
    """Undo one record (idempotent: what is already gone counts as undone)."""
    action, url, proxy = record.get("action"), _field(record, "url"), _field(record, "proxy")
    async with _connect(ctx, url) as client:
        try:
            if action == "remove_toxics":
                names = record.get("toxics")
                for name in names if isinstance(names, list) else []:
                    try:
                        await client.delete_toxic(proxy, str(name))
                    except ToxiproxyNotFound:
                        continue
            elif action == "enable":
                await client.update_proxy(proxy, enabled=record.get("enabled") is not False)
            elif action == "delete_proxy":
                current = await client.get_proxy(proxy)
                if not _same_address(current.upstream, _field(record, "upstream")):
                    ctx.log(f"toxiproxy {url}: proxy '{proxy}' now points elsewhere ({current.upstream}); left as is")
                    return
                await client.delete_proxy(proxy)
            else:
                raise RollbackFailed(f"toxiproxy undo: unknown action {action!r} in ledger record {record}")
        except ToxiproxyNotFound:
            return  # proxy already gone: nothing of ours remains on it


async def remove_owned_toxics(url: str, session: aiohttp.ClientSession | None, run_id: str | None = None) -> list[str]:
    """Remove every `chaosrun-` toxic on a server (only `run_id`'s when given): the emergency stop.

    Returns `proxy/toxic` for each one removed. Toxics of other owners are never touched.
    A disabled proxy (`down`) carries no name, so only its ledger entry can restore it.
    """
    removed: list[str] = []
    async with ToxiproxyClient(url, session=session) as client:
        for proxy in (await client.proxies()).values():
            for toxic in proxy.toxics:
                mine = _is_mine(toxic.name, run_id) if run_id is not None else toxic.name.startswith(PREFIX)
                if not mine:
                    continue
                try:
                    await client.delete_toxic(proxy.name, toxic.name)
                except ToxiproxyNotFound:
                    continue
                removed.append(f"{proxy.name}/{toxic.name}")
    return removed
