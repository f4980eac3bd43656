"""CI-gate review: regression tests for defects found by using chaosrun as a CI resilience gate.

Each test failed before its fix (it was written first, as a strict xfail). They run the real
CLI (tests/cli.py) against the real local HTTP fixture server and, for the setup-proxy case,
the real Toxiproxy server.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.cli import run_cli
from tests.fixtures.servers import HttpServer


def _experiment(
    tmp_path: Path,
    base_url: str,
    *,
    name: str = "exp.yaml",
    probes: str | None = None,
    regions: str | None = None,
    extra: str = "",
) -> Path:
    regions = regions or f'  us-east: {{base_url: "{base_url}"}}\n'
    probes = probes or (
        "    - name: hp\n"
        '      http: {url: "${path}", timeout: 1s}\n'
        "      every: 100ms\n"
        '      tolerance: {success_ratio: ">= 1.0"}\n'
    )
    text = (
        "title: ci gate review\n"
        "variables: {path: /ok}\n"
        f"regions:\n{regions}"
        f"steady_state:\n  probes:\n{probes}"
        "phases: {baseline: 500ms, fault: 200ms, recovery: 200ms}\n"
        f"{extra}"
    )
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _run(*args: str, state: Path) -> tuple[int, str, str]:
    done = run_cli("run", *args, state_dir=state, timeout_s=60)
    return done.returncode, done.stdout, done.stderr


def test_unwritable_out_dir_is_a_clean_usage_or_infra_error(tmp_path: Path, http_server: HttpServer) -> None:
    exp = _experiment(tmp_path, http_server.url)
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    code, _, err = _run(str(exp), "--out", str(blocker / "sub"), state=tmp_path / "state")
    assert "Traceback" not in err, err[-2000:]
    assert code in (2, 4), f"exit {code} reads as 'deviated' to a CI gate"


def test_reused_out_dir_does_not_mix_two_runs_events(tmp_path: Path, http_server: HttpServer) -> None:
    exp = _experiment(tmp_path, http_server.url)
    out = tmp_path / "out"
    assert _run(str(exp), "--out", str(out), state=tmp_path / "state")[0] == 0
    assert _run(str(exp), "--out", str(out), state=tmp_path / "state")[0] == 0
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    run_ids = {e["run_id"] for e in events if e["type"] == "run_started"}
    assert len(run_ids) == 1, f"events.jsonl holds {len(run_ids)} runs: {sorted(run_ids)}"


def test_no_report_does_not_leave_stale_junit_of_another_run(tmp_path: Path, http_server: HttpServer) -> None:
    exp = _experiment(tmp_path, http_server.url)
    out = tmp_path / "out"
    code, _, _ = _run(str(exp), "--out", str(out), "--var", "path=/status/503", state=tmp_path / "state")
    assert code == 6
    code, _, _ = _run(str(exp), "--out", str(out), "--no-report", state=tmp_path / "state")
    assert code == 0
    journal = json.loads((out / "journal.json").read_text())
    junit = out / "junit.xml"
    if junit.exists():  # a CI job publishing junit.xml must not get another run's verdict
        root = ET.parse(junit).getroot()
        props = {p.get("name"): p.get("value") for p in root.iter("property")}
        assert props.get("run_id") == journal["run_id"], (props.get("status"), journal["status"])


def test_default_out_dir_is_unique_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import chaosrun.running.runner as runner
    from chaosrun.loader import load_experiment

    fixed = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)

    class _Frozen(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return fixed

    monkeypatch.setattr(runner, "datetime", _Frozen)
    exp = load_experiment(str(Path(__file__).resolve().parents[2] / "experiments" / "dependency-latency.yaml"))
    # two runs started within the same second (a CI matrix, two jobs in one workspace)
    assert runner.default_out_dir(exp) != runner.default_out_dir(exp)


def _junit_of_run(tmp_path: Path, http_server: HttpServer, **kw: str) -> ET.Element:
    exp = _experiment(tmp_path, http_server.url, **kw)
    out = tmp_path / "out"
    code, _, err = _run(str(exp), "--out", str(out), state=tmp_path / "state")
    assert code == 0, err[-2000:]
    return ET.parse(out / "junit.xml").getroot()


def test_junit_root_attributes_are_schema_valid(tmp_path: Path, http_server: HttpServer) -> None:
    root = _junit_of_run(tmp_path, http_server)
    # jenkinsci/xunit-plugin junit-10.xsd: <testsuites> allows name, time, tests, failures, errors
    assert set(root.attrib) <= {"name", "time", "tests", "failures", "errors"}, sorted(root.attrib)


def test_junit_testcase_identities_are_unique_with_dotted_names(tmp_path: Path, make_http_server) -> None:
    a, b = make_http_server("a"), make_http_server("b")
    regions = f'  b.eu: {{base_url: "{a.url}"}}\n  eu: {{base_url: "{b.url}"}}\n'
    probes = (
        "    - {name: a, http: {url: /ok}, every: 100ms, regions: [b.eu]}\n"
        "    - {name: a.b, http: {url: /ok}, every: 100ms, regions: [eu]}\n"
    )
    root = _junit_of_run(tmp_path, a, regions=regions, probes=probes)
    ids = [(tc.get("classname"), tc.get("name")) for tc in root.iter("testcase")]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_junit_run_testcase_identity_is_stable_across_outcomes(tmp_path: Path, http_server: HttpServer) -> None:
    exp = _experiment(tmp_path, http_server.url)
    names = []
    for path, expected in (("/ok", 0), ("/status/503", 6)):
        out = tmp_path / f"out{expected}"
        code, _, _ = _run(str(exp), "--out", str(out), "--var", f"path={path}", state=tmp_path / "state")
        assert code == expected
        root = ET.parse(out / "junit.xml").getroot()
        run_case = next(tc for tc in root.iter("testcase") if tc.get("classname") == "run")
        names.append((run_case.get("classname"), run_case.get("name")))
    # CI test history (Jenkins, GitLab 'new failures') tracks a test by classname + name
    assert names[0] == names[1], names


def test_setup_proxy_is_not_reported_as_a_fault(tmp_path: Path, http_server: HttpServer, toxiproxy_clean) -> None:
    from tests.fixtures.toxiproxy_server import free_port as tp_free_port

    listen = tp_free_port()
    upstream = http_server.url.removeprefix("http://")
    extra = (
        f"toxiproxy:\n  server: {toxiproxy_clean.url}\n  proxies:\n"
        f'    api: {{listen: "127.0.0.1:{listen}", upstream: "{upstream}", region: us-east}}\n'
        "method:\n  - {fault: toxiproxy.latency, name: slow, proxy: api, latency: 20ms}\n"
    )
    root = _junit_of_run(
        tmp_path, http_server, regions=f'  us-east: {{base_url: "http://127.0.0.1:{listen}"}}\n', extra=extra
    )
    classnames = [tc.get("classname", "") for tc in root.iter("testcase")]
    fault_cases = [c for c in classnames if c.startswith("fault.")]
    assert fault_cases == ["fault.slow"], fault_cases
    summary = (tmp_path / "out" / "summary.md").read_text()
    faults_section = summary.split("## Faults", 1)[1] if "## Faults" in summary else ""
    assert "create proxy" not in faults_section, faults_section


def test_missing_tolerance_fails_when_every_sample_fails(tmp_path: Path, http_server: HttpServer) -> None:
    probes = (
        "    - name: hp\n"
        '      http: {url: "${path}", timeout: 1s}\n'
        "      every: 100ms\n"  # no tolerance: docs/experiment.md says every sample must succeed
    )
    exp = _experiment(tmp_path, http_server.url, probes=probes)
    out = tmp_path / "out"
    code, stdout, _ = _run(str(exp), "--out", str(out), "--var", "path=/status/503", state=tmp_path / "state")
    journal = json.loads((out / "journal.json").read_text())
    baseline = next(v for v in journal["verdicts"] if v["phase"] == "baseline")
    assert baseline["failures"] == baseline["samples"] > 0
    assert baseline["held"] is False, baseline
    assert code == 6, stdout
