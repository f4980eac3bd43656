"""Loading TLS options, connect_to, and the prometheus, burn_rate and kubernetes probe kinds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chaosrun.errors import ValidationFailed
from chaosrun.loader import load_experiment
from chaosrun.model import BurnRateProbe, HttpProbe, KubernetesProbe, PrometheusProbe, TlsOptions
from chaosrun.units import Bound

ROOT = Path(__file__).resolve().parents[1]

HEAD = """\
title: T
secrets: {client_key: {env: CLIENT_KEY}, token: {env: PROM_TOKEN}}
regions:
  us-east: {connect_to: "10.0.1.10:443", tls: {ca_file: ca.pem, server_name: api.example.com},
            prometheus: "http://prom-us:9090"}
  eu-west: {connect_to: "10.0.2.10", prometheus: "http://prom-eu:9090"}
phases: {baseline: 10s, fault: 1m, recovery: 30s}
"""


def _load(tmp_path: Path, body: str) -> object:
    (tmp_path / "ca.pem").write_text("not read by the loader")
    (tmp_path / "client.pem").write_text("not read by the loader")
    (tmp_path / "exp.yaml").write_text(HEAD + body)
    return load_experiment(tmp_path / "exp.yaml", environ={})


def _issues(tmp_path: Path, body: str) -> list[str]:
    with pytest.raises(ValidationFailed) as info:
        _load(tmp_path, body)
    return [str(i).replace(f"{tmp_path}/exp.yaml:", "").replace(str(tmp_path), "{tmp}") for i in info.value.issues]


def test_everything_loads_into_typed_specs(tmp_path: Path) -> None:
    exp = _load(
        tmp_path,
        """\
steady_state:
  probes:
    - name: health
      http: {url: "https://api.example.com/health", tls: {cert_file: client.pem, key: "${secret.client_key}"}}
    - name: errors
      prometheus:
        query: 'sum(rate(errors_total{region="${region.name}"}[1m]))'
        value: "<= 1.5x baseline"
        auth: {bearer: "${secret.token}"}
    - name: ready
      kubernetes: {namespace: shop, deployment: web, min_ready: "50%"}
      regions: [us-east]
guardrails:
  - name: budget
    burn_rate:
      errors: 'sum(rate(errors_total[{{.window}}]))'
      total: 'sum(rate(requests_total[{{.window}}]))'
      objective: 99.9%
    consecutive_failures: 2
  - name: queue
    prometheus: {query: 'max(queue_depth{region="${region.name}"})', value: "< 1000", url: "http://prom:9090"}
    every: 5s
    consecutive_failures: 3
""",
    )
    region = exp.regions[0]  # type: ignore[attr-defined]
    assert region.connect_to == "10.0.1.10:443"
    assert region.tls == TlsOptions(ca_file=str(tmp_path / "ca.pem"), server_name="api.example.com")
    assert region.prometheus == "http://prom-us:9090"
    http, prom, kube = (p.spec for p in exp.probes)  # type: ignore[attr-defined]
    assert isinstance(http, HttpProbe)
    assert http.tls == TlsOptions(cert_file=str(tmp_path / "client.pem"), key_secret="client_key")
    assert isinstance(prom, PrometheusProbe)
    assert prom.value == Bound(op="<=", factor=1.5)
    assert prom.server.bearer == "${secret.token}" and prom.server.url is None
    assert kube == KubernetesProbe(namespace="shop", deployment="web", min_ready=None, min_ready_percent=0.5)
    burn = exp.guardrails[0].spec  # type: ignore[attr-defined]
    assert isinstance(burn, BurnRateProbe)
    # windows scaled to the experiment: the fault phase (1m), and a twelfth of it
    assert burn.objective == pytest.approx(0.999)
    assert (burn.long_window_s, burn.short_window_s, burn.factor) == (60.0, 5.0, 14.4)
    queue = exp.guardrails[1]  # type: ignore[attr-defined]
    assert isinstance(queue.spec, PrometheusProbe) and queue.spec.value == Bound(op="<", value=1000.0)
    assert (queue.every_s, queue.consecutive_failures, queue.regions) == (5.0, 3, ("us-east", "eu-west"))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            "      http: {url: 'https://a.example/', tls: {cert_file: client.pem, key: plain-text}}\n",
            [
                "11:75: steady_state.probes[0].http.tls.key: expected the client key's PEM text from a secret: "
                "'${secret.name}' (or use key_file)"
            ],
            id="key-not-a-secret",
        ),
        pytest.param(
            "      http: {url: 'https://a.example/', tls: {key_file: client.pem}}\n",
            ["11:46: steady_state.probes[0].http.tls: a client key needs its certificate: add cert_file"],
            id="key-without-cert",
        ),
        pytest.param(
            "      http: {url: 'https://a.example/', tls: {ca_file: nope.pem}}\n",
            ["11:56: steady_state.probes[0].http.tls.ca_file: no such file: {tmp}/nope.pem"],
            id="missing-ca-file",
        ),
        pytest.param(
            "      prometheus: {query: up, value: about 3}\n",
            [
                "11:38: steady_state.probes[0].prometheus.value: expected a comparison like '< 0.01', '>= 3' "
                "or '<= 1.5x baseline', got 'about 3'"
            ],
            id="bad-value",
        ),
        pytest.param(
            "      prometheus: {query: 'up{x=\"${secret.token}\"}'}\n",
            [
                "11:27: steady_state.probes[0].prometheus.query: ${secret.token} is resolved only in http "
                "url/headers/body, command env, rollback commands, tls.key and prometheus/burn_rate auth and "
                "headers; not here"
            ],
            id="secret-in-query",
        ),
        pytest.param(
            "      burn_rate: {errors: 'sum(rate(e[5m]))', total: 't', objective: 100%}\n",
            [
                "11:27: steady_state.probes[0].burn_rate.errors: the errors query must use {{.window}} as its "
                "range (as Sloth does), such as rate(x[{{.window}}])",
                "11:54: steady_state.probes[0].burn_rate.total: the total query must use {{.window}} as its "
                "range (as Sloth does), such as rate(x[{{.window}}])",
                "11:70: steady_state.probes[0].burn_rate.objective: expected an SLO target strictly between 0 "
                "and 1 such as '99.9%' or 0.999, got '100%'",
            ],
            id="burn-rate-window-and-objective",
        ),
        pytest.param(
            "      burn_rate: {errors: 'e[{{.window}}]', total: 't[{{.window}}]', objective: 0.99, short_window: 2m}\n",
            [
                "11:101: steady_state.probes[0].burn_rate.short_window: the short window (2m) must be shorter "
                "than the long one (1m)"
            ],
            id="short-window-too-long",
        ),
        pytest.param(
            "      kubernetes: {selector: app=web, deployment: web, min_ready: lots}\n",
            [
                "11:19: steady_state.probes[0].kubernetes: a kubernetes probe watches either 'selector' "
                "(ready pods) or 'deployment' (replicas)"
            ],
            id="kubernetes-both-targets",
        ),
        pytest.param(
            "      kubernetes: {selector: app=web, min_ready: lots}\n",
            [
                "11:50: steady_state.probes[0].kubernetes.min_ready: expected a number of pods such as 3, or a "
                "share such as '100%' or '50%', got 'lots'"
            ],
            id="kubernetes-min-ready",
        ),
    ],
)
def test_bad_input_is_located(tmp_path: Path, body: str, expected: list[str]) -> None:
    assert _issues(tmp_path, "steady_state:\n  probes:\n    - name: p\n" + body) == expected


def test_a_prometheus_probe_needs_a_server_in_every_region(tmp_path: Path) -> None:
    head = HEAD.replace('prometheus: "http://prom-eu:9090"', "host: x")
    (tmp_path / "ca.pem").write_text("")
    (tmp_path / "exp.yaml").write_text(
        head + "steady_state:\n  probes:\n    - name: p\n      prometheus: {query: up}\n"
    )
    with pytest.raises(ValidationFailed) as info:
        load_experiment(tmp_path / "exp.yaml", environ={})
    assert [str(i) for i in info.value.issues] == [
        f"{tmp_path}/exp.yaml:11:19: steady_state.probes[0].prometheus: no Prometheus server: set 'url' here, or "
        "'prometheus' for region(s) eu-west"
    ]


def test_validate_warns_loudly_about_insecure_skip_verify(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text(
        "title: T\nregions:\n  r: {base_url: 'https://a.example', tls: {insecure_skip_verify: true}}\n"
        "steady_state:\n  probes:\n    - {name: p, http: {url: /health}}\n"
        "phases: {baseline: 1s, fault: 1s, recovery: 1s}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "chaosrun", "validate", str(tmp_path / "exp.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "WARNING: region 'r': tls.insecure_skip_verify is set: server certificates are NOT verified "
        "(anyone on the path can answer for the service)\n"
    )


def test_validating_imports_no_tls_prometheus_kubernetes_or_http_code() -> None:
    """`validate` stays fast: the new kinds' code (ssl contexts, aiohttp, kubernetes) loads only at run time."""
    experiments = [str(ROOT / "experiments" / n) for n in ("https-regions.yaml", "prometheus-slo.yaml")]
    code = (
        "import sys\nfrom chaosrun.loader import load_experiment\n"
        f"for f in {experiments!r}: load_experiment(f, environ={{}})\n"
        "heavy = ('aiohttp', 'kubernetes', 'prometheus_client', 'chaosrun.probes.tls', 'chaosrun.probes.prometheus',"
        " 'chaosrun.probes.kubernetes', 'chaosrun.running.metrics')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr
