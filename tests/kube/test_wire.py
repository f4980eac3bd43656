"""The agent's plan and lines (no cluster): round trips, and what an agent refuses to carry."""

from __future__ import annotations

import re

import pytest

from chaosrun.errors import InvalidInput
from chaosrun.kube.follow import parse_timestamp
from chaosrun.kube.wire import AgentPlan, AgentSeries, decode_line
from chaosrun.model import CommandProbe, HttpProbe, TcpProbe


def plan(*specs: HttpProbe | TcpProbe | CommandProbe) -> AgentPlan:
    series = tuple(
        AgentSeries(
            probe=f"p{i}", target="eu", base_url="http://10.0.0.5:8080", host=None, spec=s, every_s=0.5, offset_s=i
        )
        for i, s in enumerate(specs)
    )
    return AgentPlan(run_id="20261206T000000Z-abcdef", region="eu", start_wall=1.5e9, stop_s=60.0, series=series)


def test_a_plan_survives_its_json() -> None:
    p = plan(
        HttpProbe(
            url="/health", headers=(("X-Env", "prod"),), expect_status=(200, 204), json_path="a.b", json_expect=3
        ),
        TcpProbe(host=None, port=5432, timeout_s=1.0),
    )
    assert AgentPlan.from_json(p.to_json()) == p


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        (CommandProbe(argv=("true",)), "http and tcp probes only"),
        (HttpProbe(url="/x", headers=(("Authorization", "Bearer ${secret.token}"),)), "cannot use ${secret"),
    ],
)
def test_what_an_agent_refuses_to_carry(spec: CommandProbe | HttpProbe, why: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(why)):
        plan(spec).to_json()


def test_an_unreadable_plan_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="agent plan: unreadable"):
        AgentPlan.from_json('{"run_id": "x"}')


def test_lines() -> None:
    line = decode_line({"seq": 3, "i": 1, "sched": 1.0, "sent": 1.1, "ok": False, "lat": None, "st": None, "err": "x"})
    assert line is not None and line.seq == 3 and line.series == 1 and not line.ok and line.error == "x"
    assert decode_line({"hello": 1, "run": "r"}) is None and decode_line({"end": 1, "samples": 3}) is None
    with pytest.raises(ValueError, match="malformed sample line"):
        decode_line({"seq": "x", "i": 0})


def test_runtime_timestamps_keep_their_nanoseconds_to_the_microsecond() -> None:
    assert parse_timestamp("2026-12-06T01:13:17.173167030Z") == pytest.approx(1796519597.173167, abs=1e-6)
    assert parse_timestamp("2026-12-06T01:13:17Z") == 1796519597.0
