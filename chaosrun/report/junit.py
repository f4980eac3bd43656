"""JUnit XML of a run, for CI: one testsuite per experiment.

Testcases: the run itself (an error for error, rollback_failed and unfinished runs, a failure
when the hypothesis did not hold), one per probe x region x phase verdict (skipped when not
judged), one per fault's undo and one per guardrail.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from . import fmt
from .data import Journal
from .results import probe_rows
from .score import score_journal

__all__ = ["render_junit"]

# XML 1.0 cannot carry most control characters, even escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(text: object) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


class _Suite:
    def __init__(self, journal: Journal) -> None:
        self.root = ET.Element("testsuites", name="chaosrun")
        self.suite = ET.SubElement(self.root, "testsuite", name=_x(journal.experiment.title))
        self.counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def case(self, classname: str, name: str, time_s: float | None = None) -> ET.Element:
        self.counts["tests"] += 1
        attrs = {"classname": _x(classname), "name": _x(name)}
        if time_s is not None:
            attrs["time"] = f"{time_s:.3f}"
        return ET.SubElement(self.suite, "testcase", attrs)

    def outcome(self, case: ET.Element, kind: str, message: str, text: str = "") -> None:
        self.counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[kind]] += 1
        element = ET.SubElement(case, kind, message=_x(message))
        if text:
            element.text = _x(text)


def render_junit(journal: Journal) -> str:
    """The JUnit XML text of a journal."""
    s = _Suite(journal)
    score = score_journal(journal)
    props = ET.SubElement(s.suite, "properties")
    properties = {
        "run_id": journal.run_id,
        "status": journal.status,
        "score": score.value,
        "chaosrun_version": journal.chaosrun_version,
        "source": journal.experiment.source,
    }
    for key, value in properties.items():
        ET.SubElement(props, "property", name=key, value=_x(value))

    _, words, meaning = fmt.STATUS_TEXT[journal.status]
    run = s.case("run", f"status: {words}", journal.duration_s)
    detail = "\n".join([journal.reason, *journal.errors, *(f"may remain: {r}" for r in journal.remaining)])
    if journal.status in ("error", "rollback_failed", "crashed"):
        s.outcome(run, "error", journal.reason or meaning, detail)
    elif journal.status != "held":
        s.outcome(run, "failure", journal.reason or meaning, detail)

    for row in probe_rows(journal):
        case = s.case(f"probe.{row.probe}.{row.region}", row.phase)
        st = row.stats
        summary = (
            f"{st.samples} samples, success {fmt.ratio(st.success_ratio)}, p50 {fmt.ms(st.p50_ms)}, "
            f"p95 {fmt.ms(st.p95_ms)}, p99 {fmt.ms(st.p99_ms)}, max {fmt.ms(st.max_ms)}; "
            f"tolerance: {row.tolerance or '-'}"
        )
        if not row.judged or row.held is None:
            s.outcome(case, "skipped", "not judged in this phase")
        elif not row.held:
            s.outcome(case, "failure", "; ".join(row.reasons) or "tolerance not met", summary)
        ET.SubElement(case, "system-out").text = _x(summary)

    for f in journal.faults:
        case = s.case(f"fault.{f.name}", f"undo {f.kind} on {f.target or f.region or 'target'}")
        if f.undo == "failed":
            s.outcome(case, "failure", f"undo failed: {f.error or 'unknown error'}", f.description)
        elif f.undo == "pending":
            s.outcome(case, "error", "no undo recorded: the fault may still be injected", f.description)
        elif f.undo == "not_applied":
            s.outcome(case, "skipped", "not applied")

    trips = {g.name: g for g in journal.guardrails if g.tripped}
    names = list(dict.fromkeys([g.name for g in journal.experiment.guardrails] + list(trips)))
    for name in names:
        case = s.case("guardrail", name)
        if name in trips:
            g = trips[name]
            s.outcome(case, "failure", f"tripped in {g.region or 'a region'} at {fmt.clock(g.t)}", g.evidence)

    for key, value in s.counts.items():
        s.suite.set(key, str(value))
        s.root.set(key, str(value))
    s.suite.set("time", f"{journal.duration_s or 0.0:.3f}")
    if journal.started_at:
        s.suite.set("timestamp", _x(journal.started_at.rstrip("Z")))
    s.suite.set("hostname", _x(journal.host.hostname or "unknown"))
    ET.indent(s.root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(s.root, encoding="unicode") + "\n"
