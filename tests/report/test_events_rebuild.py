"""A report rebuilt from events.jsonl alone (a killed run) keeps the title, host, version, set-up and fault names."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path
from typing import Any

import pytest

from chaosrun import __version__
from chaosrun.journal import Clock, JournalWriter, Redactor, experiment_summary
from chaosrun.loader import load_text
from chaosrun.report import load_journal, render_html
from chaosrun.report.charts import _lane_items
from chaosrun.report.events import fold_events
from chaosrun.report.wire import parse_journal
from tests.engine.support import experiment, mode_step, run
from tests.fixtures.toxiproxy_server import ToxiproxyProcess
from tests.safety.support import EXPERIMENT, TOKEN, recover, start_run, write_experiment

from .journals import write_events

PROXY = "toxiproxy:http://127.0.0.1:1/p"


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _fault_windows(journal: Any, region: str) -> list[str]:
    faults, _marks = _lane_items(journal, region, journal.duration_s or 10.0)
    return [item.full for item in faults]


def _old_events(*, setup_flag: bool = True) -> list[dict[str, Any]]:
    """events.jsonl as chaosrun wrote it before run_started carried the experiment summary."""
    flag: dict[str, Any] = {"setup": True} if setup_flag else {}
    real: dict[str, Any] = {"setup": False} if setup_flag else {}
    return [
        {"seq": 0, "t": 0.001, "at": "2026-11-26T20:36:58.321Z", "type": "run_started", "run_id": "R1",
         "experiment": "Old drill", "source": "old.yaml", "pid": 41, "targets": [PROXY]},
        {"seq": 1, "t": 0.006, "at": "2026-11-26T20:36:58.326Z", "type": "fault_applied", "fault": "f1",
         "kind": "toxiproxy.latency", "target": PROXY, "region": "us-east",
         "description": "create proxy p (127.0.0.1:2 -> 127.0.0.1:3)", **flag},
        {"seq": 2, "t": 0.02, "at": "2026-11-26T20:36:58.340Z", "type": "phase_started", "phase": "baseline"},
        {"seq": 3, "t": 1.0, "at": "2026-11-26T20:36:59.334Z", "type": "samples",
         "batch": [["checkout", "us-east", "baseline", 0.1, 1, 3.2, 200, None]]},
        {"seq": 4, "t": 3.02, "at": "2026-11-26T20:37:01.340Z", "type": "phase_started", "phase": "fault"},
        {"seq": 5, "t": 3.03, "at": "2026-11-26T20:37:01.343Z", "type": "fault_applied", "fault": "f2",
         "kind": "toxiproxy.latency", "target": PROXY, "region": "us-east",
         "description": "latency 1000ms (downstream) on p", **real},
        {"seq": 6, "t": 4.0, "at": "2026-11-26T20:37:02.313Z", "type": "samples",
         "batch": [["checkout", "us-east", "fault", 3.5, 1, 1003.0, 200, None]]},
    ]  # fmt: skip


def test_run_started_carries_the_journal_header_redacted(tmp_path: Path) -> None:
    exp = load_text(
        EXPERIMENT.format(baseline="1s", fault="2s", recovery="1s"),
        file="trial.yaml",
        environ={"CHAOSRUN_TEST_TOKEN": TOKEN},
    )
    writer = JournalWriter(tmp_path, run_id="R7", clock=Clock(), redact=Redactor([TOKEN]))
    writer.run_started(exp, command=f"chaosrun run trial.yaml --var token={TOKEN}", targets=[PROXY])
    writer.close()
    text = (tmp_path / "events.jsonl").read_text()
    assert TOKEN not in text
    [event] = _events(tmp_path / "events.jsonl")
    assert event["type"] == "run_started" and event["run_id"] == "R7"
    # the same object journal.json's `experiment` holds
    assert event["experiment"] == json.loads(json.dumps(experiment_summary(exp)))
    assert event["experiment"]["title"] == "Safety trial"
    assert event["chaosrun_version"] == __version__
    assert event["host"]["hostname"] == socket.gethostname() and event["host"]["python"]
    assert isinstance(event["pid"], int) and event["targets"] == [PROXY]
    assert event["command"] == "chaosrun run trial.yaml --var token=***"


def test_old_events_with_a_title_string_still_load() -> None:
    journal = parse_journal(fold_events(_old_events()))
    assert journal.experiment.title == "Old drill"
    assert journal.experiment.source == "old.yaml"
    assert journal.status == "crashed"
    assert journal.host.pid == 41
    setup = {f.id: (f.setup, f.name) for f in journal.faults}
    assert setup == {"f1": (True, "setup: create proxy p (127.0.0.1:2 -> 127.0.0.1:3)"), "f2": (False, "f2")}
    assert _fault_windows(journal, "us-east") == ["fault: f2"]


def test_old_events_without_the_setup_flag_take_set_up_from_before_the_baseline() -> None:
    journal = parse_journal(fold_events(_old_events(setup_flag=False)))
    assert [(f.id, f.setup) for f in journal.faults] == [("f1", True), ("f2", False)]
    assert _fault_windows(journal, "us-east") == ["fault: f2"]


def test_a_fault_without_a_name_takes_its_steps_name_when_only_one_step_has_its_kind() -> None:
    events = _old_events()
    events[0] = {**events[0], "experiment": {"title": "Drill", "method": [
        {"name": "slow-p", "kind": "toxiproxy.latency", "start_s": 0, "duration_s": None},
        {"name": "cut-p", "kind": "toxiproxy.down", "start_s": 1, "duration_s": None},
    ]}}  # fmt: skip
    assert [f.name for f in parse_journal(fold_events(events)).faults][1] == "slow-p"
    events[0]["experiment"]["method"][1]["kind"] = "toxiproxy.latency"  # ambiguous: keep the id
    assert [f.name for f in parse_journal(fold_events(events)).faults][1] == "f2"


def test_report_from_new_events_shows_header_setup_and_named_faults(tmp_path: Path) -> None:
    exp = load_text(
        EXPERIMENT.format(baseline="1s", fault="2s", recovery="1s"),
        file="trial.yaml",
        environ={"CHAOSRUN_TEST_TOKEN": TOKEN},
    )
    writer = JournalWriter(tmp_path, run_id="R8", clock=Clock(), redact=Redactor([TOKEN]))
    writer.run_started(exp, command="chaosrun run trial.yaml", targets=[PROXY])
    writer.close()
    events = _events(tmp_path / "events.jsonl") + [
        {**e, "name": "slow"} if e.get("fault") == "f2" else e for e in _old_events()[1:]
    ]
    events[1]["name"] = "setup: create proxy p (127.0.0.1:2 -> 127.0.0.1:3)"
    journal = load_journal(write_events(tmp_path / "events.jsonl", events))
    assert journal.experiment.title == "Safety trial"
    assert journal.experiment.method and journal.experiment.probes  # the whole summary, not just a title
    assert journal.chaosrun_version == __version__
    assert journal.host.hostname == socket.gethostname()
    assert journal.command == "chaosrun run trial.yaml"
    assert [(f.id, f.name, f.setup) for f in journal.faults] == [
        ("f1", "setup: create proxy p (127.0.0.1:2 -> 127.0.0.1:3)", True),
        ("f2", "slow", False),
    ]
    assert _fault_windows(journal, "us-east") == ["fault: slow"]
    page = render_html(journal)
    assert "Safety trial" in page and "untitled experiment" not in page
    assert socket.gethostname() in page and __version__ in page
    setup_part = page.split("Set-up (created by chaosrun", 1)[1]
    assert "create proxy p" in setup_part


def test_events_of_a_finished_run_rebuild_what_journal_json_says(make_http_server: Any, tmp_path: Path) -> None:
    srv = make_http_server("r")
    code, j = run(experiment({"r": srv.url}, method=[mode_step(srv.url, "slow")]), tmp_path)
    assert code in (0, 1), j["reason"]
    rebuilt = fold_events(_events(tmp_path / "out" / "events.jsonl"))
    assert rebuilt["experiment"] == j["experiment"]
    for key in ("run_id", "chaosrun_version", "host", "status"):
        assert rebuilt[key] == j[key], key
    fields = ("id", "name", "kind", "target", "region", "description", "setup", "undo")
    faults: Any = rebuilt["faults"]
    assert [{k: f[k] for k in fields} for f in faults] == [{k: f[k] for k in fields} for f in j["faults"]]
    assert [f["name"] for f in faults] == ["slow-" + srv.url.rsplit(":", 1)[1]]


@pytest.mark.toxiproxy
@pytest.mark.slow
def test_report_of_a_run_killed_in_the_fault_keeps_title_setup_and_fault_names(
    toxiproxy_clean: ToxiproxyProcess, http_server: Any, tmp_path: Path
) -> None:
    trial = start_run(tmp_path, toxiproxy_clean, http_server.port, write_experiment(tmp_path, ("1s", "30s", "1s")))
    try:
        assert trial.wait_for_event("fault_applied", setup=False), "the fault was never applied"
    finally:
        trial.proc.send_signal(signal.SIGKILL)
        trial.wait()
    try:
        events = trial.out / "events.jsonl"
        assert TOKEN not in events.read_text()
        journal = load_journal(events)
    finally:
        assert recover(trial.state).returncode == 0
    assert journal.status == "crashed"
    assert journal.experiment.title == "Safety trial"
    assert journal.chaosrun_version == __version__
    assert journal.host.hostname == socket.gethostname()
    setup = [f for f in journal.faults if f.setup]
    faults = [f for f in journal.faults if not f.setup]
    assert setup and all(f.name.startswith("setup: ") and f.applied_s is not None for f in setup)
    assert faults and {f.name for f in faults} <= {"slow", "squeeze"}
    phases = {p.name: p.start_s for p in journal.phases}
    assert all((f.applied_s or 0.0) < phases["baseline"] for f in setup)
    windows = _fault_windows(journal, "local")
    assert windows and all(w in ("fault: slow", "fault: squeeze") for w in windows)
    page = render_html(journal)
    assert "Safety trial" in page and "untitled experiment" not in page
