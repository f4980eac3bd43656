"""Chaos Toolkit actions as a fault kind (`chaostoolkit.action`), with an optional rollback.

The `provider:` mapping is Chaos Toolkit's own (python, process or http); parsing and running it,
and the ways chaosrun is stricter than Chaos Toolkit, live in chaosrun/ctk_provider.py. The step's
`timeout` (default 60s) bounds the action and its rollback. `rollback:` is another provider
mapping: the undo. The undo record holds it as JSON (with the step's `configuration:`), so
`chaosrun recover` can run it from the ledger alone; without a rollback, undo is a recorded no-op.
A rollback is run again when undo is repeated: write it so that is harmless (`rm -f`, not `rm`).

chaostoolkit-lib is imported on first use only: `chaosrun validate` never imports it.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from dataclasses import dataclass, replace
from typing import ClassVar

from ..ctk_provider import (
    DEFAULT_TIMEOUT_S,
    PROVIDER_TYPES,
    RUN_ID,
    CtkProvider,
    ProviderFailed,
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
    "undo_chaostoolkit",
]

_MAX_TIMEOUT_S = 3600.0


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
        rollback = self.params.rollback
        return {
            "backend": "chaostoolkit",
            "step": self.step.name,
            "rollback": rollback.mapping() if rollback else None,
            "configuration": dict(self.params.configuration),
            "timeout_s": self.params.timeout_s,
        }

    async def apply(self, ctx: FaultContext) -> None:
        p = self.params
        where = f"chaostoolkit action '{self.step.name}' ({p.provider.describe()})"
        try:
            await run_provider(p.provider.mapping(), configuration=dict(p.configuration), timeout_s=p.timeout_s)
        except TimeoutError:
            raise FaultFailed(
                f"{where}: no result after {format_duration(p.timeout_s)}; raise the step's timeout or fix the action"
            ) from None
        except ProviderFailed as exc:
            raise FaultFailed(f"{where} failed: {exc}") from exc


def _params(step: FaultStep) -> CtkActionParams:
    if not isinstance(step.params, CtkActionParams):
        raise TypeError(f"{step.kind}: expected CtkActionParams, got {type(step.params).__name__}")
    return step.params


def _preflight(provider: CtkProvider, where: str) -> None:
    """Read-only checks at plan time: the executable exists, the module can be found."""
    spec = provider.mapping()
    if provider.type == "process":
        path = str(spec.get("path"))
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


@undoer("chaostoolkit")
async def undo_chaostoolkit(record: UndoRecord, ctx: FaultContext) -> None:
    """Run the recorded rollback provider; no rollback: nothing to do (the no-op is logged)."""
    step = str(record.get("step") or "?")
    rollback = record.get("rollback")
    if rollback is None:
        ctx.log(f"chaostoolkit action '{step}': no rollback declared; nothing to undo")
        return
    if not isinstance(rollback, dict) or rollback.get("type") not in PROVIDER_TYPES:
        raise RollbackFailed(f"chaostoolkit action '{step}': ledger record has no valid rollback: {record}")
    raw_config = record.get("configuration")
    configuration = {str(k): str(v) for k, v in raw_config.items()} if isinstance(raw_config, dict) else {}
    raw_timeout = record.get("timeout_s")
    timeout_s = float(raw_timeout) if isinstance(raw_timeout, int | float) else DEFAULT_TIMEOUT_S
    ptype = next(t for t in PROVIDER_TYPES if t == rollback["type"])
    what = CtkProvider(type=ptype, spec_json=json.dumps(rollback, sort_keys=True)).describe()
    try:
        await run_provider(rollback, configuration=configuration, timeout_s=timeout_s)
    except TimeoutError:
        raise RollbackFailed(
            f"chaostoolkit action '{step}': rollback ({what}) gave no result after {format_duration(timeout_s)}; "
            "what it should have undone may remain"
        ) from None
    except ProviderFailed as exc:
        raise RollbackFailed(
            f"chaostoolkit action '{step}': rollback ({what}) failed: {exc}; what it should have undone may remain"
        ) from exc
