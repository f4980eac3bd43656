"""Fault windows as Grafana annotations, so the day's dashboards show what was injected when.

Each fault of a run (set-up excluded) becomes one region annotation:
`POST <grafana>/api/annotations` with `{"time": <ms>, "timeEnd": <ms>, "tags": [...], "text": ...}`
(plus `dashboardUID` when configured), `Authorization: Bearer <token>`. Tags: `chaosrun`,
`run:<run id>`, `experiment:<title>`, `region:<region or all>`, `fault:<step>`, and the plan's own.
A failing post is logged (token masked) and the day goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import aiohttp

from ..journal import Redactor
from ..report import Journal
from .plan import Grafana

__all__ = ["annotate_faults", "fault_annotations"]


def _ms(iso: str) -> int | None:
    try:
        return int(datetime.fromisoformat(iso).timestamp() * 1000)
    except ValueError:
        return None


def fault_annotations(journal: Journal, grafana: Grafana) -> list[dict[str, object]]:
    """The annotation bodies of a run's fault windows (faults that were applied)."""
    out: list[dict[str, object]] = []
    for f in journal.faults:
        if f.setup or not f.applied_at:
            continue
        start = _ms(f.applied_at)
        end = _ms(f.removed_at) if f.removed_at else _ms(journal.ended_at) if journal.ended_at else None
        if start is None:
            continue
        tags = [
            "chaosrun",
            f"run:{journal.run_id}",
            f"experiment:{journal.experiment.title}",
            f"region:{f.region or 'all'}",
            f"fault:{f.name}",
            *grafana.tags,
        ]
        body: dict[str, object] = {
            "time": start,
            "timeEnd": end if end is not None and end >= start else start,
            "tags": tags,
            "text": f"chaosrun fault {f.name}: {f.description or f.kind} ({journal.experiment.title}, "
            f"run {journal.run_id}, undo {f.undo})",
        }
        if grafana.dashboard_uid:
            body["dashboardUID"] = grafana.dashboard_uid
        out.append(body)
    return out


async def annotate_faults(
    journal: Journal, grafana: Grafana, http: aiohttp.ClientSession, warn: Callable[[str], None]
) -> int:
    """Post every fault window of a run; returns how many Grafana accepted. Never raises."""
    redact = Redactor([grafana.token] if grafana.token else [])
    headers = {"Content-Type": "application/json"}
    if grafana.token:
        headers["Authorization"] = f"Bearer {grafana.token}"
    accepted = 0
    for body in fault_annotations(journal, grafana):
        try:
            async with (
                asyncio.timeout(grafana.timeout_s + 0.5),
                http.post(
                    f"{grafana.url}/api/annotations",
                    json=body,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=grafana.timeout_s),
                ) as resp,
            ):
                await resp.read()
                if 200 <= resp.status < 300:
                    accepted += 1
                    continue
                error = f"HTTP {resp.status}"
        except TimeoutError:
            error = f"no answer within {grafana.timeout_s:g} s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            error = redact(f"{type(exc).__name__}: {exc}")
        warn(f"warning: Grafana annotation for {body['tags']!s} not posted: {error}")
    return accepted
