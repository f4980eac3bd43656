"""Crash recovery and the emergency stop: undo from the ledger alone, in a new process."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..faults import FaultContext, get_undoer, undo_timeout
from ..model import Experiment, Phases
from .ledger import Ledger

__all__ = ["RecoverReport", "emergency_stop", "recover"]


@dataclass(slots=True)
class RecoverReport:
    undone: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped_live: list[str] = field(default_factory=list)


def _blank_experiment() -> Experiment:
    return Experiment(
        title="recover",
        description="",
        tags=(),
        regions=(),
        probes=(),
        phases=Phases(baseline_s=0, fault_s=0, recovery_s=0),
        method=(),
    )


async def recover(ledger: Ledger, *, include_live: bool = False, echo: Callable[[str], None] = print) -> RecoverReport:
    """Undo every ledger entry whose run is gone (all of them with `include_live`). Idempotent."""
    import aiohttp

    report = RecoverReport()
    entries, unreadable = ledger.scan()
    for path, why in unreadable:  # reported, and the readable entries are still undone
        report.failed.append(f"ledger entry {path} is unreadable ({why}); inspect it and remove it by hand")
        echo(f"FAILED: ledger entry {path} is unreadable ({why}); inspect it and remove it by hand")
    if not entries:
        if not unreadable:
            echo("ledger is empty: nothing to recover")
        return report
    async with aiohttp.ClientSession() as http:
        for entry in reversed(entries):  # newest first, as the engine undoes
            label = f"{entry.description} (target {entry.target}, run {entry.run_id})"
            if entry.owner.alive() and not entry.owner.is_current() and not include_live:
                report.skipped_live.append(label)
                echo(f"skipped (run still alive, pid {entry.pid}; use `chaosrun stop`): {label}")
                continue
            if entry.owner.elsewhere():
                echo(f"run {entry.run_id} ran as {entry.owner.describe()}: it cannot be alive here; undoing")
            ctx = FaultContext(run_id=entry.run_id, experiment=_blank_experiment(), http=http, log=echo)
            undo = get_undoer(str(entry.undo.get("backend")))
            try:
                if undo is None:
                    raise LookupError(f"no undo function for back end {entry.undo.get('backend')!r} (plugin missing?)")
                async with asyncio.timeout(undo_timeout(entry.undo)):
                    await undo(entry.undo, ctx)
            except Exception as exc:  # reported per entry; the others are still tried
                report.failed.append(f"{label}: {exc or type(exc).__name__}")
                echo(f"FAILED: {label}: {exc or type(exc).__name__}")
                continue
            problem = ledger.remove(entry)
            report.undone.append(label)
            echo(f"undone: {label}")
            if problem is not None:  # undone on the target; the entry stays (a later recover undoes it again)
                echo(f"warning: {problem}")
    return report


async def emergency_stop(
    ledger: Ledger,
    toxiproxy_urls: Sequence[str],
    *,
    wait_s: float = 20.0,
    echo: Callable[[str], None] = print,
    optional_urls: Sequence[str] = (),
) -> RecoverReport:
    """Abort every chaosrun run on this host (SIGTERM: they roll back), then remove every
    chaosrun-owned toxic from the given Toxiproxy servers (and those the ledger names) and undo
    what the ledger still holds. `optional_urls` (the default local server when no server was
    named) are cleaned when they answer; one that does not is a note, not a failure."""
    # the servers the ledger names, read before recover empties it
    named = set(toxiproxy_urls)
    for entry in ledger.scan()[0]:
        server = entry.undo.get("server") or entry.undo.get("url")
        if isinstance(server, str) and entry.undo.get("backend") == "toxiproxy":
            named.add(server)
    # only processes that are provably those runs (pid + start time, here): a reused pid is never signalled
    live = [r for r in ledger.runs() if r.owner.alive() and not r.owner.is_current()]
    for r in live:
        echo(f"stopping run {r.run_id} (pid {r.pid}, {r.experiment!r})")
        try:
            os.kill(r.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + wait_s
    while live and time.monotonic() < deadline:
        live = [r for r in live if r.owner.alive()]
        if live:
            await asyncio.sleep(0.1)
    for r in live:
        echo(f"run {r.run_id} (pid {r.pid}) did not end within {wait_s:g}s; its faults are removed below")
    report = await recover(ledger, include_live=True, echo=echo)
    urls = named | set(optional_urls)
    if urls:
        import aiohttp

        from ..faults.toxiproxy import remove_owned_toxics

        async with aiohttp.ClientSession() as http:
            for url in sorted(urls):
                try:
                    removed = await remove_owned_toxics(url, http)
                except Exception as exc:  # an unreachable server is reported, the others still cleaned
                    text = str(exc) if url in str(exc) else f"toxiproxy {url}: {exc}"
                    if url not in named:
                        echo(f"note: {text} (the default server; nothing named it, so nothing to clean there)")
                        continue
                    report.failed.append(text)
                    echo(f"FAILED: {text}")
                    continue
                for name in removed:
                    report.undone.append(f"toxic {name} on {url}")
                echo(f"toxiproxy {url}: removed {len(removed)} chaosrun toxic(s)")
    return report
