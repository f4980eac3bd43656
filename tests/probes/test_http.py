"""HTTP probe against a real local server (tests/fixtures/servers.py)."""

from __future__ import annotations

import json
import socket

import pytest

from chaosrun.errors import InvalidInput
from chaosrun.model import HttpProbe, Region
from chaosrun.probes.http import parse_json_path, resolve_json_path, resolve_url
from tests.fixtures.servers import HttpServer

from ._support import region_for, take_sample, take_samples


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("spec", "ok", "status", "error"),
    [
        pytest.param(HttpProbe(url="/ok"), True, 200, None, id="ok"),
        pytest.param(HttpProbe(url="/status/503"), False, 503, "status 503", id="status-503-fails"),
        pytest.param(HttpProbe(url="/status/503", expect_status=(503,)), True, 503, None, id="status-503-expected"),
        pytest.param(HttpProbe(url="/status/404"), False, 404, "status 404", id="status-404-fails"),
        pytest.param(HttpProbe(url="/ok", body_regex="^ok$"), True, 200, None, id="body-matches"),
        pytest.param(
            HttpProbe(url="/ok", body_regex="^okay$"), False, 200, "body does not match /^okay$/", id="body-mismatch"
        ),
        pytest.param(
            HttpProbe(url="/json?status=ok", json_path="status", json_expect="ok"), True, 200, None, id="json-ok"
        ),
        pytest.param(
            HttpProbe(url="/json?status=degraded", json_path="status", json_expect="ok"),
            False,
            200,
            "json status: expected 'ok', got 'degraded'",
            id="json-degraded",
        ),
        pytest.param(
            HttpProbe(url="/json?status=up", json_path="items[0].state", json_expect="up"),
            True,
            200,
            None,
            id="json-index-path",
        ),
        pytest.param(
            HttpProbe(url="/json", json_path="items[3].state"),
            False,
            200,
            "json items[3].state: not found",
            id="json-path-missing",
        ),
        pytest.param(HttpProbe(url="/ok", json_path="status"), False, 200, "body is not JSON", id="json-body-not-json"),
        pytest.param(
            HttpProbe(url="/slow?ms=300", max_latency_s=0.05), False, 200, "slower than 50ms", id="max-latency"
        ),
        pytest.param(HttpProbe(url="/nope"), False, 404, "status 404", id="unknown-route"),
        pytest.param(HttpProbe(url="/ok", method="post"), True, 200, None, id="post"),
    ],
)
def test_checks(http_server: HttpServer, spec: HttpProbe, ok: bool, status: int, error: str | None) -> None:
    outcome = take_sample(spec, region_for(http_server.url))
    assert (outcome.ok, outcome.status, outcome.error) == (ok, status, error)
    assert outcome.latency_s is not None and outcome.latency_s > 0


def test_timeout_is_enforced_and_reported_stably(http_server: HttpServer) -> None:
    outcome = take_sample(HttpProbe(url="/slow?ms=3000", timeout_s=0.2), region_for(http_server.url))
    assert (outcome.ok, outcome.status, outcome.error) == (False, None, "timeout after 200ms")
    assert outcome.latency_s is not None and 0.2 <= outcome.latency_s < 3.0


def test_connection_refused() -> None:
    outcome = take_sample(HttpProbe(url=f"http://127.0.0.1:{_closed_port()}/ok"))
    assert (outcome.ok, outcome.latency_s, outcome.error) == (False, None, "connection refused")


def test_keep_alive_reuses_one_connection(http_server: HttpServer) -> None:
    outcomes = take_samples(HttpProbe(url="/ok"), region_for(http_server.url), n=10)
    assert all(o.ok for o in outcomes)
    assert http_server.connections == 1
    assert http_server.requests == 10


def test_flaky_fails_every_nth(http_server: HttpServer) -> None:
    outcomes = take_samples(HttpProbe(url="/flaky?every=3"), region_for(http_server.url), n=9)
    assert [o.ok for o in outcomes] == [True, True, False] * 3
    assert {o.error for o in outcomes if not o.ok} == {"status 503"}


def test_mode_switches_on_a_timer(http_server: HttpServer) -> None:
    http_server.set_mode("failing")
    assert take_sample(HttpProbe(url="/mode"), region_for(http_server.url)).error == "status 503"
    http_server.set_mode("healthy")
    assert take_sample(HttpProbe(url="/mode"), region_for(http_server.url)).ok
    http_server.set_mode("failing", after_s=30)
    assert take_sample(HttpProbe(url="/mode"), region_for(http_server.url)).ok  # not yet


def test_substitution_in_url_headers_and_body(http_server: HttpServer) -> None:
    region = region_for(http_server.url, name="eu-west")
    secrets = {"token": "s3cr3t"}
    headers = (("Authorization", "Bearer ${secret.token}"), ("X-Region", "${region.name}"))
    spec = HttpProbe(url="/headers", headers=headers, json_path="authorization", json_expect="Bearer s3cr3t")
    assert take_sample(spec, region, secrets=secrets).ok
    spec = HttpProbe(url="/headers", headers=headers, json_path="x-region", json_expect="eu-west")
    assert take_sample(spec, region, secrets=secrets).ok
    body = '{"region": "${region.name}", "base": "${region.base_url}"}'
    spec = HttpProbe(url="/echo", method="POST", body=body, json_path="base", json_expect=http_server.url)
    assert take_sample(spec, region).ok
    spec = HttpProbe(url="/json?status=${region.name}", json_path="status", json_expect="eu-west")
    assert take_sample(spec, region).ok


def test_secret_values_never_reach_the_error_text() -> None:
    spec = HttpProbe(url="ftp://127.0.0.1/${secret.token}")
    outcome = take_sample(spec, secrets={"token": "s3cr3t"})
    assert not outcome.ok and outcome.error is not None
    assert "s3cr3t" not in outcome.error
    assert "***" in outcome.error


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(HttpProbe(url="/x", headers=(("A", "${secret.nope}"),)), "unknown secret 'nope'", id="secret"),
        pytest.param(HttpProbe(url="/x?${region.zone}"), "unknown placeholder ${region.zone}", id="placeholder"),
        pytest.param(HttpProbe(url="/x", json_path="a..b"), "expected a dotted path", id="json-path"),
    ],
)
def test_bad_specs_are_refused_at_build_time(http_server: HttpServer, spec: HttpProbe, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("$", r"\$").replace("{", r"\{").replace("}", r"\}")):
        take_sample(spec, region_for(http_server.url))


@pytest.mark.parametrize(
    ("url", "base_url", "expected"),
    [
        pytest.param("/health", "http://h:1", "http://h:1/health", id="path"),
        pytest.param("health", "http://h:1/api/", "http://h:1/api/health", id="base-with-path"),
        pytest.param("/health", "http://h:1/api", "http://h:1/api/health", id="base-path-no-slash"),
        pytest.param("http://other/x", "http://h:1", "http://other/x", id="absolute"),
    ],
)
def test_resolve_url(url: str, base_url: str, expected: str) -> None:
    assert resolve_url(url, Region(name="r", base_url=base_url)) == expected


def test_relative_url_needs_a_base_url() -> None:
    with pytest.raises(InvalidInput, match="has no base_url"):
        resolve_url("/x", Region(name="r"))


@pytest.mark.parametrize(
    ("path", "parsed", "value"),
    [
        pytest.param("status", ("status",), "ok", id="key"),
        pytest.param("items[1].state", ("items", 1, "state"), "b", id="index"),
        pytest.param("[0]", (0,), None, id="top-level-index"),
        pytest.param("grid[1][0]", ("grid", 1, 0), 3, id="nested-index"),
        pytest.param("items[9].state", ("items", 9, "state"), None, id="index-out-of-range"),
    ],
)
def test_json_path(path: str, parsed: tuple[str | int, ...], value: object) -> None:
    doc = json.loads('{"status": "ok", "items": [{"state": "a"}, {"state": "b"}], "grid": [[1, 2], [3, 4]]}')
    assert parse_json_path(path) == parsed
    missing = resolve_json_path({}, ("absent",))
    assert resolve_json_path(doc, parsed) == (missing if value is None else value)


@pytest.mark.parametrize(
    ("expect", "got", "ok"),
    [
        pytest.param(True, "true", True, id="bool"),
        pytest.param(1, "true", False, id="one-is-not-true"),
        pytest.param(1, "1.0", True, id="int-float"),
        pytest.param("1", "1", False, id="string-is-not-number"),
    ],
)
def test_json_expect_types(http_server: HttpServer, expect: str | int | bool, got: str, ok: bool) -> None:
    # /echo returns the body, so the document under test is posted as the body.
    spec = HttpProbe(url="/echo", method="POST", body=f'{{"v": {got}}}', json_path="v", json_expect=expect)
    assert take_sample(spec, region_for(http_server.url)).ok is ok
