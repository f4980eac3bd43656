"""Chaos Toolkit experiments against the real Toxiproxy (chaostoolkit-lib http providers on its
API), under `chaos run` and `chaosrun run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.servers import HttpServer
from tests.fixtures.toxiproxy_server import ToxiproxyProcess

from .sidebyside import chaos_run, chaosrun_run, write

pytestmark = pytest.mark.toxiproxy


def _proxy(toxiproxy: ToxiproxyProcess, server: HttpServer, name: str) -> str:
    made = toxiproxy.api(
        "POST", "/proxies", {"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{server.port}"}
    )
    assert isinstance(made, dict)
    return f"http://{made['listen']}"


def _experiment(proxy_url: str, latency_ms: int, probe_timeout_s: float) -> dict[str, Any]:
    toxic = {"name": "ctk-latency", "type": "latency", "stream": "downstream", "attributes": {"latency": latency_ms}}
    return {
        "title": f"latency {latency_ms}ms",
        "description": "a latency toxic through Toxiproxy's API",
        "configuration": {"toxiproxy": {"type": "env", "key": "CTK_TEST_TOXIPROXY"}, "proxy": "shop"},
        "steady-state-hypothesis": {
            "title": "the shop answers through the proxy",
            "probes": [
                {
                    "type": "probe",
                    "name": "shop-ok",
                    "tolerance": 200,
                    "provider": {"type": "http", "url": f"{proxy_url}/ok", "timeout": probe_timeout_s},
                },
            ],
        },
        "method": [
            {
                "type": "action",
                "name": "add-latency",
                "provider": {
                    "type": "http",
                    "method": "POST",
                    "url": "${toxiproxy}/proxies/${proxy}/toxics",
                    "headers": {"Content-Type": "application/json"},
                    "arguments": toxic,
                    "timeout": 5,
                },
                "pauses": {"after": 0.5},
            },
        ],
        "rollbacks": [
            {
                "type": "action",
                "name": "remove-latency",
                "provider": {
                    "type": "http",
                    "method": "DELETE",
                    "url": "${toxiproxy}/proxies/${proxy}/toxics/ctk-latency",
                    "timeout": 5,
                },
            },
        ],
    }


def _toxics(toxiproxy: ToxiproxyProcess) -> list[Any]:
    toxics = toxiproxy.api("GET", "/proxies/shop/toxics")
    assert isinstance(toxics, list)
    return toxics


def test_small_latency_holds_and_is_rolled_back_by_both(
    toxiproxy_clean: ToxiproxyProcess, http_server: HttpServer, tmp_path: Path
) -> None:
    url = _proxy(toxiproxy_clean, http_server, "shop")
    path = write(tmp_path, "experiment.yaml", _experiment(url, 50, 3.0))
    env = {"CTK_TEST_TOXIPROXY": toxiproxy_clean.url}
    theirs = chaos_run(path, tmp_path, env)
    assert _toxics(toxiproxy_clean) == []
    ours = chaosrun_run(path, tmp_path, env, "--probe-every", "0.2")
    ours.same_as(theirs)
    assert theirs.code == 0 and ours.code == 0 and ours.rollbacks == [("remove-latency", "succeeded")]
    assert _toxics(toxiproxy_clean) == []
    assert ours.chaosrun is not None
    fault = [v for v in ours.chaosrun["verdicts"] if v["phase"] == "fault"]
    assert fault and fault[0]["samples"] >= 2 and fault[0]["p50_ms"] >= 50  # the toxic, seen during the method


def test_a_timeout_after_the_method_leaves_the_toxic_under_chaos_run_not_chaosrun(
    toxiproxy_clean: ToxiproxyProcess, http_server: HttpServer, tmp_path: Path
) -> None:
    """The after-hypothesis probe times out: Chaos Toolkit marks the run failed (and deviated) and
    its default strategy then skips the rollbacks: the toxic stays in Toxiproxy. chaosrun plays
    them, because the method ran (a deliberate difference)."""
    url = _proxy(toxiproxy_clean, http_server, "shop")
    path = write(tmp_path, "experiment.yaml", _experiment(url, 3000, 0.5))
    env = {"CTK_TEST_TOXIPROXY": toxiproxy_clean.url}
    theirs = chaos_run(path, tmp_path, env)
    assert (theirs.status, theirs.deviated, theirs.code) == ("failed", True, 1)
    assert theirs.rollbacks == [] and [t["name"] for t in _toxics(toxiproxy_clean)] == ["ctk-latency"]
    toxiproxy_clean.api("DELETE", "/proxies/shop/toxics/ctk-latency")
    ours = chaosrun_run(path, tmp_path, env)
    assert (ours.status, ours.deviated, ours.code) == ("failed", True, 1)
    assert ours.ran == theirs.ran and ours.hypothesis("after") == theirs.hypothesis("after")
    assert ours.rollbacks == [("remove-latency", "succeeded")] and _toxics(toxiproxy_clean) == []
    assert ours.chaosrun is not None and ours.chaosrun["status"] == "deviated"
