"""What a game day tells the outside as it goes: webhooks (notify) and Grafana annotations.

Everything here is bounded and never raises: a failing receiver is a warning on stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aiohttp

from ..gate.suite import Row, Suite
from .grafana import annotate_faults
from .notify import Notifier
from .plan import GameDay

__all__ = ["DayHooks"]


class DayHooks:
    def __init__(self, plan: GameDay, http: aiohttp.ClientSession, warn: Callable[[str], None], day_dir: Path) -> None:
        self.plan = plan
        self.http = http
        self.warn = warn
        self.day_dir = day_dir
        self.notifier = Notifier(plan.notify, http, warn, plan.secrets)
        self.annotations = 0

    async def started(self, day: dict[str, object], experiments: int) -> None:
        await self.notifier.send("start", {"day": day, "experiments": experiments})

    async def experiment_done(self, day: dict[str, object], index: int, row: Row) -> None:
        o = row.outcome
        report = o.report
        await self.notifier.send(
            "experiment",
            {
                "day": day,
                "experiment": {
                    "index": index,
                    "file": o.file,
                    "title": o.title,
                    "status": o.status,
                    "exit_code": o.exit_code,
                    "expected": row.rule.removeprefix("expected ").split(" or "),
                    "as_expected": row.passed,
                    "score": o.score,
                    "run_id": o.run_id,
                    "reason": o.reason,
                    "report": str(report) if report else None,
                },
            },
        )
        if self.plan.grafana is not None and o.journal is not None:
            self.annotations += await annotate_faults(o.journal, self.plan.grafana, self.http, self.warn)

    async def ended(self, day: dict[str, object], suite: Suite) -> None:
        passed = sum(r.passed for r in suite.rows)
        await self.notifier.send(
            "end",
            {
                "day": day,
                "passed": suite.passed,
                "exit_code": suite.exit_code,
                "summary": f"{passed} of {len(suite.rows)} experiments ended as expected",
                "report": str(self.day_dir / "index.html"),
            },
        )
