"""The fixed-rate sampling loop: one series = one sampler sampled on a schedule.

Guarantees (DESIGN.md invariants 4 and 5):
- The k-th tick is scheduled at `start_mono + k * every_s` on the monotonic clock
  (`time.monotonic`), computed from k, never by sleeping `every_s` after a sample: there is no
  drift, and a late tick does not shift the ones after it.
- Each sample runs as its own task, so a slow sample never delays the next tick, nor any other
  series. A series has at most `max_in_flight` samples running; a tick that finds the bound
  reached is *reported*, as a failed Outcome `SKIPPED_ERROR`, rather than dropped: dropping
  would hide exactly the samples of a target too slow to answer (the survivors would look
  healthy), and reporting keeps one Outcome per tick, so counts match the schedule.
- Every tick is reported with its lag (actual start - scheduled start). Ticks missed while the
  loop was blocked are started late (with their lag), never silently coalesced.
- A tick more than `late_s` behind its schedule (chaosrun was stalled or overloaded) is not
  started: it is reported as *not taken* (`Outcome.not_taken`), so a stall is not followed by a
  burst of late samples, and an overloaded loop sheds work instead of falling further behind.
- A sampler that raises MemoryError is reported as not taken (chaosrun's trouble, not the
  target's).
- `every_s == 0` is throughput mode: samples back to back, one at a time, each scheduled when
  it starts (lag 0).
- On stop (deadline reached or event set) no new tick starts; samples already running finish
  (each is bounded by its probe's timeout) and are reported. Cancelling the series cancels them.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..sample import Outcome

__all__ = [
    "DEFAULT_SPIN_S",
    "NOT_TAKEN_LATE",
    "NOT_TAKEN_MEMORY",
    "SKIPPED_ERROR",
    "OnSample",
    "SeriesStats",
    "fast_loop_factory",
    "in_flight_bound",
    "install_fast_event_loop",
    "sample_series",
]

OnSample = Callable[[float, float, Outcome], None]  # (scheduled monotonic time, lag_s, outcome)
SKIPPED_ERROR = "skipped: previous samples still running"
_SKIPPED = Outcome(False, None, None, SKIPPED_ERROR)
NOT_TAKEN_LATE = "chaosrun fell behind its schedule"
NOT_TAKEN_SKIPPED = "not sent: too many of its series' samples still in flight"
NOT_TAKEN_MEMORY = "chaosrun ran out of memory"
_LATE = Outcome(False, None, None, None, not_taken=NOT_TAKEN_LATE)
_OUT_OF_MEMORY = Outcome(False, None, None, None, not_taken=NOT_TAKEN_MEMORY)
_SLEEP_ONLY_S = 0.05  # waits this short are a plain sleep (no stop waiter): cheaper per tick
# How long before a tick the coarse sleep ends; the rest is spent yielding to the loop until the
# tick. Off by default, by measurement (benchmarks/bench_timing_fidelity.py, README there): a 1 ms
# spin cuts the median lag from ~0.3-0.6 ms to ~3 us but costs 2.5x the client CPU at 1,000
# samples/s, and under CPU contention it makes p99 worse, not better.
DEFAULT_SPIN_S = 0.0
_MAX_IN_FLIGHT = 64


@dataclass(slots=True)
class SeriesStats:
    """What one series did: ticks reported (skips included), ticks skipped, not taken, worst lag."""

    ticks: int = 0
    skipped: int = 0
    not_taken: int = 0
    max_lag_s: float = 0.0


def in_flight_bound(every_s: float, timeout_s: float) -> int:
    """The in-flight bound at which a sampler that honours `timeout_s` is never skipped."""
    if every_s <= 0:
        return 1
    return min(_MAX_IN_FLIGHT, math.ceil(timeout_s / every_s) + 1)


async def sample_series(
    sampler: Callable[[], Awaitable[Outcome]],
    *,
    every_s: float,
    start_mono: float,
    on_sample: OnSample,
    stop_mono: float | None = None,
    stop: asyncio.Event | None = None,
    max_in_flight: int = 8,
    spin_s: float = DEFAULT_SPIN_S,
    late_s: float | None = None,
) -> SeriesStats:
    """Sample `sampler` every `every_s` from `start_mono` until `stop_mono` or `stop` is set.

    Ticks at or after `stop_mono` are not started. `on_sample` is called once per tick, from
    the event loop; if it raises, the series is cancelled and that exception propagates. A
    sampler that raises (it should not) is reported as a failed Outcome `probe error: <type>`.
    """
    if every_s < 0 or not math.isfinite(every_s):
        raise ValueError(f"every_s must be >= 0, got {every_s}")
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
    if stop_mono is None and stop is None:
        raise ValueError("a series needs stop_mono or stop")
    series = _Series(sampler, on_sample, stop_mono, stop)
    try:
        if every_s == 0:
            await series.back_to_back(start_mono)
        else:
            await series.fixed_rate(start_mono, every_s, max_in_flight, spin_s, late_s)
    except ExceptionGroup as group:  # from the sample tasks: re-raise what on_sample raised, as is
        raise group.exceptions[0] from None
    finally:
        if series.stop_waiter is not None:
            series.stop_waiter.cancel()
    return series.stats


class _Series:
    """One running series: its sampler, where outcomes go, when it stops, what it did."""

    def __init__(
        self,
        sampler: Callable[[], Awaitable[Outcome]],
        on_sample: OnSample,
        stop_mono: float | None,
        stop: asyncio.Event | None,
    ) -> None:
        self.sampler = sampler
        self.on_sample = on_sample
        self.stop_mono = stop_mono
        self.stop = stop
        self.stop_waiter = None if stop is None else asyncio.ensure_future(stop.wait())
        self.stats = SeriesStats()

    def is_over(self, now: float) -> bool:
        return (self.stop_mono is not None and now >= self.stop_mono) or (self.stop is not None and self.stop.is_set())

    async def fixed_rate(
        self, start_mono: float, every_s: float, max_in_flight: int, spin_s: float, late_s: float | None
    ) -> None:
        in_flight = 0

        async def one(scheduled: float, lag_s: float) -> None:
            nonlocal in_flight
            try:
                outcome = await _guarded(self.sampler)
            finally:
                in_flight -= 1
            self.on_sample(scheduled, lag_s, outcome)

        stats = self.stats
        async with asyncio.TaskGroup() as tasks:
            for k in itertools.count():
                scheduled = start_mono + k * every_s
                if self.is_over(scheduled):
                    return
                await _wait_until(scheduled, self.stop, self.stop_waiter, spin_s)
                if self.is_over(scheduled):  # stopped while waiting
                    return
                lag_s = time.monotonic() - scheduled
                stats.ticks += 1
                stats.max_lag_s = max(stats.max_lag_s, lag_s)
                if late_s is not None and lag_s > late_s:
                    stats.not_taken += 1
                    self.on_sample(scheduled, lag_s, _LATE)
                    continue
                if in_flight >= max_in_flight:
                    stats.skipped += 1
                    self.on_sample(scheduled, lag_s, _SKIPPED)
                    continue
                in_flight += 1
                tasks.create_task(one(scheduled, lag_s))

    async def back_to_back(self, start_mono: float) -> None:
        await _wait_until(start_mono, self.stop, self.stop_waiter, 0.0)
        while not self.is_over(scheduled := time.monotonic()):
            outcome = await _guarded(self.sampler)
            self.stats.ticks += 1
            self.on_sample(scheduled, 0.0, outcome)
            # A sampler that finishes without suspending must not starve the loop (timers, stop).
            await asyncio.sleep(0)


async def _wait_until(
    target: float, stop: asyncio.Event | None, stop_waiter: asyncio.Future[Any] | None, spin_s: float
) -> None:
    """Sleep until `target` (monotonic), or until `stop` is set; never return before `target`.

    Timer wake-ups are rounded to milliseconds (asyncio's epoll, libuv), so a plain sleep may
    wake up to about 1 ms early. With `spin_s` (precise timing) the coarse sleep ends `spin_s`
    early and the rest is spent yielding to the loop (about one core at 1,000 samples/s). By
    default an early wake-up sleeps again for the rest rounded up to whole milliseconds: a tick
    starts up to about 1 ms late instead of the whole loop spinning (which cost about a third of
    a core at any rate, and, starving the responses in flight, made the client's p99 worse).
    """
    delay = target - time.monotonic() - spin_s
    if delay > 0:
        if stop_waiter is None or delay <= _SLEEP_ONLY_S:
            # rounded up to the timers' millisecond: one wake-up, not an early one and another
            await asyncio.sleep(delay if spin_s > 0 else math.ceil(delay * 1000) / 1000)
        else:
            await asyncio.wait((stop_waiter,), timeout=delay)
    if spin_s <= 0:
        for _ in range(3):  # bounded: each sleep lasts at least a millisecond
            remaining = target - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                return
            await asyncio.sleep(math.ceil(remaining * 1000) / 1000 + 0.0005)
    # A sub-millisecond yield loop, not a poll for an event.
    while time.monotonic() < target and not (stop is not None and stop.is_set()):  # noqa: ASYNC110
        await asyncio.sleep(0)


async def _guarded(sampler: Callable[[], Awaitable[Outcome]]) -> Outcome:
    try:
        return await sampler()
    except MemoryError:
        return _OUT_OF_MEMORY
    except Exception as exc:
        # Samplers report failures as Outcomes; an exception here is a probe-kind bug, and must
        # not take the series (or the run) down. The type alone keeps the text stable and secret-free.
        return Outcome(False, None, None, f"probe error: {type(exc).__name__}")


def fast_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """`uvloop.new_event_loop` when uvloop is importable, else None (the default loop).

    For the CLI: `with asyncio.Runner(loop_factory=fast_loop_factory()) as r: r.run(main())`.
    """
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def install_fast_event_loop() -> str:
    """Make uvloop the process's event loop policy when importable; returns `uvloop` or `asyncio`.

    Prefer `fast_loop_factory()` with `asyncio.Runner`: it changes nothing process-wide.
    """
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"
