"""Probe kinds: one module each; a kind registers a sampler factory for its spec class.

A sampler is an async callable taking no arguments and returning an `Outcome`; it is built
once per (probe, region) with the run's shared resources (`ProbeContext`).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from ..model import ProbeSpec, Region
from ..sample import Outcome
from ._deadlines import Deadlines

if TYPE_CHECKING:
    import aiohttp

__all__ = ["ProbeContext", "Sampler", "build_sampler", "probe_kind"]

Sampler: TypeAlias = Callable[[], Awaitable[Outcome]]


@dataclass(slots=True, kw_only=True)
class ProbeContext:
    """Shared by all samplers of a run: one keep-alive HTTP session, resolved secrets."""

    http: aiohttp.ClientSession
    secrets: dict[str, str]  # name -> value, for ${secret.name} in headers/arguments
    base_dir: str = "."
    fresh_http: aiohttp.ClientSession | None = None  # a new connection per request: for retries
    deadlines: Deadlines = field(default_factory=Deadlines)  # per-request timeouts, one timer
    phase: Callable[[], str] | None = None  # the run's current phase (relative bounds learn in the baseline)


Factory: TypeAlias = Callable[[Any, Region, ProbeContext], Sampler]
_FACTORIES: dict[type, Factory] = {}
_BUILTIN = (
    "chaosrun.probes.http",
    "chaosrun.probes.tcp",
    "chaosrun.probes.command",
    "chaosrun.probes.python",
    "chaosrun.probes.chaostoolkit",
    "chaosrun.probes.prometheus",
    "chaosrun.probes.kubernetes",
)
F = TypeVar("F", bound=Factory)


def probe_kind(spec_type: type) -> Callable[[F], F]:
    """Register the sampler factory for a spec class."""

    def register(fn: F) -> F:
        _FACTORIES[spec_type] = fn
        return fn

    return register


def build_sampler(spec: ProbeSpec, region: Region, ctx: ProbeContext) -> Sampler:
    """The sampler for `spec` against `region`."""
    for name in _BUILTIN:
        importlib.import_module(name)
    factory = _FACTORIES.get(type(spec))
    if factory is None:
        raise LookupError(f"no probe kind registered for {type(spec).__name__}")
    return factory(spec, region, ctx)
