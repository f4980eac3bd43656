"""The prometheus probe against a real Prometheus scraping a real prometheus-client exporter:
per-region queries, value bounds (absolute and relative to the baseline), and every bad answer
as a clear per-sample error. Auth and TLS: the same Prometheus behind a real nginx."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import trustme

from chaosrun.model import PrometheusProbe, PromServer, Region, TlsOptions
from chaosrun.probes import ProbeContext, build_sampler
from chaosrun.sample import Outcome
from chaosrun.units import Bound
from tests.fixtures.nginx import VHost, run_nginx
from tests.fixtures.prometheus import Exporter, PrometheusServer, start_prometheus
from tests.fixtures.toxiproxy_server import free_port

from ._support import take_tls_sample as take_sample


@dataclass(frozen=True)
class Setup:
    prom: PrometheusServer
    exporter: Exporter


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    exporter = Exporter()
    exporter.queue.labels(region="us-east").set(3)
    exporter.queue.labels(region="eu-west").set(12)
    try:
        with start_prometheus(tmp_path_factory.mktemp("prom"), [exporter.address]) as prom:
            prom.wait_until("count(app_queue_depth)", lambda v: v == 2)
            prom.wait_until("count(app_broken_ratio)", lambda v: v == 1)
            yield Setup(prom, exporter)
    finally:
        exporter.close()


def _spec(query: str, value: str | None = None, url: str | None = None, **server: object) -> PrometheusProbe:
    bound = None
    if value is not None:
        op, number = value.split()
        bound = Bound(op=op, value=float(number))  # type: ignore[arg-type]
    return PrometheusProbe(query=query, value=bound, timeout_s=5, server=PromServer(url=url, **server))  # type: ignore[arg-type]


def _region(setup: Setup, name: str = "us-east") -> Region:
    return Region(name=name, prometheus=setup.prom.url)


def test_one_query_per_region_judged_on_its_value(setup: Setup) -> None:
    spec = _spec('app_queue_depth{region="${region.name}"}', "< 10")
    us = take_sample(spec, _region(setup, "us-east"))
    eu = take_sample(spec, _region(setup, "eu-west"))
    assert (us.ok, us.error) == (True, None)
    assert (eu.ok, eu.error) == (False, "value breaks < 10")
    assert us.latency_s is not None and us.latency_s > 0


def test_a_server_per_probe_overrides_the_regions(setup: Setup) -> None:
    region = Region(name="us-east", prometheus=f"http://127.0.0.1:{free_port()}")
    assert take_sample(_spec("sum(app_queue_depth)", "== 15", url=setup.prom.url), region).ok


@pytest.mark.parametrize(
    ("query", "error"),
    [
        pytest.param('app_queue_depth{region="nowhere"}', "empty result: no series matched", id="empty"),
        pytest.param(
            "app_queue_depth",
            "2 series, expected one (aggregate with sum(), max() ... by nothing)",
            id="several-series",
        ),
        pytest.param("app_broken_ratio", "value is NaN (0/0: no data in the range?)", id="nan"),
        pytest.param(
            "sum(app_queue_depth",
            'query error (bad_data): invalid parameter "query": 1:20: parse error: unclosed left parenthesis',
            id="query-error",
        ),
        pytest.param(
            "app_queue_depth[1m]",
            "query returned a matrix, expected one number (an instant vector or a scalar)",
            id="matrix",
        ),
    ],
)
def test_bad_answers_are_clear_per_sample_errors(setup: Setup, query: str, error: str) -> None:
    outcome = take_sample(_spec(query), _region(setup))
    assert (outcome.ok, outcome.status, outcome.error) == (False, None, error)


def test_a_scalar_answer_is_a_value(setup: Setup) -> None:
    assert take_sample(_spec("scalar(sum(app_queue_depth))", "== 15"), _region(setup)).ok


def test_an_unreachable_server_is_a_failed_sample() -> None:
    outcome = take_sample(_spec("up"), Region(name="r", prometheus=f"http://127.0.0.1:{free_port()}"))
    assert (outcome.ok, outcome.error) == (False, "prometheus unreachable: connection refused")


def test_a_bound_relative_to_the_baseline_learns_in_the_baseline(setup: Setup) -> None:
    """The baseline's mean (3) is the reference: 3 <= 1.5x holds, 3 < 0.5x does not, after the baseline."""
    phase = ["baseline"]

    async def run(spec: PrometheusProbe) -> list[Outcome]:
        async with aiohttp.ClientSession() as http:
            ctx = ProbeContext(http=http, secrets={}, phase=lambda: phase[0])
            sampler = build_sampler(spec, _region(setup), ctx)
            phase[0] = "baseline"
            first = [await sampler(), await sampler()]
            phase[0] = "fault"
            outcomes = [*first, await sampler()]
        await asyncio.sleep(0.5)  # transports finish closing before the loop does (see take_tls_sample)
        return outcomes

    query = 'app_queue_depth{region="us-east"}'
    held = asyncio.run(run(PrometheusProbe(query=query, value=Bound(op="<=", factor=1.5))))
    broken = asyncio.run(run(PrometheusProbe(query=query, value=Bound(op="<", factor=0.5))))
    assert [o.ok for o in held] == [True, True, True]
    assert [(o.ok, o.error) for o in broken] == [(True, None), (True, None), (False, "value breaks < 0.5x baseline")]


@pytest.fixture(scope="module")
def guarded(setup: Setup, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The same Prometheus behind nginx: HTTPS, and a bearer token or basic auth required."""
    tmp = tmp_path_factory.mktemp("prom-nginx")
    ca = trustme.CA()
    pem = tmp / "server.pem"
    ca.issue_cert("prom.example.test").private_key_and_cert_chain_pem.write_to_path(str(pem))
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    basic = base64.b64encode(b"grafana:hunter22").decode()
    location = (
        f'if ($http_authorization !~ "^(Bearer s3cr3t-t0ken|Basic {basic})$") {{ return 401; }} '
        f"proxy_pass {setup.prom.url};"
    )
    with run_nginx(tmp / "nginx", [VHost("127.0.0.6", "prom.example.test", pem, "", location=location)]) as nginx:
        yield f"https://prom.example.test:{nginx.port}", tmp / "ca.pem"


@pytest.mark.parametrize(
    ("server", "error"),
    [
        pytest.param({"bearer": "${secret.token}"}, None, id="bearer-from-secret"),
        pytest.param({"username": "grafana", "password": "${secret.password}"}, None, id="basic-from-secret"),
        pytest.param({}, "prometheus refused the credentials (status 401)", id="no-credentials"),
        pytest.param({"bearer": "wrong"}, "prometheus refused the credentials (status 401)", id="wrong-token"),
    ],
)
def test_auth_from_secrets_over_verified_tls(
    guarded: tuple[str, Path], server: dict[str, str], error: str | None
) -> None:
    url, ca = guarded
    spec = _spec("sum(app_queue_depth)", "== 15", url=url, tls=TlsOptions(ca_file=str(ca)), **server)
    region = Region(name="us-east", connect_to="127.0.0.6")
    outcome = take_sample(spec, region, secrets={"token": "s3cr3t-t0ken", "password": "hunter22"})
    assert (outcome.ok, outcome.error) == (error is None, error)


def test_prometheus_tls_failure_names_its_cause(guarded: tuple[str, Path]) -> None:
    url, _ = guarded
    outcome = take_sample(_spec("up", url=url, bearer="s3cr3t-t0ken"), Region(name="r", connect_to="127.0.0.6"))
    assert (outcome.ok, outcome.error) == (False, "TLS: unknown CA")
