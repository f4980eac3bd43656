"""The suite's Markdown summary and its index page (self-contained HTML, no scripts, no network).

Both show every experiment with its verdict, what was required, its score, its recovery and
where its report is. The summary is link-free (it is read in CI job summaries and merge-request
comments, where a runner's paths are not links); the index page links each report relatively,
so the folder can be uploaded as an artifact and browsed as is.
"""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path
from string import Template

from .. import __version__
from ..report import fmt
from ..report.html import CSP
from ..report.markup import badge, e, section, table
from ..report.summary import _md
from .outcome import Outcome
from .suite import Suite, relative_link

_CSS = "\ntr.fail th, tr.fail td { background: #fff4f4; }\n"
_SECTION = re.compile(r'<section id="([a-z-]+)" aria-labelledby="[a-z-]+-h"><h2 id="[a-z-]+-h">([^<]*)</h2>')

__all__ = [
    "page",
    "recovery_text",
    "render_index",
    "render_suite_summary",
    "status_words",
    "suite_data",
    "suite_header",
    "suite_table",
]

_EXTRA = {
    "invalid": ("!", "Invalid", "the experiment could not run: its file or its targets were refused"),
    "inconclusive": ("?", "Inconclusive", "chaosrun could not judge the run honestly"),
    "skipped": ("–", "Not run", "the suite stopped before this experiment"),
}


def status_words(status: str) -> tuple[str, str, str]:
    """(icon, words, meaning) of a status, also of those only a suite has (invalid, skipped)."""
    return fmt.STATUS_TEXT.get(status) or _EXTRA.get(status) or ("?", status.replace("_", " "), "")


def recovery_text(o: Outcome) -> str:
    """'us-east 1.2 s, eu-west never' (each region's slowest probe); '–' when not measured."""
    if not o.recovery:
        return "–"
    return ", ".join(
        f"{r.region} {'never' if r.recovery_s is None else fmt.seconds(r.recovery_s)}"
        + (" (missed)" if r.met is False else "")
        for r in o.recovery
    )


def _counts(suite: Suite) -> str:
    passed = sum(r.passed for r in suite.rows)
    failed = len(suite.rows) - passed
    return f"{len(suite.rows)} experiment{'s' if len(suite.rows) != 1 else ''}: {passed} passed, {failed} failed"


def render_suite_summary(suite: Suite) -> str:
    """Markdown for $GITHUB_STEP_SUMMARY or a merge-request comment."""
    icon = "✓" if suite.passed else "✗"
    word = "passed" if suite.passed else "failed"
    out = [
        f"# {icon} chaosrun {suite.kind} {word}: {_md(suite.title)}",
        "",
        f"**{_counts(suite)}** · exit {suite.exit_code} · {_md(suite.rule)}",
        "",
        "| # | Experiment | Verdict | Required | Score | Recovery | Result | Report |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, row in enumerate(suite.rows, 1):
        o = row.outcome
        s_icon, s_words, _ = status_words(o.status)
        report = f"`{o.report}`" if o.report else "–"
        out.append(
            f"| {i} | {_md(o.title)} (`{o.file}`) | {s_icon} {s_words} | {_md(row.rule)} | "
            f"{'–' if o.score is None else o.score} | {_md(recovery_text(o))} | "
            f"{'pass' if row.passed else '**fail**'}: {_md(row.why)} | {report} |"
        )
    out.append("")
    failed = [r for r in suite.rows if not r.passed and r.outcome.reason]
    if failed:
        out += ["## Why", ""] + [f"- {_md(r.outcome.title)}: {_md(r.outcome.reason)}" for r in failed] + [""]
    if suite.notes:
        out += ["## Notes", ""] + [f"- {_md(n)}" for n in suite.notes] + [""]
    return "\n".join(out).rstrip() + "\n"


def _status_badge(status: str) -> str:
    icon, words, _ = status_words(status)
    return badge(f"s-{status}", icon, words)


def _pass_badge(passed: bool) -> str:
    return badge("held", "✓", "pass") if passed else badge("deviated", "✗", "fail")


def suite_table(suite: Suite, base: Path, caption: str) -> str:
    """The table of experiments, reports linked relative to the folder `base`."""
    rows = []
    for i, row in enumerate(suite.rows, 1):
        o = row.outcome
        link = f'<a href="{e(relative_link(o.report, base))}">{e(o.title)}</a>' if o.report is not None else e(o.title)
        rows.append(
            [
                f"<!--row:{'pass' if row.passed else 'fail'}-->{i}",
                f'{link}<br><span class="muted small">{e(o.file)}</span>',
                _status_badge(o.status),
                e(row.rule),
                "–" if o.score is None else f"<strong>{o.score}</strong> / 100",
                e(recovery_text(o)),
                _pass_badge(row.passed)
                + f'<br><span class="small">{e(row.why)}</span>'
                + (f'<br><span class="small muted">{e(o.reason)}</span>' if not row.passed and o.reason else ""),
            ]
        )
    headers = ["#", "Experiment (report)", "Verdict", "Required", "Score", "Recovery per region", "Result"]
    return table(caption, headers, rows, cls="suite")


def page(title: str, status_class: str, header: str, body: str, extra_css: str = "", data: str = "{}") -> str:
    """A self-contained page in the report's template: its CSS, its CSP, no scripts; `body` is
    sections (HTML, escaped), `data` JSON for tools (inert, `<` escaped by the caller)."""
    package = files("chaosrun.report")
    template = Template(package.joinpath("report.html").read_text(encoding="utf-8"))
    css = package.joinpath("report.css").read_text(encoding="utf-8") + _CSS + extra_css
    nav = "".join(f'<li><a href="#{sid}">{label}</a></li>' for sid, label in re.findall(_SECTION, body))
    return template.substitute(
        csp=CSP,
        title=e(title),
        version=e(__version__),
        status=status_class.removeprefix("status-"),
        css=css,
        header=header,
        nav=nav,
        sections=body,
        footer=(
            f"Generated by chaosrun {e(__version__)}. This file is self-contained: no scripts, no network "
            "requests; the links open each experiment's own report."
        ),
        data=data,
    )


def suite_data(suite: Suite) -> str:
    """The suite as JSON for tools, inert in the page."""
    rows = [
        {
            "file": r.outcome.file,
            "title": r.outcome.title,
            "status": r.outcome.status,
            "exit_code": r.outcome.exit_code,
            "score": r.outcome.score,
            "passed": r.passed,
            "rule": r.rule,
        }
        for r in suite.rows
    ]
    text = json.dumps({"kind": suite.kind, "exit_code": suite.exit_code, "experiments": rows}, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def suite_header(suite: Suite, kicker: str) -> str:
    icon = "✓" if suite.passed else "✗"
    word = "Passed" if suite.passed else "Failed"
    facts = [
        ("Started", fmt.when(suite.started_at)),
        ("Ended", fmt.when(suite.ended_at)),
        ("Duration", fmt.duration(suite.duration_s)),
        ("Exit code", str(suite.exit_code)),
        ("Experiments", _counts(suite)),
    ]
    dl = "".join(f"<div><dt>{e(k)}</dt><dd>{e(v)}</dd></div>" for k, v in facts)
    notes = "".join(f"<li>{e(n)}</li>" for n in suite.notes)
    return f"""<header class="top">
<p class="kicker">{e(kicker)}</p>
<h1>{e(suite.title)}</h1>
<div class="summary">
<div class="verdict v-{"held" if suite.passed else "deviated"}" role="status">
<span class="verdict-icon" aria-hidden="true">{icon}</span>
<div><p class="verdict-label">{e(suite.kind.capitalize())}</p><p class="verdict-word">{word}</p>
<p class="verdict-meaning">{e(suite.rule)}</p></div></div>
<dl class="facts">{dl}</dl>
</div>
{f'<div class="alert info" role="note"><strong>Notes</strong><ul>{notes}</ul></div>' if notes else ""}
</header>"""


def render_index(suite: Suite, base: Path) -> str:
    """index.html of a gate: every experiment, its verdict, score and recovery, linked to its report."""
    body = section("experiments", "Experiments", suite_table(suite, base, "Every experiment of the gate, in order"))
    return page(
        f"{'✓ Passed' if suite.passed else '✗ Failed'}: {suite.title}",
        "status-held" if suite.passed else "status-deviated",
        suite_header(suite, f"chaosrun {suite.kind}"),
        body,
        data=suite_data(suite),
    )
