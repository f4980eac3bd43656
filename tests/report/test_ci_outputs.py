"""The CI outputs (junit.xml, summary.md): stable testcase identities, set-up apart from faults,
attributes the Jenkins xUnit junit-10.xsd allows."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from chaosrun.report import render_junit, render_summary
from chaosrun.report.junit import _Suite
from chaosrun.report.wire import parse_journal

from .journals import make_journal

SMALL: dict[str, Any] = {"regions": ("us-east", "eu-west"), "phases_s": (10.0, 20.0, 10.0), "rate_hz": 2.0}
STATUSES = ("held", "deviated", "not_steady", "aborted", "error", "rollback_failed")

# jenkinsci/xunit-plugin junit-10.xsd: the attributes each element may carry
ALLOWED = {
    "testsuites": {"name", "time", "tests", "failures", "errors"},
    "testsuite": {"name", "tests", "failures", "errors", "group", "time", "skipped", "timestamp"}
    | {"hostname", "id", "package", "file", "log", "url"},
    "testcase": {"name", "time", "classname", "group"},
    "failure": {"type", "message"},
    "error": {"type", "message"},
    "skipped": {"type", "message"},
    "properties": set(),
    "property": {"name", "value"},
    "system-out": set(),
    "system-err": set(),
}


def _junit(wire: dict[str, Any]) -> ET.Element:
    return ET.fromstring(render_junit(parse_journal(wire)))


def _ids(root: ET.Element) -> list[tuple[str, str]]:
    return [(tc.get("classname", ""), tc.get("name", "")) for tc in root.iter("testcase")]


def _case(root: ET.Element, classname: str, name: str) -> ET.Element:
    found = [tc for tc in root.iter("testcase") if (tc.get("classname"), tc.get("name")) == (classname, name)]
    assert len(found) == 1, (classname, name, _ids(root))
    return found[0]


def _setup_wire(status: str = "held", **kw: Any) -> dict[str, Any]:
    return make_journal(status, setup=True, **SMALL, **kw)


# ---------------------------------------------------------------- set-up is not a fault


def test_setup_has_no_fault_testcase_and_one_stable_setup_case() -> None:
    root = _junit(_setup_wire())
    ids = _ids(root)
    assert [c for c, _ in ids if c.startswith("fault.")] == ["fault.slow-payments"]
    assert ("fault.slow-payments", "undo in eu-west") in ids
    case = _case(root, "setup", "removed")
    assert [child.tag for child in case] == ["system-out"], "removed: the case passes"
    assert "create proxy payments-eu" in (case.findtext("system-out") or "")
    for classname, name in ids:  # no port, no run id in any identity
        assert not re.search(r"\d+\.\d+\.\d+\.\d+|:\d{2,5}\b|170000Z", classname + name), (classname, name)


def test_setup_removal_failure_fails_the_same_testcase() -> None:
    ok = _junit(_setup_wire())
    wire = _setup_wire()
    entry = next(f for f in wire["faults"] if f["setup"])
    entry.update(undo="failed", error="toxiproxy http://127.0.0.1:8474: 500 Internal Server Error", removed_s=None)
    root = _junit(wire)
    assert _ids(root) == _ids(ok), "the outcome never changes an identity"
    failure = _case(root, "setup", "removed").find("failure")
    assert failure is not None
    assert failure.get("message") == "set-up removal failed: toxiproxy http://127.0.0.1:8474: 500 Internal Server Error"
    assert "create proxy payments-eu" in (failure.text or "")
    suite = root.find("testsuite")
    assert suite is not None and suite.get("failures") == "1"


def test_setup_without_a_recorded_removal_is_an_error() -> None:
    wire = _setup_wire()
    next(f for f in wire["faults"] if f["setup"]).update(undo="pending", removed_s=None, removed_at=None)
    error = _case(_junit(wire), "setup", "removed").find("error")
    assert error is not None and "may still be in place" in (error.get("message") or "")


def test_no_setup_no_setup_testcase() -> None:
    assert not [c for c, _ in _ids(_junit(make_journal("held", **SMALL))) if c == "setup"]


def test_summary_lists_setup_apart_before_the_faults() -> None:
    summary = render_summary(parse_journal(_setup_wire()))
    assert "## Set-up" in summary and "## Faults" in summary
    setup_part, faults_part = summary.split("## Faults", 1)
    assert "- create proxy payments-eu \\(127.0.0.1:18081 -\\> 127.0.0.1:18080\\) (eu-west): removed" in setup_part
    assert "create proxy" not in faults_part and "setup:" not in faults_part
    assert "| slow-payments | eu-west |" in faults_part


def test_summary_says_when_setup_removal_failed() -> None:
    wire = _setup_wire()
    next(f for f in wire["faults"] if f["setup"]).update(undo="failed", error="boom")
    summary = render_summary(parse_journal(wire))
    assert "**removal failed**: boom" in summary.split("## Faults", 1)[0]


def test_summary_with_only_setup_has_no_faults_section() -> None:
    wire = _setup_wire()
    wire["faults"] = [f for f in wire["faults"] if f["setup"]]
    summary = render_summary(parse_journal(wire))
    assert "## Set-up" in summary and "## Faults" not in summary


# ---------------------------------------------------------------- stable identities


def test_run_testcase_is_named_verdict_and_the_outcome_is_in_the_message() -> None:
    for status in STATUSES:
        root = _junit(make_journal(status, **SMALL))
        cases = list(root.iter("testcase"))
        assert (cases[0].get("classname"), cases[0].get("name")) == ("run", "verdict")
        if status == "held":
            assert len(cases[0]) == 0
            continue
        (outcome,) = list(cases[0])
        assert outcome.tag == ("error" if status in ("error", "rollback_failed") else "failure")
        assert outcome.get("type") == status
        words = {"deviated": "Deviated", "not_steady": "Not steady", "aborted": "Aborted", "error": "Error",
                 "rollback_failed": "Rollback failed"}[status]  # fmt: skip
        assert (outcome.get("message") or "").startswith(f"{words}: ")


def test_testcase_identities_do_not_depend_on_the_outcome() -> None:
    # same experiment, every phase run: held, deviated and a failed undo have the same testcases
    held, deviated, failed = (_ids(_junit(make_journal(s, **SMALL))) for s in ("held", "deviated", "rollback_failed"))
    assert held == deviated == failed
    assert len(held) == len(set(held))


def test_dotted_probe_and_region_names_do_not_collide() -> None:
    wire = make_journal("held", regions=("b.eu", "eu"), probes=("a", "a.b"), phases_s=(4.0, 4.0, 4.0), rate_hz=2.0)
    ids = _ids(_junit(wire))
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert ("probe.a", "b.eu: baseline") in ids and ("probe.a.b", "eu: baseline") in ids
    assert ("probe.a.b", "b.eu: baseline") in ids and ("probe.a", "eu: baseline") in ids


def test_a_step_with_several_targets_is_one_testcase() -> None:
    wire = make_journal("held", **SMALL)
    first = wire["faults"][0]
    pods = [{**first, "id": f"f{i}", "target": f"kubernetes:https://10.0.0.1:6443/default/pod/api-{i}x7q",
             "description": f"kill pod api-{i}x7q"} for i in range(3)]  # fmt: skip
    wire["faults"] = pods
    root = _junit(wire)
    assert [i for i in _ids(root) if i[0].startswith("fault.")] == [("fault.slow-payments", "undo in eu-west")]
    pods[1].update(undo="failed", error="403 Forbidden")
    failure = _case(_junit(wire), "fault.slow-payments", "undo in eu-west").find("failure")
    assert failure is not None and failure.get("message") == "undo failed (1 of 3): 403 Forbidden"
    assert "kill pod api-1x7q" in (failure.text or "")


def test_a_fault_in_every_region_is_named_undo() -> None:
    wire = make_journal("held", **SMALL)
    wire["faults"][0]["region"] = None
    assert ("fault.slow-payments", "undo") in _ids(_junit(wire))


def test_not_applied_fault_is_skipped_and_pending_is_an_error() -> None:
    root = _junit(make_journal("not_steady", **SMALL))
    assert _case(root, "fault.slow-payments", "undo in eu-west").find("skipped") is not None
    wire = make_journal("held", **SMALL)
    wire["faults"][0].update(undo="pending", removed_s=None, removed_at=None)
    assert _case(_junit(wire), "fault.slow-payments", "undo in eu-west").find("error") is not None


def test_repeated_identity_gets_a_suffix() -> None:
    # unreachable from a parsed journal (every identity above is unique by construction): a net
    suite = _Suite(parse_journal(make_journal("held", **SMALL)))
    names = [suite.case("guardrail", "g").get("name") for _ in range(3)]
    assert names == ["g", "g (2)", "g (3)"]


# ---------------------------------------------------------------- schema


@pytest.mark.parametrize("status", STATUSES)
def test_every_attribute_is_allowed_by_junit_10_xsd(status: str) -> None:
    root = _junit(make_journal(status, setup=True, **SMALL))
    assert root.tag == "testsuites"
    for element in root.iter():
        assert set(element.attrib) <= ALLOWED[element.tag], (element.tag, sorted(element.attrib))
    suite = root.find("testsuite")
    assert suite is not None
    for key in ("tests", "failures", "errors"):
        assert root.get(key) == suite.get(key)
    assert root.get("skipped") is None and suite.get("skipped") is not None
    cases = suite.findall("testcase")
    assert int(suite.get("skipped", "-1")) == sum(c.find("skipped") is not None for c in cases)
    assert re.fullmatch(r"[0-9]+\.[0-9]{3}", root.get("time", ""))
