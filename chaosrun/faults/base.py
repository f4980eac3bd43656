"""What a fault back end provides: parse, resolve targets, apply, update (ramps), undo.

Contract (DESIGN.md invariants):
- `Injection.undo_record()` holds everything needed to undo the fault *from the ledger entry
  alone*, in a new process; the engine writes it (fsync'd) before `apply()` runs.
- Undo functions (`@undoer`) are idempotent: undoing twice, or undoing what was never
  applied, is not an error. They touch only what this run made (names carry the run id).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, TypeAlias

from ..model import Experiment, FaultParams, FaultStep

if TYPE_CHECKING:
    import aiohttp

    from ..node import Node

__all__ = [
    "JSON",
    "FaultContext",
    "FaultKind",
    "Injection",
    "ParseContext",
    "UndoFn",
    "UndoRecord",
    "Update",
]

JSON: TypeAlias = str | int | float | bool | list["JSON"] | dict[str, "JSON"] | None
UndoRecord: TypeAlias = dict[str, JSON]  # the ledger's wire shape; always has "backend"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseContext:
    """What a fault kind may check its parameters against while loading."""

    regions: tuple[str, ...]
    proxies: Mapping[str, str | None]  # toxiproxy proxy name -> region
    base_dir: str  # folder of the experiment file (for relative paths)


@dataclass(slots=True, kw_only=True)
class FaultContext:
    """Run-time services for fault back ends (one per run)."""

    run_id: str
    experiment: Experiment
    http: aiohttp.ClientSession | None = None  # the run's shared session (None for dry runs)
    log: Callable[[str], None] = print
    cache: dict[str, object] = field(default_factory=dict)  # per-backend clients, by key
    seed: int = 0  # the run's seed: random choices of targets are drawn from it (`--seed`)


Update: TypeAlias = tuple[float, Callable[[FaultContext], Awaitable[None]]]  # (offset after apply, action)


class Injection(ABC):
    """One concrete fault on one target, resolved by the plan."""

    step: FaultStep
    target: str  # stable id used for locks and caps, e.g. "toxiproxy:http://127.0.0.1:8474/payments-eu"
    region: str | None

    @abstractmethod
    def describe(self) -> str:
        """One line for the plan, the terminal and the report: `latency 300ms on payments-eu`."""

    @abstractmethod
    def undo_record(self) -> UndoRecord:
        """Everything needed to undo this from the ledger alone (JSON; has 'backend')."""

    @abstractmethod
    async def apply(self, ctx: FaultContext) -> None:
        """Inject. Raise FaultFailed (or a ToxiproxyError) with a message naming the target."""

    async def verify(self, ctx: FaultContext) -> bool | None:
        """Read back whether this injection is still in place: True (it is), False (it is gone,
        e.g. a restarted server or a reverted change), None (this back end cannot tell). The
        engine asks about once a second during the fault phase and right before undo. Reads
        only. Default: None (not verifiable)."""
        return None

    def applied_words(self) -> str:
        """The terminal's line once applied."""
        return f"injected {self.describe()}"

    def undone_words(self) -> str:
        """The terminal's line once undone (a kill, which cannot be undone, says so)."""
        return f"removed {self.describe()}"

    def updates(self) -> Sequence[Update]:
        """Ramps: (seconds after apply, coroutine) pairs the engine runs on time. Default none."""
        return ()

    def describe_updates(self) -> Sequence[tuple[float, str]]:
        """`updates()` for people (`--dry-run`): (seconds after apply, what changes). Default none."""
        return ()


class FaultKind(ABC):
    """A named fault kind (`toxiproxy.latency`), registered with `@fault`."""

    kind: ClassVar[str]
    backend: ClassVar[str]  # the undo function's name, e.g. "toxiproxy"

    @abstractmethod
    def parse(self, node: Node, ctx: ParseContext) -> FaultParams | None:
        """Read this kind's parameters from the method entry (minus the common keys
        `fault`, `name`, `start`, `duration`); report problems with `node.error`."""

    @abstractmethod
    async def resolve(self, step: FaultStep, ctx: FaultContext) -> list[Injection]:
        """Concrete targets for a step; reads only, never changes anything (dry runs call it)."""

    async def setup(self, injections: Sequence[Injection], ctx: FaultContext) -> list[Injection]:
        """Extra injections applied before the baseline and undone last (e.g. create a missing
        Toxiproxy proxy). Also the place for preflight checks (server reachable, target not
        held by another run). Default: none."""
        return []

    async def healthcheck(self, injections: Sequence[Injection], ctx: FaultContext) -> None:
        """Called about once a second while this kind's faults are applied: raise an
        InfrastructureError (e.g. ToxiproxyUnreachable) when the back end is gone, so the run
        ends as an error (exit 4) instead of a deviation. Default: nothing to check."""
        return None

    # parameter keys this kind accepts (besides the common ones); used for the JSON Schema
    keys: ClassVar[tuple[str, ...]] = ()
    # JSON Schema of each key (type, description, default); a key without one is left open
    key_schema: ClassVar[Mapping[str, Mapping[str, object]]] = {}


UndoFn: TypeAlias = Callable[[UndoRecord, FaultContext], Awaitable[None]]
