"""The run history: every run's summary in an embedded SQLite database in the state folder.

A corrupt, missing or unwritable database never breaks a run: `record_run` and `list_runs`
warn on stderr and go on (returning False / an empty list). Nothing here raises for I/O.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import sys
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .report import fmt
from .report.data import Journal
from .report.results import RegionFigure, region_figures
from .report.score import score_journal
from .safety.state import default_state_dir

__all__ = [
    "ProbeFigure",
    "RunSummary",
    "default_db_path",
    "format_history",
    "judged_probe_figures",
    "list_runs",
    "record_run",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id       TEXT PRIMARY KEY,
    experiment   TEXT NOT NULL,
    slug         TEXT NOT NULL,
    source       TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    status       TEXT NOT NULL,
    score        INTEGER NOT NULL,
    duration_s   REAL,
    journal_path TEXT NOT NULL,
    recorded_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_slug ON runs (slug, started_at);
CREATE TABLE IF NOT EXISTS regions (
    run_id        TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    region        TEXT NOT NULL,
    verdict       TEXT NOT NULL,
    samples       INTEGER NOT NULL,
    success_ratio REAL,
    p95_ms        REAL,
    recovery_s    REAL,
    score         INTEGER,
    PRIMARY KEY (run_id, region)
);
CREATE TABLE IF NOT EXISTS probes (
    run_id        TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    probe         TEXT NOT NULL,
    region        TEXT NOT NULL,
    samples       INTEGER NOT NULL,
    success_ratio REAL,
    p95_ms        REAL,
    PRIMARY KEY (run_id, probe, region)
);
"""
_MIGRATIONS = ("ALTER TABLE regions ADD COLUMN score INTEGER",)  # user_version 1 -> 2


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeFigure:
    """A judged probe in one region over the whole run: latency over its successful samples."""

    probe: str
    region: str
    samples: int
    success_ratio: float | None
    p95_ms: float | None


def judged_probe_figures(journal: Journal) -> tuple[ProbeFigure, ...]:
    """Per probe and region that has at least one judged verdict: samples, success ratio and p95
    of the successful samples, over the whole run. Unjudged probes (diagnostics) are left out."""
    import numpy as np

    from .report.stats import summarize

    judged = {(v.probe, v.region) for v in journal.verdicts if v.judged}
    out = []
    for series in journal.series:
        if (series.probe, series.region) not in judged:
            continue
        stats = summarize(np.asarray(series.latency_ms, dtype=float), np.asarray(series.ok, dtype=bool))
        out.append(ProbeFigure(probe=series.probe, region=series.region, samples=stats.samples,
                               success_ratio=stats.success_ratio, p95_ms=stats.p95_ms))  # fmt: skip
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    """One recorded run."""

    run_id: str
    experiment: str
    started_at: str
    status: str
    score: int
    duration_s: float | None
    journal_path: str
    regions: tuple[RegionFigure, ...]
    region_scores: tuple[tuple[str, int | None], ...] = ()
    probes: tuple[ProbeFigure, ...] = ()  # judged probes only


def default_db_path() -> Path:
    return default_state_dir() / "history.sqlite"


def _warn(db_path: Path, action: str, exc: BaseException) -> None:
    print(f"chaosrun: warning: run history {db_path}: could not {action}: {exc} (the run goes on)", file=sys.stderr)


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "experiment"


def record_run(db_path: Path | str, journal: Journal, journal_path: Path | str) -> bool:
    """Record (or update) one run's summary; False, with a warning on stderr, when that failed."""
    db_path = Path(db_path)
    exp = journal.experiment
    run_id = journal.run_id or f"journal:{Path(journal_path).resolve()}"
    score = score_journal(journal)
    by_region = {r.region: r.value for r in score.regions}
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(db_path, timeout=5.0)) as db, db:
            db.executescript(_SCHEMA)
            _migrate(db)
            db.execute("PRAGMA foreign_keys = ON")
            db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, exp.title, _slug(exp.title), exp.source, journal.started_at, journal.status,
                 score.value, journal.duration_s, str(journal_path),
                 datetime.now(UTC).isoformat(timespec="seconds")),
            )  # fmt: skip
            # a run written into the same --out folder replaced this journal: older rows no longer point at it
            db.execute(
                "UPDATE runs SET journal_path = ? WHERE journal_path = ? AND run_id != ?",
                (f"(replaced by run {run_id})", str(journal_path), run_id),
            )
            db.execute("DELETE FROM regions WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM probes WHERE run_id = ?", (run_id,))
            db.executemany(
                "INSERT INTO probes VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run_id, i, f.probe, f.region, f.samples, f.success_ratio, f.p95_ms)
                 for i, f in enumerate(judged_probe_figures(journal))],
            )  # fmt: skip
            db.executemany(
                "INSERT INTO regions (run_id, position, region, verdict, samples, success_ratio, p95_ms, recovery_s, "
                "score) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, i, f.region, f.verdict, f.samples, f.success_ratio, f.p95_ms, f.recovery_s,
                  by_region.get(f.region)) for i, f in enumerate(region_figures(journal))],
            )  # fmt: skip
    except (sqlite3.Error, OSError) as exc:
        _warn(db_path, "record the run", exc)
        return False
    return True


def list_runs(db_path: Path | str, experiment: str | None = None, limit: int = 50) -> list[RunSummary]:
    """Recorded runs, newest first; `experiment` matches a title, its slug or the source path.

    A missing database is an empty history; an unreadable one warns on stderr and is empty too.
    """
    db_path = Path(db_path)
    if not db_path.exists():
        return []
    where, args = "", [str(limit)]
    if experiment:
        where = "WHERE experiment = ? OR slug = ? OR source = ?"
        args = [experiment, _slug(experiment), experiment, str(limit)]
    try:
        with closing(sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)) as db:
            runs = db.execute(
                "SELECT run_id, experiment, started_at, status, score, duration_s, journal_path FROM runs "
                f"{where} ORDER BY started_at DESC, recorded_at DESC LIMIT ?",
                args,
            ).fetchall()
            regions: dict[str, list[RegionFigure]] = {}
            scores: dict[str, list[tuple[str, int | None]]] = {}
            marks = ",".join("?" * len(runs))
            has_score = any(c[1] == "score" for c in db.execute("PRAGMA table_info(regions)"))
            for row in db.execute(
                "SELECT run_id, region, verdict, samples, success_ratio, p95_ms, recovery_s, "
                f"{'score' if has_score else 'NULL'} FROM regions WHERE run_id IN ({marks}) ORDER BY run_id, position",
                [r[0] for r in runs],
            ):
                scores.setdefault(row[0], []).append((row[1], row[7]))
                regions.setdefault(row[0], []).append(
                    RegionFigure(region=row[1], verdict=row[2], samples=row[3], success_ratio=row[4],
                                 p95_ms=row[5], recovery_s=row[6])
                )  # fmt: skip
            probes: dict[str, list[ProbeFigure]] = {}
            has_probes = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'probes'").fetchone()
            for row in (
                db.execute(
                    "SELECT run_id, probe, region, samples, success_ratio, p95_ms FROM probes "
                    f"WHERE run_id IN ({marks}) ORDER BY run_id, position",
                    [r[0] for r in runs],
                )
                if has_probes
                else ()
            ):
                probes.setdefault(row[0], []).append(
                    ProbeFigure(probe=row[1], region=row[2], samples=row[3], success_ratio=row[4], p95_ms=row[5])
                )
    except sqlite3.Error as exc:
        _warn(db_path, "read the history", exc)
        return []
    return [
        RunSummary(run_id=r[0], experiment=r[1], started_at=r[2], status=r[3], score=r[4], duration_s=r[5],
                   journal_path=r[6], regions=tuple(regions.get(r[0], ())),
                   region_scores=tuple(scores.get(r[0], ())), probes=tuple(probes.get(r[0], ())))
        for r in runs
    ]  # fmt: skip


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an older database to the current schema (columns added, nothing dropped)."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version == 0:  # a new database: _SCHEMA made it current
        db.execute(f"PRAGMA user_version = {len(_MIGRATIONS) + 1}")
        return
    for statement in _MIGRATIONS[version - 1 :]:
        with contextlib.suppress(sqlite3.OperationalError):  # e.g. the column exists already
            db.execute(statement)
    db.execute(f"PRAGMA user_version = {len(_MIGRATIONS) + 1}")


def format_history(runs: Sequence[RunSummary]) -> str:
    """A plain-text table of runs for `chaosrun history`."""
    if not runs:
        return "No runs recorded yet."
    header = ("WHEN", "EXPERIMENT", "VERDICT", "SCORE", "SCORE PER REGION", "DURATION",
              "P95 PER JUDGED PROBE (OK SAMPLES)", "JOURNAL")  # fmt: skip
    rows = [header]
    for r in runs:
        icon, words, _ = fmt.STATUS_TEXT.get(r.status, ("?", r.status, ""))
        regions = ", ".join(f"{x.probe}@{x.region} {fmt.ms(x.p95_ms)}" for x in r.probes) or "–"
        per_region = ", ".join(f"{name} {'–' if v is None else v}" for name, v in r.region_scores) or "–"
        rows.append((fmt.when(r.started_at), r.experiment, f"{icon} {words}", str(r.score), per_region,
                     fmt.duration(r.duration_s), regions, r.journal_path))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1] for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)
