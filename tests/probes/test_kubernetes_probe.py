"""The kubernetes readiness probe against a real kube-apiserver and kube-controller-manager.

No kubelet runs here: the test plays the kubelet and sets each pod's readiness itself through
the pods' `status` subresource (phase Running, condition Ready=True), exactly what a kubelet
writes. The controllers then do the rest for real: the ReplicaSet and Deployment controllers
count ready and available replicas from those conditions, and re-create killed pods.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaosrun.model import KubernetesProbe, Region
from tests.fixtures.kube_cluster import KubeCluster, poll

from ._support import take_sample

ROOT = Path(__file__).resolve().parents[2]
HERE = Region(name="cluster")


def set_ready(cluster: KubeCluster, namespace: str, name: str, ready: bool = True) -> None:
    """Play the kubelet: the pod runs, and its Ready condition is `ready`."""
    cluster.ok(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/pods/{name}/status",
        {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": str(ready)}]}},
        patch="application/merge-patch+json",
    )


def create_deployment(cluster: KubeCluster, namespace: str, name: str, replicas: int) -> None:
    labels = {"app": name}
    cluster.ok(
        "POST",
        f"/apis/apps/v1/namespaces/{namespace}/deployments",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "registry.invalid/none:1"}]},
                },
            },
        },
    )
    poll(
        f"Deployment {name} to create {replicas} pods",
        lambda: len(cluster.active_pods(namespace, f"app={name}")) == replicas,
    )


def _probe(cluster: KubeCluster, namespace: str, **kw: object) -> KubernetesProbe:
    return KubernetesProbe(namespace=namespace, kubeconfig=str(cluster.kubeconfig), timeout_s=10, **kw)  # type: ignore[arg-type]


def test_ready_pods_for_a_selector(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    kube_cluster.create_replicaset(kube_namespace, "web", 3, {"app": "web"})
    pods = kube_cluster.pod_names(kube_namespace, "app=web")
    for name in pods[:2]:
        set_ready(kube_cluster, kube_namespace, name)

    def sample(**kw: object) -> tuple[bool, str | None]:
        outcome = take_sample(_probe(kube_cluster, kube_namespace, selector="app=web", **kw), HERE)
        return outcome.ok, outcome.error

    assert sample(min_ready=2) == (True, None)
    assert sample(min_ready=3) == (False, "not enough ready pods for app=web (at least 3)")
    assert sample(min_ready_percent=0.5) == (True, None)
    assert sample(min_ready_percent=1.0) == (False, "not enough ready pods for app=web (at least 100%)")
    set_ready(kube_cluster, kube_namespace, pods[2])
    assert sample(min_ready_percent=1.0) == (True, None)
    set_ready(kube_cluster, kube_namespace, pods[0], ready=False)  # a readiness probe failing
    assert sample(min_ready=3) == (False, "not enough ready pods for app=web (at least 3)")
    outcome = take_sample(_probe(kube_cluster, kube_namespace, selector="app=none", min_ready=1), HERE)
    assert (outcome.ok, outcome.error) == (False, f"no pods match app=none in {kube_namespace}")


def test_a_deployments_available_replicas(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    create_deployment(kube_cluster, kube_namespace, "api", 2)
    spec = _probe(kube_cluster, kube_namespace, deployment="api", min_ready_percent=1.0)
    outcome = take_sample(spec, HERE)
    assert (outcome.ok, outcome.error) == (False, "deployment api: not enough available replicas (at least 100%)")
    for name in kube_cluster.pod_names(kube_namespace, "app=api"):
        set_ready(kube_cluster, kube_namespace, name)
    poll("the Deployment controller to count 2 available replicas", lambda: take_sample(spec, HERE).ok)
    missing = take_sample(_probe(kube_cluster, kube_namespace, deployment="nope"), HERE)
    assert not missing.ok and missing.error is not None
    assert missing.error.endswith('404 Not Found: deployments.apps "nope" not found')


def test_an_unreachable_api_server_is_a_failed_sample(kube_cluster: KubeCluster, tmp_path: Path) -> None:
    bad = kube_cluster.write_kubeconfig(tmp_path / "bad", token="not-the-token")
    outcome = take_sample(KubernetesProbe(namespace="default", selector="app=x", kubeconfig=str(bad)), HERE)
    assert not outcome.ok and outcome.error is not None and "401 Unauthorized" in outcome.error


@pytest.fixture
def kubelet(kube_cluster: KubeCluster, kube_namespace: str) -> Iterator[None]:
    """Plays the kubelet in the background: a pod is marked ready once it is 3 s old (as if its
    container started and its readiness probe passed), in a bounded loop."""
    stop = threading.Event()

    def old_enough(pod: dict[str, Any]) -> bool:
        created = dt.datetime.fromisoformat(pod["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
        return (dt.datetime.now(dt.UTC) - created).total_seconds() >= 3

    def loop() -> None:
        for _ in range(3000):
            if stop.wait(0.3):
                return
            for pod in kube_cluster.pods(kube_namespace):
                conditions = pod.get("status", {}).get("conditions") or []
                if (
                    "deletionTimestamp" not in pod["metadata"]
                    and old_enough(pod)
                    and not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
                ):
                    kube_cluster.call(
                        "PATCH",
                        f"/api/v1/namespaces/{kube_namespace}/pods/{pod['metadata']['name']}/status",
                        {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
                        patch="application/merge-patch+json",
                    )

    thread = threading.Thread(target=loop, name="test-kubelet", daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


@pytest.mark.slow
def test_recovery_after_a_pod_kill_is_measured(
    kube_cluster: KubeCluster, kube_namespace: str, kubelet: None, tmp_path: Path
) -> None:
    """A real run: pod_kill deletes a pod; the Deployment is whole again once its new pod is ready."""
    create_deployment(kube_cluster, kube_namespace, "web", 3)
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        f"""\
title: The web Deployment is whole again after a pod kill
regions: {{cluster: {{}}}}
steady_state:
  probes:
    - name: ready
      kubernetes: {{namespace: {kube_namespace}, deployment: web, kubeconfig: {kube_cluster.kubeconfig}}}
      every: 250ms
      during: ignore
      after: {{recover_within: 8s, streak: 2}}
phases: {{baseline: 2s, fault: 1s, recovery: 10s}}
method:
  - fault: kubernetes.pod_kill
    namespace: {kube_namespace}
    label_selector: app=web
    count: 1
    grace_period: 0s
    kubeconfig: {kube_cluster.kubeconfig}
"""
    )
    poll(
        "the Deployment to be available",
        lambda: take_sample(_probe(kube_cluster, kube_namespace, deployment="web"), HERE).ok,
    )
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "chaosrun", "run", str(exp), "--out", str(out), "--state-dir", str(tmp_path / "st")]
    done = subprocess.run([*argv, "--no-report"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    journal = json.loads((out / "journal.json").read_text())
    assert journal["status"] == "held", done.stdout[-3000:] + done.stderr[-3000:]
    text = json.dumps(journal)
    assert "deployment web: not enough available replicas (at least 100%)" in text  # the kill was seen
    recoveries = [r for r in journal["recovery"] if r["probe"] == "ready"]
    assert recoveries and recoveries[0]["recovery_s"] is not None and recoveries[0]["recovery_s"] > 0, recoveries
