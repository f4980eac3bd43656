"""experiments/prometheus-slo.yaml end to end, judged by a real Prometheus.

A client thread calls an upstream through a real Toxiproxy proxy and counts its calls with
prometheus-client; Prometheus scrapes those counters and chaosrun's own `--metrics` every second.
Three runs of the real CLI: held (a small latency), deviated (a latency past the client's timeout
raises the error ratio Prometheus computes), and a burn-rate guardrail that trips and rolls back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.prometheus import Exporter, PrometheusServer, Traffic, start_prometheus
from tests.fixtures.servers import HttpServer
from tests.fixtures.toxiproxy_server import ToxiproxyProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
ERRORS_NOW = 'sum(rate(app_requests_total{outcome="error"}[3s]))'


@dataclass(frozen=True)
class Drill:
    prom: PrometheusServer
    toxiproxy: ToxiproxyProcess
    listen: str
    upstream: str
    metrics: str


@pytest.fixture
def drill(
    tmp_path: Path, toxiproxy_clean: ToxiproxyProcess, make_http_server: Callable[[str], HttpServer]
) -> Iterator[Drill]:
    upstream = make_http_server("payments")
    listen = f"127.0.0.1:{free_port()}"
    # the proxy exists before the traffic starts (chaosrun uses a declared proxy that already exists)
    toxiproxy_clean.api("POST", "/proxies", {"name": "payments", "listen": listen, "upstream": upstream.url[7:]})
    exporter = Exporter()
    traffic = Traffic(exporter, f"http://{listen}/ok")
    metrics = f"127.0.0.1:{free_port()}"
    try:
        with start_prometheus(tmp_path / "prom", [exporter.address, metrics]) as prom:
            prom.wait_until("sum(rate(app_requests_total[3s]))", lambda v: v is not None and v > 0)
            yield Drill(prom, toxiproxy_clean, listen, upstream.url[7:], metrics)
    finally:
        traffic.stop()
        exporter.close()


def _run(drill: Drill, out: Path, **overrides: str) -> tuple[dict, str, int]:
    variables = {
        "toxiproxy_url": drill.toxiproxy.url,
        "prometheus_url": drill.prom.url,
        "payments_listen": drill.listen,
        "payments_upstream": drill.upstream,
        "latency": "10ms",
        "rate_window": "3s",
        "max_error_ratio": "0.05",
        "objective": "99%",
        "burn_factor": "1000",  # a burn rate of at most 100 (every call failing) never trips it
        "long_window": "6s",
        "short_window": "2s",
        "baseline": "4s",
        "fault": "6s",
        "recovery": "5s",
        "recover_within": "4s",
        **overrides,
    }
    argv = [sys.executable, "-m", "chaosrun", "run", str(ROOT / "experiments/prometheus-slo.yaml")]
    argv += ["--out", str(out), "--state-dir", str(out.parent / "state"), "--no-report", "--metrics", drill.metrics]
    argv += [a for k, v in variables.items() for a in ("--var", f"{k}={v}")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180, cwd=ROOT)
    journal = json.loads((out / "journal.json").read_text())
    return journal, done.stdout[-3000:] + done.stderr[-3000:], done.returncode


def _toxics(drill: Drill) -> list[object]:
    proxy = drill.toxiproxy.api("GET", "/proxies/payments")
    assert isinstance(proxy, dict)
    toxics = proxy["toxics"]
    assert isinstance(toxics, list)
    return toxics


@pytest.mark.toxiproxy
@pytest.mark.slow
def test_slo_drill_held_deviated_and_burn_rate_guardrail(drill: Drill, tmp_path: Path) -> None:
    journal, output, code = _run(drill, tmp_path / "held")
    assert (journal["status"], code) == ("held", 0), output
    assert "metrics: http://127.0.0.1:" in output
    # Prometheus scraped chaosrun itself while the run went: samples per probe, the fault in place
    samples = drill.prom.value('max(max_over_time(chaosrun_samples_total{probe="error-ratio",phase="fault"}[5m]))')
    assert samples is not None and samples >= 3
    assert drill.prom.value("max_over_time(chaosrun_faults_active[5m])") == 1
    assert drill.prom.value('max_over_time(chaosrun_phase{phase="recovery"}[5m])') == 1
    latency_count = drill.prom.value("max(max_over_time(chaosrun_sample_latency_seconds_count[5m]))")
    assert latency_count is not None and latency_count >= samples

    # past the client's 250 ms timeout every call fails: the error ratio Prometheus computes rises
    journal, output, code = _run(drill, tmp_path / "deviated", latency="1s")
    assert (journal["status"], code) == ("deviated", 1), output
    assert "value breaks < 0.05" in json.dumps(journal)
    assert drill.prom.value('max_over_time(chaosrun_sample_failures_total{phase="fault"}[5m])')
    assert _toxics(drill) == []
    drill.prom.wait_until(ERRORS_NOW, lambda v: v == 0)

    # the same fault with the burn-rate guardrail armed: it trips and the fault is rolled back
    journal, output, code = _run(drill, tmp_path / "guardrail", latency="1s", burn_factor="10")
    assert journal["status"] == "aborted", output
    text = json.dumps(journal)
    assert "error-budget" in text and "error budget burning faster than 10x over both 6s and 2s (SLO 99%)" in text
    assert journal["faults"] and all(f["undo"] == "ok" for f in journal["faults"])
    assert _toxics(drill) == []
    trips = drill.prom.value("max_over_time(chaosrun_guardrail_trips_total[5m])")
    assert trips is not None and trips >= 1
