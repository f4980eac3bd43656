"""A Chaos Toolkit experiment through chaostoolkit-kubernetes against the real kube-apiserver
(tests/fixtures/kube_cluster.py), under `chaos run` and `chaosrun run`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.kube_cluster import KubeCluster, poll

from .sidebyside import chaos_run, chaosrun_run, write

pytest.importorskip("chaosk8s")

M = "tests.ctk.ctkmod"


def _experiment(ns: str) -> dict[str, Any]:
    selector = {"label_selector": "app=shop", "ns": ns}
    return {
        "title": "a shop pod is killed and replaced",
        "description": "chaostoolkit-kubernetes against a real API server",
        "steady-state-hypothesis": {
            "title": "three shop pods",
            "probes": [
                {
                    "type": "probe",
                    "name": "three-pods",
                    "tolerance": 3,
                    "provider": {
                        "type": "python",
                        "module": "chaosk8s.pod.probes",
                        "func": "count_pods",
                        "arguments": selector,
                    },
                }
            ],
        },
        "method": [
            {
                "type": "action",
                "name": "kill-one-pod",
                "provider": {
                    "type": "python",
                    "module": "chaosk8s.pod.actions",
                    "func": "terminate_pods",
                    "arguments": {**selector, "qty": 1, "grace_period": 0},
                },
            },
            {
                "type": "action",
                "name": "wait-for-replacement",
                "provider": {
                    "type": "python",
                    "module": M,
                    "func": "wait_for_pods",
                    "arguments": {**selector, "count": 3},
                },
            },
        ],
    }


def test_pod_kill_side_by_side(kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path) -> None:
    ns = kube_namespace
    kube_cluster.create_replicaset(ns, "shop", 3, {"app": "shop"})
    poll("three shop pods", lambda: len(kube_cluster.active_pods(ns, "app=shop")) == 3)
    path = write(tmp_path, "experiment.yaml", _experiment(ns))
    env = {"KUBECONFIG": str(kube_cluster.kubeconfig)}
    results = []
    for tool in (chaos_run, chaosrun_run):
        before = set(kube_cluster.active_pods(ns, "app=shop"))
        results.append(tool(path, tmp_path, env))
        poll("three shop pods again", lambda: len(kube_cluster.active_pods(ns, "app=shop")) == 3)
        after = set(kube_cluster.active_pods(ns, "app=shop"))
        assert len(before - after) == 1, tool.__name__  # exactly one pod was killed (and replaced)
    theirs, ours = results
    ours.same_as(theirs)
    assert theirs.code == 0 and ours.code == 0, ours.stdout + ours.stderr
    assert ours.ran == [("kill-one-pod", "succeeded"), ("wait-for-replacement", "succeeded")]
