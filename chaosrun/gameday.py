"""Game days: a plan of experiments run in order (from a terminal, cron or a Kubernetes CronJob).

```yaml
title: Q4 payments game day
stop_on: [rollback_failed, error]        # statuses that end the plan early (default: rollback_failed)
variables: {payments_port: "9102"}       # passed to every experiment (their own --var still win)
experiments:
  - file: dependency-latency.yaml        # relative to the plan file
    variables: {latency: 500ms}
  - file: region-outage.yaml
```
The plan's exit code is the most severe of its runs: 5 > 4 > 3 > 2 > 7 > 1 > 6 > 0.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import ValidationFailed
from .node import compose_file
from .result import EXIT_CODES, Status

__all__ = ["GameDay", "GameDayEntry", "load_gameday", "run_gameday", "worst_exit_code"]

_SEVERITY = (5, 4, 3, 2, 7, 1, 6, 0)  # 2: an experiment was invalid or refused, so it never ran; 7: inconclusive
_STATUSES: tuple[str, ...] = tuple(EXIT_CODES)


@dataclass(frozen=True, slots=True, kw_only=True)
class GameDayEntry:
    file: Path
    variables: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class GameDay:
    title: str
    entries: tuple[GameDayEntry, ...]
    stop_on: tuple[Status, ...]
    source: str


def _str_map(node: object) -> tuple[tuple[str, str], ...]:
    from .node import Node

    assert isinstance(node, Node)
    out = []
    for key, value in node.entries() or []:
        text = value.str(non_empty=False)
        if text is not None:
            out.append((key, text))
    return tuple(out)


def load_gameday(path: str | Path, variables: Mapping[str, str] = {}) -> GameDay:
    """Read and check a game-day plan; raises ValidationFailed with every located problem."""
    p = Path(path)
    root = compose_file(str(path), what="game-day plan")
    doc = root.doc
    m = root.mapping({"title", "stop_on", "variables", "experiments"}, required=("title", "experiments"))
    doc.raise_if_any()
    assert m is not None
    title = m["title"].str() or ""
    common = dict(_str_map(m["variables"])) if "variables" in m else {}
    common.update(variables)
    stop_on: list[Status] = []
    if "stop_on" in m:
        for item in m["stop_on"].items() or []:
            status = item.choice(_STATUSES)
            if status is not None:
                stop_on.append(status)  # type: ignore[arg-type]
    else:
        stop_on.append("rollback_failed")
    entries = []
    items = m["experiments"].items() or []
    if not items and m["experiments"].is_sequence:
        m["experiments"].error("a game day needs at least one experiment")
    for item in items:
        e = item.mapping({"file", "variables"}, required=("file",))
        if e is None or "file" not in e:
            continue
        name = e["file"].str()
        if name is None:
            continue
        file = (p.parent / name) if not Path(name).is_absolute() else Path(name)
        if not file.is_file():
            e["file"].error(f"no experiment file at {file}")
            continue
        own = dict(common)
        if "variables" in e:
            own.update(dict(_str_map(e["variables"])))
        own.update(variables)
        entries.append(GameDayEntry(file=file, variables=tuple(own.items())))
    doc.raise_if_any()
    return GameDay(title=title, entries=tuple(entries), stop_on=tuple(stop_on), source=str(path))


def worst_exit_code(codes: list[int]) -> int:
    """The most severe exit code of a plan's runs."""
    for code in _SEVERITY:
        if code in codes:
            return code
    return 0


async def run_gameday(
    plan: GameDay,
    run_one: Callable[[GameDayEntry], Awaitable[tuple[Status | None, int]]],
    echo: Callable[[str], None],
    interrupted: Callable[[], str | None] = lambda: None,
) -> int:
    """Run each entry in order; stop early on a `stop_on` status, and always once a stop signal
    came (`interrupted()` names it). Returns the plan's exit code."""
    codes: list[int] = []
    lines = []
    for i, entry in enumerate(plan.entries, 1):
        echo(f"== game day {plan.title!r}: experiment {i}/{len(plan.entries)}: {entry.file}")
        try:
            status, code = await run_one(entry)
        except ValidationFailed as exc:
            echo(str(exc))
            status, code = None, exc.exit_code
        codes.append(code)
        lines.append(f"{entry.file}: {status or 'invalid'} (exit {code})")
        if status in plan.stop_on:
            echo(f"stopping the game day: {entry.file} ended {status}")
            break
        if (sig := interrupted()) is not None:
            echo(f"stopping the game day: interrupted by {sig}")
            break
    echo(f"== game day {plan.title!r} summary")
    for line in lines:
        echo(f"  {line}")
    return worst_exit_code(codes)
