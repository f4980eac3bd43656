"""chaosrun's own health while it samples: event-loop stalls, CPU and memory.

A heartbeat task wakes every `BEAT_S`; a wake-up more than `STALL_S` late means the loop could
not run for that long (the process was stopped, e.g. SIGSTOP; swapped; blocked in a call). A
sample whose flight overlapped a stall was not timed honestly: it is *not taken* (see
`overlaps_stall`). The check is also made from the sample's own path, so a sample completing
right after a stall, before the heartbeat has run again, is caught too.
"""

from __future__ import annotations

import asyncio
import os
import resource
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["BEAT_S", "NOT_TAKEN_STALL", "STALL_S", "HealthFigures", "LoopHealth", "rss_bytes"]

BEAT_S = 0.02
STALL_S = 0.25  # a loop blocked longer than this is a stall; ticks later than this are not taken
LAGGING_S = 0.1  # a heartbeat this late within the last second: chaosrun is overloaded
NOT_TAKEN_STALL = "chaosrun stalled (its event loop did not run)"
_KEEP_STALLS = 64
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int:
    """This process's resident memory now (Linux /proc), else its peak (getrusage)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthFigures:
    """One health report: over the last interval, and since the start."""

    loop_lag_max_ms: float  # the worst heartbeat delay in the interval
    cpu_percent: float  # of one core, over the interval
    rss_mb: float
    stalls: int  # since the start
    stalled_s: float  # since the start


OnStall = Callable[[float, float], None]  # (start, end) monotonic, once the loop runs again


class LoopHealth:
    """The heartbeat and the record of recent stalls (bounded)."""

    def __init__(self, on_stall: OnStall | None = None) -> None:
        self.last_beat = time.monotonic()
        self._stalls: deque[list[float]] = deque(maxlen=_KEEP_STALLS)  # [start, end], oldest first
        self._on_stall = on_stall
        self.stall_count = 0
        self.stalled_s = 0.0
        self._lag_max_s = 0.0
        self._late_beat_t = -1e9  # when the heartbeat was last more than LAGGING_S late
        self._cpu0 = time.process_time()
        self._wall0 = time.monotonic()

    def _record(self, start: float, end: float) -> None:
        if self._stalls and self._stalls[-1][0] == start:
            self.stalled_s += end - self._stalls[-1][1]
            self._stalls[-1][1] = max(self._stalls[-1][1], end)
            return
        self._stalls.append([start, end])
        self.stall_count += 1
        self.stalled_s += end - start

    def overlaps_stall(self, start: float, end: float) -> bool:
        """Whether [start, end] (monotonic) overlapped a stall, including one just ending now."""
        now = time.monotonic()
        if now - self.last_beat > STALL_S + BEAT_S:  # the heartbeat has not run yet since a stall
            self._record(self.last_beat, now)
        for s_start, s_end in reversed(self._stalls):
            if s_end < start:
                return False
            if s_start <= end:
                return True
        return False

    def is_lagging(self) -> bool:
        """Whether chaosrun's loop is behind now: the heartbeat was more than LAGGING_S late in
        the last second, or is that late now. (A sample skipped because too many of its series
        are in flight is then chaosrun's trouble, not a slow target's.)"""
        now = time.monotonic()
        return now - self._late_beat_t < 1.0 or now - self.last_beat > LAGGING_S + BEAT_S

    async def run(self, stop: asyncio.Event) -> None:
        """Beat until `stop` is set."""
        self.last_beat = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(BEAT_S)
            now = time.monotonic()
            lag = now - self.last_beat - BEAT_S
            self._lag_max_s = max(self._lag_max_s, lag)
            if lag > LAGGING_S:
                self._late_beat_t = now
            if lag > STALL_S:
                self._record(self.last_beat, now)
                if self._on_stall is not None:
                    self._on_stall(self.last_beat, now)
            self.last_beat = now

    def figures(self) -> HealthFigures:
        """The figures since the last call (lag, CPU) and now (RSS)."""
        cpu, wall = time.process_time(), time.monotonic()
        cpu_pct = 100 * (cpu - self._cpu0) / max(wall - self._wall0, 1e-9)
        out = HealthFigures(
            loop_lag_max_ms=self._lag_max_s * 1000,
            cpu_percent=cpu_pct,
            rss_mb=rss_bytes() / 2**20,
            stalls=self.stall_count,
            stalled_s=self.stalled_s,
        )
        self._cpu0, self._wall0, self._lag_max_s = cpu, wall, 0.0
        return out
