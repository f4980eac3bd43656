"""A suite of experiment outcomes (a gate or a game day) and its JUnit XML.

Each experiment is one `<testsuite>`, named by its file as given (stable across builds, unique
in the suite); inside, the run's own testcases (chaosrun.report.junit) and one `gate` testcase
(`expectation` for a game day) that fails when the suite's rule says this experiment failed.
An experiment that never ran (an invalid file, a refusal) is a suite with one errored
`run`/`verdict` case.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from ..report.junit import render_junit
from .outcome import Outcome

__all__ = ["Row", "Suite", "relative_link", "render_suite_junit"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One experiment of a suite and the suite's judgement of it."""

    outcome: Outcome
    passed: bool
    rule: str  # what was required: "held", "held or deviated", "score >= 80"
    why: str  # one line: why it passed or failed


@dataclass(frozen=True, slots=True, kw_only=True)
class Suite:
    kind: str  # "gate" or "game day"
    title: str
    rows: tuple[Row, ...]
    exit_code: int
    rule: str  # the suite's policy in words
    started_at: str = ""
    ended_at: str = ""
    duration_s: float | None = None
    notes: tuple[str, ...] = ()  # what else happened (stopped early, skipped experiments)

    @property
    def passed(self) -> bool:
        return self.exit_code == 0


def _x(text: object) -> str:
    from ..report.junit import _x as clean

    return clean(text)


def _run_suite(row: Row) -> ET.Element:
    o = row.outcome
    if o.journal is not None:
        suite = ET.fromstring(render_junit(o.journal)).find("testsuite")
        if suite is not None:
            return suite
    suite = ET.Element("testsuite", name="", tests="1", failures="0", errors="1", skipped="0", time="0.000")
    case = ET.SubElement(suite, "testcase", classname="run", name="verdict", time="0.000")
    ET.SubElement(case, "error", message=_x(f"{o.status}: {o.reason}"), type=_x(o.status)).text = _x(o.reason)
    return suite


def render_suite_junit(suite: Suite, kind_case: str = "gate") -> str:
    """One JUnit XML for the whole suite: a testsuite per experiment, in order."""
    root = ET.Element("testsuites", name=_x(f"chaosrun {suite.kind}: {suite.title}"))
    totals = {"tests": 0, "failures": 0, "errors": 0}
    seen: set[str] = set()
    time_total = 0.0
    for row in suite.rows:
        element = _run_suite(row)
        name, repeat = row.outcome.file, 1
        while name in seen:  # the same file twice (a game day may repeat one): stable suffixes
            repeat += 1
            name = f"{row.outcome.file} ({repeat})"
        seen.add(name)
        element.set("name", _x(name))
        props = element.find("properties")
        if props is None:
            props = ET.Element("properties")
            element.insert(0, props)
        for key, value in (("title", row.outcome.title), ("rule", row.rule), ("passed", str(row.passed).lower())):
            ET.SubElement(props, "property", name=key, value=_x(value))
        case = ET.Element("testcase", classname=kind_case, name="expectation" if kind_case != "gate" else "policy")
        if not row.passed:
            ET.SubElement(case, "failure", message=_x(row.why), type=_x(row.outcome.status)).text = _x(
                f"required: {row.rule}\nactual: {row.outcome.status}\n{row.outcome.reason}"
            )
            element.set("failures", str(int(element.get("failures", "0")) + 1))
        else:
            ET.SubElement(case, "system-out").text = _x(f"required: {row.rule}; {row.why}")
        # testcases come after properties and before system-out/err (junit-10.xsd's sequence)
        tail = [i for i, child in enumerate(element) if child.tag in ("system-out", "system-err")]
        element.insert(tail[0] if tail else len(element), case)
        element.set("tests", str(int(element.get("tests", "0")) + 1))
        for key in totals:
            totals[key] += int(element.get(key, "0"))
        time_total += float(element.get("time", "0") or 0)
        root.append(element)
    for key, total in totals.items():
        root.set(key, str(total))
    root.set("time", f"{time_total:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def relative_link(target: Path, base: Path) -> str:
    """A relative URL from the folder `base` to `target` (both on this machine), '/'-separated."""
    import os

    return Path(os.path.relpath(target.resolve(), base.resolve())).as_posix()
