"""Per-request timeouts on one coarse timer (chaosrun.probes._deadlines)."""

from __future__ import annotations

import asyncio

import pytest

from chaosrun.probes._deadlines import Deadlines


def test_a_deadline_fires_as_timeout_error_and_one_in_time_does_not() -> None:
    async def main() -> tuple[str, str]:
        d = Deadlines()
        late = "finished"
        try:
            async with d.after(0.05):
                await asyncio.sleep(5)
        except TimeoutError:
            late = "timeout"
        async with d.after(1.0):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the sweeper runs past the finished one: nothing is cancelled
        return late, "in time"

    assert asyncio.run(main()) == ("timeout", "in time")


def test_a_cancel_from_outside_is_not_turned_into_a_timeout() -> None:
    async def main() -> None:
        d = Deadlines()

        async def sample() -> None:
            async with d.after(10.0):
                await asyncio.sleep(10)

        task = asyncio.create_task(sample())
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_many_deadlines_of_several_lengths_all_fire() -> None:
    async def main() -> list[float]:
        d = Deadlines()
        fired: list[float] = []

        async def sample(timeout_s: float) -> None:
            try:
                async with d.after(timeout_s):
                    await asyncio.sleep(5)
            except TimeoutError:
                fired.append(timeout_s)

        async with asyncio.TaskGroup() as tg:
            for t in (0.09, 0.03, 0.06, 0.03):
                tg.create_task(sample(t))
        return fired

    assert sorted(asyncio.run(main())) == [0.03, 0.03, 0.06, 0.09]
