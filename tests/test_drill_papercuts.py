"""The smaller things found while running drills as SREs do (issue 11): messages that say what
happened and what to do, without naming chaosrun's own repository or another region's proxy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaosrun.errors import ValidationFailed
from chaosrun.loader import load_text
from chaosrun.report.sections import _rerun_command
from tests.cli import run_cli
from tests.fixtures.servers import HttpServer
from tests.fixtures.toxiproxy_server import ToxiproxyProcess, free_port

BASE = """title: t
regions:
  us-east: {base_url: "http://127.0.0.1:9"}
  eu-west: {base_url: "http://127.0.0.1:9"}
steady_state:
  probes:
    - {name: p, http: {url: /}}
phases: {baseline: 1s, fault: 1s, recovery: 1s}
"""


def _error(text: str) -> str:
    with pytest.raises(ValidationFailed) as caught:
        load_text(text, file="exp.yaml", environ={})
    return str(caught.value)


def test_an_unquoted_bound_explains_the_yaml_error() -> None:
    text = BASE.replace("{name: p, http: {url: /}}", "name: p\n      http: {url: /}\n      tolerance:\n"
                        "        success_ratio: >= 0.99")  # fmt: skip
    message = _error(text)
    assert "expected chomping or indentation indicators" in message
    assert "a value starting with '>' or '|' is read as a block of text: quote it" in message


def test_an_unquoted_bound_in_a_flow_mapping_explains_the_yaml_error() -> None:
    text = BASE.replace("{name: p, http: {url: /}}", "{name: p, http: {url: /}, tolerance: {success_ratio: >= 0.99}}")
    message = _error(text)
    assert "found character '>' that cannot start any token" in message
    assert "a bound such as >= 0.99 must be quoted" in message


def test_did_you_mean_never_suggests_another_regions_proxy() -> None:
    text = BASE + (
        "toxiproxy:\n  proxies:\n    redis-us-east: {region: us-east}\n"
        "method:\n  - {fault: toxiproxy.latency, proxy: redis-eu-west, latency: 100ms}\n"
    )
    message = _error(text)
    assert "unknown toxiproxy proxy 'redis-eu-west'" in message
    assert "did you mean" not in message
    assert "declared: redis-us-east (us-east)" in message


def test_a_short_unknown_key_is_not_matched_to_a_distant_one() -> None:
    message = _error(BASE + "redis: {}\n")
    assert "unknown key 'redis'" in message and "did you mean 'regions'" not in message


def test_recover_help_lists_its_own_exit_codes() -> None:
    done = run_cli("recover", "--help")
    assert done.returncode == 0
    assert "5  an undo failed" in done.stdout and "deviated" not in done.stdout


@pytest.mark.parametrize(
    ("command", "rerun"),
    [
        pytest.param("chaosrun run x.yaml --out reports/a --state-dir /srv/state --seed 7",
                     "chaosrun run x.yaml --state-dir /srv/state --seed 7", id="keeps-state-dir-and-seed"),
        pytest.param("chaosrun run x.yaml --out=reports/a --var a=1", "chaosrun run x.yaml --var a=1", id="out-equals"),
        pytest.param("chaosrun gameday plan.yaml", "", id="not-a-run"),
    ],
)  # fmt: skip
def test_the_rerun_command_keeps_what_matters(command: str, rerun: str) -> None:
    assert _rerun_command(command) == rerun


def test_an_upstream_mismatch_says_refused_and_exits_2(
    toxiproxy_clean: ToxiproxyProcess, http_server: HttpServer, tmp_path: Path
) -> None:
    listen, upstream, other = free_port(), free_port(), free_port()
    toxiproxy_clean.api("POST", "/proxies", {"name": "db", "listen": f"127.0.0.1:{listen}",
                                             "upstream": f"127.0.0.1:{upstream}"})  # fmt: skip
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"""title: mismatch
regions:
  local: {{base_url: "{http_server.url}"}}
steady_state:
  probes:
    - {{name: mode, http: {{url: /mode}}}}
phases: {{baseline: 1s, fault: 1s, recovery: 1s}}
toxiproxy:
  server: "{toxiproxy_clean.url}"
  proxies:
    db: {{listen: "127.0.0.1:{listen}", upstream: "127.0.0.1:{other}", region: local}}
method:
  - {{fault: toxiproxy.latency, proxy: db, latency: 100ms}}
""")
    done = run_cli("run", str(exp), "--out", str(tmp_path / "out"), state_dir=tmp_path / "state")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "refused before anything was injected: toxiproxy" in done.stdout
    assert "verdict: ERROR" not in done.stdout
    assert "--seed " in json.loads((tmp_path / "out" / "journal.json").read_text())["command"]


def test_the_schema_types_each_fault_kinds_keys() -> None:
    from chaosrun.schema import experiment_schema

    entries = {
        e["properties"]["fault"]["const"]: e["properties"] for e in experiment_schema()["$defs"]["fault"]["oneOf"]
    }
    bandwidth = entries["toxiproxy.bandwidth"]
    assert bandwidth["rate"]["anyOf"][0] == {"type": "integer", "minimum": 1}
    assert "Kilobytes per second (1 KB = 1000 bytes)" in bandwidth["rate"]["description"]
    assert bandwidth["ramp"]["required"] == ["to"] and "steps" in bandwidth["ramp"]["properties"]
    assert "(default 1)" in entries["process.kill"]["count"]["description"]
    assert entries["process.kill"]["listen"]["type"] == "string"
    ours = [props for name, props in entries.items() if name.startswith(("toxiproxy.", "process."))]
    assert all(value != {} for kind in ours for value in kind.values()), "no untyped key is left"


def test_a_region_without_probes_gets_no_empty_chart() -> None:
    from chaosrun.report.html import render_html
    from chaosrun.report.wire import parse_journal
    from tests.report.journals import make_journal

    wire = make_journal("held", regions=("us-east", "eu-west"), phases_s=(2, 2, 2))
    wire["experiment"]["regions"].append({"name": "ap-south", "base_url": None})
    html = render_html(parse_journal(wire), history=[])
    assert "ap-south: no probe samples this region, so there is no chart." in html
    assert html.count('<figure class="chart-figure">') == 2
