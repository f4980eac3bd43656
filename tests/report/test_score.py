"""The resilience score from impact: per region, the worst region deciding.

Every expected figure is written out literally, as docs/experiment.md ("The score") and the
module docstring of chaosrun/report/score.py state it: the tests do not import the code's
constants, so a change of definition has to change the documentation and these numbers.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaosrun.report.data import Recovery, Verdict
from chaosrun.report.score import (
    compute_score,
    error_consumption,
    latency_consumption,
    recovery_consumption,
    score_journal,
    score_wire,
)
from chaosrun.report.wire import parse_journal

from .journals import make_journal


def _v(
    phase: str,
    *,
    region: str = "eu",
    samples: int = 40,
    failures: int = 0,
    ratio: float = 0.9,
    held: bool | None = True,
    judged: bool = True,
    p95_ms: float | None = None,
    p95_limit: float | None = None,
    reasons: tuple[str, ...] = (),
) -> Verdict:
    limits = [("success_ratio", ratio)] + ([("p95_ms", p95_limit)] if p95_limit is not None else [])
    return Verdict(probe="checkout", region=region, phase=phase, judged=judged, held=held, samples=samples,
                   failures=failures, p95_ms=p95_ms, limits=tuple(limits), reasons=reasons)  # fmt: skip


@pytest.mark.parametrize(
    ("failures", "samples", "min_ratio", "consumed"),
    [
        pytest.param(0, 40, 0.9, 0.0, id="nothing-failed"),
        pytest.param(2, 40, 0.9, 0.25, id="doc-example-2-of-40-against-0.9"),
        pytest.param(4, 40, 0.9, 0.5, id="exactly-at-the-limit"),
        pytest.param(24, 32, 0.99, 0.8737373737, id="doc-example-24-of-32-against-0.99"),
        pytest.param(40, 40, 0.9, 1.0, id="total-loss"),
        pytest.param(1, 40, 1.0, 0.5 + 0.5 * (1 / 40), id="every-sample-must-succeed"),
    ],
)
def test_error_consumption(failures: int, samples: int, min_ratio: float, consumed: float) -> None:
    assert error_consumption(failures, samples, min_ratio) == pytest.approx(consumed)


@pytest.mark.parametrize(
    ("value", "limit", "baseline", "consumed"),
    [
        pytest.param(100.0, 500.0, 100.0, 0.0, id="at-baseline"),
        pytest.param(300.0, 500.0, 100.0, 0.25, id="doc-example-p95-300-of-500-from-100"),
        pytest.param(500.0, 500.0, 100.0, 0.5, id="at-the-limit"),
        pytest.param(750.0, 500.0, 100.0, 0.75, id="1.5x-the-limit"),
        pytest.param(5000.0, 500.0, 100.0, 1.0, id="far-beyond"),
        pytest.param(250.0, 500.0, None, 0.25, id="no-baseline-counts-from-0"),
    ],
)
def test_latency_consumption(value: float, limit: float, baseline: float | None, consumed: float) -> None:
    assert latency_consumption(value, limit, baseline) == pytest.approx(consumed)


@pytest.mark.parametrize(
    ("recovery_s", "objective_s", "consumed"),
    [
        pytest.param(0.0, 10.0, 0.0, id="instant"),
        pytest.param(5.0, 10.0, 0.25, id="half-the-objective"),
        pytest.param(10.0, 10.0, 0.5, id="at-the-objective"),
        pytest.param(15.0, 10.0, 0.625, id="doc-example-15s-against-10s"),
        pytest.param(30.0, 10.0, 1.0, id="3x-late"),
        pytest.param(None, 10.0, 1.0, id="never-recovered"),
    ],
)
def test_recovery_consumption(recovery_s: float | None, objective_s: float, consumed: float) -> None:
    assert recovery_consumption(recovery_s, objective_s) == pytest.approx(consumed)


def test_a_region_losing_most_samples_decides_the_run_whatever_the_others_do() -> None:
    """The issue's case: ap-south lost 24 of 32 samples during the fault; two regions were healthy."""
    verdicts = [
        _v(phase, region=region, samples=32, failures=24 if (region, phase) == ("ap-south", "fault") else 0,
           ratio=0.99, held=(region, phase) != ("ap-south", "fault"))
        for region in ("us-east", "eu-west", "ap-south") for phase in ("baseline", "fault", "recovery")
    ]  # fmt: skip
    score = compute_score("deviated", verdicts, [])
    assert {r.region: r.value for r in score.regions} == {"us-east": 100, "eu-west": 100, "ap-south": 12}
    assert score.value == 12
    worst = score.worst_region
    assert worst is not None and worst.region == "ap-south"
    assert worst.worst is not None and "24 of 32 samples failed" in worst.worst.detail


def test_a_held_run_scores_what_it_consumed() -> None:
    score = compute_score("held", [_v("fault", failures=2), _v("recovery")], [])
    assert score.value == 75  # 2 of 40 against >= 0.9: 25% of the tolerance


def test_the_largest_consumption_of_a_region_counts() -> None:
    verdicts = [_v("baseline", p95_ms=100.0, p95_limit=500.0), _v("fault", failures=2, p95_ms=300.0, p95_limit=500.0)]
    recovery = [Recovery(probe="checkout", region="eu", recovery_s=15.0, objective_s=10.0, met=False)]
    score = compute_score("deviated", verdicts, recovery)
    (region,) = score.regions
    assert [round(c.consumed, 3) for c in region.items] == [0.625, 0.25, 0.25]
    assert region.value == 37 and score.value == 37


def test_baseline_and_unjudged_checks_are_not_counted() -> None:
    verdicts = [_v("baseline", failures=40, held=False), _v("fault", failures=40, judged=False, held=None)]
    score = compute_score(
        "held", verdicts, [Recovery(probe="c", region="eu", recovery_s=99, objective_s=None, met=None)]
    )
    assert [r.value for r in score.regions] == [None]
    assert score.value == 0  # nothing judged at all


def test_a_deviation_for_another_reason_stays_below_50() -> None:
    score = compute_score("held", [_v("fault", held=False, reasons=("window 10s: 3 failed",))], [])
    assert score.regions[0].value == 49


@pytest.mark.parametrize(
    ("status", "cap"),
    [
        pytest.param("held", 100, id="held"),
        pytest.param("deviated", 49, id="deviated"),
        pytest.param("aborted", 40, id="aborted"),
        pytest.param("inconclusive", 25, id="inconclusive"),
        pytest.param("not_steady", 25, id="not-steady"),
        pytest.param("error", 25, id="error"),
        pytest.param("crashed", 25, id="crashed"),
        pytest.param("rollback_failed", 0, id="rollback-failed"),
    ],
)
def test_every_status_is_capped(status: str, cap: int) -> None:
    score = compute_score(status, [_v("fault")], [])
    assert score.raw == 100 and score.value == cap and score.cap == cap


@given(
    failures=st.lists(st.integers(0, 50), min_size=1, max_size=6),
    ratio=st.floats(0.0, 1.0),
    recovery=st.one_of(st.none(), st.floats(0.0, 1000.0)),
)
def test_the_score_is_bounded_and_one_more_failure_never_raises_it(
    failures: list[int], ratio: float, recovery: float | None
) -> None:
    def score(extra: int) -> int:
        verdicts = [_v("fault", region=f"r{i}", samples=50, failures=min(50, f + (extra if i == 0 else 0)),
                       ratio=ratio) for i, f in enumerate(failures)]  # fmt: skip
        rec = [Recovery(probe="checkout", region="r0", recovery_s=recovery, objective_s=10.0, met=None)]
        return compute_score("held", verdicts, rec).value

    assert 0 <= score(0) <= 100
    assert score(1) <= score(0)


def test_score_journal_and_score_wire_agree() -> None:
    wire = make_journal("deviated", regions=("us-east", "eu-west"), phases_s=(5, 10, 5))
    assert score_wire(wire)["value"] == score_journal(parse_journal(wire)).value


def test_score_wire_of_junk_is_zero() -> None:
    assert score_wire(None)["value"] == 0
    assert score_wire({"status": "held"})["value"] == 0
