"""The hot path's cost per sample, counted in operations (never timed), and bounded memory."""

from __future__ import annotations

import random

import pytest

from chaosrun.journal import Clock, JournalWriter, Redactor
from chaosrun.judging.sketch import EXACT_LIMIT, RELATIVE_ERROR, Latencies, LatencySketch, percentile
from chaosrun.judging.verdict import SeriesAccumulator
from chaosrun.judging.windows import GuardrailMonitor, Window
from chaosrun.model import Guardrail, Tolerance
from chaosrun.running.sampling import LiveWindow
from chaosrun.sample import Sample
from chaosrun.units import parse_bound
from tests.engine.support import LOC


def _live_ops_per_sample(rate: float, seconds: float) -> float:
    live = LiveWindow()
    n = int(rate * seconds)
    for i in range(n):
        live.add("r", i / rate, True, 0.001)
    return live.ops / n


@pytest.mark.parametrize("rate", [pytest.param(100.0, id="100-per-s"), pytest.param(10_000.0, id="10000-per-s")])
def test_live_window_work_per_sample_does_not_grow_with_the_window(rate: float) -> None:
    # 20 s of samples: the 5 s window holds 500 or 50,000 samples once full; each sample is
    # appended once and dropped once, whatever the window holds
    assert _live_ops_per_sample(rate, 20.0) <= 2.0


def _window_ops_per_sample(rate: float, window_s: float, with_latency_bound: bool) -> float:
    tol = Tolerance(
        success_ratio=parse_bound(">= 0.9", "ratio"),
        p95=parse_bound("< 100ms", "s") if with_latency_bound else None,
        window_s=window_s,
    )
    acc = SeriesAccumulator(probe="p", region="r", tolerance=tol, during=tol, recover_within_s=None, recovery_streak=3)
    n = int(rate * window_s * 4)
    for i in range(n):
        acc.add(_sample("baseline", i / rate, ok=True, latency=0.001 + (i % 7) * 0.0001))
    window = acc._windows["baseline"]
    return window.ops / n


@pytest.mark.parametrize("bound", [pytest.param(False, id="ratio-only"), pytest.param(True, id="with-p95")])
def test_tolerance_window_work_per_sample_does_not_grow_with_the_window(bound: bool) -> None:
    small = _window_ops_per_sample(rate=1000.0, window_s=1.0, with_latency_bound=bound)  # 1,000 in a window
    large = _window_ops_per_sample(rate=1000.0, window_s=10.0, with_latency_bound=bound)  # 10,000 in a window
    assert large <= small * 1.2 + 1, (small, large)
    assert large < 100  # a full statistic of the window per sample would be >= 10,000


def test_guardrail_p99_work_per_sample_does_not_grow_with_the_window() -> None:
    def ops(window_s: float) -> float:
        g = Guardrail(
            name="g",
            probe="p",
            spec=None,
            every_s=0.001,
            regions=("r",),
            window_s=window_s,
            success_ratio=parse_bound(">= 0.5", "ratio"),
            p99=parse_bound("< 2s", "s"),
            location=LOC,
        )
        m = GuardrailMonitor(g)
        n = int(1000 * window_s * 4)
        for i in range(n):
            assert m.add("r", i / 1000, True, 0.001) is None
        return m.ops() / n

    small, large = ops(1.0), ops(10.0)
    assert large <= small * 1.2 + 1, (small, large)


def test_windows_still_catch_a_breach_at_high_rates() -> None:
    w = Window(1.0)
    for i in range(5000):  # 5 s at 1,000/s, the last second failing
        w.add(i / 1000, i < 4000, 0.001)
    assert w.success_ratio() == pytest.approx(0.0, abs=0.002)
    tol = Tolerance(success_ratio=parse_bound(">= 0.9", "ratio"), p95=parse_bound("< 100ms", "s"), window_s=1.0)
    acc = SeriesAccumulator(probe="p", region="r", tolerance=tol, during=tol, recover_within_s=None, recovery_streak=3)
    for i in range(5000):  # healthy, then 200 ms slow in the last second
        acc.add(_sample("baseline", i / 1000, ok=True, latency=0.2 if i >= 4000 else 0.001))
    (verdict,), _ = acc.verdicts(("baseline",))
    assert verdict.held is False
    assert any("p95" in r and "window ending" in r for r in verdict.reasons), verdict.reasons


def test_sketch_quantiles_are_within_the_documented_relative_error() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(-5, 1.2) for _ in range(50_000)]
    sketch = LatencySketch()
    for v in values:
        sketch.add(v)
    ordered = sorted(values)
    for q in (50, 90, 95, 99, 99.9):
        exact = percentile(ordered, q)
        # the sketch returns a value of the right rank within 1%; between ranks, linear
        # interpolation may differ by the gap between neighbours too
        lo = percentile(ordered, q - 0.01) * (1 - RELATIVE_ERROR)
        hi = percentile(ordered, q + 0.01) * (1 + RELATIVE_ERROR)
        assert lo <= sketch.quantile(q) <= hi, (q, exact, sketch.quantile(q))
    assert sketch.buckets() < 1200  # memory bounded by the range, not the count


def test_phase_latencies_are_exact_then_bounded() -> None:
    lat = Latencies()
    for i in range(EXACT_LIMIT):
        lat.add(0.001 * (1 + i % 100))
    assert lat.is_exact()
    for i in range(200_000):
        lat.add(0.001 * (1 + i % 100))
    assert not lat.is_exact()
    assert len(lat) == EXACT_LIMIT + 200_000
    _, p95, _, top, mean = lat.summary()
    assert p95 == pytest.approx(0.096, rel=0.02)
    assert top == pytest.approx(0.1)
    values = [0.001 * (1 + i % 100) for i in range(EXACT_LIMIT)] + [0.001 * (1 + i % 100) for i in range(200_000)]
    assert mean == pytest.approx(sum(values) / len(values), rel=1e-9)  # the mean stays exact


def test_inconclusive_phase_is_never_held_and_deviates_only_for_certain() -> None:
    tol = Tolerance(success_ratio=parse_bound(">= 0.9", "ratio"))

    def run(failures: int) -> tuple[bool, bool | None]:
        acc = SeriesAccumulator(
            probe="p", region="r", tolerance=tol, during=tol, recover_within_s=None, recovery_streak=3, every_s=0.1
        )
        for i in range(50):
            acc.add(_sample("fault", i * 0.1, ok=i >= failures))
        for i in range(50, 100):  # half the phase not taken (a stall)
            acc.add_not_taken("fault", i * 0.1)
        (v,), _ = acc.verdicts(("fault",))
        assert v.stats.samples == 50 and v.stats.not_taken == 50
        return v.inconclusive, v.held

    assert run(failures=0) == (True, None)  # nothing failed: not held, not deviated
    assert run(failures=5) == (True, None)  # 5 of 100 could still be >= 0.9
    assert run(failures=20) == (True, False)  # 20 of 100 fail whatever the rest did


def test_a_few_samples_not_taken_do_not_make_a_phase_inconclusive() -> None:
    tol = Tolerance(success_ratio=parse_bound(">= 0.9", "ratio"))
    acc = SeriesAccumulator(probe="p", region="r", tolerance=tol, during=tol, recover_within_s=None, recovery_streak=3)
    for i in range(100):
        if i % 20 == 0:
            acc.add_not_taken("fault", i * 0.1)
        else:
            acc.add(_sample("fault", i * 0.1, ok=True))
    (v,), _ = acc.verdicts(("fault",))
    assert (v.inconclusive, v.held, v.stats.not_taken, v.stats.failures) == (False, True, 5, 0)


def test_journal_sample_columns_spill_and_come_back_whole(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import chaosrun.journal as journal_module

    monkeypatch.setattr(journal_module, "_SPILL_EVERY", 1000)
    writer = JournalWriter(tmp_path, run_id="r", clock=Clock(), redact=Redactor())
    n = 4321
    for i in range(n):
        writer.sample(
            Sample(
                probe="p",
                region="r",
                phase="baseline",
                t_s=i * 0.01,
                at=0.0,
                ok=i % 3 != 0,
                latency_s=None if i % 5 == 0 else i * 1e-6,
                status=None if i % 7 == 0 else -9 if i % 11 == 0 else 200,
                error=None if i % 3 else "status 503",
            )
        )
    cols = writer._series[("p", "r")]
    assert len(cols.t) < 1000 and cols.spilled == [1000] * 4  # bounded in memory
    t, latency_ms, ok, status, error = cols.read_all()
    assert len(t) == n
    assert list(ok) == [1 if i % 3 else 0 for i in range(n)]
    want_status = [None if i % 7 == 0 else -9 if i % 11 == 0 else 200 for i in range(n)]
    assert [None if s == journal_module._NO_STATUS else s for s in status] == want_status
    assert t[1234] == pytest.approx(12.34)
    assert list(error).count(-1) == n - len(range(0, n, 3))
    assert latency_ms[6] == pytest.approx(0.006)
    writer.close()


def _sample(phase: str, t: float, *, ok: bool, latency: float | None = 0.001) -> Sample:
    return Sample(
        probe="p",
        region="r",
        phase=phase,
        t_s=t,
        at=t,
        ok=ok,
        latency_s=latency,
        status=None,
        error=None,  # type: ignore[arg-type]
    )


def test_memory_error_and_ticks_far_behind_are_not_taken_never_failed() -> None:
    import asyncio
    import time

    from chaosrun.running.scheduler import NOT_TAKEN_LATE, NOT_TAKEN_MEMORY, sample_series
    from chaosrun.sample import Outcome

    calls = 0

    async def sampler() -> Outcome:
        nonlocal calls
        calls += 1
        if calls == 1:
            time.sleep(0.6)  # noqa: ASYNC251  (chaosrun itself blocked: the ticks due meanwhile are late)
        if calls == 2:
            raise MemoryError
        return Outcome(True, 0.001, 200)

    async def main() -> list[Outcome]:
        got: list[Outcome] = []
        start = time.monotonic()
        await sample_series(
            sampler,
            every_s=0.05,
            start_mono=start,
            stop_mono=start + 1.0,
            on_sample=lambda t, lag, o: got.append(o),
            late_s=0.25,
        )
        return got

    outcomes = asyncio.run(main())
    reasons = [o.not_taken for o in outcomes]
    assert NOT_TAKEN_MEMORY in reasons
    assert reasons.count(NOT_TAKEN_LATE) >= 3  # ticks more than 250 ms late were not started
    assert all(o.ok for o in outcomes if o.not_taken is None)
    assert all(not o.ok and o.error is None for o in outcomes if o.not_taken is not None)
