"""A test fault kind, `test.mode`, that switches a real test server's behaviour over HTTP.

It is a real fault against a real server (tests/fixtures/servers.py): apply POSTs
`/control {"mode": ...}`, undo POSTs `{"mode": "healthy"}`. Knobs let a test make apply or
undo fail, to drive the engine's error and rollback-failed paths.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from chaosrun.errors import FaultFailed
from chaosrun.faults import FaultContext, FaultKind, Injection, UndoRecord, fault, undoer
from chaosrun.model import (
    Experiment,
    FaultParams,
    FaultStep,
    Guardrail,
    HttpProbe,
    Location,
    Phases,
    Probe,
    Region,
    Tolerance,
)
from chaosrun.node import Node
from chaosrun.running.runner import run_experiment
from chaosrun.units import parse_bound

LOC = Location(file="test.yaml", line=1, column=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeParams(FaultParams):
    url: str
    mode: str
    fail_apply: bool = False
    fail_undo: bool = False
    undo_delay_s: float = 0.0  # a slow undo
    undo_timeout_s: float | None = None  # the undo's own time limit, recorded in the ledger entry


def _post(url: str, mode: str) -> None:
    req = urllib.request.Request(
        f"{url}/control",
        data=json.dumps({"mode": mode}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        resp.read()


class ModeInjection(Injection):
    def __init__(self, step: FaultStep, params: ModeParams) -> None:
        self.step = step
        self.params = params
        self.target = f"test:{params.url}"
        self.region = None

    def describe(self) -> str:
        return f"mode {self.params.mode} on {self.params.url}"

    def undo_record(self) -> UndoRecord:
        record: UndoRecord = {
            "backend": "test",
            "url": self.params.url,
            "fail": self.params.fail_undo,
            "delay_s": self.params.undo_delay_s,
        }
        if self.params.undo_timeout_s is not None:
            record["timeout_s"] = self.params.undo_timeout_s
        return record

    async def apply(self, ctx: FaultContext) -> None:
        if self.params.fail_apply:
            raise FaultFailed(f"test fault {self.step.name}: apply refused on purpose")
        await asyncio.to_thread(_post, self.params.url, self.params.mode)


@fault("test.mode")
class ModeFault(FaultKind):
    backend: ClassVar[str] = "test"

    def parse(self, node: Node, ctx: object) -> FaultParams | None:  # type: ignore[override]
        m = node.mapping({"url", "mode"}, required=("url", "mode"))
        if m is None:
            return None
        url, mode = m["url"].str(), m["mode"].str()
        return None if url is None or mode is None else ModeParams(url=url, mode=mode)

    async def resolve(self, step: FaultStep, ctx: FaultContext) -> list[Injection]:
        assert isinstance(step.params, ModeParams)
        return [ModeInjection(step, step.params)]


UNDONE: list[str] = []


@undoer("test")
async def undo_mode(record: UndoRecord, ctx: FaultContext) -> None:
    if record.get("fail"):
        raise RuntimeError("undo refused on purpose")
    await asyncio.sleep(float(record.get("delay_s") or 0))  # type: ignore[arg-type]
    await asyncio.to_thread(_post, str(record["url"]), "healthy")
    UNDONE.append(str(record["url"]))


def tolerance(ratio: str = ">= 0.95", p95: str | None = "< 200ms", window: float | None = None) -> Tolerance:
    return Tolerance(
        success_ratio=parse_bound(ratio, "ratio"),
        p95=parse_bound(p95, "s") if p95 else None,
        window_s=window,
    )


def experiment(
    regions: dict[str, str],
    *,
    method: Sequence[FaultStep] = (),
    phases: tuple[float, float, float] = (1.0, 1.0, 1.0),
    every_s: float = 0.05,
    recover_within_s: float | None = 1.0,
    guardrails: Sequence[Guardrail] = (),
    path: str = "/mode",
    during: Tolerance | str | None = "same",
) -> Experiment:
    tol = tolerance()
    return Experiment(
        title="engine test",
        description="",
        tags=(),
        regions=tuple(Region(name=n, base_url=u) for n, u in regions.items()),
        probes=(
            Probe(
                name="health",
                spec=HttpProbe(url=path, timeout_s=2.0),
                every_s=every_s,
                tolerance=tol,
                during=tol if during == "same" else during,  # type: ignore[arg-type]
                recover_within_s=recover_within_s,
                regions=tuple(regions),
                location=LOC,
            ),
        ),
        phases=Phases(baseline_s=phases[0], fault_s=phases[1], recovery_s=phases[2]),
        method=tuple(method),
        guardrails=tuple(guardrails),
        source="test.yaml",
    )


def mode_step(url: str, mode: str = "failing", **kw: object) -> FaultStep:
    return FaultStep(
        kind="test.mode",
        name=f"{mode}-{url.rsplit(':', 1)[1]}",
        params=ModeParams(url=url, mode=mode, **kw),
        location=LOC,
    )  # type: ignore[arg-type]


def run(exp: Experiment, tmp: Path) -> tuple[int, dict[str, object]]:
    code = asyncio.run(
        run_experiment(
            exp, out_dir=tmp / "out", dry_run=False, state_dir=tmp / "state", write_reports=False, echo=lambda s: None
        )
    )
    journal = json.loads((tmp / "out" / "journal.json").read_text())
    return code, journal
