"""The report's sections, one function each, in page order (`SECTIONS`, `render_sections`).

The overview (every region compared, where it broke), score, per-region detail, results,
recovery, faults, rollbacks, guardrails, errors, trend and configuration: each is a pure
function of the journal (and what is computed from it once: the score, the per-region figures,
the overview) returning one `<section>`; user strings go through `e`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import fmt
from .charts import trend_svg
from .data import FaultRecord, Journal
from .markup import badge, e, empty, section, table
from .observed import matrix_section, missing_faults_section, observed_spans
from .overview import make_overview, overview_section, regions_section
from .results import ErrorRow, ProbeRow, RegionFigure, error_rows, probe_rows, recovery_result, verdict_word
from .score import RECOVERY_ZERO_AT, STATUS_CAPS, Score

if TYPE_CHECKING:
    from ..history import RunSummary

__all__ = ["SECTIONS", "render_sections"]

SECTIONS = (  # (id, navigation label), as render_sections orders them
    ("overview", "At a glance"),
    ("score", "Score"),
    ("timeline", "Per region"),
    ("matrix", "Region to region"),
    ("results", "Results"),
    ("recovery", "Recovery"),
    ("faults", "Faults"),
    ("rollbacks", "Rollbacks"),
    ("guardrails", "Guardrails"),
    ("errors", "Errors"),
    ("trend", "Trend"),
    ("configuration", "Configuration"),
)


def _verdict_badge(judged: bool, held: bool | None, inconclusive: bool = False) -> str:
    word = verdict_word(judged, held, inconclusive)
    icon = {"held": "✓", "deviated": "✗"}.get(word, "–")
    return badge(word.replace(" ", "-"), icon, word)


def _at(journal: Journal, t: float | None) -> str:
    wall = fmt.offset_at(journal.started_at, t)
    return f'{fmt.clock(t)}<span class="muted"> {wall}</span>' if wall else fmt.clock(t)


def _score(score: Score) -> str:
    rows = []
    for r in score.regions:
        worst = r.worst
        rows.append(
            [e(r.region), "not judged" if r.value is None else f"<strong>{r.value}</strong>",
             e(worst.detail) if worst else "nothing judged after the baseline"]
        )  # fmt: skip
    items = [
        [e(r.region), e(c.probe), e(c.phase), e(c.what), f"{c.consumed:.0%}", str(c.points), e(c.detail)]
        for r in score.regions
        for c in r.items
    ]
    cap = f'<p class="alert warn">{e(score.cap_reason)} (before the cap: {score.raw}).</p>' if score.cap_reason else ""
    caps = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in STATUS_CAPS.items())
    body = f"""<div class="score-big"><span class="big">{score.value}</span><span> / 100</span></div>
{cap}{table("Score per region (the run scores its worst region)", ["Region", "Score", "What decided it"], rows)}
{table("What made up the score", ["Region", "Probe", "Phase", "Check", "Consumed", "Allows", "Detail"], items)}
<div class="formula"><h3>How the score is computed</h3>
<p>Every judged check after the baseline consumes part of its tolerance: 0% when nothing was used,
<strong>50% exactly at the limit</strong>, 100% at total loss. A region scores
<code>floor(100 × (1 − its largest consumption))</code>; the run scores its <strong>worst region</strong>,
so healthy regions never dilute an outage. 50 is the edge of the tolerance: within it a region scores 50–100.</p>
<ul><li><strong>Errors</strong>: failed share <code>f</code> against the budget <code>a = 1 − success_ratio</code>:
<code>0.5·f/a</code>, beyond it <code>0.5 + 0.5·(f−a)/(1−a)</code>.</li>
<li><strong>Latency</strong> (each bounded p50/p95/p99/max/mean, over successful samples): from the baseline's
value <code>b</code> to the limit <code>L</code>: <code>0.5·(v−b)/(L−b)</code>, beyond it
<code>0.5 + 0.5·min(1, (v−L)/L)</code>.</li>
<li><strong>Recovery</strong> against <code>recover_within</code> <code>o</code>: <code>0.5·r/o</code>, late
<code>0.5 + 0.5·min(1, (r−o)/(2o))</code>, never recovered 100%.</li>
<li>A deviation for another reason (a window, too few samples) consumes at least 51%.</li>
<li><strong>Cap by status</strong>: {e(caps)}.</li></ul></div>"""
    return section("score", "Resilience score", body)


def _results(rows: Sequence[ProbeRow]) -> str:
    out = []
    for r in rows:
        s = r.stats
        reasons = "".join(f"<li>{e(x)}</li>" for x in r.reasons)
        verdict = _verdict_badge(r.judged, r.held, r.inconclusive) + (
            f'<ul class="reasons">{reasons}</ul>' if reasons else ""
        )
        if r.computed:
            verdict += '<span class="muted small"> computed from samples</span>'
        if r.not_taken:
            verdict += (
                f'<span class="muted small"> {r.not_taken:,} samples not taken (chaosrun could not keep up)</span>'
            )
        cls = "bad" if r.judged and r.held is False else ""
        out.append([
            f"<!--row:{cls}-->{e(r.probe)}", e(r.region), e(r.phase), f"{s.samples:,}", fmt.ratio(s.success_ratio),
            fmt.ms(s.p50_ms), fmt.ms(s.p95_ms), fmt.ms(s.p99_ms), fmt.ms(s.max_ms), e(r.tolerance or "–"), verdict,
        ])  # fmt: skip
    headers = ["Probe", "Region", "Phase", "Samples", "Success", "p50 (ok)", "p95 (ok)", "p99 (ok)", "Max (ok)",
               "Tolerance", "Verdict"]  # fmt: skip
    body = (
        table("Probe × region × phase", headers, out, cls="results")
        + '<p class="muted small">Latency columns (ok) count successful samples only; failures are in Success.</p>'
        if out
        else empty("No probe results.")
    )
    return section("results", "Results per probe, region and phase", body)


def _recovery(journal: Journal) -> str:
    rows = []
    for r in journal.recovery:
        kind, words = recovery_result(r)
        if kind == "none":
            result = badge("not-judged", "–", words)
            bar = '<span class="muted">–</span>'
        else:
            result = badge("held", "✓", words) if kind == "met" else badge("deviated", "✗", words)
            scale = RECOVERY_ZERO_AT * (r.objective_s or 1.0)
            width = 100.0 if r.recovery_s is None else min(100.0, r.recovery_s / scale * 100)
            goal = f'<span class="goal" style="left:{100 / RECOVERY_ZERO_AT:.1f}%"></span>'
            fill = f'<span class="fill {"ok" if kind == "met" else "late"}" style="width:{width:.1f}%"></span>'
            bar = f'<span class="bar" aria-hidden="true">{fill}{goal}</span>'
        rows.append([e(r.region), e(r.probe), fmt.seconds(r.recovery_s), fmt.seconds(r.objective_s), bar, result])
    body = (
        table(
            "Time to recover after the fault was removed",
            ["Region", "Probe", "Recovered in", "Objective", "Against objective", "Result"],
            rows,
            cls="recovery",
        )
        if rows
        else empty("No recovery was measured (the run did not reach the recovery phase, or no probe has an objective).")
    )
    if any(r.objective_s is None for r in journal.recovery):
        body += (
            '<p class="small muted">No objective: the probe has no <code>recover_within</code>; its recovery time is '
            "shown for information, the recovery phase is judged whole, and the score does not count it.</p>"
        )
    return section("recovery", "Recovery time per region", body)


def _undo(f: FaultRecord) -> str:
    if f.missing_s is not None:  # verified while it lasted: it vanished before its undo
        return badge("deviated", "⚠", f"not in place from {f.missing_s:.2f}s; already gone at undo")
    match f.undo:
        case "ok":
            return badge("held", "✓", "undone")
        case "failed":
            return badge("deviated", "✗", "undo failed") + (f'<p class="small">{e(f.error)}</p>' if f.error else "")
        case "not_applied":
            return badge("not-judged", "–", "not applied")
        case _:
            return badge("deviated", "⚠", "pending: may still be injected")


def _faults(journal: Journal) -> str:
    headers = ["Fault", "Kind", "Target", "Region", "What", "Injected", "Removed", "Undo"]
    tables: dict[bool, list[list[str]]] = {False: [], True: []}  # setup? -> rows
    for f in journal.faults:
        what = e(f.description or "–") + ("".join(f'<br><span class="small muted">{e(u)}</span>' for u in f.updates))
        tables[f.setup].append([e(f.name), e(f.kind), f"<code>{e(f.target)}</code>", e(f.region or "all"), what,
                                _at(journal, f.applied_s), _at(journal, f.removed_s), _undo(f)])  # fmt: skip
    body = (
        table("Faults injected", headers, tables[False], cls="faults")
        if tables[False]
        else empty("No faults were injected.")
    )
    if tables[True]:
        body += (
            '<div class="setup"><h3>Set-up (created by chaosrun, removed after the run)</h3>'
            '<p class="small muted">Infrastructure the faults need (a proxy, say), created before the baseline: '
            "not a fault, not drawn as a fault window.</p>"
            + table("Set-up entries", headers, tables[True], cls="faults")
            + "</div>"
        )
    return section("faults", "Faults", body)


def _rollbacks(journal: Journal) -> str:
    rows = [
        [
            e(r.name),
            _at(journal, r.t),
            badge("held", "✓", "ok") if r.ok else badge("deviated", "✗", "failed"),
            e(r.error or "–"),
        ]
        for r in journal.rollbacks
    ]
    body = (
        table("Rollbacks run after the faults", ["Rollback", "At", "Result", "Error"], rows)
        if rows
        else empty("No rollbacks ran.")
    )
    return section("rollbacks", "Rollbacks", body)


def _guardrails(journal: Journal) -> str:
    trips = [g for g in journal.guardrails if g.tripped]
    tripped = {g.name for g in trips}
    config = [
        [
            e(g.name),
            e(g.condition or "–"),
            badge("deviated", "■", "tripped") if g.name in tripped else badge("held", "✓", "not tripped"),
        ]
        for g in journal.experiment.guardrails
    ]
    rows = [
        [e(g.name), e(g.region or "all"), _at(journal, g.t), e(g.evidence or "–"), fmt.ms(g.reaction_ms)] for g in trips
    ]
    body = table("Guardrails configured", ["Guardrail", "Condition", "Outcome"], config) if config else ""
    body += table("Guardrail trips", ["Guardrail", "Region", "At", "Evidence", "Reaction"], rows) if rows else ""
    return section("guardrails", "Guardrails", body or empty("No guardrails were configured."))


def _errors(journal: Journal, errors: Sequence[ErrorRow]) -> str:
    rows = [
        [e(x.message), f"{x.count:,}", _at(journal, x.first_s), _at(journal, x.last_s), e(", ".join(x.where))]
        for x in errors
    ]
    body = (
        table("Most frequent probe errors", ["Error", "Count", "First", "Last", "Where"], rows)
        if rows
        else empty("No probe errors.")
    )
    if journal.errors:
        body += (
            '<h3>Run errors</h3><ul class="run-errors">'
            + "".join(f"<li><code>{e(m)}</code></li>" for m in journal.errors)
            + "</ul>"
        )
    return section("errors", "Probe errors", body)


def _trend(
    journal: Journal, score: Score, figures: Sequence[RegionFigure], history: Sequence[RunSummary] | None
) -> str:
    if history is None:
        return section("trend", "Trend", empty("The run history was not available for this report."))
    runs = [r for r in history if r.run_id != journal.run_id]
    if not runs:
        return section("trend", "Trend", empty("No previous runs of this experiment in the run history."))
    regions = list(dict.fromkeys([*journal.regions, *(x.region for r in runs for x in r.regions)]))
    this = {f.region: f.p95_ms for f in figures}
    first = f"<strong>this run</strong><br>{e(fmt.when(journal.started_at))}"
    rows = [[first, _status_badge(journal.status), f"<strong>{score.value}</strong>",
             *[fmt.ms(this.get(x)) for x in regions], e(journal.run_id)]]  # fmt: skip
    for r in runs:
        p95 = {x.region: x.p95_ms for x in r.regions}
        rows.append([e(fmt.when(r.started_at)), _status_badge(r.status), str(r.score),
                     *[fmt.ms(p95.get(x)) for x in regions], e(r.run_id)])  # fmt: skip
    points = [(fmt.when(r.started_at)[5:16], r.score, r.status) for r in reversed(runs)]
    points.append(("this run", score.value, journal.status))
    headers = ["When", "Verdict", "Score", *[f"p95 {x}" for x in regions], "Run"]
    body = trend_svg(points, chart_id="trend") + table("This run and the previous ones, newest first", headers, rows)
    return section("trend", "Trend: previous runs", body)


def _status_badge(status: str) -> str:
    icon, words, _ = fmt.STATUS_TEXT.get(status, ("?", status, ""))
    return badge(f"s-{status}", icon, words)


_PROBE_HEADERS = ("Probe", "Kind", "Target", "Every", "Tolerance", "During the fault", "Recover within", "Regions")


def _rerun_command(command: str) -> str:
    """The run's own command without `--out` (a re-run writes a new folder): its --state-dir, --var
    and --seed (the same targets) are kept. "" when it was not a `chaosrun run`."""
    import shlex

    try:
        words = shlex.split(command)
    except ValueError:
        return ""
    if words[:2] != ["chaosrun", "run"]:
        return ""
    kept: list[str] = []
    skip = False
    for w in words:
        if skip:
            skip = False
        elif w == "--out":
            skip = True
        elif not w.startswith("--out="):
            kept.append(w)
    return shlex.join(kept)


def _configuration(journal: Journal) -> str:
    exp = journal.experiment
    rerun = _rerun_command(journal.command) or (
        f"chaosrun run {exp.source}" if exp.source else "chaosrun run <experiment file>"
    )
    probes = [
        [e(p.name), e(p.kind), f"<code>{e(p.target)}</code>", fmt.seconds(p.every_s), e(p.tolerance or "–"),
         e(p.during or "–"), fmt.seconds(p.recover_within_s), e(", ".join(p.regions) or "all")]
        for p in exp.probes
    ]  # fmt: skip
    variables = [[e(k), f"<code>{e(v)}</code>"] for k, v in exp.variables]
    body = f"""<h3>Re-run it</h3><pre class="cmd"><code>{e(rerun)}</code></pre>
{f"<p>The original command: <code>{e(journal.command)}</code></p>" if journal.command else ""}
{table("Probes", _PROBE_HEADERS, probes) if probes else ""}
{table("Variables", ["Variable", "Value"], variables) if variables else ""}
<h3>Experiment source{f" <code>{e(exp.source)}</code>" if exp.source else ""}</h3>
<p class="small muted">As written; secret values are never in the journal
(they are resolved at run time and shown as ***).</p>
<pre class="source"><code>{e(exp.source_text) if exp.source_text else "(not recorded)"}</code></pre>"""
    return section("configuration", "Configuration used", body)


def render_sections(
    journal: Journal, score: Score, figures: Sequence[RegionFigure], history: Sequence[RunSummary] | None
) -> str:
    """Every section, in the order of SECTIONS; `history`: this experiment's runs, newest first."""
    overview = make_overview(journal, observed_spans(journal))
    return "".join((
        overview_section(journal, overview), _score(score), missing_faults_section(journal),
        regions_section(journal, overview), matrix_section(journal),
        _results(probe_rows(journal)), _recovery(journal),
        _faults(journal), _rollbacks(journal), _guardrails(journal), _errors(journal, error_rows(journal)),
        _trend(journal, score, figures, history), _configuration(journal),
    ))  # fmt: skip
