"""A pod kill with real traffic: a 2-replica Deployment of hostNetwork web servers on the node,
one 127.0.0.1 port per pod, each port probed as a region. chaosrun kills one pod; the probes
see that pod's port fail and the replacement serve it again, and the outage chaosrun measured
matches what the pods wrote about themselves (SIGTERM, serving) within the sampling interval.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

from tests.cli import run_cli
from tests.fixtures.kube_cluster import poll
from tests.fixtures.kube_node import KubeNode
from tests.kube.support import deploy_web, journal_samples, pod_events, serves

EVERY_S = 0.1


def test_killed_pods_port_fails_and_the_replacement_serves_it(
    kube_node: KubeNode, node_namespace: str, tmp_path: Path
) -> None:
    web = deploy_web(kube_node, node_namespace, tmp_path / "events")
    a, b = web.ports
    exp = tmp_path / "kill.yaml"
    exp.write_text(
        textwrap.dedent(
            f"""\
            title: web pod kill end to end
            regions:
              port-a: {{base_url: "http://127.0.0.1:{a}"}}
              port-b: {{base_url: "http://127.0.0.1:{b}"}}
            steady_state:
              probes:
                - name: web
                  http: {{url: /, timeout: 500ms}}
                  every: {int(EVERY_S * 1000)}ms
                  tolerance: {{success_ratio: ">= 0.5"}}
            phases: {{baseline: 2s, fault: 8s, recovery: 2s}}
            method:
              - fault: kubernetes.pod_kill
                name: kill-web
                namespace: {node_namespace}
                label_selector: app=chaosrun-demo-web
            """
        )
    )
    out = tmp_path / "out"
    proc = run_cli(
        "run", str(exp), "--out", str(out), "--no-report", state_dir=tmp_path / "state",
        env={"KUBECONFIG": str(kube_node.cluster.kubeconfig)}, timeout_s=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    journal = json.loads((out / "journal.json").read_text())
    assert journal["status"] == "held"
    (fault,) = journal["faults"]
    killed = re.search(rf"kill pod {node_namespace}/(\S+)", fault["description"])
    assert killed is not None, fault["description"]
    (sigterm, _, port), *_ = [e for e in pod_events(web.events, killed.group(1)) if e[1] == "sigterm"]
    region = "port-a" if port == a else "port-b"
    other = "port-b" if port == a else "port-a"

    # the replacement: the pod that started serving the killed pod's port after the kill
    replacements = [
        (t, p.stem)
        for p in web.events.glob("*.log")
        for t, what, served in pod_events(web.events, p.stem)
        if what == "serving" and served == port and t > sigterm
    ]
    assert len(replacements) == 1, replacements
    serving, replacement = replacements[0]
    assert serves(port) == f"{replacement} {port}"

    wall0, rows = journal_samples(out)
    mine = sorted((wall0 + r[3], bool(r[4]), r[5]) for r in rows if r[0] == "web" and r[1] == region)
    others = [bool(r[4]) for r in rows if r[0] == "web" and r[1] == other]
    assert others and all(others), "the other pod's port failed: only the killed pod's port may"
    failed = [t for t, ok, _ in mine if not ok]
    assert failed, "the probes never saw the killed pod's port fail"
    first_fail, last_fail = failed[0], failed[-1]
    first_ok_after = min(t for t, ok, _ in mine if ok and t > last_fail)
    last_ok_before = max(t for t, ok, _ in mine if ok and t < first_fail)
    # the outage as the pods saw it, and as chaosrun measured it, agree within one interval
    # (each edge is known to one sampling interval; a sample's own latency and lag add a little)
    slack = EVERY_S + 0.1
    assert last_ok_before - slack <= sigterm <= first_fail + slack
    assert last_fail - slack <= serving <= first_ok_after + slack
    measured, logged = first_ok_after - first_fail, serving - sigterm
    assert abs(measured - logged) <= 2 * slack, (measured, logged)
    poll(
        "the Deployment back at 2 pods",
        lambda: len(kube_node.cluster.active_pods(node_namespace, "app=chaosrun-demo-web")) == 2,
    )


def test_the_kubernetes_demo_holds(kube_node: KubeNode, tmp_path: Path) -> None:
    """`chaosrun demo --kubernetes` on the node: its own namespace and pods, a pod kill probed by an
    in-cluster agent and locally, held; the namespace is deleted afterwards."""
    proc = run_cli(
        "demo", "--kubernetes", "--out", str(tmp_path / "demo"), "--var", "baseline=2s", "--var", "fault=4s",
        "--var", "recovery=2s", state_dir=tmp_path / "state",
        env={"KUBECONFIG": str(kube_node.cluster.kubeconfig)}, timeout_s=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[ok] pod-kill-agent: HELD" in proc.stdout, proc.stdout
    journal = json.loads((tmp_path / "demo" / "pod-kill-agent" / "journal.json").read_text())
    assert {v["region"] for v in journal["verdicts"]} == {"cluster", "local"}
    namespaces = kube_node.cluster.ok("GET", "/api/v1/namespaces")["items"]
    demo = [n for n in namespaces if n["metadata"]["name"].startswith("chaosrun-demo-")]
    assert all("deletionTimestamp" in n["metadata"] or n["status"]["phase"] == "Terminating" for n in demo)
