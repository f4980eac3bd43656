"""The run history: SQLite in the state folder; a broken database never breaks a run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chaosrun.history import default_db_path, format_history, list_runs, record_run
from chaosrun.report.wire import parse_journal
from chaosrun.safety.state import default_state_dir

from .conftest import SMALL
from .journals import make_journal


def _journal(status: str = "held", seed: int = 1, title: str = "Payments survive a slow EU database"):  # type: ignore[no-untyped-def]
    wire = make_journal(status, seed=seed, title=title, **SMALL)  # type: ignore[arg-type]
    wire["started_at"] = f"2026-11-{20 + seed:02d}T10:00:00.000Z"
    return parse_journal(wire)


def test_record_and_list_runs_newest_first_with_region_figures(tmp_path: Path) -> None:
    db = tmp_path / "state" / "history.sqlite"
    for seed, status in ((1, "held"), (2, "deviated"), (3, "held")):
        assert record_run(db, _journal(status, seed), tmp_path / f"r{seed}" / "journal.json")
    assert record_run(db, _journal("held", 4, title="Other experiment"), tmp_path / "o" / "journal.json")

    runs = list_runs(db, "Payments survive a slow EU database")
    assert [r.status for r in runs] == ["held", "deviated", "held"]
    # eu-west recovered in 1.4s of its 10s objective: 0.5 x 1.4 / 10 = 7% of it consumed, so 93
    assert runs[0].started_at.startswith("2026-11-23") and runs[0].score == 93
    assert runs[0].region_scores == (("us-east", 100), ("eu-west", 93))
    assert runs[1].score < 100
    eu = next(f for f in runs[1].regions if f.region == "eu-west")
    assert eu.verdict == "deviated" and eu.p95_ms is not None and eu.p95_ms > 300 and eu.recovery_s == 14.0
    assert [f.region for f in runs[0].regions] == ["us-east", "eu-west"]
    assert runs[0].journal_path.endswith("r3/journal.json")

    assert list_runs(db)[0].experiment == "Other experiment"
    assert len(list_runs(db, "payments-survive-a-slow-eu-database")) == 3, "the slug matches too"
    assert len(list_runs(db, limit=2)) == 2
    assert list_runs(db, "nope") == []


def test_recording_the_same_run_again_updates_it(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    assert record_run(db, _journal("held"), "a/journal.json")
    assert record_run(db, _journal("held"), "b/journal.json")
    runs = list_runs(db)
    assert len(runs) == 1 and runs[0].journal_path == "b/journal.json"


def test_a_missing_database_is_an_empty_history(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert list_runs(tmp_path / "none.sqlite") == []
    assert capsys.readouterr().err == ""
    assert not (tmp_path / "none.sqlite").exists(), "listing never creates the database"


def test_a_corrupt_database_warns_and_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "history.sqlite"
    db.write_bytes(os.urandom(4096) + b"\x00garbage" * 100)
    assert record_run(db, _journal(), tmp_path / "journal.json") is False
    err = capsys.readouterr().err
    assert f"warning: run history {db}: could not record the run:" in err and "the run goes on" in err
    assert list_runs(db) == []
    assert "could not read the history" in capsys.readouterr().err


def test_an_unwritable_state_folder_warns_and_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the folder should be")
    assert record_run(blocker / "history.sqlite", _journal(), tmp_path / "journal.json") is False
    assert "could not record the run" in capsys.readouterr().err


def test_format_history_lists_runs(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    record_run(db, _journal("deviated", 2), "reports/x/journal.json")
    text = format_history(list_runs(db))
    header, row = text.splitlines()
    assert header.split()[:3] == ["WHEN", "EXPERIMENT", "VERDICT"]
    assert "2026-11-22 10:00:00 UTC" in row and "✗ Deviated" in row and "eu-west" in row
    assert row.endswith("reports/x/journal.json")
    assert format_history([]) == "No runs recorded yet."


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param({"CHAOSRUN_STATE_DIR": "/srv/chaos", "XDG_STATE_HOME": "/xdg"}, "/srv/chaos", id="explicit-wins"),
        pytest.param({"XDG_STATE_HOME": "/xdg"}, "/xdg/chaosrun", id="xdg"),
        pytest.param({"XDG_STATE_HOME": "relative"}, "~/.local/state/chaosrun", id="relative-xdg-ignored"),
        pytest.param({}, "~/.local/state/chaosrun", id="home-default"),
    ],
)
def test_default_state_dir(env: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CHAOSRUN_STATE_DIR", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert default_state_dir() == Path(expected).expanduser()
    assert default_db_path() == Path(expected).expanduser() / "history.sqlite"


def test_history_shows_judged_probes_only_per_probe(tmp_path: Path) -> None:
    """A diagnostic probe (not judged) never mixes into the figures: one p95 per judged probe."""
    from dataclasses import replace

    journal = _journal("held", 1)
    journal = replace(journal, verdicts=tuple(
        replace(v, judged=False, held=None) if v.probe == "catalog" else v for v in journal.verdicts
    ))  # fmt: skip
    db = tmp_path / "history.sqlite"
    assert record_run(db, journal, tmp_path / "r1" / "journal.json")
    (run,) = list_runs(db)
    assert {(p.probe, p.region) for p in run.probes} == {("checkout", "us-east"), ("checkout", "eu-west")}
    text = format_history([run])
    assert "P95 PER JUDGED PROBE (OK SAMPLES)" in text and "checkout@us-east" in text and "catalog@" not in text


def test_a_replaced_journal_is_not_pointed_at(tmp_path: Path) -> None:
    """Two runs written to the same --out folder: the older row no longer names the journal."""
    db = tmp_path / "history.sqlite"
    path = tmp_path / "out" / "journal.json"
    first, second = _journal("held", 1), _journal("deviated", 2)
    assert record_run(db, first, path) and record_run(db, second, path)
    rows = {r.run_id: r.journal_path for r in list_runs(db)}
    assert rows[second.run_id] == str(path)
    assert rows[first.run_id] == f"(replaced by run {second.run_id})"
