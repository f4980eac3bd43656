"""Game days: a plan of experiments, pauses and manual checkpoints, run in order.

`plan` reads a plan; `day` runs it and judges each experiment against its `expect:`;
`notify` (webhooks) and `grafana` (annotations) tell the outside through `hooks`; `report`
renders the day's page. The command is in `command`.
"""

from __future__ import annotations

from .plan import CheckpointStep, GameDay, GameDayEntry, PauseStep, RunStep, load_gameday

__all__ = ["CheckpointStep", "GameDay", "GameDayEntry", "PauseStep", "RunStep", "load_gameday"]
