"""One observation of a probe in one region: what the probes return, what verdicts consume.

A sample chaosrun could not take or time honestly carries `not_taken` (the reason): it is
journaled as such and never counted for or against the target."""

from __future__ import annotations

from dataclasses import dataclass

from .model import Phase

__all__ = ["Outcome", "Sample"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a probe kind returns for one attempt; it never decides a verdict."""

    ok: bool
    latency_s: float | None  # None when nothing was measured (e.g. refused before timing)
    status: int | None = None  # HTTP status or exit code
    error: str | None = None  # short, stable text: "timeout after 2s", "status 503", ...
    retried: bool = False  # sent again on a fresh connection after the server closed a kept-alive one
    not_taken: str | None = None  # why chaosrun could not take or time this sample (then ok is False)
    unsent: bool = False  # failed in chaosrun before the request reached the target (e.g. its transport closing)


@dataclass(frozen=True, slots=True)
class Sample:
    """An Outcome placed in time: monotonic offset from run start and UTC wall clock."""

    probe: str
    region: str
    phase: Phase
    t_s: float  # monotonic seconds since the run started (scheduled time of the sample)
    at: float  # wall clock, UTC epoch seconds
    ok: bool
    latency_s: float | None
    status: int | None
    error: str | None
    lag_s: float = 0.0  # how late the sample started against its schedule
    retried: bool = False
    not_taken: str | None = None  # set: not a sample of the target, left out of its statistics
