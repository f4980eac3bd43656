"""docker-compose.yml agrees with the demo: no Docker engine runs here, so the file is checked as data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from chaosrun.demo import DEMOS, demo_path
from chaosrun.demo.system import REGIONS
from chaosrun.loader import load_experiment
from chaosrun.model import Experiment

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PROXIES = {p["name"]: p for p in json.loads(COMPOSE["configs"]["toxiproxy-proxies"]["content"])}
CHAOSRUN_ENV: dict[str, str] = SERVICES["chaosrun"]["environment"]


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def _app_argv(service: str) -> list[str]:
    """The service's own command line (after the supervisor's `--`, when supervised)."""
    argv = [str(a) for a in SERVICES[service]["command"]]
    return argv[argv.index("--") + 1 :] if "--" in argv else argv


def _routes(argv: list[str]) -> dict[str, str]:
    pairs = [a.split("=", 1)[1] for a in argv if a.startswith("--payments=")]
    return dict(p.split("=", 1) for p in pairs)


def _published(service: str) -> set[int]:
    return {int(str(p).split(":")[0]) for p in SERVICES[service].get("ports", [])}


def _compose_experiment(name: str) -> Experiment:
    env = {k: str(v) for k, v in CHAOSRUN_ENV.items()}
    return load_experiment(demo_path(name), environ=env)


def test_services_and_images() -> None:
    expected = {"toxiproxy", "chaosrun", "storefront-fragile"}
    expected |= {f"payments-{r}" for r in REGIONS} | {f"storefront-{r}" for r in REGIONS}
    assert set(SERVICES) == expected
    assert SERVICES["toxiproxy"]["image"] == "ghcr.io/shopify/toxiproxy:2.12.0"
    assert "-config=/etc/toxiproxy/demo.json" in SERVICES["toxiproxy"]["command"]
    build = SERVICES["chaosrun"]["build"]["dockerfile_inline"]
    assert build.startswith("FROM python:3.11-slim") and "pip install" in build


@pytest.mark.parametrize("region", REGIONS)
def test_each_storefront_reaches_every_region_through_that_regions_proxy(region: str) -> None:
    argv = _app_argv(f"storefront-{region}")
    assert argv[:4] == ["python", "-m", "chaosrun.demo.services", "storefront"]
    assert _option(argv, "--region") == region
    assert _published(f"storefront-{region}") == {int(_option(argv, "--port"))}
    routes = _routes(argv)
    assert next(iter(routes)) == region and set(routes) == set(REGIONS)
    for target_region, address in routes.items():
        host, port = address.split(":")
        proxy = PROXIES[f"payments-{target_region}"]
        assert host == "toxiproxy" and proxy["listen"] == f"0.0.0.0:{port}"
        upstream_host, upstream_port = proxy["upstream"].split(":")
        pay = _app_argv(upstream_host)
        assert upstream_host == f"payments-{target_region}" and _option(pay, "--region") == target_region
        assert _option(pay, "--port") == upstream_port


def test_fragile_storefront_has_no_failover() -> None:
    argv = _app_argv("storefront-fragile")
    assert "--fragile" in argv and _routes(argv) == {"us-east": "toxiproxy:21001"}


@pytest.mark.parametrize("name", [d.name for d in DEMOS])
def test_demo_experiments_load_with_the_compose_variables_and_match_its_proxies(name: str) -> None:
    exp = _compose_experiment(name)
    for proxy in exp.toxiproxy_proxies:
        assert PROXIES[proxy.name]["listen"] == proxy.listen
        assert PROXIES[proxy.name]["upstream"] == proxy.upstream
    for server in exp.toxiproxy_servers if exp.toxiproxy_proxies else ():
        parts = urlsplit(server.url)
        assert parts.hostname == "toxiproxy" and str(parts.port) in {str(p) for p in _published("toxiproxy")}
    for region in exp.regions:
        parts = urlsplit(region.base_url or "")
        service = str(parts.hostname)
        assert _option(_app_argv(service), "--port") == str(parts.port)
        assert _option(_app_argv(service), "--region") == region.name
    # The experiments' own defaults point at what compose publishes on the host.
    for region in load_experiment(demo_path(name), environ={}).regions:
        port = urlsplit(region.base_url or "").port
        assert any(port in _published(s) for s in SERVICES if s.startswith("storefront-"))


def test_replica_kill_targets_the_storefront_whose_pid_namespace_chaosrun_shares() -> None:
    assert SERVICES["chaosrun"]["pid"] == "service:storefront-us-east"
    assert CHAOSRUN_ENV["CHAOSRUN_VAR_us_east_port"] == _option(_app_argv("storefront-us-east"), "--port")
    assert SERVICES["storefront-us-east"]["command"][:3] == ["python", "-m", "chaosrun.demo.supervisor"]
    assert _option([str(a) for a in SERVICES["storefront-us-east"]["command"]], "--replicas") == "2"


def test_chaosrun_service_runs_the_demo_into_the_mounted_reports() -> None:
    svc = SERVICES["chaosrun"]
    argv = [str(a) for a in svc["command"]]
    assert argv[:3] == ["chaosrun", "demo", "--attach"]
    mounts = dict(v.split(":", 1) for v in svc["volumes"])
    assert mounts["./reports"] == "/reports" and _option(argv, "--out").startswith("/reports/")
    assert set(svc["depends_on"]) >= {"toxiproxy", *(f"storefront-{r}" for r in REGIONS), "storefront-fragile"}
