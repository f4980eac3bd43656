"""Fault kinds register by name with `@fault`; undo functions by back end with `@undoer`.

Built-in back ends are imported on first use; third-party packages add kinds through the
`chaosrun.faults` entry-point group (each entry point names a module to import).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TypeVar

from .base import FaultContext, FaultKind, Injection, ParseContext, UndoFn, UndoRecord

__all__ = [
    "FaultContext",
    "FaultKind",
    "Injection",
    "ParseContext",
    "UndoRecord",
    "fault",
    "get_kind",
    "get_undoer",
    "known_kinds",
    "undo_timeout",
    "undoer",
]

_BUILTIN_MODULES = (
    "chaosrun.faults.toxiproxy",
    "chaosrun.faults.process",
    "chaosrun.faults.restart",
    "chaosrun.faults.chaostoolkit",
    "chaosrun.faults.kubernetes",
    "chaosrun.ctk.recover",  # the rollbacks of Chaos Toolkit experiments (chaosrun recover)
    "chaosrun.kube.jobs",  # the undo of in-cluster agents (no fault kind)
)
_KINDS: dict[str, FaultKind] = {}
_UNDO: dict[str, UndoFn] = {}
_loaded = False
K = TypeVar("K", bound=type[FaultKind])


def fault(kind: str) -> Callable[[K], K]:
    """Class decorator: register a FaultKind subclass under `kind`."""

    def register(cls: K) -> K:
        if kind in _KINDS:
            raise ValueError(f"fault kind {kind!r} is registered twice")
        cls.kind = kind
        _KINDS[kind] = cls()
        return cls

    return register


def undoer(backend: str) -> Callable[[UndoFn], UndoFn]:
    """Register the idempotent undo function of a back end."""

    def register(fn: UndoFn) -> UndoFn:
        _UNDO[backend] = fn
        return fn

    return register


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in _BUILTIN_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency inside a back end
                raise
    from importlib.metadata import entry_points

    for ep in entry_points(group="chaosrun.faults"):
        importlib.import_module(ep.value.split(":")[0])


def get_kind(kind: str) -> FaultKind | None:
    _load()
    return _KINDS.get(kind)


def known_kinds() -> tuple[str, ...]:
    _load()
    return tuple(sorted(_KINDS))


DEFAULT_UNDO_TIMEOUT_S = 10.0


def undo_timeout(record: UndoRecord) -> float:
    """How long an undo may take: 10 s, or longer when the record says its own undo runs longer
    (`timeout_s`, e.g. a Chaos Toolkit rollback with its own timeout) plus 5 s of margin."""
    own = record.get("timeout_s")
    if isinstance(own, int | float) and not isinstance(own, bool) and own > 0:
        return max(DEFAULT_UNDO_TIMEOUT_S, float(own) + 5.0)
    return DEFAULT_UNDO_TIMEOUT_S


def get_undoer(backend: str) -> UndoFn | None:
    _load()
    return _UNDO.get(backend)
