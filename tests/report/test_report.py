"""Reports (HTML, JUnit, Markdown) of journals of every status, including crashed runs."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import chaosrun.report as report
from chaosrun.errors import InvalidInput
from chaosrun.history import record_run
from chaosrun.report import load_journal, render_html, render_junit, render_summary, write_reports
from chaosrun.report.html import CSP
from chaosrun.report.results import probe_rows
from chaosrun.report.wire import parse_journal

from .conftest import SMALL
from .journals import journal_events, make_journal, write_events, write_journal

STATUS_WORDS = {
    "held": "Held",
    "deviated": "Deviated",
    "not_steady": "Not steady",
    "aborted": "Aborted",
    "error": "Error",
    "rollback_failed": "Rollback failed",
    "crashed": "Did not finish",
}


class _Page(HTMLParser):
    """Every tag with its attributes, and the text outside <script>/<style>."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._skip = 0
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def _crashed_dir(tmp_path: Path, wire: dict[str, Any]) -> Path:
    """A run folder as a killed run leaves it: events cut mid-fault, a torn last line, no journal.json."""
    write_events(tmp_path / "events.jsonl", journal_events(wire, until_s=18.0), torn_tail=True)
    return tmp_path


@pytest.mark.parametrize("status", [*STATUS_WORDS])
def test_every_status_renders_all_three_reports(
    status: str, small_journals: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    if status == "crashed":
        journal = load_journal(_crashed_dir(tmp_path, small_journals["deviated"]))
    else:
        journal = parse_journal(small_journals[status])
    assert journal.status == status

    page = render_html(journal)
    parsed = _Page(page)
    text = " ".join(parsed.text)
    assert f"Verdict {STATUS_WORDS[status]}" in " ".join(text.split())
    assert f'<body class="status-{status}">' in page
    charts = sum(tag == "svg" and "chart" in (a.get("class") or "") for tag, a in parsed.tags)
    assert charts == 1 + len(journal.regions), "the overview and a chart per region (2 probes: lines)"
    sections = ("overview", "score", "timeline", "results", "recovery", "faults", "rollbacks", "guardrails", "errors")
    for section in sections:
        assert f'id="{section}"' in page
    assert all(a.get("scope") in ("col", "row", "colgroup") for tag, a in parsed.tags if tag == "th")

    suite = ET.fromstring(render_junit(journal)).find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "-1")) == len(cases) > 0
    assert int(suite.get("failures", "-1")) == sum(c.find("failure") is not None for c in cases)
    assert int(suite.get("errors", "-1")) == sum(c.find("error") is not None for c in cases)
    run_case = cases[0]
    expected = {"held": None, "error": "error", "rollback_failed": "error", "crashed": "error"}.get(status, "failure")
    assert (run_case[0].tag if len(run_case) else None) == expected

    summary = render_summary(journal)
    assert summary.startswith("# ") and STATUS_WORDS[status] in summary.splitlines()[0]
    assert "Resilience score: " in summary


def test_deviated_report_names_what_deviated(small_journals: dict[str, dict[str, Any]]) -> None:
    journal = parse_journal(small_journals["deviated"])
    page = render_html(journal)
    assert "checkout deviated in eu-west during the fault" in page
    assert "p95 " in page and "&gt;= 300ms" in page, "the verdict's reasons are shown"
    assert '<tr class="bad">' in page
    suite = ET.fromstring(render_junit(journal))
    failures = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert any(c.get("classname") == "probe.checkout" and c.get("name") == "eu-west: fault" for c in failures)
    assert "| fault |" in render_summary(journal)


def test_rollback_failed_report_is_loud_about_what_remains(small_journals: dict[str, dict[str, Any]]) -> None:
    journal = parse_journal(small_journals["rollback_failed"])
    page = render_html(journal)
    assert 'role="alert"' in page and "Something may still be injected." in page
    assert "chaosrun recover" in page
    assert "undo failed" in page and "500 Internal Server Error" in page
    assert "Something may still be injected" in render_summary(journal)


def test_aborted_report_marks_the_guardrail_trip(small_journals: dict[str, dict[str, Any]]) -> None:
    page = render_html(parse_journal(small_journals["aborted"]))
    assert "⚠ guardrail error-budget" in page, "the chart marks the trip"
    assert "success_ratio 0.40 &lt; 0.5 over 5s" in page
    assert "tripped in eu-west" in render_junit(parse_journal(small_journals["aborted"]))


def test_crashed_run_is_rebuilt_from_events_with_exact_statistics(
    small_journals: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    wire = small_journals["deviated"]
    journal = load_journal(_crashed_dir(tmp_path, wire))
    assert journal.status == "crashed"
    assert any("1 unreadable line" in n for n in journal.notes)
    assert journal.faults[0].undo == "pending" and journal.remaining
    assert [p.name for p in journal.phases] == ["baseline", "fault"]
    rows = probe_rows(journal)
    assert rows and all(r.computed and not r.judged for r in rows)
    # the baseline phase is complete in the events: the same exact numbers as the engine's verdicts
    by_key = {(v["probe"], v["region"], v["phase"]): v for v in wire["verdicts"]}
    for row in rows:
        if row.phase == "baseline":
            expected = by_key[(row.probe, row.region, "baseline")]
            assert row.stats.samples == expected["samples"]
            assert row.stats.p95_ms == pytest.approx(expected["p95_ms"], abs=1e-9)
            assert row.stats.p99_ms == pytest.approx(expected["p99_ms"], abs=1e-9)
    page = render_html(journal)
    assert "pending: may still be injected" in page and "rebuilt from events.jsonl" in page


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param("folder", id="run-folder"),
        pytest.param("events", id="events-jsonl-path"),
        pytest.param("missing-journal", id="journal-json-missing"),
        pytest.param("torn-journal", id="journal-json-half-written"),
    ],
)
def test_load_journal_falls_back_to_the_events(layout: str, tmp_path: Path) -> None:
    wire = make_journal("held", **SMALL)  # type: ignore[arg-type]
    write_events(tmp_path / "events.jsonl", journal_events(wire))
    target = {"folder": tmp_path, "events": tmp_path / "events.jsonl"}.get(layout, tmp_path / "journal.json")
    if layout == "torn-journal":
        (tmp_path / "journal.json").write_text(json.dumps(wire)[:5000])
    journal = load_journal(target)
    assert journal.status == "held", "run_ended was recorded: the status stands"
    assert journal.run_id == wire["run_id"]
    assert sum(len(s) for s in journal.series) == sum(len(s["t"]) for s in wire["samples"]["series"])


def test_load_journal_reads_journal_json(tmp_path: Path) -> None:
    wire = make_journal("deviated", **SMALL)  # type: ignore[arg-type]
    journal = load_journal(write_journal(tmp_path / "journal.json", wire))
    assert journal.status == "deviated" and journal.notes == ()
    assert journal.experiment.variables == (("env", "staging"),)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "no such file", id="missing"),
        pytest.param("{not json", "not a JSON journal", id="not-json"),
        pytest.param("[1, 2]", "not a chaosrun journal", id="not-a-journal"),
    ],
)
def test_load_journal_says_what_is_wrong(content: str | None, message: str, tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InvalidInput, match=message):
        load_journal(path)


def test_partial_wire_journal_never_breaks_the_reports() -> None:
    wire = {
        "run_id": "r1",
        "status": "aborted",
        "experiment": {"title": "t"},
        "phases": [{"name": "baseline", "start_s": 0}],
        "samples": {
            "errors": ["boom"],
            "series": [
                {"probe": "p", "region": "r", "t": [0, 1, "x", 3], "ok": [1, 0], "latency_ms": [1.0, None, 3.0]}
            ],
        },
        "faults": [{"id": "f1", "undo": "weird"}, "junk"],
        "verdicts": [{"probe": "p"}],
        "guardrails": [{"name": "g", "t": "late"}],
    }
    journal = parse_journal(wire)
    assert journal.faults[0].undo == "pending"
    assert len(journal.series[0]) == 2, "columns are cut to the shortest"
    assert render_html(journal) and render_junit(journal) and render_summary(journal)


PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


@pytest.mark.parametrize("payload", PAYLOADS, ids=["script-tag", "attribute-breakout"])
def test_every_user_string_is_escaped(payload: str) -> None:
    wire = make_journal(
        "deviated",
        regions=(f"us{payload}", "eu-west"),
        probes=(f"check{payload}",),
        phases_s=(5.0, 10.0, 5.0),
        title=f"T{payload}",
        description=f"D{payload}",
        tags=(f"tag{payload}",),
        error_text=f"E{payload}",
        source_text=f"title: {payload}\n",
    )
    wire["reason"] = f"R{payload}"
    wire["faults"][0]["description"] = f"F{payload}"
    wire["remaining"] = [f"M{payload}"]
    journal = parse_journal(wire)

    page = render_html(journal)
    assert payload not in page
    assert "<img" not in page and "<script>" not in page
    assert html.escape(payload) in page
    for escaped in ("T", "D", "tag", "E", "R", "F", "M", "check", "us"):
        assert f"{escaped}{html.escape(payload)}" in page
    data = re.search(r'<script type="application/json" id="chaosrun-data">(.*?)</script>', page, re.S)
    assert data is not None and "</" not in data.group(1) and "<" not in data.group(1)
    assert json.loads(data.group(1))["status"] == "deviated"

    tree = ET.fromstring(render_junit(journal))
    assert tree.find("testsuite").get("name") == f"T{payload}"  # type: ignore[union-attr]

    summary = render_summary(journal)
    assert not re.search(r"(?<!\\)<", summary), "every < is backslash-escaped: inert in Markdown"


def test_no_external_url_and_a_strict_csp(small_journals: dict[str, dict[str, Any]]) -> None:
    wire = dict(small_journals["held"])
    wire["experiment"] = {**wire["experiment"], "description": "see https://evil.example/x and //cdn.example/y"}
    page = render_html(parse_journal(wire))
    parsed = _Page(page)
    metas = [a for tag, a in parsed.tags if tag == "meta"]
    csp = [a.get("content") for a in metas if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == [CSP]
    assert "default-src 'none'" in CSP and "script-src 'none'" in CSP and "img-src data:" in CSP
    for tag, attrs in parsed.tags:
        assert tag not in ("link", "iframe", "object", "embed", "img", "base", "form")
        for name, value in attrs.items():
            if name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data", "formaction"):
                inline = value and (value.startswith("#") or value.startswith("data:image/png;base64,"))
                assert inline, (tag, name, value)
        if tag == "script":
            assert attrs == {"type": "application/json", "id": "chaosrun-data"}
    assert "@import" not in page and not re.search(r"url\((?!#)", page)
    for match in re.finditer(r"https?://|//cdn", page):  # only in text the user wrote, escaped
        before = page.rfind("<", 0, match.start())
        assert page.rfind(">", 0, match.start()) > before, f"a URL inside a tag: {page[before : match.end()]}"


@pytest.mark.slow
def test_a_one_hour_run_at_10_per_second_in_3_regions_stays_under_1_5_mb() -> None:
    wire = make_journal("deviated", probes=("checkout",), phases_s=(600.0, 2400.0, 600.0), rate_hz=10.0)
    journal = parse_journal(wire)
    assert sum(len(s) for s in journal.series) == 108_000
    size = len(render_html(journal).encode())
    assert size < 1_500_000, f"{size:,} bytes"


def test_write_reports_writes_three_files_and_the_trend(tmp_path: Path) -> None:
    db = tmp_path / "state" / "history.sqlite"
    for seed, status in enumerate(("held", "deviated", "held"), start=1):
        old = parse_journal(make_journal(status, seed=seed, **SMALL))  # type: ignore[arg-type]
        assert record_run(db, old, tmp_path / f"old{seed}" / "journal.json")
    journal = parse_journal(make_journal("deviated", seed=99, **SMALL))  # type: ignore[arg-type]
    written = write_reports(journal, tmp_path / "out", history_db=db)
    assert sorted(written) == ["junit.xml", "report.html", "summary.md"]
    page = written["report.html"].read_text()
    assert "Trend: previous runs" in page and "Resilience score of previous runs" in page
    assert all(f"20261126T170000Z-{seed:06x}" in page for seed in (1, 2, 3)), "the three previous runs"
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_a_failing_reporter_is_reported_and_the_others_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(journal: object) -> str:
        raise RuntimeError("junit exploded")

    monkeypatch.setattr(report, "render_junit", broken)
    journal = parse_journal(make_journal("held", **SMALL))  # type: ignore[arg-type]
    written = write_reports(journal, tmp_path)
    assert sorted(written) == ["report.html", "summary.md"]
    err = capsys.readouterr().err
    assert "warning: could not write" in err and "junit.xml" in err and "RuntimeError: junit exploded" in err
