"""Reports of a run, as pure functions of its journal: HTML, JUnit XML and a Markdown summary.

`load_journal` reads journal.json, or rebuilds the journal from events.jsonl when the run
crashed before writing it. `write_reports` writes every report; one failing reporter is
reported on stderr and the others still run.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..errors import InvalidInput
from .data import Journal
from .events import fold_events, read_events
from .html import render_html
from .junit import render_junit
from .score import Score, score_journal
from .summary import render_summary
from .wire import parse_journal

__all__ = [
    "Journal",
    "Score",
    "load_journal",
    "render_html",
    "render_junit",
    "render_summary",
    "score_journal",
    "write_reports",
]

JOURNAL_NAME = "journal.json"
EVENTS_NAME = "events.jsonl"


def _from_events(path: Path, why: str = "") -> Journal:
    try:
        events, unreadable = read_events(path)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the events: {exc.strerror or exc}") from exc
    if not events:
        raise InvalidInput(f"{path}: no readable events: not a chaosrun events file")
    journal = parse_journal(fold_events(events, unreadable))
    if why:
        journal = _with_note(journal, why)
    return journal


def _with_note(journal: Journal, note: str) -> Journal:
    return replace(journal, notes=(note, *journal.notes))


def load_journal(path: Path | str) -> Journal:
    """A run's journal: journal.json, or rebuilt from events.jsonl (a crashed run).

    `path` may be journal.json, events.jsonl or the run's folder. When journal.json is missing
    or unreadable and events.jsonl sits next to it, the events are used.
    Raises InvalidInput when neither can be read.
    """
    path = Path(path)
    if path.is_dir():
        path = path / JOURNAL_NAME if (path / JOURNAL_NAME).exists() else path / EVENTS_NAME
    if path.suffix == ".jsonl":
        if not path.exists():
            raise InvalidInput(f"{path}: no such file: give a journal.json, an events.jsonl or a run folder")
        return _from_events(path)
    events = path.with_name(EVENTS_NAME)
    try:
        wire = json.loads(path.read_bytes())
    except FileNotFoundError as exc:
        if events.exists():
            return _from_events(events, f"{path.name} was not written; rebuilt from {events.name}")
        raise InvalidInput(f"{path}: no such file: give a journal.json, an events.jsonl or a run folder") from exc
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the journal: {exc.strerror or exc}") from exc
    except ValueError as exc:
        if events.exists():
            return _from_events(events, f"{path.name} is unreadable ({exc}); rebuilt from {events.name}")
        raise InvalidInput(f"{path}: not a JSON journal: {exc}") from exc
    if not isinstance(wire, dict) or not ("run_id" in wire or "experiment" in wire or "samples" in wire):
        raise InvalidInput(f"{path}: not a chaosrun journal (no run_id, experiment or samples)")
    return parse_journal(wire)


def write_reports(journal: Journal, out_dir: Path | str, history_db: Path | str | None = None) -> dict[str, Path]:
    """Write report.html, junit.xml and summary.md into `out_dir`; returns those written by name.

    `history_db`: the run history whose runs of this experiment make the trend section.
    A reporter that fails is reported on stderr (one line, and the traceback's last frame);
    the others still run.
    """
    out = Path(out_dir)
    history = None
    if history_db is not None:
        from ..history import list_runs

        history = list_runs(history_db, journal.experiment.title)
    reporters: list[tuple[str, Callable[[], str]]] = [
        ("report.html", lambda: render_html(journal, history)),
        ("junit.xml", lambda: render_junit(journal)),
        ("summary.md", lambda: render_summary(journal)),
    ]
    written: dict[str, Path] = {}
    for name, render in reporters:
        target = out / name
        try:
            text = render()
            out.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(target)
        except Exception as exc:  # a failing reporter must not stop the others
            where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            at = f" ({Path(where.filename).name}:{where.lineno})" if where else ""
            print(f"chaosrun: warning: could not write {target}: {type(exc).__name__}: {exc}{at}", file=sys.stderr)
            continue
        written[name] = target
    return written
