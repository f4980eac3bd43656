"""Across regions, a matrix: each region's agent also probes the other region, through the
network path its cluster has to it (here a Toxiproxy proxy per direction). A real partition
between the two regions (both proxies down) shows as failures between them only, and only
while it lasts; each region's own probes stay healthy."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.cli import run_cli
from tests.fixtures.kube_node import KubeNode
from tests.fixtures.servers import HttpServer
from tests.fixtures.toxiproxy_server import ToxiproxyProcess
from tests.kube.support import free_ports, journal_samples


def test_a_partition_shows_between_the_two_regions_only(
    kube_node: KubeNode,
    node_namespace: str,
    http_server: HttpServer,
    toxiproxy_clean: ToxiproxyProcess,
    tmp_path: Path,
) -> None:
    upstream = http_server.url.removeprefix("http://")
    eu_to_us, us_to_eu = free_ports(2)

    def cluster(other: str, port: int) -> str:
        return (
            f"{{kubeconfig: {kube_node.cluster.kubeconfig}, namespace: {node_namespace}, image: {kube_node.image}, "
            f'image_pull_policy: Never, host_network: true, matrix: true, endpoints: {{{other}: "http://127.0.0.1:{port}"}}}}'
        )

    exp = tmp_path / "matrix.yaml"
    exp.write_text(
        textwrap.dedent(
            f"""\
            title: a partition between eu and us
            regions:
              eu: {{base_url: "{http_server.url}", cluster: {cluster("us", eu_to_us)}}}
              us: {{base_url: "{http_server.url}", cluster: {cluster("eu", us_to_eu)}}}
            steady_state:
              probes:
                - name: web
                  http: {{url: /ok, timeout: 500ms}}
                  every: 100ms
                  tolerance: {{success_ratio: ">= 0.9"}}
            phases: {{baseline: 2s, fault: 3s, recovery: 2s}}
            toxiproxy:
              server: {toxiproxy_clean.url}
              proxies:
                eu-to-us: {{listen: "127.0.0.1:{eu_to_us}", upstream: "{upstream}"}}
                us-to-eu: {{listen: "127.0.0.1:{us_to_eu}", upstream: "{upstream}"}}
            method:
              - {{fault: toxiproxy.down, name: cut-eu-us, proxy: eu-to-us}}
              - {{fault: toxiproxy.down, name: cut-us-eu, proxy: us-to-eu}}
            """
        )
    )
    out = tmp_path / "out"
    proc = run_cli(
        "run", str(exp), "--out", str(out), state_dir=tmp_path / "state",
        env={"KUBECONFIG": str(kube_node.cluster.kubeconfig)}, timeout_s=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = (out / "report.html").read_text()
    assert '<section id="matrix"' in report and "Region to region" in report  # the matrix, in the report too
    journal = json.loads((out / "journal.json").read_text())
    assert journal["status"] == "held"  # each region's own probes were healthy throughout
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    (matrix,) = [e["cells"] for e in events if e["type"] == "agent_matrix"]
    cells = {(c["from"], c["to"]): c for c in matrix}
    assert set(cells) == {("eu", "eu"), ("eu", "us"), ("us", "eu"), ("us", "us")}
    for own in (("eu", "eu"), ("us", "us")):
        assert cells[own]["samples"] > 0 and cells[own]["ok"] == cells[own]["samples"], cells[own]
    for cut in (("eu", "us"), ("us", "eu")):
        assert 0 < cells[cut]["ok"] < cells[cut]["samples"], cells[cut]
    _, rows = journal_samples(out)
    for probe, region in (("web from eu", "us"), ("web from us", "eu")):
        across = [r for r in rows if r[0] == probe and r[1] == region]
        assert {r[2] for r in across if not r[4]} == {"fault"}, "failures outside the partition"
        assert any(r[4] for r in across if r[2] == "recovery"), "the path did not heal after the partition"
