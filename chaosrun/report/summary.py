"""A Markdown summary of a run (for CI job summaries and pull-request comments); link-free.

Set-up entries (a proxy chaosrun created, docs/journal.md) are listed apart, before the faults.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from . import fmt
from .data import FaultRecord, Journal
from .results import probe_rows, recovery_result, verdict_word
from .score import score_journal

__all__ = ["render_summary"]

_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def _md(text: object) -> str:
    """User text, inert in Markdown: no emphasis, links, HTML or table breaks."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _removal(f: FaultRecord) -> str:
    """What became of one set-up entry."""
    match f.undo:
        case "ok":
            return "removed"
        case "failed":
            return f"**removal failed**: {_md(f.error or 'unknown error')}"
        case "not_applied":
            return "not created"
        case _:
            return "**no removal recorded**: it may still be in place"


def render_summary(journal: Journal) -> str:
    """The Markdown summary of a journal."""
    icon, words, meaning = fmt.STATUS_TEXT[journal.status]
    score = score_journal(journal)
    exp = journal.experiment
    parts = ", ".join(f"{r.region} {'not judged' if r.value is None else r.value}" for r in score.regions)
    out = [
        f"# {icon} {words}: {_md(exp.title)}",
        "",
        f"**Resilience score: {score.value} / 100** (the worst region's; per region: {_md(parts) or 'none judged'}"
        f"{'; ' + _md(score.cap_reason) if score.cap_reason else ''})",
        "",
        *([f"Worst: {_md(w.worst.detail)}", ""] if (w := score.worst_region) is not None and w.worst else []),
        f"{_md(journal.reason or meaning)}",
        "",
        f"Run {_md(journal.run_id or '?')} · started {fmt.when(journal.started_at)}"
        f" · {fmt.duration(journal.duration_s)}"
        f" · on {_md(journal.host.hostname or '?')} · chaosrun {_md(journal.chaosrun_version or '?')}",
        "",
    ]
    if journal.remaining:
        out += ["> **Something may still be injected.** Run `chaosrun recover`.", ">"]
        out += [f"> - {_md(r)}" for r in journal.remaining] + [""]
    rows = probe_rows(journal)
    for region in journal.regions:
        mine = [r for r in rows if r.region == region]
        if not mine:
            continue
        out += [f"## {_md(region)}", ""]
        out += _table(
            ["Probe", "Phase", "Samples", "Success", "p95 (ok)", "p99 (ok)", "Verdict"],
            [[_md(r.probe), _md(r.phase), f"{r.stats.samples:,}", fmt.ratio(r.stats.success_ratio),
              fmt.ms(r.stats.p95_ms),
              fmt.ms(r.stats.p99_ms),
              verdict_word(r.judged, r.held, r.inconclusive) + ("".join(f"; {_md(x)}" for x in r.reasons))]
             for r in mine],
        )  # fmt: skip
    if rows:
        out += ["Latency (ok): over successful samples only; failed samples count in Success.", ""]
    if journal.recovery:
        out += ["## Recovery", ""]
        out += _table(
            ["Region", "Probe", "Recovered in", "Objective", "Result"],
            [[_md(r.region), _md(r.probe), fmt.seconds(r.recovery_s), fmt.seconds(r.objective_s),
              recovery_result(r)[1]] for r in journal.recovery],
        )  # fmt: skip
    setup = [f for f in journal.faults if f.setup]
    if setup:  # infrastructure the faults need (a proxy, say): listed apart, never as a fault
        out += ["## Set-up", "", "Created by chaosrun before the baseline and removed after the run; not a fault.", ""]
        out += [f"- {_md(f.description or f.name.removeprefix('setup: '))} ({_md(f.region or 'all')}): {_removal(f)}"
                for f in setup] + [""]  # fmt: skip
    faults = [f for f in journal.faults if not f.setup]
    if faults:
        out += ["## Faults", ""]
        out += _table(
            ["Fault", "Region", "What", "Injected", "Removed", "Undo"],
            [[_md(f.name), _md(f.region or "all"), _md(f.description or f.kind), fmt.clock(f.applied_s),
              fmt.clock(f.removed_s), f.undo.replace("_", " ") + (f": {_md(f.error)}" if f.error else "")]
             for f in faults],
        )  # fmt: skip
    trips = [g for g in journal.guardrails if g.tripped]
    if trips:
        out += ["## Guardrails tripped", ""]
        out += [
            f"- {_md(g.name)} in {_md(g.region or 'all')} at {fmt.clock(g.t)}: {_md(g.evidence)}" for g in trips
        ] + [""]
    failed = [r for r in journal.rollbacks if not r.ok]
    if failed:
        out += ["## Rollbacks failed", ""] + [f"- {_md(r.name)}: {_md(r.error or 'failed')}" for r in failed] + [""]
    if journal.errors:
        out += ["## Errors", ""] + [f"- {_md(e)}" for e in journal.errors] + [""]
    return "\n".join(out).rstrip() + "\n"
