"""The HTML report: one self-contained file rendered from a Journal.

No scripts, no external URL of any kind, a strict Content-Security-Policy; charts are inline
SVG; every user-provided string goes through `_e` (html.escape) exactly once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from html import escape
from importlib.resources import files
from string import Template
from typing import TYPE_CHECKING

from . import fmt
from .charts import timeline_svg, trend_svg
from .data import FaultRecord, Journal
from .results import (
    ErrorRow,
    ProbeRow,
    RegionFigure,
    error_rows,
    probe_rows,
    recovery_result,
    region_figures,
    verdict_word,
)
from .score import PHASE_WEIGHTS, RECOVERY_ZERO_AT, STATUS_CAPS, Score, score_journal

if TYPE_CHECKING:
    from ..history import RunSummary

__all__ = ["CSP", "render_html", "verdict_reason"]

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'none'; "
    "font-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'"
)
_SECTIONS = (
    ("score", "Score"),
    ("timeline", "Timeline"),
    ("results", "Results"),
    ("recovery", "Recovery"),
    ("faults", "Faults"),
    ("rollbacks", "Rollbacks"),
    ("guardrails", "Guardrails"),
    ("errors", "Errors"),
    ("trend", "Trend"),
    ("configuration", "Configuration"),
)


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _badge(kind: str, icon: str, words: str) -> str:
    return f'<span class="badge {kind}"><span aria-hidden="true">{icon}</span> {_e(words)}</span>'


def _verdict_badge(judged: bool, held: bool | None) -> str:
    word = verdict_word(judged, held)
    icon = {"held": "✓", "deviated": "✗"}.get(word, "–")
    return _badge(word.replace(" ", "-"), icon, word)


def _table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "") -> str:
    """A table; cells are HTML already escaped; the first cell of each row is its header."""
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in headers)
    body = []
    for row in rows:
        row_cls = ""
        if row and row[0].startswith("<!--row:"):
            marker, first = row[0].split("-->", 1)
            row_cls = f' class="{marker[8:]}"'
            row = [first, *row[1:]]
        cells = f'<th scope="row">{row[0]}</th>' + "".join(f"<td>{c}</td>" for c in row[1:])
        body.append(f"<tr{row_cls}>{cells}</tr>")
    return (
        f'<div class="table-wrap"><table class="{cls}"><caption>{_e(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _at(journal: Journal, t: float | None) -> str:
    wall = fmt.offset_at(journal.started_at, t)
    return f'{fmt.clock(t)}<span class="muted"> {wall}</span>' if wall else fmt.clock(t)


def _section(sid: str, title: str, body: str, intro: str = "") -> str:
    lead = f'<p class="lead">{intro}</p>' if intro else ""
    return f'<section id="{sid}" aria-labelledby="{sid}-h"><h2 id="{sid}-h">{_e(title)}</h2>{lead}{body}</section>'


def _empty(text: str) -> str:
    return f'<p class="empty">{_e(text)}</p>'


_FILLER = frozenset({"a", "an", "and", "at", "by", "every", "for", "in", "of", "on", "or", "the", "was", "judged"})


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[\w-]+", text.lower()) if w not in _FILLER}


def verdict_reason(journal: Journal) -> str:
    """The journal's `reason` when it says more than the verdict's meaning; '' otherwise.

    A held run shows one sentence, the meaning. Otherwise the reason names what the meaning
    cannot (probe, region, guardrail, error) and is shown, unless its words are the meaning's.
    """
    reason = journal.reason.strip()
    if not reason or journal.status == "held":
        return ""
    meaning = fmt.STATUS_TEXT[journal.status][2]
    return "" if _words(reason) <= _words(meaning) else reason


def _header(journal: Journal, score: Score) -> str:
    icon, words, meaning = fmt.STATUS_TEXT[journal.status]
    exp = journal.experiment
    tags = "".join(f"<li>{_e(t)}</li>" for t in exp.tags)
    host = journal.host
    where = ", ".join(x for x in (host.hostname, host.platform, f"Python {host.python}" if host.python else "") if x)
    facts = [
        ("Started", fmt.when(journal.started_at)),
        ("Ended", fmt.when(journal.ended_at)),
        ("Duration", fmt.duration(journal.duration_s)),
        ("Where", where or "–"),
        ("Regions", ", ".join(journal.regions) or "–"),
        ("Run", journal.run_id or "–"),
        ("chaosrun", journal.chaosrun_version or "–"),
    ]
    dl = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in facts)
    notes = "".join(f"<li>{_e(n)}</li>" for n in journal.notes)
    notes_html = f'<div class="alert info" role="note"><strong>Note</strong><ul>{notes}</ul></div>' if notes else ""
    remaining = "".join(f"<li>{_e(r)}</li>" for r in journal.remaining)
    danger = (
        '<div class="alert danger" role="alert"><strong>Something may still be injected.</strong>'
        f"<ul>{remaining}</ul><p>Undo it from the ledger with <code>chaosrun recover</code>, "
        "then check the targets by hand.</p></div>"
        if remaining
        else ""
    )
    return f"""<header class="top">
<p class="kicker">chaosrun resilience report</p>
<h1>{_e(exp.title)}</h1>
{f'<p class="description">{_e(exp.description)}</p>' if exp.description else ""}
{f'<ul class="tags" aria-label="Tags">{tags}</ul>' if tags else ""}
<div class="summary">
<div class="verdict v-{journal.status}" role="status">
<span class="verdict-icon" aria-hidden="true">{icon}</span>
<div><p class="verdict-label">Verdict</p><p class="verdict-word">{_e(words)}</p>
<p class="verdict-meaning">{_e(meaning)}</p>
{f'<p class="verdict-reason">{_e(reason)}</p>' if (reason := verdict_reason(journal)) else ""}</div>
</div>
<a class="score-card" href="#score" aria-label="Resilience score {score.value} out of 100">
<span class="ring" style="--p:{score.value}"><span class="ring-value">{score.value}</span></span>
<span class="score-text"><span class="score-label">Resilience score</span>
<span class="score-of">{score.value} / 100</span></span></a>
<dl class="facts">{dl}</dl>
</div>
{danger}{notes_html}
</header>"""


def _score(score: Score) -> str:
    rows = []
    for part in score.parts:
        credit = "not counted" if part.credit is None else f"{part.credit * 100:.1f}%"
        rows.append(
            [_e(part.name.replace("_", " ")), f"{part.weight:g}", credit, f"{score.points(part):.1f}", _e(part.detail)]
        )
    cap = (
        f'<p class="alert warn">{_e(score.cap_reason)} (before the cap: {score.raw:.1f}).</p>'
        if score.cap_reason
        else ""
    )
    weights = ", ".join(f"{k} ×{v:g}" for k, v in PHASE_WEIGHTS.items())
    caps = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in STATUS_CAPS.items())
    body = f"""<div class="score-big"><span class="big">{score.value}</span><span> / 100</span></div>
{cap}{_table("What makes up the score", ["Part", "Weight", "Credit", "Points", "Counted"], rows)}
<div class="formula"><h3>How the score is computed</h3>
<p><code>score = floor(min(cap, 70% × steady state + 30% × recovery))</code>, clamped to 0–100,
so it can never exceed 100.</p>
<ul><li><strong>Steady state</strong>: the weighted share of judged verdicts (probe × region × phase) that held;
phase weights {_e(weights)}: holding up under the fault and coming back count double.</li>
<li><strong>Recovery</strong>: per probe and region, full credit within the objective, falling linearly to 0 at
{RECOVERY_ZERO_AT:g}× the objective; 0 if it never recovered. A probe without a recovery objective is not counted
(its recovery phase still is, in the steady state).</li>
<li>A part with nothing to judge is left out and the other carries its weight.</li>
<li><strong>Cap by status</strong>: {_e(caps)}.</li></ul></div>"""
    return _section("score", "Resilience score", body)


def _timeline(journal: Journal, figures: Sequence[RegionFigure]) -> str:
    parts = []
    by_region = {f.region: f for f in figures}
    for i, region in enumerate(journal.regions):
        fig = by_region.get(region)
        svg = timeline_svg(journal, region, chart_id=f"tl{i}")
        caption = (
            f"{_e(region)}: {_e(fig.verdict)}, {fig.samples:,} samples, success {fmt.ratio(fig.success_ratio)}, "
            f"p95 {fmt.ms(fig.p95_ms)} over the whole run."
            if fig
            else _e(region)
        )
        parts.append(
            f'<figure class="chart-figure"><h3>{_e(region)}</h3><div class="chart-scroll">{svg}</div>'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    key = (
        '<p class="lead">Solid lines: p50; dashed: p95 (per time bucket); dots: raw samples, downsampled for drawing '
        "(statistics in the tables use every sample). Shading: the baseline, fault and recovery phases; hatching: "
        "fault windows; red line: guardrail trip; purple dotted line: rollback.</p>"
    )
    hint = '<p class="scroll-hint small muted">The charts are wide: scroll them sideways.</p>' if parts else ""
    body = key + hint + ("".join(parts) or _empty("No samples were recorded."))
    return _section("timeline", "Timeline per region", body)


def _results(rows: Sequence[ProbeRow]) -> str:
    out = []
    for r in rows:
        s = r.stats
        reasons = "".join(f"<li>{_e(x)}</li>" for x in r.reasons)
        verdict = _verdict_badge(r.judged, r.held) + (f'<ul class="reasons">{reasons}</ul>' if reasons else "")
        if r.computed:
            verdict += '<span class="muted small"> computed from samples</span>'
        cls = "bad" if r.judged and r.held is False else ""
        out.append([
            f"<!--row:{cls}-->{_e(r.probe)}", _e(r.region), _e(r.phase), f"{s.samples:,}", fmt.ratio(s.success_ratio),
            fmt.ms(s.p50_ms), fmt.ms(s.p95_ms), fmt.ms(s.p99_ms), fmt.ms(s.max_ms), _e(r.tolerance or "–"), verdict,
        ])  # fmt: skip
    headers = ["Probe", "Region", "Phase", "Samples", "Success", "p50", "p95", "p99", "Max", "Tolerance", "Verdict"]
    body = _table("Probe × region × phase", headers, out, cls="results") if out else _empty("No probe results.")
    return _section("results", "Results per probe, region and phase", body)


def _recovery(journal: Journal) -> str:
    rows = []
    for r in journal.recovery:
        kind, words = recovery_result(r)
        if kind == "none":
            result = _badge("not-judged", "–", words)
            bar = '<span class="muted">–</span>'
        else:
            result = _badge("held", "✓", words) if kind == "met" else _badge("deviated", "✗", words)
            scale = RECOVERY_ZERO_AT * (r.objective_s or 1.0)
            width = 100.0 if r.recovery_s is None else min(100.0, r.recovery_s / scale * 100)
            goal = f'<span class="goal" style="left:{100 / RECOVERY_ZERO_AT:.1f}%"></span>'
            fill = f'<span class="fill {"ok" if kind == "met" else "late"}" style="width:{width:.1f}%"></span>'
            bar = f'<span class="bar" aria-hidden="true">{fill}{goal}</span>'
        rows.append([_e(r.region), _e(r.probe), fmt.seconds(r.recovery_s), fmt.seconds(r.objective_s), bar, result])
    body = (
        _table(
            "Time to recover after the fault was removed",
            ["Region", "Probe", "Recovered in", "Objective", "Against objective", "Result"],
            rows,
            cls="recovery",
        )
        if rows
        else _empty(
            "No recovery was measured (the run did not reach the recovery phase, or no probe has an objective)."
        )
    )
    if any(r.objective_s is None for r in journal.recovery):
        body += (
            '<p class="small muted">No objective: the probe has no <code>recover_within</code>; its recovery time is '
            "shown for information, the recovery phase is judged whole, and the score does not count it.</p>"
        )
    return _section("recovery", "Recovery time per region", body)


def _undo(f: FaultRecord) -> str:
    match f.undo:
        case "ok":
            return _badge("held", "✓", "undone")
        case "failed":
            return _badge("deviated", "✗", "undo failed") + (f'<p class="small">{_e(f.error)}</p>' if f.error else "")
        case "not_applied":
            return _badge("not-judged", "–", "not applied")
        case _:
            return _badge("deviated", "⚠", "pending: may still be injected")


def _faults(journal: Journal) -> str:
    headers = ["Fault", "Kind", "Target", "Region", "What", "Injected", "Removed", "Undo"]
    tables: dict[bool, list[list[str]]] = {False: [], True: []}  # setup? -> rows
    for f in journal.faults:
        what = _e(f.description or "–") + ("".join(f'<br><span class="small muted">{_e(u)}</span>' for u in f.updates))
        tables[f.setup].append([_e(f.name), _e(f.kind), f"<code>{_e(f.target)}</code>", _e(f.region or "all"), what,
                                _at(journal, f.applied_s), _at(journal, f.removed_s), _undo(f)])  # fmt: skip
    body = (
        _table("Faults injected", headers, tables[False], cls="faults")
        if tables[False]
        else _empty("No faults were injected.")
    )
    if tables[True]:
        body += (
            '<div class="setup"><h3>Set-up (created by chaosrun, removed after the run)</h3>'
            '<p class="small muted">Infrastructure the faults need (a proxy, say), created before the baseline: '
            "not a fault, not drawn as a fault window.</p>"
            + _table("Set-up entries", headers, tables[True], cls="faults")
            + "</div>"
        )
    return _section("faults", "Faults", body)


def _rollbacks(journal: Journal) -> str:
    rows = [
        [
            _e(r.name),
            _at(journal, r.t),
            _badge("held", "✓", "ok") if r.ok else _badge("deviated", "✗", "failed"),
            _e(r.error or "–"),
        ]
        for r in journal.rollbacks
    ]
    body = (
        _table("Rollbacks run after the faults", ["Rollback", "At", "Result", "Error"], rows)
        if rows
        else _empty("No rollbacks ran.")
    )
    return _section("rollbacks", "Rollbacks", body)


def _guardrails(journal: Journal) -> str:
    trips = [g for g in journal.guardrails if g.tripped]
    tripped = {g.name for g in trips}
    config = [
        [
            _e(g.name),
            _e(g.condition or "–"),
            _badge("deviated", "■", "tripped") if g.name in tripped else _badge("held", "✓", "not tripped"),
        ]
        for g in journal.experiment.guardrails
    ]
    rows = [
        [_e(g.name), _e(g.region or "all"), _at(journal, g.t), _e(g.evidence or "–"), fmt.ms(g.reaction_ms)]
        for g in trips
    ]
    body = _table("Guardrails configured", ["Guardrail", "Condition", "Outcome"], config) if config else ""
    body += _table("Guardrail trips", ["Guardrail", "Region", "At", "Evidence", "Reaction"], rows) if rows else ""
    return _section("guardrails", "Guardrails", body or _empty("No guardrails were configured."))


def _errors(journal: Journal, errors: Sequence[ErrorRow]) -> str:
    rows = [
        [_e(x.message), f"{x.count:,}", _at(journal, x.first_s), _at(journal, x.last_s), _e(", ".join(x.where))]
        for x in errors
    ]
    body = (
        _table("Most frequent probe errors", ["Error", "Count", "First", "Last", "Where"], rows)
        if rows
        else _empty("No probe errors.")
    )
    if journal.errors:
        body += (
            '<h3>Run errors</h3><ul class="run-errors">'
            + "".join(f"<li><code>{_e(m)}</code></li>" for m in journal.errors)
            + "</ul>"
        )
    return _section("errors", "Probe errors", body)


def _trend(
    journal: Journal, score: Score, figures: Sequence[RegionFigure], history: Sequence[RunSummary] | None
) -> str:
    if history is None:
        return _section("trend", "Trend", _empty("The run history was not available for this report."))
    runs = [r for r in history if r.run_id != journal.run_id]
    if not runs:
        return _section("trend", "Trend", _empty("No previous runs of this experiment in the run history."))
    regions = list(dict.fromkeys([*journal.regions, *(x.region for r in runs for x in r.regions)]))
    this = {f.region: f.p95_ms for f in figures}
    first = f"<strong>this run</strong><br>{_e(fmt.when(journal.started_at))}"
    rows = [[first, _status_badge(journal.status), f"<strong>{score.value}</strong>",
             *[fmt.ms(this.get(x)) for x in regions], _e(journal.run_id)]]  # fmt: skip
    for r in runs:
        p95 = {x.region: x.p95_ms for x in r.regions}
        rows.append([_e(fmt.when(r.started_at)), _status_badge(r.status), str(r.score),
                     *[fmt.ms(p95.get(x)) for x in regions], _e(r.run_id)])  # fmt: skip
    points = [(fmt.when(r.started_at)[5:16], r.score, r.status) for r in reversed(runs)]
    points.append(("this run", score.value, journal.status))
    headers = ["When", "Verdict", "Score", *[f"p95 {x}" for x in regions], "Run"]
    body = trend_svg(points, chart_id="trend") + _table("This run and the previous ones, newest first", headers, rows)
    return _section("trend", "Trend: previous runs", body)


def _status_badge(status: str) -> str:
    icon, words, _ = fmt.STATUS_TEXT.get(status, ("?", status, ""))
    return _badge(f"s-{status}", icon, words)


_PROBE_HEADERS = ("Probe", "Kind", "Target", "Every", "Tolerance", "During the fault", "Recover within", "Regions")


def _configuration(journal: Journal) -> str:
    exp = journal.experiment
    rerun = f"chaosrun run {exp.source}" if exp.source else "chaosrun run <experiment file>"
    probes = [
        [_e(p.name), _e(p.kind), f"<code>{_e(p.target)}</code>", fmt.seconds(p.every_s), _e(p.tolerance or "–"),
         _e(p.during or "–"), fmt.seconds(p.recover_within_s), _e(", ".join(p.regions) or "all")]
        for p in exp.probes
    ]  # fmt: skip
    variables = [[_e(k), f"<code>{_e(v)}</code>"] for k, v in exp.variables]
    body = f"""<h3>Re-run it</h3><pre class="cmd"><code>{_e(rerun)}</code></pre>
{f"<p>The original command: <code>{_e(journal.command)}</code></p>" if journal.command else ""}
{_table("Probes", _PROBE_HEADERS, probes) if probes else ""}
{_table("Variables", ["Variable", "Value"], variables) if variables else ""}
<h3>Experiment source{f" <code>{_e(exp.source)}</code>" if exp.source else ""}</h3>
<p class="small muted">As written; secret values are never in the journal
(they are resolved at run time and shown as ***).</p>
<pre class="source"><code>{_e(exp.source_text) if exp.source_text else "(not recorded)"}</code></pre>"""
    return _section("configuration", "Configuration used", body)


def _data(journal: Journal, score: Score, figures: Sequence[RegionFigure]) -> str:
    """Machine-readable summary for tools; inert (type application/json), `<` escaped."""
    data = {
        "run_id": journal.run_id,
        "status": journal.status,
        "score": score.as_wire(),
        "regions": [
            {"region": f.region, "verdict": f.verdict, "p95_ms": f.p95_ms, "success_ratio": f.success_ratio}
            for f in figures
        ],
    }
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_html(journal: Journal, history: Sequence[RunSummary] | None = None) -> str:
    """The self-contained HTML report of a journal; `history`: this experiment's runs, newest first."""
    score = score_journal(journal)
    figures = region_figures(journal)
    body = "".join((
        _score(score), _timeline(journal, figures), _results(probe_rows(journal)), _recovery(journal),
        _faults(journal), _rollbacks(journal), _guardrails(journal), _errors(journal, error_rows(journal)),
        _trend(journal, score, figures, history), _configuration(journal),
    ))  # fmt: skip
    nav = "".join(f'<li><a href="#{sid}">{_e(label)}</a></li>' for sid, label in _SECTIONS)
    package = files("chaosrun.report")
    page = Template(package.joinpath("report.html").read_text(encoding="utf-8"))
    icon, words, _ = fmt.STATUS_TEXT[journal.status]
    return page.substitute(
        csp=CSP,
        title=_e(f"{icon} {words}: {journal.experiment.title}"),
        version=_e(journal.chaosrun_version or "unknown"),
        status=journal.status,
        css=package.joinpath("report.css").read_text(encoding="utf-8"),
        header=_header(journal, score),
        nav=nav,
        sections=body,
        footer=(
            f"Generated by chaosrun {_e(journal.chaosrun_version or '')} from run {_e(journal.run_id or '?')}. "
            "This file is self-contained: no scripts, no network requests."
        ),
        data=_data(journal, score, figures),
    )
