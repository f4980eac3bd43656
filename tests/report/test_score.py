"""The resilience score: documented parts, bounded 0..100, monotone, capped by status."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaosrun.report.data import STATUSES, Recovery, Status, Verdict
from chaosrun.report.score import STATUS_CAPS, compute_score, recovery_credit, score_journal, score_wire
from chaosrun.report.wire import parse_journal

from .journals import make_journal


def _verdict(phase: str, held: bool | None, *, judged: bool = True, region: str = "eu") -> Verdict:
    return Verdict(probe="p", region=region, phase=phase, judged=judged, held=held)


def _recovery(recovery_s: float | None, objective_s: float | None = 10.0) -> Recovery:
    return Recovery(probe="p", region="eu", recovery_s=recovery_s, objective_s=objective_s, met=None)


ALL_HELD = [_verdict(p, True) for p in ("baseline", "fault", "recovery")]


@pytest.mark.parametrize(
    ("recovery_s", "objective_s", "credit"),
    [
        pytest.param(0.0, 10.0, 1.0, id="instant"),
        pytest.param(10.0, 10.0, 1.0, id="at-objective-full-credit"),
        pytest.param(20.0, 10.0, 0.5, id="2x-half-credit"),
        pytest.param(30.0, 10.0, 0.0, id="3x-zero"),
        pytest.param(300.0, 10.0, 0.0, id="far-beyond-never-negative"),
        pytest.param(None, 10.0, 0.0, id="never-recovered"),
        pytest.param(42.0, None, 1.0, id="no-objective-recovered"),
        pytest.param(1.0, 0.0, 0.0, id="zero-objective-late"),
    ],
)
def test_recovery_credit(recovery_s: float | None, objective_s: float | None, credit: float) -> None:
    assert recovery_credit(recovery_s, objective_s) == pytest.approx(credit)


def test_everything_held_and_recovered_in_time_is_exactly_100() -> None:
    score = compute_score("held", ALL_HELD, [_recovery(1.0)])
    assert score.value == 100
    assert score.cap_reason == ""
    assert [p.name for p in score.parts] == ["steady_state", "recovery"]


@pytest.mark.parametrize("status", STATUSES)
def test_every_status_is_capped(status: Status) -> None:
    score = compute_score(status, ALL_HELD, [_recovery(1.0)])
    assert score.value == min(100, STATUS_CAPS[status])
    assert (score.cap_reason != "") == (STATUS_CAPS[status] < 100)


def test_rollback_failed_is_always_zero() -> None:
    assert compute_score("rollback_failed", ALL_HELD, [_recovery(0.0)]).value == 0


def test_a_failure_under_the_fault_costs_more_than_in_the_baseline() -> None:
    base_failed = compute_score("deviated", [_verdict("baseline", False), _verdict("fault", True)], [])
    fault_failed = compute_score("deviated", [_verdict("baseline", True), _verdict("fault", False)], [])
    assert fault_failed.value < base_failed.value
    assert base_failed.raw == pytest.approx(100 * 2 / 3) and fault_failed.raw == pytest.approx(100 / 3)


def test_the_weights_apply_as_documented() -> None:
    score = compute_score("deviated", ALL_HELD, [_recovery(20.0)])  # recovery credit 0.5
    assert score.raw == pytest.approx(70 + 30 * 0.5)
    assert score.value == 85
    assert score.points(score.parts[1]) == pytest.approx(15.0)


def test_a_part_with_nothing_to_judge_is_left_out() -> None:
    score = compute_score("held", ALL_HELD, [])
    assert score.value == 100
    assert score.parts[1].credit is None and score.points(score.parts[1]) == 0.0


def test_unjudged_verdicts_do_not_count_and_nothing_judged_is_zero() -> None:
    assert compute_score("held", [_verdict("fault", None, judged=False)], []).value == 0
    mixed = compute_score("held", [*ALL_HELD, _verdict("fault", None, judged=False)], [])
    assert mixed.value == 100


def _no_objective(recovery_s: float | None) -> Recovery:
    """A recovery row as the engine writes it for a probe without `recover_within`."""
    return Recovery(probe="p", region="us", recovery_s=recovery_s, objective_s=None, met=None)


@pytest.mark.parametrize("recovery_s", [0.046, 500.0, None], ids=["fast", "slow", "never"])
def test_a_recovery_without_objective_is_left_out_not_penalised(recovery_s: float | None) -> None:
    """met=null is 'not judged', as in the report: neither credit nor penalty (the recovery phase verdict judges it)."""
    alone = compute_score(
        "deviated", [_verdict("baseline", True), _verdict("fault", False)], [_no_objective(recovery_s)]
    )
    steady_only = compute_score("deviated", [_verdict("baseline", True), _verdict("fault", False)], [])
    assert alone.raw == pytest.approx(steady_only.raw) and alone.value == steady_only.value
    assert alone.parts[1].credit is None and "no recovery objective" in alone.parts[1].detail

    mixed = compute_score("held", ALL_HELD, [_no_objective(recovery_s), _recovery(20.0)])
    assert mixed.parts[1].credit == pytest.approx(0.5), "only the row with an objective counts"
    assert "1 without an objective not counted" in mixed.parts[1].detail


def test_the_score_of_a_run_without_recovery_objectives_is_its_steady_state() -> None:
    wire = make_journal("deviated", regions=("us-east", "eu-west"), phases_s=(5, 10, 5))
    for r in wire["recovery"]:
        r.update(objective_s=None, met=None)
    score = score_journal(parse_journal(wire))
    assert score.raw == pytest.approx(100 * (score.parts[0].credit or 0.0))
    assert score_wire(wire)["value"] == score.value


_verdicts = st.lists(
    st.builds(
        _verdict,
        st.sampled_from(["baseline", "fault", "recovery", "other"]),
        st.one_of(st.none(), st.booleans()),
        judged=st.booleans(),
    ),
    max_size=30,
)
_recoveries = st.lists(
    st.builds(
        _recovery,
        st.one_of(st.none(), st.floats(min_value=0, max_value=1e9, allow_nan=False)),
        st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False)),
    ),
    max_size=10,
)


@given(st.sampled_from(STATUSES), _verdicts, _recoveries)
def test_the_score_is_bounded_0_to_100_and_never_above_its_cap(
    status: Status, verdicts: list[Verdict], recovery: list[Recovery]
) -> None:
    score = compute_score(status, verdicts, recovery)
    assert 0 <= score.value <= 100
    assert score.value <= STATUS_CAPS[status]
    assert 0.0 <= score.raw <= 100.0
    assert sum(score.points(p) for p in score.parts) == pytest.approx(score.raw)


@given(_verdicts, _recoveries, st.data())
def test_holding_a_verdict_never_lowers_the_score(
    verdicts: list[Verdict], recovery: list[Recovery], data: st.DataObject
) -> None:
    failed = [i for i, v in enumerate(verdicts) if v.judged and v.held is False]
    if not failed:
        return
    i = data.draw(st.sampled_from(failed))
    better = [*verdicts[:i], replace(verdicts[i], held=True), *verdicts[i + 1 :]]
    assert compute_score("deviated", better, recovery).raw >= compute_score("deviated", verdicts, recovery).raw


@given(_verdicts, st.floats(min_value=0, max_value=100, allow_nan=False), st.floats(min_value=0, max_value=100))
def test_recovering_faster_never_lowers_the_score(verdicts: list[Verdict], fast: float, extra: float) -> None:
    slow = fast + extra
    faster = compute_score("held", verdicts, [_recovery(fast)])
    assert faster.raw >= compute_score("held", verdicts, [_recovery(slow)]).raw


@pytest.mark.parametrize("status", ["held", "deviated", "aborted"])
def test_score_journal_and_score_wire_agree(status: str) -> None:
    wire = make_journal(status, regions=("us-east", "eu-west"), phases_s=(5, 10, 5))
    wire_score = score_wire(wire)
    assert wire_score["value"] == score_journal(parse_journal(wire)).value
    assert set(wire_score) == {"value", "raw", "cap", "cap_reason", "parts"}


def test_score_wire_of_junk_is_zero() -> None:
    assert score_wire(None)["value"] == 0
