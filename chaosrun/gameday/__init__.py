"""Game days: a plan of experiments, pauses and manual checkpoints, run in order.

`plan` reads a plan; `day` runs it and judges each experiment against its `expect:`;
`notify` (webhooks) and `grafana` (annotations) tell the outside through `hooks`; `report`
renders the day's page. The command is in `command`. The names below load on first use, so
the CLI starts without the YAML loader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .plan import CheckpointStep, GameDay, GameDayEntry, PauseStep, RunStep, load_gameday

__all__ = ["CheckpointStep", "GameDay", "GameDayEntry", "PauseStep", "RunStep", "load_gameday"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import plan

        return getattr(plan, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
