"""Toxic names that carry their owner, the `toxiproxy` undoer and the emergency stop.

Every toxic chaosrun creates is named `chaosrun-<run id>-<step>-<stream>`: undo and
`chaosrun stop` remove exactly what a run made, and never toxics of other owners.
Undo is idempotent: a 404 means already gone.
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING

from ...clients.toxiproxy import Proxy, ToxiproxyClient
from ...errors import PlanRefused, RollbackFailed, ToxiproxyNotFound
from .. import undoer
from ..base import FaultContext, UndoRecord
from .injections import _connect

if TYPE_CHECKING:
    import aiohttp

PREFIX = "chaosrun-"
DOWN_MARKER = "down"  # `chaosrun-<run id>-<step>-down` marks a proxy a run disabled (toxics end in `stream`)
CLAIM_MARKER = "claim"  # `chaosrun-<run id>-claim`: a run's claim on a proxy, placed before its baseline
_OWNER = re.compile(r"^chaosrun-([^-]+-[^-]+)-.+$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def toxic_name(run_id: str, step: str, stream: str) -> str:
    """`chaosrun-<run id>-<step>-<stream>`; characters a URL path would mangle become `_`."""
    return f"{PREFIX}{run_id}-{_UNSAFE.sub('_', step)}-{stream}"


def claim_name(run_id: str) -> str:
    """`chaosrun-<run id>-claim`: the marker toxic by which a run claims a proxy (never acts)."""
    return f"{PREFIX}{run_id}-{CLAIM_MARKER}"


def owner_of(name: str) -> str | None:
    """The run id in a chaosrun toxic name (`chaosrun-20261126T170000Z-3f9a1c-step-downstream`), else None."""
    m = _OWNER.match(name)
    return m.group(1) if m else None


def _is_mine(name: str, run_id: str) -> bool:
    return name.startswith(f"{PREFIX}{run_id}-")


def refuse_other_runs(url: str, proxy: Proxy, run_id: str) -> None:
    """PlanRefused when the proxy carries another chaosrun run's toxics (its claim, its faults)."""
    foreign = sorted(t.name for t in proxy.toxics if t.name.startswith(PREFIX) and not _is_mine(t.name, run_id))
    if foreign:
        runs = sorted({owner_of(n) or n for n in foreign})
        raise PlanRefused(
            f"toxiproxy {url}: proxy '{proxy.name}' carries toxics of another chaosrun run "
            f"({', '.join(runs)}): {', '.join(foreign)}; that run is still going (perhaps from another state "
            f"folder or host) or was not undone: wait for it, or run `chaosrun recover` for it (or `chaosrun stop "
            f"--toxiproxy {url}` where it ran), then retry"
        )


def _same_address(a: str, b: str) -> bool:
    def norm(addr: str) -> str:
        host, _, port = addr.rpartition(":")
        return f"{'127.0.0.1' if host in ('localhost', '') else host}:{port}"

    return norm(a) == norm(b)


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
                markers = record.get("toxics")  # absent in entries written before markers existed
                for name in markers if isinstance(markers, list) else []:
                    with contextlib.suppress(ToxiproxyNotFound):
                        await client.delete_toxic(proxy, str(name))
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
    A disabled proxy carrying a `down` marker is re-enabled before its marker goes.
    """
    removed: list[str] = []
    async with ToxiproxyClient(url, session=session) as client:
        for proxy in (await client.proxies()).values():
            for toxic in proxy.toxics:
                mine = _is_mine(toxic.name, run_id) if run_id is not None else toxic.name.startswith(PREFIX)
                if not mine:
                    continue
                if toxic.name.endswith(f"-{DOWN_MARKER}") and not proxy.enabled:
                    with contextlib.suppress(ToxiproxyNotFound):
                        await client.update_proxy(proxy.name, enabled=True)
                try:
                    await client.delete_toxic(proxy.name, toxic.name)
                except ToxiproxyNotFound:
                    continue
                removed.append(f"{proxy.name}/{toxic.name}")
    return removed
