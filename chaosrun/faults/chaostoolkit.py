"""Chaos Toolkit actions as a fault kind (`chaostoolkit.action`), with an optional rollback.

The `provider:` mapping is Chaos Toolkit's own (python, process or http); parsing and running it,
and the ways chaosrun is stricter than Chaos Toolkit, live in chaosrun/clients/chaostoolkit.py. The step's
`timeout` (default 60s) bounds the action and its rollback. `rollback:` is another provider
mapping: the undo. The undo record holds it as JSON (with the step's `configuration:`), so
`chaosrun recover` can run it from the ledger alone; without a rollback, undo is a recorded no-op.
A rollback is run again when undo is repeated: write it so that is harmless (`rm -f`, not `rm`).

A python (or http) action runs on a worker thread, and a thread cannot be killed: when the step's
timeout fires, or the run is stopped, while it runs, the action may still do its work later. The
undo therefore waits for that thread before it runs the rollback, so the rollback comes after the
action's effect, never before it. The wait is bounded by `thread_grace_s()`: as long again as the
step's timeout, at least 5 s (a short timeout says little about how long an overrun lasts) and at
most 30 s (the wait holds up the rollback of the run's older faults, and an operator's Ctrl-C;
beyond that, the action is stuck rather than slow). A thread still running after it: the rollback
is run anyway, but the undo fails (the run reports rollback_failed, exit 5, and the ledger entry
is kept for `chaosrun recover`), as the action may still apply its effect after the rollback.

chaostoolkit-lib is imported on first use only: `chaosrun validate` never imports it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass, field, replace
from typing import ClassVar

from ..clients.chaostoolkit import (
    DEFAULT_TIMEOUT_S,
    PROVIDER_TYPES,
    RUN_ID,
    CtkProvider,
    ProviderFailed,
    WorkerThread,
    parse_configuration,
    parse_provider,
    run_provider,
)
from ..errors import FaultFailed, PlanRefused, RollbackFailed
from ..model import FaultParams, FaultStep
from ..node import Node
from ..units import format_duration
from . import fault, undoer
from .base import JSON, FaultContext, FaultKind, Injection, ParseContext, UndoRecord

__all__ = [
    "CtkActionFault",
    "CtkActionInjection",
    "CtkActionParams",
    "thread_grace_s",
    "undo_chaostoolkit",
]

_MAX_TIMEOUT_S = 3600.0
GRACE_MIN_S = 5.0  # the least time the undo waits for an action's thread that outlived its apply
GRACE_MAX_S = 30.0  # the most (module docstring)
_OVERRUNS = "chaostoolkit.overruns"  # FaultContext.cache key of the run's _Overruns


def thread_grace_s(timeout_s: float) -> float:
    """How long the undo waits for an action's thread still running after a timeout or a stop."""
    return min(max(timeout_s, GRACE_MIN_S), GRACE_MAX_S)


def _on_thread(provider: CtkProvider) -> bool:
    """chaoslib runs python and http providers on a worker thread (process ones are our children)."""
    return provider.type != "process"


@dataclass(slots=True, kw_only=True)
class _Overrun:
    """An action's worker thread that was still running when its apply gave up waiting."""

    thread: WorkerThread
    what: str  # the action provider, described
    why: str  # "its timeout", "the run was stopped"
    grace_s: float
    wait_until: float  # event-loop time


@dataclass(slots=True)
class _Overruns:
    """The run's overrunning action threads, by step name (step names are unique in a run)."""

    by_step: dict[str, _Overrun] = field(default_factory=dict)


def _overruns(ctx: FaultContext) -> _Overruns:
    found = ctx.cache.get(_OVERRUNS)
    if not isinstance(found, _Overruns):
        found = _Overruns()
        ctx.cache[_OVERRUNS] = found
    return found


# --- parameters -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CtkActionParams(FaultParams):
    """One Chaos Toolkit action, its optional rollback, configuration and time bound."""

    provider: CtkProvider
    rollback: CtkProvider | None = None
    configuration: tuple[tuple[str, str], ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S


# --- the fault kind ---------------------------------------------------------------------


@dataclass(kw_only=True, eq=False)
class CtkActionInjection(Injection):
    """A Chaos Toolkit action; undo runs its rollback provider (if any)."""

    step: FaultStep
    target: str
    region: str | None
    params: CtkActionParams

    def describe(self) -> str:
        rollback = self.params.rollback
        undo = f"rollback: {rollback.describe()}" if rollback else "no rollback"
        return f"chaostoolkit {self.params.provider.describe()} ({undo})"

    def undo_record(self) -> UndoRecord:
        p = self.params
        rollback = p.rollback
        # `timeout_s` is the undo's own time limit (the engine and `chaosrun recover` read it): the
        # wait for an action thread still running, then the rollback with the step's timeout
        undo_s = p.timeout_s + (thread_grace_s(p.timeout_s) if _on_thread(p.provider) else 0.0)
        return {
            "backend": "chaostoolkit",
            "step": self.step.name,
            "rollback": rollback.mapping() if rollback else None,
            "configuration": dict(p.configuration),
            "timeout_s": undo_s,
            "rollback_timeout_s": p.timeout_s,
        }

    async def apply(self, ctx: FaultContext) -> None:
        p = self.params
        where = f"chaostoolkit action '{self.step.name}' ({p.provider.describe()})"
        thread = WorkerThread()
        try:
            await run_provider(
                p.provider.mapping(), configuration=dict(p.configuration), timeout_s=p.timeout_s, thread=thread
            )
        except TimeoutError:
            self._outlived(thread, ctx, "its timeout")
            raise FaultFailed(
                f"{where}: no result after {format_duration(p.timeout_s)}; raise the step's timeout or fix the action"
            ) from None
        except asyncio.CancelledError:
            self._outlived(thread, ctx, "the run was stopped")
            raise
        except ProviderFailed as exc:
            raise FaultFailed(f"{where} failed: {exc}") from exc

    def _outlived(self, thread: WorkerThread, ctx: FaultContext, why: str) -> None:
        """The apply stopped waiting while the action's thread runs on: note it for the undo."""
        if not thread.running():
            return
        grace_s = thread_grace_s(self.params.timeout_s)
        _overruns(ctx).by_step[self.step.name] = _Overrun(
            thread=thread,
            what=self.params.provider.describe(),
            why=why,
            grace_s=grace_s,
            wait_until=asyncio.get_running_loop().time() + grace_s,
        )
        ctx.log(
            f"chaostoolkit action '{self.step.name}' ({self.params.provider.describe()}) is still running after "
            f"{why}; its undo waits up to {format_duration(grace_s)} for it to finish"
        )


def _params(step: FaultStep) -> CtkActionParams:
    if not isinstance(step.params, CtkActionParams):
        raise TypeError(f"{step.kind}: expected CtkActionParams, got {type(step.params).__name__}")
    return step.params


def _preflight(provider: CtkProvider, where: str) -> None:
    """Read-only checks at plan time: the executable exists, the module can be found."""
    spec = provider.mapping()
    if provider.type == "process":
        path = os.path.expanduser(str(spec.get("path")))
        if "${" not in path and shutil.which(path) is None:
            raise PlanRefused(f"{where}: executable {path!r} not found (not on PATH or not executable)")
    elif provider.type == "python":
        module = str(spec.get("module"))
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise PlanRefused(f"{where}: Python module {module!r} not found; install it or add it to PYTHONPATH")


def _with_run_id(provider: CtkProvider, run_id: str) -> CtkProvider:
    """`${run.id}` in any string of the provider becomes the run id (so undo names exactly what was made)."""

    def sub(value: JSON) -> JSON:
        if isinstance(value, str):
            return value.replace(RUN_ID, run_id)
        if isinstance(value, list):
            return [sub(v) for v in value]
        if isinstance(value, dict):
            return {k: sub(v) for k, v in value.items()}
        return value

    return replace(provider, spec_json=json.dumps(sub(provider.mapping()), sort_keys=True))


@fault("chaostoolkit.action")
class CtkActionFault(FaultKind):
    """Any Chaos Toolkit activity (python, process, http provider), with an optional rollback."""

    backend: ClassVar[str] = "chaostoolkit"
    keys: ClassVar[tuple[str, ...]] = ("provider", "rollback", "configuration", "timeout")

    def parse(self, node: Node, ctx: ParseContext) -> FaultParams | None:
        fields = node.mapping(self.keys, required=("provider",))
        if fields is None or "provider" not in fields:
            return None
        configuration: tuple[tuple[str, str], ...] | None = ()
        if "configuration" in fields:
            configuration = parse_configuration(fields["configuration"])
        config = dict(configuration or ())
        provider = parse_provider(fields["provider"], config)
        rollback = parse_provider(fields["rollback"], config) if "rollback" in fields else None
        timeout_s: float | None = DEFAULT_TIMEOUT_S
        if "timeout" in fields:
            timeout_s = fields["timeout"].duration(min_s=0.001, max_s=_MAX_TIMEOUT_S)
        if provider is None or configuration is None or timeout_s is None:
            return None
        if "rollback" in fields and rollback is None:
            return None
        return CtkActionParams(provider=provider, rollback=rollback, configuration=configuration, timeout_s=timeout_s)

    async def resolve(self, step: FaultStep, ctx: FaultContext) -> list[Injection]:
        params = _params(step)
        where = f"{step.location}: {step.name}"
        _preflight(params.provider, f"{where}.provider")
        if params.rollback is not None:
            _preflight(params.rollback, f"{where}.rollback")
        params = replace(
            params,
            provider=_with_run_id(params.provider, ctx.run_id),
            rollback=None if params.rollback is None else _with_run_id(params.rollback, ctx.run_id),
        )
        target = f"chaostoolkit:{ctx.experiment.slug}/{step.name}"
        return [CtkActionInjection(step=step, target=target, region=None, params=params)]


async def _wait_for_action(step: str, ctx: FaultContext) -> _Overrun | None:
    """Wait (bounded, without blocking the loop) for the step's action thread, if it outlived its
    apply in this process; the overrun when the thread still runs, else None."""
    overruns = _overruns(ctx).by_step
    overrun = overruns.get(step)
    if overrun is None:
        return None
    if overrun.thread.running():
        left = overrun.wait_until - asyncio.get_running_loop().time()
        if left > 0:
            ctx.log(
                f"chaostoolkit action '{step}': waiting up to {format_duration(left)} for the action "
                f"({overrun.what}) to finish before its rollback"
            )
            await overrun.thread.wait(left)
    if overrun.thread.running():
        return overrun  # kept: a repeated undo in this process fails the same way
    del overruns[step]
    return None


def _record_seconds(record: UndoRecord, *keys: str) -> float:
    for key in keys:
        value = record.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
    return DEFAULT_TIMEOUT_S


@undoer("chaostoolkit")
async def undo_chaostoolkit(record: UndoRecord, ctx: FaultContext) -> None:
    """Run the recorded rollback provider; no rollback: nothing to do (the no-op is logged).

    In the run that applied the action, its rollback first waits for an action thread that is
    still running (module docstring); one still running after that fails the undo."""
    step = str(record.get("step") or "?")
    rollback = record.get("rollback")
    if rollback is None:
        ctx.log(f"chaostoolkit action '{step}': no rollback declared; nothing to undo")
        overrun = _overruns(ctx).by_step.get(step)
        if overrun is not None and overrun.thread.running():
            ctx.log(f"chaostoolkit action '{step}': the action ({overrun.what}) is still running inside chaosrun")
        return
    if not isinstance(rollback, dict) or rollback.get("type") not in PROVIDER_TYPES:
        raise RollbackFailed(f"chaostoolkit action '{step}': ledger record has no valid rollback: {record}")
    raw_config = record.get("configuration")
    configuration = {str(k): str(v) for k, v in raw_config.items()} if isinstance(raw_config, dict) else {}
    timeout_s = _record_seconds(record, "rollback_timeout_s", "timeout_s")  # older records: timeout_s only
    ptype = next(t for t in PROVIDER_TYPES if t == rollback["type"])
    what = CtkProvider(type=ptype, spec_json=json.dumps(rollback, sort_keys=True)).describe()
    running = await _wait_for_action(step, ctx)
    failed: str | None = None  # why the rollback failed
    cause: ProviderFailed | None = None
    try:  # with the action still running too: it may already have done its work, which this undoes
        await run_provider(rollback, configuration=configuration, timeout_s=timeout_s)
    except TimeoutError:
        failed = f"rollback ({what}) gave no result after {format_duration(timeout_s)}"
    except ProviderFailed as exc:
        failed, cause = f"rollback ({what}) failed: {exc}", exc
    if running is not None:
        rolled = f"which ran; {failed}" if failed is not None else "which ran"
        raise RollbackFailed(
            f"chaostoolkit action '{step}': the action ({running.what}) is still running inside chaosrun "
            f"{format_duration(running.grace_s)} after {running.why} and may apply its effect after the rollback "
            f"({rolled}); its ledger entry is kept; run `chaosrun recover` once it has finished "
            "(chaosrun exits only after it has)"
        ) from cause
    if failed is not None:
        raise RollbackFailed(
            f"chaostoolkit action '{step}': {failed}; what it should have undone may remain"
        ) from cause
