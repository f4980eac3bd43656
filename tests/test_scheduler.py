"""The fixed-rate scheduler, with fake samplers (no network): counts, not speeds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from chaosrun.running.scheduler import (
    SKIPPED_ERROR,
    SeriesStats,
    fast_loop_factory,
    in_flight_bound,
    sample_series,
)
from chaosrun.sample import Outcome

OK = Outcome(True, 0.0)
Record = tuple[float, float, Outcome]


def _sleeper(seconds: float) -> Callable[[], Awaitable[Outcome]]:
    async def sample() -> Outcome:
        await asyncio.sleep(seconds)
        return Outcome(True, seconds)

    return sample


def _run_series(
    sampler: Callable[[], Awaitable[Outcome]], *, every_s: float, duration_s: float, max_in_flight: int = 8
) -> tuple[SeriesStats, list[Record], float]:
    records: list[Record] = []

    async def main() -> tuple[SeriesStats, float]:
        start = time.monotonic() + 0.02
        async with asyncio.timeout(duration_s + 10):
            stats = await sample_series(
                sampler,
                every_s=every_s,
                start_mono=start,
                stop_mono=start + duration_s,
                on_sample=lambda t, lag, o: records.append((t, lag, o)),
                max_in_flight=max_in_flight,
            )
        return stats, start

    stats, start = asyncio.run(main())
    return stats, records, start


@pytest.mark.parametrize(
    ("sample_s", "every_s", "duration_s"),
    [
        pytest.param(0.0, 0.05, 1.0, id="fast-samples"),
        pytest.param(0.3, 0.05, 1.0, id="samples-6x-slower-than-the-period"),
        pytest.param(0.02, 0.1, 0.8, id="slower-period"),
    ],
)
def test_fixed_rate_count_matches_the_schedule(sample_s: float, every_s: float, duration_s: float) -> None:
    bound = in_flight_bound(every_s, sample_s + 0.1)
    stats, records, start = _run_series(_sleeper(sample_s), every_s=every_s, duration_s=duration_s, max_in_flight=bound)
    expected = round(duration_s / every_s)
    assert abs(stats.ticks - expected) <= 1
    assert (len(records), stats.skipped) == (stats.ticks, 0)
    scheduled = sorted(t for t, _, _ in records)
    # Absolute schedule: tick k at start + k * every, whatever the samples took.
    assert scheduled == [start + k * every_s for k in range(len(scheduled))]
    assert all(lag >= 0 for _, lag, _ in records)


def test_a_full_series_reports_skipped_ticks() -> None:
    stats, records, _ = _run_series(_sleeper(1.0), every_s=0.05, duration_s=0.5, max_in_flight=2)
    assert abs(stats.ticks - 10) <= 1
    assert stats.skipped == stats.ticks - 2
    errors = [o.error for _, _, o in records]
    assert errors.count(SKIPPED_ERROR) == stats.skipped
    assert len(records) == stats.ticks  # the two slow samples were drained and reported too


def test_a_slow_series_does_not_delay_a_fast_one() -> None:
    fast: list[Record] = []
    slow: list[Record] = []

    async def main() -> tuple[SeriesStats, SeriesStats]:
        start = time.monotonic() + 0.02
        stop = start + 1.0
        async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
            slow_task = tg.create_task(
                sample_series(
                    _sleeper(0.9),
                    every_s=0.1,
                    start_mono=start,
                    stop_mono=stop,
                    on_sample=lambda *r: slow.append(r),
                    max_in_flight=3,
                )
            )
            fast_task = tg.create_task(
                sample_series(
                    _sleeper(0.001), every_s=0.05, start_mono=start, stop_mono=stop, on_sample=lambda *r: fast.append(r)
                )
            )
        return fast_task.result(), slow_task.result()

    fast_stats, slow_stats = asyncio.run(main())
    assert slow_stats.skipped > 0  # the slow target is saturated ...
    assert abs(fast_stats.ticks - 20) <= 1  # ... and the fast one keeps its schedule
    assert fast_stats.skipped == 0
    assert all(o.ok for _, _, o in fast)


def test_back_to_back_runs_one_sample_at_a_time() -> None:
    running = 0
    most = 0

    async def sample() -> Outcome:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return OK

    stats, records, start = _run_series(sample, every_s=0, duration_s=0.5)
    assert most == 1
    assert 5 <= stats.ticks <= 51
    scheduled = [t for t, _, _ in records]
    assert scheduled == sorted(scheduled) and scheduled[0] >= start
    assert all(lag == 0.0 for _, lag, _ in records)


def test_back_to_back_yields_to_the_loop_when_samples_never_suspend() -> None:
    async def instant() -> Outcome:
        return OK

    async def main() -> SeriesStats:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.1, stop.set)
        async with asyncio.timeout(5):
            return await sample_series(
                instant, every_s=0, start_mono=time.monotonic(), stop=stop, on_sample=lambda *r: None
            )

    assert asyncio.run(main()).ticks > 0


@pytest.mark.parametrize("every_s", [pytest.param(60.0, id="long-period"), pytest.param(0.0, id="back-to-back")])
def test_stop_event_ends_a_series_promptly(every_s: float) -> None:
    async def main() -> SeriesStats:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.1, stop.set)
        async with asyncio.timeout(5):  # far less than the 60 s period
            return await sample_series(
                _sleeper(0.01), every_s=every_s, start_mono=time.monotonic(), stop=stop, on_sample=lambda *r: None
            )

    stats = asyncio.run(main())
    assert stats.ticks >= 1
    if every_s:
        assert stats.ticks == 1


def test_a_raising_sampler_is_a_failed_sample() -> None:
    async def broken() -> Outcome:
        raise RuntimeError("secret detail")

    _, records, _ = _run_series(broken, every_s=0.05, duration_s=0.2)
    assert {o.error for _, _, o in records} == {"probe error: RuntimeError"}


def test_a_raising_callback_propagates() -> None:
    def on_sample(t: float, lag: float, o: Outcome) -> None:
        raise KeyError("engine bug")

    async def main() -> None:
        start = time.monotonic()
        await sample_series(_sleeper(0), every_s=0.01, start_mono=start, stop_mono=start + 5, on_sample=on_sample)

    with pytest.raises(KeyError, match="engine bug"):
        asyncio.run(main())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"every_s": -1.0, "stop_mono": 1.0}, "every_s must be >= 0", id="negative-period"),
        pytest.param({"every_s": 1.0}, "needs stop_mono or stop", id="no-stop"),
        pytest.param({"every_s": 1.0, "stop_mono": 1.0, "max_in_flight": 0}, "max_in_flight", id="no-room"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, float], message: str) -> None:
    async def main() -> None:
        await sample_series(_sleeper(0), start_mono=0.0, on_sample=lambda *r: None, **kwargs)  # type: ignore[arg-type]

    with pytest.raises(ValueError, match=message):
        asyncio.run(main())


@pytest.mark.parametrize(
    ("every_s", "timeout_s", "bound"),
    [
        pytest.param(1.0, 5.0, 6, id="timeout-longer-than-period"),
        pytest.param(1.0, 0.5, 2, id="timeout-shorter"),
        pytest.param(0.0, 5.0, 1, id="back-to-back"),
        pytest.param(0.001, 60.0, 64, id="capped"),
    ],
)
def test_in_flight_bound(every_s: float, timeout_s: float, bound: int) -> None:
    assert in_flight_bound(every_s, timeout_s) == bound


def test_series_runs_on_uvloop() -> None:
    factory = fast_loop_factory()
    assert factory is not None  # uvloop is a dependency
    records: list[Record] = []

    async def main() -> SeriesStats:
        start = time.monotonic()
        return await sample_series(
            _sleeper(0.001),
            every_s=0.02,
            start_mono=start,
            stop_mono=start + 0.2,
            on_sample=lambda *r: records.append(r),
        )

    with asyncio.Runner(loop_factory=factory) as runner:
        stats = runner.run(main())
    assert abs(stats.ticks - 10) <= 1
    assert all(lag >= 0 for _, lag, _ in records)
