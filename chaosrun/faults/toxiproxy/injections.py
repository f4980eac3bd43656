"""Toxiproxy injections: a toxic on one proxy and stream, a proxy disabled, a declared proxy
created, and a run's claim on a proxy (a marker toxic that never acts).

`verify()` reads back what each fault left on the server: its toxic on its proxy, a disabled
proxy still disabled (a restarted server comes back from its -config without either)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ...clients.toxiproxy import Stream, ToxiproxyClient
from ...errors import FaultFailed, ToxiproxyConflict, ToxiproxyNotFound
from ...model import FaultStep
from ..base import FaultContext, Injection, UndoRecord, Update
from .params import _ATTRS


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

    async def verify(self, ctx: FaultContext) -> bool | None:
        async with _connect(ctx, self.url) as client:
            try:
                proxy = await client.get_proxy(self.proxy)
            except ToxiproxyNotFound:
                return False
        return any(t.name == self.toxic for t in proxy.toxics)

    def updates(self) -> Sequence[Update]:
        return [(offset, self._ramp_action(value)) for offset, value in self.ramp]

    def describe_updates(self) -> Sequence[tuple[float, str]]:
        attribute = self.ramp_attribute or self.toxic_type
        unit = {"latency": "ms", "jitter": "ms", "timeout": "ms", "rate": " KB/s"}.get(attribute, "")
        return [(offset, f"{attribute} {value}{unit}") for offset, value in self.ramp]

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
    """A proxy disabled: its listener and connections close; undo restores `previous_enabled`.

    A disabled proxy carries no name, so before disabling one that was enabled, apply leaves a
    marker on it: a toxic named for this run (`chaosrun-<run id>-<step>-down`, latency 0 with
    toxicity 0, so it never acts). `chaosrun stop` finds the marker without the ledger and
    re-enables the proxy; another run refuses the proxy while it is there. Undo enables the
    proxy, then removes the marker.
    """

    step: FaultStep
    target: str
    region: str | None
    url: str
    proxy: str
    marker: str
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
            "toxics": [self.marker] if self.previous_enabled else [],
        }

    async def apply(self, ctx: FaultContext) -> None:
        async with _connect(ctx, self.url) as client:
            if self.previous_enabled:  # already disabled: not ours to re-enable, so no marker
                with contextlib.suppress(ToxiproxyConflict):  # our own marker: an earlier apply got through
                    await client.create_toxic(
                        self.proxy, type="latency", name=self.marker, toxicity=0.0, attributes={"latency": 0}
                    )
            await client.update_proxy(self.proxy, enabled=False)

    async def verify(self, ctx: FaultContext) -> bool | None:
        async with _connect(ctx, self.url) as client:
            try:
                proxy = await client.get_proxy(self.proxy)
            except ToxiproxyNotFound:
                return False
        return not proxy.enabled


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


@dataclass(kw_only=True, eq=False)
class ClaimInjection(Injection):
    """A run's claim on a proxy, held on the server itself: a toxic named `chaosrun-<run id>-claim`
    (latency 0, toxicity 0: it never acts), placed by setup before the baseline and removed last.

    A second run, from another state folder or another host, sees it and is refused before its
    baseline. Apply places the claim, then reads the proxy back: another run's chaosrun toxic
    there refuses this run (PlanRefused); two runs claiming at the same moment both see each
    other and both refuse, never both proceed. `chaosrun stop` removes claims like any
    chaosrun toxic; `recover` undoes them from the ledger (a `remove_toxics` record)."""

    step: FaultStep
    target: str
    region: str | None
    url: str
    proxy: str
    marker: str
    run_id: str

    def describe(self) -> str:
        return f"claim proxy {self.proxy} for this run (marker toxic {self.marker}, never acts)"

    def undo_record(self) -> UndoRecord:
        return {
            "backend": "toxiproxy",
            "action": "remove_toxics",
            "url": self.url,
            "proxy": self.proxy,
            "toxics": [self.marker],
        }

    async def apply(self, ctx: FaultContext) -> None:
        from .undo import refuse_other_runs

        async with _connect(ctx, self.url) as client:
            with contextlib.suppress(ToxiproxyConflict):  # our own claim: an earlier apply got through
                await client.create_toxic(
                    self.proxy, type="latency", name=self.marker, toxicity=0.0, attributes={"latency": 0}
                )
            refuse_other_runs(self.url, await client.get_proxy(self.proxy), self.run_id)
