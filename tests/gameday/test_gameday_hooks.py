"""A game day of known-fragile services with webhooks (one recording, one failing, one hanging)
and Grafana annotations, against local receivers; the day's report, JUnit and summary."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli import run_cli
from tests.fixtures.servers import HttpServer
from tests.gate import support
from tests.report.browser import open_page
from tests.report.test_ci_outputs import ALLOWED

from .receivers import Receiver, start_receiver

KEY = "hmac-key-for-tests-0123"
TOKEN = "glsa_test_token_abcdef"


@dataclass
class Day:
    returncode: int
    stdout: str
    stderr: str
    folder: Path
    good: Receiver
    slack: Receiver
    failing: Receiver
    hanging: Receiver
    grafana: Receiver


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Day]:
    tmp = tmp_path_factory.mktemp("day")
    stable, fragile = HttpServer("stable"), HttpServer("fragile")
    receivers = [start_receiver(b) for b in ("ok", "ok", "fail", "hang", "ok")]
    good, slack, failing, hanging, grafana = receivers
    try:
        support.write(tmp, "checkout.yaml", support.held("checkout holds", stable.url))
        support.write(tmp, "search.yaml", support.deviated("search is fragile", fragile.url))
        plan = support.write(
            tmp,
            "day.yaml",
            f"""\
title: Fragile services day
on_failure: continue
notify:
  - {{url_env: DAY_HOOK_URL, secret_env: DAY_HOOK_KEY, name: audit}}
  - {{url: "{slack.url}/services/T000/B000/XXXX", format: slack, name: chat}}
  - {{url: "{failing.url}/hook", retries: 2, timeout: 500ms, name: broken}}
  - {{url: "{hanging.url}/hook", retries: 1, timeout: 300ms, name: stuck}}
grafana: {{url: "{grafana.url}", token_env: DAY_GRAFANA_TOKEN, dashboard_uid: chaos, tags: [payments]}}
experiments:
  - file: checkout.yaml
    notes: Watch the checkout dashboard
    runbook: https://runbooks.example.invalid/checkout
  - pause: 200ms
    notes: let the caches settle
  - checkpoint: Confirm the on-call has acknowledged the page
  - file: search.yaml
    expect: [deviated]
""",
        )
        env = {"DAY_HOOK_URL": f"{good.url}/hook?token=s3cr3t-url-part", "DAY_HOOK_KEY": KEY,
               "DAY_GRAFANA_TOKEN": TOKEN}  # fmt: skip
        proc = run_cli("gameday", str(plan), "--yes", "--out", str(tmp / "out"), state_dir=tmp / "state", env=env,
                       timeout_s=240)  # fmt: skip
        folders = list((tmp / "out").glob("gameday-*/*"))
        assert len(folders) == 1, proc.stdout + proc.stderr
        yield Day(proc.returncode, proc.stdout, proc.stderr, folders[0], good, slack, failing, hanging, grafana)
    finally:
        for r in receivers:
            r.close()
        stable.close()
        fragile.close()


def test_a_day_of_known_fragile_services_passes_when_each_ends_as_expected(day: Day) -> None:
    assert day.returncode == 0, day.stdout + day.stderr
    assert "checkout.yaml: held (exit 0), expected held: ok" in day.stdout
    assert "search.yaml: deviated (exit 1), expected deviated: ok" in day.stdout
    assert "   notes: Watch the checkout dashboard" in day.stdout
    assert "   runbook: https://runbooks.example.invalid/checkout" in day.stdout
    assert "   notes: let the caches settle" in day.stdout
    assert (
        "checkpoint: Confirm the on-call has acknowledged the page - continue the game day? yes (--yes)" in day.stdout
    )
    assert day.stdout.index("checkout.yaml: held") < day.stdout.index("pause 0.2 s") < day.stdout.index("search.yaml")


def test_webhook_bodies_and_hmac_signatures(day: Day) -> None:
    events = [r.headers["x-chaosrun-event"] for r in day.good.requests]
    assert events == ["start", "experiment", "experiment", "end"]
    for r in day.good.requests:
        want = "sha256=" + hmac.new(KEY.encode(), r.body, hashlib.sha256).hexdigest()
        assert r.headers["x-chaosrun-signature"] == want
        assert r.path == "/hook?token=s3cr3t-url-part"
    start, first, second, end = (r.json() for r in day.good.requests)
    assert start["day"]["title"] == "Fragile services day" and start["experiments"] == 2
    assert first["experiment"]["status"] == "held" and first["experiment"]["as_expected"] is True
    assert second["experiment"]["title"] == "search is fragile"
    assert second["experiment"]["expected"] == ["deviated"] and second["experiment"]["as_expected"] is True
    assert isinstance(second["experiment"]["score"], int) and second["experiment"]["report"].endswith("report.html")
    assert Path(second["experiment"]["report"]).is_file()
    assert end["passed"] is True and end["exit_code"] == 0
    assert end["summary"] == "2 of 2 experiments ended as expected"
    slack = [r.json() for r in day.slack.requests]
    assert [sorted(b) for b in slack] == [["text"]] * 4  # Slack's incoming-webhook shape
    assert "*search is fragile*" not in slack[2]["text"] and "*deviated*" in slack[2]["text"]
    assert all("x-chaosrun-signature" not in r.headers for r in day.slack.requests)  # no key given


def test_a_failing_and_a_hanging_webhook_are_logged_bounded_and_masked(day: Day) -> None:
    assert len(day.failing.requests) == 4 * 3  # every event, 1 + 2 retries, then given up
    assert len(day.hanging.requests) == 4 * 2  # every event, 1 + 1 retry, each cut at its timeout
    assert "warning: webhook broken: start not delivered after 3 attempt(s): HTTP 500" in day.stderr
    assert "warning: webhook stuck: end not delivered after 2 attempt(s): timed out after 0.3 s" in day.stderr
    for secret in ("s3cr3t-url-part", KEY, TOKEN):
        assert secret not in day.stdout + day.stderr
        for path in day.folder.rglob("*"):
            if path.is_file():
                assert secret not in path.read_text(errors="replace"), path


def test_grafana_annotations_mark_each_fault_window(day: Day) -> None:
    posts = day.grafana.requests
    assert len(posts) == 1  # one fault in the day (the fragile search's)
    r = posts[0]
    assert r.path == "/api/annotations"
    assert r.headers["authorization"] == f"Bearer {TOKEN}"
    body = r.json()
    assert set(body) == {"time", "timeEnd", "tags", "text", "dashboardUID"}
    assert isinstance(body["time"], int) and isinstance(body["timeEnd"], int) and body["time"] < body["timeEnd"]
    assert body["dashboardUID"] == "chaos"
    tags = body["tags"]
    assert tags[0] == "chaosrun" and tags[1].startswith("run:") and "experiment:search is fragile" in tags
    assert "region:all" in tags and "fault:break-it" in tags and tags[-1] == "payments"


def test_the_days_junit_and_summary_list_expected_against_actual(day: Day) -> None:
    root = ET.parse(day.folder / "junit.xml").getroot()
    for element in root.iter():
        assert set(element.attrib) <= ALLOWED[element.tag], (element.tag, sorted(element.attrib))
    suites = root.findall("testsuite")
    assert [s.get("name", "").rsplit("/", 1)[1] for s in suites] == ["checkout.yaml", "search.yaml"]
    cases = [(c.get("classname"), c.get("name")) for c in suites[1].findall("testcase")]
    assert ("gameday", "expectation") in cases
    expectation = next(c for c in suites[1].findall("testcase") if c.get("classname") == "gameday")
    assert expectation.find("failure") is None
    summary = (day.folder / "summary.md").read_text()
    assert summary.startswith("# ✓ chaosrun game day passed: Fragile services day")
    assert "| ✗ Deviated | expected deviated |" in summary and "| ✓ Held | expected held |" in summary


@pytest.mark.browser
def test_the_days_report_in_headless_chromium(day: Day) -> None:
    support.require_chromium()
    index = day.folder / "index.html"
    queries = {
        "steps": "[...document.querySelectorAll('.timeline > li')].map(li => li.innerText.split('\\n')[0])",
        "phases": "document.querySelectorAll('.timeline .seg.baseline, .timeline .seg.fault').length",
        "injected": "document.querySelectorAll('.timeline .seg.inject').length",
        "links": "[...document.querySelectorAll('table.suite a')].map(a => a.getAttribute('href'))",
        "runbook": "document.querySelector('.step-notes a').getAttribute('href')",
    }
    page = asyncio.run(open_page(index.as_uri(), queries))
    assert page.console_errors == []
    assert page.requests == [index.as_uri()]
    assert page.values["steps"] == [
        "Experiment: checkout holds", "Pause: pause 0.2 s",
        "Checkpoint: Confirm the on-call has acknowledged the page", "Experiment: search is fragile",
    ]  # fmt: skip
    assert page.values["phases"] >= 4 and page.values["injected"] == 1
    assert len(page.values["links"]) == 2 and all((day.folder / link).is_file() for link in page.values["links"])
    assert page.values["runbook"] == "https://runbooks.example.invalid/checkout"
    (day.folder.parent / "day.png").write_bytes(page.screenshot)
