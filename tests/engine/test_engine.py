"""The engine end to end against real local HTTP servers whose behaviour a real fault changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chaosrun.model import Guardrail
from chaosrun.safety.ledger import Ledger
from chaosrun.units import parse_bound
from tests.engine.support import LOC, UNDONE, experiment, mode_step, run


def verdict(journal: dict[str, Any], region: str, phase: str) -> dict[str, Any]:
    return next(v for v in journal["verdicts"] if v["region"] == region and v["phase"] == phase)


def test_held_everywhere_gives_exit_0_and_a_verdict_per_region_and_phase(make_http_server: Any, tmp_path: Path) -> None:
    us, eu = make_http_server("us"), make_http_server("eu")
    code, j = run(experiment({"us-east": us.url, "eu-west": eu.url}), tmp_path)
    assert code == 0
    assert j["status"] == "held"
    assert {(v["region"], v["phase"]) for v in j["verdicts"]} == {
        (r, p) for r in ("us-east", "eu-west") for p in ("baseline", "fault", "recovery")
    }
    assert all(v["held"] for v in j["verdicts"])
    assert all(v["samples"] >= 10 for v in j["verdicts"])
    assert [p["name"] for p in j["phases"]] == ["baseline", "fault", "recovery"]
    series = j["samples"]["series"]
    assert {s["region"] for s in series} == {"us-east", "eu-west"}
    assert all(len(s["t"]) == len(s["ok"]) == len(s["latency_ms"]) for s in series)


def test_fault_in_one_region_deviates_only_there_and_records_recovery(make_http_server: Any, tmp_path: Path) -> None:
    us, eu = make_http_server("us"), make_http_server("eu")
    exp = experiment({"us-east": us.url, "eu-west": eu.url}, method=[mode_step(eu.url, "failing")])
    code, j = run(exp, tmp_path)
    assert code == 1
    assert j["status"] == "deviated"
    assert verdict(j, "eu-west", "fault")["held"] is False
    assert "success_ratio" in verdict(j, "eu-west", "fault")["reasons"][0]
    assert verdict(j, "us-east", "fault")["held"] is True
    assert verdict(j, "eu-west", "recovery")["held"] is True
    rec = next(r for r in j["recovery"] if r["region"] == "eu-west")
    assert rec["recovery_s"] is not None and rec["met"] is True
    fault = next(f for f in j["faults"] if not f["setup"])
    assert fault["undo"] == "ok" and fault["applied_s"] < fault["removed_s"]
    assert eu.mode() == "healthy"  # the undo really reached the server
    assert Ledger(tmp_path / "state").entries() == []


def test_failing_baseline_skips_the_method_and_exits_6(make_http_server: Any, tmp_path: Path) -> None:
    srv = make_http_server("x")
    srv.set_mode("failing")
    code, j = run(experiment({"r": srv.url}, method=[mode_step(srv.url, "slow")]), tmp_path)
    assert code == 6
    assert j["status"] == "not_steady"
    assert [p["name"] for p in j["phases"]] == ["baseline"]
    assert all(f["undo"] == "not_applied" for f in j["faults"]) and not any(
        e["type"] == "fault_applied" for e in j["events"]
    )


def test_apply_error_ends_as_error_exit_4_and_still_undoes(make_http_server: Any, tmp_path: Path) -> None:
    a, b = make_http_server("a"), make_http_server("b")
    UNDONE.clear()
    exp = experiment(
        {"r": a.url},
        method=[mode_step(a.url, "slow"), mode_step(b.url, "failing", fail_apply=True)],
    )
    code, j = run(exp, tmp_path)
    assert code == 4
    assert j["status"] == "error"
    assert "apply refused on purpose" in j["reason"]
    assert a.mode() == "healthy"
    assert Ledger(tmp_path / "state").entries() == []


def test_failed_undo_exits_5_names_what_remains_and_keeps_the_ledger_entry(
    make_http_server: Any, tmp_path: Path
) -> None:
    srv = make_http_server("x")
    code, j = run(experiment({"r": srv.url}, method=[mode_step(srv.url, "slow", fail_undo=True)]), tmp_path)
    assert code == 5
    assert j["status"] == "rollback_failed"
    assert j["remaining"] and "mode slow on" in j["remaining"][0]
    entries = Ledger(tmp_path / "state").entries()
    assert len(entries) == 1 and entries[0].undo["backend"] == "test"


def test_guardrail_trips_aborts_exit_3_and_records_reaction_time(make_http_server: Any, tmp_path: Path) -> None:
    srv = make_http_server("x")
    guard = Guardrail(
        name="error-budget",
        probe="health",
        spec=None,
        every_s=0.05,
        regions=("r",),
        window_s=1.0,
        success_ratio=parse_bound(">= 0.5", "ratio"),
        consecutive_failures=3,
        location=LOC,
    )
    exp = experiment({"r": srv.url}, method=[mode_step(srv.url, "failing")], phases=(1.0, 5.0, 1.0), guardrails=[guard])
    code, j = run(exp, tmp_path)
    assert code == 3
    assert j["status"] == "aborted"
    assert "error-budget" in j["reason"]
    (trip,) = j["guardrails"]
    # the monitor trips on the third failure in a row, not one sample later
    assert trip["name"] == "error-budget" and trip["evidence"] == "3 consecutive failures in r"
    assert trip["reaction_ms"] is not None and trip["reaction_ms"] > 0
    assert srv.mode() == "healthy"
    assert [p["name"] for p in j["phases"]] == ["baseline", "fault"]


@pytest.mark.parametrize(
    ("during", "expected"),
    [
        pytest.param(None, "held", id="during-not-judged-holds"),
        pytest.param("same", "deviated", id="during-judged-deviates"),
    ],
)
def test_during_override_decides_whether_the_fault_phase_counts(
    make_http_server: Any, tmp_path: Path, during: Any, expected: str
) -> None:
    srv = make_http_server("x")
    exp = experiment({"r": srv.url}, method=[mode_step(srv.url, "failing")], during=during)
    _, j = run(exp, tmp_path)
    assert j["status"] == expected


def test_slow_recovery_misses_its_objective(make_http_server: Any, tmp_path: Path) -> None:
    """The server stays failing 1.5 s after the undo: recovery is late against a 0.5 s objective."""
    srv = make_http_server("x")

    exp = experiment(
        {"r": srv.url},
        method=[mode_step(srv.url, "failing")],
        phases=(1.0, 1.0, 3.0),
        recover_within_s=0.5,
        during=None,
    )
    import tests.engine.support as support

    original = support.undo_mode

    async def late_undo(record: Any, ctx: Any) -> None:
        srv.set_mode("failing")
        srv.set_mode("healthy", after_s=1.5)

    from chaosrun.faults import _UNDO

    _UNDO["test"] = late_undo
    try:
        _, j = run(exp, tmp_path)
    finally:
        _UNDO["test"] = original
    assert j["status"] == "deviated"
    rec = j["recovery"][0]
    assert rec["met"] is False and rec["recovery_s"] >= 1.0
    assert any("objective 0.5s" in r for r in verdict(j, "r", "recovery")["reasons"])


@pytest.mark.parametrize(
    ("own_timeout_s", "code", "undo"),
    [
        pytest.param(None, 5, "failed", id="slow-undo-beyond-the-cap-fails-loudly"),
        pytest.param(1.0, 0, "ok", id="an-undo-with-its-own-longer-timeout-is-given-it"),
    ],
)
def test_undo_time_limit_is_the_default_cap_or_the_undos_own(
    make_http_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    own_timeout_s: float | None,
    code: int,
    undo: str,
) -> None:
    import chaosrun.faults

    monkeypatch.setattr(chaosrun.faults, "DEFAULT_UNDO_TIMEOUT_S", 0.3)
    srv = make_http_server("x")
    step = mode_step(srv.url, "slow", undo_delay_s=0.8, undo_timeout_s=own_timeout_s)
    got, j = run(experiment({"r": srv.url}, method=[step], during=None), tmp_path)
    fault = next(f for f in j["faults"] if not f["setup"])
    assert (got, fault["undo"]) == (code, undo)
    if undo == "failed":
        assert fault["error"] == "undo timed out after 0.3s" and j["remaining"]
