"""`chaosrun gate`: run experiment files and folders in order and judge them by one policy.

Each experiment runs through `runner.run_experiment` (the same entry as `chaosrun run`) into
`<out>/<NN>-<slug>/`; then the gate writes `junit.xml`, `summary.md` and `index.html` into
`<out>/` and appends the summary to `$GITHUB_STEP_SUMMARY` when that is set.
A failed rollback or a stop signal ends the gate early (the rest is listed as not run).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ChaosrunError, InvalidInput
from .outcome import Outcome, outcome_not_run, outcome_of_run
from .policy import Policy, gate_exit_code
from .suite import Row, Suite, render_suite_junit

__all__ = ["GateOptions", "collect_files", "iso_utc", "run_file", "run_gate", "write_suite_outputs"]

_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True, slots=True, kw_only=True)
class GateOptions:
    out: Path
    policy: Policy
    title: str = "resilience gate"


def _not_an_experiment(path: Path) -> str | None:
    """Why a file found in a folder is not an experiment (a game-day plan, shared probe
    definitions), or None. Only a cheap look at its top-level keys; the loader judges the rest."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None  # the loader will say what is wrong with it
    if not isinstance(doc, dict):
        return None
    keys = list(doc)
    if keys == ["probes"]:
        return "probe definitions for include:"
    if "experiments" in keys and "steady_state" not in keys and "method" not in keys:
        return "a game-day plan"
    return None


def collect_files(paths: Sequence[str], echo: Callable[[str], None]) -> list[str]:
    """Experiment files, in the order given; a folder gives its .yaml/.yml/.json files (also in
    sub-folders) sorted by path, without game-day plans and probe definitions.
    Raises InvalidInput for a path that does not exist or a gate with no experiment."""
    files: list[str] = []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in _SUFFIXES)
            for f in found:
                why = _not_an_experiment(f)
                if why:
                    echo(f"skipping {f}: {why}, not an experiment")
                    continue
                files.append(str(f))
        elif p.is_file():
            files.append(given)
        else:
            raise InvalidInput(f"{given}: no such file or folder; give experiment files or folders of them")
    if not files:
        raise InvalidInput(f"no experiment files in {', '.join(paths)} (looked for {', '.join(_SUFFIXES)})")
    return list(dict.fromkeys(files))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "experiment"


RunOne = Callable[[str, Path], Awaitable[int]]


async def run_suite_files(
    files: Sequence[str],
    out: Path,
    run_one: RunOne,
    echo: Callable[[str], None],
    interrupted: Callable[[], str | None],
    err: Callable[[str], None],
) -> tuple[list[Outcome], list[str]]:
    """Run each file into `<out>/<NN>-<slug>/`; returns the outcomes and notes (why it stopped early)."""
    outcomes: list[Outcome] = []
    notes: list[str] = []
    for i, file in enumerate(files, 1):
        run_dir = out / f"{i:02d}-{_slug(Path(file).stem)}"
        echo(f"== gate: experiment {i}/{len(files)}: {file}")
        outcomes.append(await run_file(file, run_dir, run_one, err))
        last = outcomes[-1]
        stop = None
        if last.status == "rollback_failed":
            stop = f"{file} ended with a failed rollback: the gate stopped (run `chaosrun recover`)"
        elif (sig := interrupted()) is not None:
            stop = f"interrupted by {sig}: the gate stopped"
        if stop:
            echo(stop)
            notes.append(stop)
            notes += [f"{f}: not run" for f in files[i:]]
            break
    return outcomes, notes


async def run_file(file: str, run_dir: Path, run_one: RunOne, err: Callable[[str], None]) -> Outcome:
    """One experiment: its outcome from its journal, or why it never ran (said through `err`)."""
    try:
        code = await run_one(file, run_dir)
    except ChaosrunError as exc:
        for line in str(exc).splitlines():
            err(f"error: {line}")
        if (run_dir / "journal.json").exists() or (run_dir / "events.jsonl").exists():
            return outcome_of_run(file, run_dir, exc.exit_code)
        status = "invalid" if exc.exit_code == 2 else "error"
        return outcome_not_run(file, Path(file).name, str(exc).splitlines()[0] if str(exc) else status,
                               exc.exit_code, status)  # fmt: skip
    try:
        return outcome_of_run(file, run_dir, code)
    except ChaosrunError as exc:  # nothing was written (a dry run would not come here)
        return outcome_not_run(file, Path(file).name, str(exc), code, "error")


def iso_utc(t: float) -> str:
    """A wall-clock time (time.time()) as the journal writes it: ISO 8601 UTC, milliseconds, Z."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def run_gate(
    files: Sequence[str],
    options: GateOptions,
    run_one: RunOne,
    echo: Callable[[str], None],
    interrupted: Callable[[], str | None] = lambda: None,
    err: Callable[[str], None] | None = None,
) -> Suite:
    """Run the files in order and judge them; the caller writes the outputs."""
    started, t0 = time.time(), time.monotonic()
    outcomes, notes = await run_suite_files(files, options.out, run_one, echo, interrupted, err or echo)
    rows = []
    for o in outcomes:
        j = options.policy.judge(o)
        rule = "held" if not options.policy.allow else "held or " + " or ".join(options.policy.allow)
        if options.policy.min_score is not None:
            rule += f"; score >= {options.policy.min_score} for held and deviated runs"
        rows.append(Row(outcome=o, passed=j.passed, rule=rule, why=j.why))
    code = gate_exit_code([options.policy.judge(o) for o in outcomes])
    if code == 0 and interrupted() is not None:
        code = 3  # stopped by a signal: never a pass, whatever is allowed
    return Suite(
        kind="gate",
        title=options.title,
        rows=tuple(rows),
        exit_code=code,
        rule=options.policy.describe(),
        started_at=iso_utc(started),
        ended_at=iso_utc(time.time()),
        duration_s=time.monotonic() - t0,
        notes=tuple(notes),
    )


def write_suite_outputs(
    suite: Suite, out: Path, index: Callable[[Suite, Path], str], junit_case: str = "gate"
) -> dict[str, Path]:
    """junit.xml, summary.md and index.html (or `index`'s page) into `out`; the summary is also
    appended to $GITHUB_STEP_SUMMARY when that is set. Returns what was written, by name."""
    from .pages import render_suite_summary

    out.mkdir(parents=True, exist_ok=True)
    summary = render_suite_summary(suite)
    written = {}
    for name, text in (
        ("junit.xml", render_suite_junit(suite, junit_case)),
        ("summary.md", summary),
        ("index.html", index(suite, out)),
    ):
        path = out / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written[name] = path
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as f:
            f.write(summary + "\n")
        written["GITHUB_STEP_SUMMARY"] = Path(step_summary)
    return written
