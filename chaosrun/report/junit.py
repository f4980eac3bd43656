"""JUnit XML of a run, for CI: one testsuite per experiment.

CI systems track a test by classname + name across builds, so both are stable: they never
carry the outcome, a port, a pid or a run id (those go in the failure message and system-out).

| classname | name | outcome |
|---|---|---|
| `run` | `verdict` | error for error, rollback_failed and unfinished runs; failure when the hypothesis did not hold |
| `probe.<probe>` | `<region>: <phase>` | one per verdict; failure when it did not hold, skipped when not judged |
| `fault.<step>` | `undo` or `undo in <region>` | one per step and region (all its targets); failure: undo failed |
| `setup` | `removed` | one when chaosrun created set-up (a proxy, say); failure when removing it failed |
| `guardrail` | `<guardrail>` | failure when it tripped |

Set-up is not a fault: it has no fault testcase. The root `<testsuites>` carries only the
attributes the Jenkins xUnit junit-10.xsd allows there (`skipped` is on `<testsuite>` only).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from . import fmt
from .data import FaultRecord, Journal
from .results import probe_rows
from .score import score_journal

__all__ = ["render_junit"]

# XML 1.0 cannot carry most control characters, even escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_KIND = {"failure": "failures", "error": "errors", "skipped": "skipped"}


def _x(text: object) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


class _Suite:
    def __init__(self, journal: Journal) -> None:
        self.root = ET.Element("testsuites", name="chaosrun")
        self.suite = ET.SubElement(self.root, "testsuite", name=_x(journal.experiment.title))
        self.counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        self.seen: set[tuple[str, str]] = set()

    def case(self, classname: str, name: str, time_s: float | None = None) -> ET.Element:
        """A testcase; its classname + name is unique in the suite (a repeat gets ` (2)`, ...)."""
        unique, n = name, 1
        while (classname, unique) in self.seen:
            n += 1
            unique = f"{name} ({n})"
        self.seen.add((classname, unique))
        self.counts["tests"] += 1
        attrs = {"classname": _x(classname), "name": _x(unique)}
        if time_s is not None:
            attrs["time"] = f"{time_s:.3f}"
        return ET.SubElement(self.suite, "testcase", attrs)

    def outcome(self, case: ET.Element, kind: str, message: str, text: str = "", type_: str = "") -> None:
        self.counts[_KIND[kind]] += 1
        element = ET.SubElement(case, kind, message=_x(message))
        if type_:
            element.set("type", _x(type_))
        if text:
            element.text = _x(text)

    def out(self, case: ET.Element, text: str) -> None:
        if text:
            ET.SubElement(case, "system-out").text = _x(text)


def _undo_line(f: FaultRecord) -> str:
    if f.setup:
        result = {"ok": "removed", "failed": "removal failed", "not_applied": "not created", "pending": "no removal"}
    else:
        result = {"ok": "undone", "failed": "undo failed", "not_applied": "not applied", "pending": "no undo recorded"}
    line = f"{f.description or f.kind or f.name}"
    if f.target:
        line += f" (target {f.target})"
    line += f": {result.get(f.undo, f.undo)}"
    return line + (f": {f.error}" if f.error else "")


def _undo_outcome(s: _Suite, case: ET.Element, records: Sequence[FaultRecord], what: str) -> None:
    """The worst undo of `records` (one step in one region, or all set-up) as the case's outcome."""
    failed = [f for f in records if f.undo == "failed"]
    pending = [f for f in records if f.undo == "pending"]
    detail = "\n".join(_undo_line(f) for f in records)
    of = f" ({len(failed)} of {len(records)})" if len(records) > 1 else ""
    if failed:
        errors = "; ".join(dict.fromkeys(f.error or "unknown error" for f in failed))
        s.outcome(case, "failure", f"{what} failed{of}: {errors}", detail, "undo_failed")
    elif pending:
        s.outcome(case, "error", f"no {what} recorded: it may still be in place", detail, "undo_pending")
    elif all(f.undo == "not_applied" for f in records):
        s.outcome(case, "skipped", "not applied")
    else:
        s.out(case, detail)


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
        **{f"score.{r.region}": "not judged" if r.value is None else r.value for r in score.regions},
    }
    for key, value in properties.items():
        ET.SubElement(props, "property", name=key, value=_x(value))

    _, words, meaning = fmt.STATUS_TEXT[journal.status]
    run = s.case("run", "verdict", journal.duration_s)
    detail = "\n".join([journal.reason, *journal.errors, *(f"may remain: {r}" for r in journal.remaining)])
    message = f"{words}: {journal.reason or meaning}"
    if journal.status in ("error", "rollback_failed", "crashed", "inconclusive"):
        s.outcome(run, "error", message, detail, journal.status)
    elif journal.status != "held":
        s.outcome(run, "failure", message, detail, journal.status)

    for row in probe_rows(journal):
        case = s.case(f"probe.{row.probe}", f"{row.region}: {row.phase}")
        st = row.stats
        summary = (
            f"{st.samples} samples, success {fmt.ratio(st.success_ratio)}, p50 {fmt.ms(st.p50_ms)}, "
            f"p95 {fmt.ms(st.p95_ms)}, p99 {fmt.ms(st.p99_ms)}, max {fmt.ms(st.max_ms)}; "
            f"tolerance: {row.tolerance or '-'}"
        )
        if row.judged and row.inconclusive and row.held is None:
            scheduled = st.samples + row.not_taken
            s.outcome(
                case,
                "skipped",
                f"inconclusive: {row.not_taken} of {scheduled} samples not taken (chaosrun could not keep up)",
            )
        elif not row.judged or row.held is None:
            s.outcome(case, "skipped", "not judged in this phase")
        elif not row.held:
            s.outcome(case, "failure", "; ".join(row.reasons) or "tolerance not met", summary)
        s.out(case, summary)

    # one testcase per step and region: a step that hits several targets (pods, processes) keeps
    # one identity however many it hit this time; the targets are listed in its output
    steps: dict[tuple[str, str | None], list[FaultRecord]] = {}
    for f in journal.faults:
        if not f.setup:
            steps.setdefault((f.name, f.region), []).append(f)
    for (name, region), records in steps.items():
        case = s.case(f"fault.{name}", f"undo in {region}" if region else "undo")
        _undo_outcome(s, case, records, "undo")

    # set-up (a proxy chaosrun created) is not a fault; its removal failing still fails the build
    setup = [f for f in journal.faults if f.setup]
    if setup:
        _undo_outcome(s, s.case("setup", "removed"), setup, "set-up removal")

    trips = {g.name: g for g in journal.guardrails if g.tripped}
    names = list(dict.fromkeys([g.name for g in journal.experiment.guardrails] + list(trips)))
    for name in names:
        case = s.case("guardrail", name)
        if name in trips:
            g = trips[name]
            s.outcome(case, "failure", f"tripped in {g.region or 'a region'} at {fmt.clock(g.t)}", g.evidence)

    time = f"{journal.duration_s or 0.0:.3f}"
    for key, value in s.counts.items():
        s.suite.set(key, str(value))
        if key != "skipped":  # junit-10.xsd: <testsuites> has name, time, tests, failures, errors
            s.root.set(key, str(value))
    s.root.set("time", time)
    s.suite.set("time", time)
    if journal.started_at:
        s.suite.set("timestamp", _x(journal.started_at.rstrip("Z")))
    s.suite.set("hostname", _x(journal.host.hostname or "unknown"))
    ET.indent(s.root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(s.root, encoding="unicode") + "\n"
