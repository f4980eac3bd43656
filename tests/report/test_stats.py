"""Exact statistics and drawing-only downsampling, against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chaosrun.report.stats import bucket_stats, envelope, percentile, success_ratio, summarize


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        pytest.param([1.0, 2.0, 3.0, 4.0], 0.5, 2.5, id="median-between-ranks"),
        pytest.param([1.0, 2.0, 3.0, 4.0], 0.95, 3.85, id="p95-interpolates-h-2.85"),
        pytest.param([1.0, 2.0, 3.0, 4.0], 0.0, 1.0, id="q0-is-min"),
        pytest.param([1.0, 2.0, 3.0, 4.0], 1.0, 4.0, id="q1-is-max"),
        pytest.param([10.0, 20.0], 0.95, 19.5, id="two-values"),
        pytest.param([7.0], 0.99, 7.0, id="one-value"),
        pytest.param([5.0, 5.0, 5.0], 0.5, 5.0, id="ties"),
        pytest.param(list(map(float, range(1, 101))), 0.99, 99.01, id="p99-of-1-to-100"),
    ],
)
def test_percentile_interpolates_linearly_between_closest_ranks(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected, abs=1e-12)


def test_percentile_of_nothing_is_none_and_q_is_checked() -> None:
    assert percentile([], 0.5) is None
    with pytest.raises(ValueError, match=r"quantile must be within 0\.\.1, got 95"):
        percentile([1.0], 95)


def test_success_ratio_counts_successes() -> None:
    assert success_ratio([True, True, False, True]) == 0.75
    assert success_ratio([]) is None


def test_summarize_leaves_unmeasured_latency_out_but_counts_the_sample() -> None:
    stats = summarize([3.0, math.nan, 1.0, 2.0], [True, False, True, True])
    assert (stats.samples, stats.failures, stats.success_ratio) == (4, 1, 0.75)
    assert (stats.p50_ms, stats.max_ms, stats.mean_ms) == (2.0, 3.0, 2.0)
    assert stats.p95_ms == pytest.approx(2.9)  # h = 2 * 0.95 = 1.9 -> 2 + 0.9 * (3 - 2)


def test_summarize_without_samples() -> None:
    stats = summarize([], [])
    assert (stats.samples, stats.success_ratio, stats.p95_ms, stats.mean_ms) == (0, None, None, None)


def test_envelope_keeps_a_lone_spike_and_bounds_the_points() -> None:
    t = np.arange(100_000, dtype=float) / 10
    y = np.full(100_000, 20.0)
    y[54_321] = 1_000.0
    y[77_777] = 0.5
    et, ey = envelope(t, y, 2000)
    assert len(et) <= 2000
    assert 1_000.0 in ey and 0.5 in ey
    assert np.all(np.diff(et) > 0), "points stay in time order"


def test_envelope_keeps_few_points_and_drops_unmeasured() -> None:
    t = np.array([0.0, 1.0, 2.0])
    y = np.array([5.0, np.nan, 6.0])
    et, ey = envelope(t, y, 2000)
    assert et.tolist() == [0.0, 2.0] and ey.tolist() == [5.0, 6.0]


def test_bucket_stats_by_hand() -> None:
    t = np.array([0.0, 0.5, 1.0, 1.5, 5.2])
    lat = np.array([1.0, 3.0, 10.0, 30.0, np.nan])
    ok = np.array([True, False, True, True, False])
    b = bucket_stats(t, lat, ok, width_s=1.0)
    assert b.centers.tolist() == [0.5, 1.5, 5.5], "the empty buckets 2..5 are left out"
    assert b.counts.tolist() == [2, 2, 1]
    assert b.error_rate.tolist() == [0.5, 0.0, 1.0]
    assert b.quantiles[0.5][:2].tolist() == [2.0, 20.0]
    assert b.quantiles[0.95][:2] == pytest.approx([2.9, 29.0])
    assert math.isnan(b.quantiles[0.5][2]), "a bucket without measured latency has no quantile"


def test_bucket_stats_of_nothing() -> None:
    b = bucket_stats(np.empty(0), np.empty(0), np.empty(0, dtype=bool), 1.0)
    assert len(b.centers) == 0 and len(b.quantiles[0.95]) == 0


def test_summarize_agrees_with_the_reference_percentile_on_random_data() -> None:
    rng = np.random.default_rng(3)
    values = rng.lognormal(3, 1, 10_001)
    stats = summarize(values, np.ones(len(values), dtype=bool))
    ordered = sorted(values.tolist())
    assert (stats.p50_ms, stats.p95_ms, stats.p99_ms) == (
        percentile(ordered, 0.5),
        percentile(ordered, 0.95),
        percentile(ordered, 0.99),
    )
    assert stats.max_ms == ordered[-1]


def test_latency_figures_count_successful_samples_only() -> None:
    """A fault's timeouts (2000 ms each) do not become its p95: they are failures, counted in the
    success ratio; the latency figures describe the answers that succeeded (docs/experiment.md)."""
    from chaosrun.judging.verdict import compute_stats
    from chaosrun.report.stats import summarize

    latency_ms = [100.0, 200.0, 300.0, 2000.0, 2000.0]
    ok = [True, True, True, False, False]
    report = summarize(latency_ms, ok)
    assert (report.samples, report.failures, report.success_ratio) == (5, 2, 0.6)
    assert (report.p50_ms, report.max_ms, report.mean_ms) == (200.0, 300.0, 200.0)
    verdict = compute_stats(ok, [x / 1000 for x in latency_ms])
    assert (verdict.p50_s, verdict.max_s, verdict.success_ratio) == (0.2, 0.3, 0.6)
