"""Regression tests for defects found by a Toxiproxy review (an SRE injecting network faults
through a real toxiproxy-server v2.12.0). Each one failed before its fix."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaosrun.loader import load_experiment
from tests.cli import ROOT, run_cli, wait_for_event
from tests.fixtures.servers import HttpServer
from tests.fixtures.toxiproxy_server import ToxiproxyProcess, free_port

EXPERIMENT = """\
title: review toxiproxy {title}
regions:
  r1: {{base_url: "{base}"}}
steady_state:
  probes:
    - {{name: up, http: {{url: /, timeout: 2s}}, every: 200ms, tolerance: {{success_ratio: ">= 0%"}}}}
phases: {{baseline: {baseline}, fault: {fault}, recovery: 500ms}}
toxiproxy:
  server: "{server}"
  proxies:
    "{proxy}": {{listen: "127.0.0.1:{listen}", upstream: "{upstream}", region: r1}}
method:
{method}
{tail}"""


def _write(tmp_path: Path, name: str, *, server: str, upstream: str, proxy: str = "p1", method: str = "",
           baseline: str = "500ms", fault: str = "2s", tail: str = "", listen: int | None = None) -> Path:  # fmt: skip
    method = method or f'  - {{fault: toxiproxy.latency, proxy: "{proxy}", latency: 50ms}}'
    text = EXPERIMENT.format(title=name, base=upstream if upstream.startswith("http") else f"http://{upstream}",
                             baseline=baseline, fault=fault, server=server, proxy=proxy,
                             listen=listen or free_port(), upstream=upstream.removeprefix("http://"),
                             method=method, tail=tail)  # fmt: skip
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def _proxies(server: ToxiproxyProcess) -> dict[str, Any]:
    data = server.api("GET", "/proxies")
    assert isinstance(data, dict)
    return data


def test_second_run_on_same_proxy_via_localhost_url_is_refused(
    tmp_path: Path, toxiproxy_clean: ToxiproxyProcess, http_server: HttpServer
) -> None:
    upstream = http_server.url.removeprefix("http://")
    listen = free_port()
    first = _write(tmp_path, "first", server=toxiproxy_clean.url, upstream=upstream, listen=listen,
                   baseline="3s", fault="2s")  # fmt: skip
    second = _write(tmp_path, "second", server=f"http://localhost:{toxiproxy_clean.port}", upstream=upstream,
                    listen=listen, baseline="500ms", fault="1s")  # fmt: skip
    state = tmp_path / "state"
    env = {"CI": "true", "CHAOSRUN_STATE_DIR": str(state), "PATH": "/usr/bin:/bin"}
    a = subprocess.Popen(
        [sys.executable, "-m", "chaosrun", "run", str(first), "--out", str(tmp_path / "a")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        # the first run is in its baseline and holds p1
        assert wait_for_event(tmp_path / "a" / "events.jsonl", "phase_started", a, phase="baseline"), "a never started"
        b = run_cli("run", str(second), "--out", str(tmp_path / "b"), state_dir=state, timeout_s=60)
    finally:
        a.communicate(timeout=60)  # reads and closes its pipe
    assert b.returncode == 2, b.stdout + b.stderr
    assert "already under test" in b.stdout + b.stderr


def test_proxy_name_with_slash_leaves_no_orphan(
    tmp_path: Path, toxiproxy_factory: Callable[[], ToxiproxyProcess], http_server: HttpServer
) -> None:
    server = toxiproxy_factory()  # its own server: the orphan cannot be deleted through the API
    exp = _write(tmp_path, "slash", server=server.url, upstream=http_server.url, proxy="pay/ments")
    r = run_cli("run", str(exp), "--out", str(tmp_path / "out"), state_dir=tmp_path / "state", timeout_s=60)
    assert "Traceback" not in r.stdout + r.stderr
    # either refused up front (a located input error), or everything it created is gone again
    assert r.returncode == 2 or _proxies(server) == {}, (r.returncode, _proxies(server))
    assert _proxies(server) == {}, r.stdout + r.stderr


def test_steps_whose_names_differ_in_unsafe_characters_are_refused(
    tmp_path: Path, toxiproxy_clean: ToxiproxyProcess, http_server: HttpServer
) -> None:
    """They would share one toxic (the second overwriting the first, its undo removing both):
    refused before anything runs, at the second step, naming both."""
    method = (
        "  - {fault: toxiproxy.latency, name: 'slow payments', proxy: p1, latency: 100ms}\n"
        "  - {fault: toxiproxy.latency, name: 'slow_payments', proxy: p1, latency: 300ms, start: 0s, duration: 1s}"
    )
    exp = _write(tmp_path, "names", server=toxiproxy_clean.url, upstream=http_server.url, method=method, fault="3s")
    r = run_cli("run", str(exp), "--out", str(tmp_path / "out"), state_dir=tmp_path / "state", timeout_s=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "step names 'slow payments' (line" in r.stderr and "both become 'slow_payments'" in r.stderr
    assert _proxies(toxiproxy_clean) == {}  # nothing was created


# drills whose systems docker-compose.yml does not run: they need TLS load balancers or a Prometheus
_NOT_FOR_COMPOSE = {"https-regions.yaml", "prometheus-slo.yaml"}


@pytest.mark.parametrize(
    "path",
    sorted(str(p.relative_to(ROOT)) for p in [*(ROOT / "experiments").glob("*.yaml"),
                                                *(ROOT / "chaosrun" / "demo").glob("*.yaml")]
           if "toxiproxy:" in p.read_text() and p.name not in _NOT_FOR_COMPOSE),
)  # fmt: skip
def test_in_the_compose_network_the_experiments_declare_the_compose_proxies(path: str) -> None:
    """Inside compose (the chaosrun service's CHAOSRUN_VAR_* environment) every experiment's
    declared proxies match the ones docker-compose.yml's Toxiproxy starts with; otherwise
    chaosrun would refuse them ('exists with upstream ...'). From the host, the defaults are
    `chaosrun demo`'s ports, as the experiments' comments say."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    proxies = {p["name"]: p for p in json.loads(compose["configs"]["toxiproxy-proxies"]["content"])}
    environ = {k: str(v) for k, v in compose["services"]["chaosrun"]["environment"].items()}
    exp = load_experiment(ROOT / path, environ=environ)
    assert exp.toxiproxy_proxies
    for proxy in exp.toxiproxy_proxies:
        assert proxies[proxy.name]["upstream"] == proxy.upstream, (proxy.name, proxy.upstream)


def test_preflight_refusal_exits_2(tmp_path: Path, toxiproxy_clean: ToxiproxyProcess, http_server: HttpServer) -> None:
    listen = free_port()
    toxiproxy_clean.api("POST", "/proxies", {"name": "p1", "listen": f"127.0.0.1:{listen}", "upstream": "127.0.0.1:9"})
    exp = _write(tmp_path, "mismatch", server=toxiproxy_clean.url, upstream=http_server.url, listen=listen)
    r = run_cli("run", str(exp), "--out", str(tmp_path / "out"), state_dir=tmp_path / "state", timeout_s=60)
    assert "exists with upstream" in r.stdout + r.stderr
    assert r.returncode == 2, r.stdout + r.stderr


def test_allowed_toxiproxy_with_trailing_slash(tmp_path: Path, http_server: HttpServer) -> None:
    url = "http://127.0.0.1:8474/"
    exp = _write(tmp_path, "caps", server=url, upstream=http_server.url, tail=f'caps: {{allowed_toxiproxy: ["{url}"]}}')
    r = run_cli("run", str(exp), "--dry-run", state_dir=tmp_path / "state", timeout_s=60)
    assert r.returncode == 0, r.stdout + r.stderr
