"""`run --metrics`: the exposition text parses with prometheus-client's own parser; bad addresses
are refused before the run. (A real Prometheus scrapes it in tests/engine/test_prometheus_drill.py.)"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chaosrun.errors import InvalidInput
from chaosrun.running.metrics import MetricsExporter, parse_listen
from chaosrun.sample import Sample


def _sample(probe: str, region: str, phase: str, ok: bool, latency_s: float | None) -> Sample:
    return Sample(
        probe=probe, region=region, phase=phase, t_s=1.0, at=0.0, ok=ok, latency_s=latency_s, status=None, error=None
    )  # type: ignore[arg-type]


def _families(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_exposition_counts_samples_failures_latency_phase_and_faults() -> None:
    m = MetricsExporter(run_id="r1", title='Say "hi"\\ there')
    m.on_event("phase_started", {"phase": "fault"})
    m.on_event("fault_applied", {"fault": "f1", "name": "slow", "kind": "toxiproxy.latency"})
    m.on_sample(_sample("health", "eu", "fault", True, 0.02))
    m.on_sample(_sample("health", "eu", "fault", False, 0.3))
    m.on_sample(_sample("health", "eu", "fault", False, None))
    m.on_event("guardrail_tripped", {"guardrail": "g"})
    f = _families(m.render())
    key = (("phase", "fault"), ("probe", "health"), ("region", "eu"))
    assert f["chaosrun_samples_total"][key] == 3
    assert f["chaosrun_sample_failures_total"][key] == 2
    pr = (("probe", "health"), ("region", "eu"))
    assert f["chaosrun_sample_latency_seconds_count"][pr] == 2
    assert f["chaosrun_sample_latency_seconds_sum"][pr] == pytest.approx(0.32)
    assert f["chaosrun_sample_latency_seconds_bucket"][(("le", "0.025"), *pr)] == 1
    assert f["chaosrun_sample_latency_seconds_bucket"][(("le", "0.5"), *pr)] == 2
    assert f["chaosrun_phase"][(("phase", "fault"),)] == 1 and f["chaosrun_phase"][(("phase", "baseline"),)] == 0
    assert f["chaosrun_faults_active"][()] == 1
    assert f["chaosrun_guardrail_trips_total"][(("guardrail", "g"),)] == 1
    assert f["chaosrun_run_info"][(("run_id", "r1"), ("title", 'Say "hi"\\ there'))] == 1  # escaped, parsed back
    m.on_event("fault_removed", {"fault": "f1", "ok": True})
    m.on_event("run_ended", {"status": "held"})
    f = _families(m.render())
    assert f["chaosrun_faults_active"][()] == 0
    assert f["chaosrun_run_ended"][(("status", "held"),)] == 1


def test_served_over_http_while_running() -> None:
    async def main() -> tuple[str, str]:
        m = MetricsExporter(run_id="r", title="t")
        await m.start("127.0.0.1:0")
        try:
            url = f"http://127.0.0.1:{m.port}/metrics"
            body, ctype = await asyncio.to_thread(_get, url)
        finally:
            await m.stop()
        return body, ctype

    body, ctype = asyncio.run(main())
    assert ctype == "text/plain; version=0.0.4; charset=utf-8"
    assert "chaosrun_run_info" in _families(body)


def _get(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode(), resp.headers["Content-Type"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("127.0.0.1:9464", ("127.0.0.1", 9464), id="host-port"),
        pytest.param(":9464", ("0.0.0.0", 9464), id="all-interfaces"),
        pytest.param("[::1]:0", ("::1", 0), id="ipv6"),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


def test_a_bad_or_busy_address_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="expected HOST:PORT"):
        parse_listen("9464")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        exp = tmp_path / "exp.yaml"
        exp.write_text(
            "title: T\nregions: {r: {host: 127.0.0.1}}\nsteady_state:\n  probes:\n"
            f"    - {{name: p, tcp: {{port: {port}}}}}\nphases: {{baseline: 1s, fault: 1s, recovery: 1s}}\n"
        )
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "chaosrun",
                "run",
                str(exp),
                "--metrics",
                f"127.0.0.1:{port}",
                "--out",
                str(tmp_path / "out"),
                "--state-dir",
                str(tmp_path / "st"),
                "--no-report",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"--metrics 127.0.0.1:{port}: cannot listen: address already in use" in done.stderr.lower()
