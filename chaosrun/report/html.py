"""The HTML report: one self-contained file rendered from a Journal.

No scripts, no external URL of any kind, a strict Content-Security-Policy; charts are inline
SVG; every user-provided string goes through `markup.e` (html.escape) exactly once.
This module assembles the page (header, navigation, the sections from `sections`, the embedded
data) into the report.html template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from importlib.resources import files
from string import Template
from typing import TYPE_CHECKING

from . import fmt
from .data import Journal
from .markup import e
from .results import RegionFigure, region_figures
from .score import Score, score_journal
from .sections import SECTIONS, render_sections

if TYPE_CHECKING:
    from ..history import RunSummary

__all__ = ["CSP", "render_html", "verdict_reason"]

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'none'; "
    "font-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'"
)


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
    tags = "".join(f"<li>{e(t)}</li>" for t in exp.tags)
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
    dl = "".join(f"<div><dt>{e(k)}</dt><dd>{e(v)}</dd></div>" for k, v in facts)
    notes = "".join(f"<li>{e(n)}</li>" for n in journal.notes)
    notes_html = f'<div class="alert info" role="note"><strong>Note</strong><ul>{notes}</ul></div>' if notes else ""
    remaining = "".join(f"<li>{e(r)}</li>" for r in journal.remaining)
    danger = (
        '<div class="alert danger" role="alert"><strong>Something may still be injected.</strong>'
        f"<ul>{remaining}</ul><p>Undo it from the ledger with <code>chaosrun recover</code>, "
        "then check the targets by hand.</p></div>"
        if remaining
        else ""
    )
    return f"""<header class="top">
<p class="kicker">chaosrun resilience report</p>
<h1>{e(exp.title)}</h1>
{f'<p class="description">{e(exp.description)}</p>' if exp.description else ""}
{f'<ul class="tags" aria-label="Tags">{tags}</ul>' if tags else ""}
<div class="summary">
<div class="verdict v-{journal.status}" role="status">
<span class="verdict-icon" aria-hidden="true">{icon}</span>
<div><p class="verdict-label">Verdict</p><p class="verdict-word">{e(words)}</p>
<p class="verdict-meaning">{e(meaning)}</p>
{f'<p class="verdict-reason">{e(reason)}</p>' if (reason := verdict_reason(journal)) else ""}</div>
</div>
<a class="score-card" href="#score" aria-label="Resilience score {score.value} out of 100">
<span class="ring" style="--p:{score.value}"><span class="ring-value">{score.value}</span></span>
<span class="score-text"><span class="score-label">Resilience score</span>
<span class="score-of">{score.value} / 100</span></span></a>
<dl class="facts">{dl}</dl>
</div>
{danger}{notes_html}
</header>"""


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
    body = render_sections(journal, score, figures, history)
    nav = "".join(f'<li><a href="#{sid}">{e(label)}</a></li>' for sid, label in SECTIONS)
    package = files("chaosrun.report")
    page = Template(package.joinpath("report.html").read_text(encoding="utf-8"))
    icon, words, _ = fmt.STATUS_TEXT[journal.status]
    return page.substitute(
        csp=CSP,
        title=e(f"{icon} {words}: {journal.experiment.title}"),
        version=e(journal.chaosrun_version or "unknown"),
        status=journal.status,
        css=package.joinpath("report.css").read_text(encoding="utf-8"),
        header=_header(journal, score),
        nav=nav,
        sections=body,
        footer=(
            f"Generated by chaosrun {e(journal.chaosrun_version or '')} from run {e(journal.run_id or '?')}. "
            "This file is self-contained: no scripts, no network requests."
        ),
        data=_data(journal, score, figures),
    )
