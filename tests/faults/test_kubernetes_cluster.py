"""kubernetes.pod_kill (and Chaos Toolkit's terminate_pods) against a real control plane.

etcd + kube-apiserver + kube-controller-manager (tests/fixtures/kube_cluster.py): real
selectors, real deletes, and a real ReplicaSet controller that re-creates what was killed.
The fast cases with injected API errors stay on the fake (test_kubernetes.py).
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest

from chaosrun.errors import FaultFailed, PlanRefused
from chaosrun.faults import get_kind, get_undoer
from chaosrun.faults.kubernetes import PodKillInjection
from chaosrun.running.plan import format_plan
from tests.cli import run_cli
from tests.faults.test_kubernetes import context, experiment, kill, plan_for
from tests.fixtures.kube_cluster import KubeCluster, poll
from tests.fixtures.servers import HttpServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shop(kube_cluster: KubeCluster, kube_namespace: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A namespace with ReplicaSets web (4 pods, app=web) and api (2 pods, app=api); KUBECONFIG points at it."""
    kube_cluster.create_replicaset(kube_namespace, "web", 4, {"app": "web"})
    kube_cluster.create_replicaset(kube_namespace, "api", 2, {"app": "api"})
    monkeypatch.setenv("KUBECONFIG", str(kube_cluster.kubeconfig))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return kube_namespace


def replaced(cluster: KubeCluster, namespace: str, before: list[str], killed: int) -> list[str]:
    """The web pods once the ReplicaSet controller is back at 4 with `killed` new ones (bounded wait)."""

    def check() -> list[str] | None:
        names = cluster.active_pods(namespace, "app=web")
        return names if len(names) == 4 and len(set(names) - set(before)) == killed else None

    found: list[str] = poll(f"the ReplicaSet to replace {killed} killed pod(s)", check)
    return found


def test_plan_lists_matching_pods_and_deletes_nothing(kube_cluster: KubeCluster, shop: str) -> None:
    before = kube_cluster.pod_names(shop)
    plan, _ = plan_for(f"- {{fault: kubernetes.pod_kill, name: kill-web, namespace: {shop}, label_selector: app=web}}")
    (inj,) = plan.steps[0].injections
    assert isinstance(inj, PodKillInjection)
    assert inj.pod in kube_cluster.pod_names(shop, "app=web") and inj.owner == "ReplicaSet/web"
    assert f"kill pod {shop}/{inj.pod} (ReplicaSet/web; 1 of 4 matching app=web; default grace)" in format_plan(plan)
    assert kube_cluster.pod_names(shop) == before


def test_kill_deletes_only_selected_pods_and_the_replicaset_replaces_them(kube_cluster: KubeCluster, shop: str) -> None:
    web, api = kube_cluster.pod_names(shop, "app=web"), kube_cluster.pod_names(shop, "app=api")
    killed = kill(f"- {{fault: kubernetes.pod_kill, namespace: {shop}, label_selector: app=web, percent: 50}}")
    assert len(killed) == 2 and {inj.pod for inj in killed} <= set(web)
    gone = {inj.pod for inj in killed}
    assert not gone & set(kube_cluster.pod_names(shop))  # unscheduled pods go at once, even with default grace
    assert kube_cluster.pod_names(shop, "app=api") == api  # the selector was honoured
    after = replaced(kube_cluster, shop, web, 2)
    assert not gone & set(after) and len(set(after) - set(web)) == 2
    # undo changes nothing and reports what matches now, from the ledger record alone
    undo, logs = get_undoer("kubernetes"), list[str]()
    assert undo is not None
    record = json.loads(json.dumps(killed[0].undo_record()))
    asyncio.run(undo(record, context(experiment("- {fault: kubernetes.pod_kill, label_selector: x=y}"), logs)))
    assert f"4 pod(s) match app=web now: {', '.join(sorted(after))}" in logs[0]
    assert kube_cluster.active_pods(shop, "app=web") == sorted(after)


def test_pods_without_a_controller_are_refused(kube_cluster: KubeCluster, shop: str) -> None:
    kube_cluster.create_pod(shop, "lonely", {"app": "solo"})
    with pytest.raises(PlanRefused, match=r"\(lonely\) have no controller"):
        plan_for(f"- {{fault: kubernetes.pod_kill, namespace: {shop}, label_selector: app=solo}}")
    assert kube_cluster.pod_names(shop, "app=solo") == ["lonely"]


def test_bad_selector_is_the_real_servers_400(shop: str) -> None:
    with pytest.raises(FaultFailed, match=r"400 Bad Request: unable to parse requirement"):
        plan_for(f"- {{fault: kubernetes.pod_kill, namespace: {shop}, label_selector: 'app in web'}}")


def test_wrong_token_is_a_401_and_health_check_passes_with_the_right_one(
    kube_cluster: KubeCluster, shop: str, tmp_path: Path
) -> None:
    bad = kube_cluster.write_kubeconfig(tmp_path / "bad", token="not-the-token")
    with pytest.raises(FaultFailed, match="401 Unauthorized"):
        plan_for(f"- {{fault: kubernetes.pod_kill, namespace: {shop}, label_selector: app=web, kubeconfig: {bad}}}")
    plan, ctx = plan_for(f"- {{fault: kubernetes.pod_kill, namespace: {shop}, label_selector: app=web}}")
    kind = get_kind("kubernetes.pod_kill")
    assert kind is not None
    asyncio.run(kind.healthcheck(plan.steps[0].injections, ctx))  # GET /version over verified TLS


def test_a_kubeconfig_without_the_clusters_ca_fails_tls_verification(
    kube_cluster: KubeCluster, shop: str, tmp_path: Path
) -> None:
    text = kube_cluster.kubeconfig.read_text()
    no_ca = tmp_path / "no-ca"
    no_ca.write_text("\n".join(line for line in text.splitlines() if "certificate-authority" not in line) + "\n")
    with pytest.raises(FaultFailed, match=r"(?i)certificate"):
        plan_for(f"- {{fault: kubernetes.pod_kill, namespace: {shop}, label_selector: app=web, kubeconfig: {no_ca}}}")


def test_chaostoolkit_terminate_pods_runs_unchanged(
    kube_cluster: KubeCluster, shop: str, http_server: HttpServer, tmp_path: Path
) -> None:
    """Chaos Toolkit compatibility: chaosk8s's own action in a real run (a fresh process: chaosk8s
    reads KUBECONFIG once, when the kubernetes client is first imported)."""
    web, api = kube_cluster.pod_names(shop, "app=web"), kube_cluster.pod_names(shop, "app=api")
    exp = tmp_path / "ctk.yaml"
    exp.write_text(
        textwrap.dedent(
            f"""\
            title: chaosk8s terminate_pods
            regions: {{local: {{base_url: "{http_server.url}"}}}}
            steady_state:
              probes:
                - {{name: ok, http: {{url: /ok}}, every: 200ms, tolerance: {{success_ratio: ">= 0.9"}}}}
            phases: {{baseline: 600ms, fault: 5s, recovery: 600ms}}  # chaosk8s imports the client: time to apply
            method:
              - fault: chaostoolkit.action
                name: ctk-terminate
                provider:
                  type: python
                  module: chaosk8s.pod.actions
                  func: terminate_pods
                  arguments: {{label_selector: app=web, ns: {shop}, qty: 1, grace_period: 0}}
            """
        )
    )
    out = tmp_path / "out"
    proc = run_cli(
        "run", str(exp), "--out", str(out), "--no-report", state_dir=tmp_path / "state",
        env={"KUBECONFIG": str(kube_cluster.kubeconfig)}, timeout_s=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    journal = json.loads((out / "journal.json").read_text())
    assert journal["status"] == "held" and journal["faults"][0]["undo"] == "ok"
    after = replaced(kube_cluster, shop, web, 1)
    assert len(set(after) & set(web)) == 3
    assert kube_cluster.pod_names(shop, "app=api") == api  # chaosk8s honoured the selector


def test_the_shipped_pod_kill_experiment_holds_against_a_real_cluster(
    kube_cluster: KubeCluster, kube_namespace: str, http_server: HttpServer, tmp_path: Path
) -> None:
    """experiments/pod-kill.yaml as shipped, with its variables pointed at this cluster and a local service."""
    kube_cluster.create_replicaset(kube_namespace, "storefront", 3, {"app": "storefront"})
    before = kube_cluster.pod_names(kube_namespace)
    out = tmp_path / "out"
    proc = run_cli(
        "run", str(ROOT / "experiments" / "pod-kill.yaml"), "--out", str(out), "--no-report",
        "--var", f"namespace={kube_namespace}", "--var", f"base_url={http_server.url}",
        "--var", "baseline=1s", "--var", "fault=2s", "--var", "recovery=2s", "--var", "recover_within=2s",
        state_dir=tmp_path / "state", env={"KUBECONFIG": str(kube_cluster.kubeconfig)}, timeout_s=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    journal = json.loads((out / "journal.json").read_text())
    assert journal["status"] == "held"
    (fault,) = journal["faults"]
    killed = next(name for name in before if f"{kube_namespace}/{name} " in fault["description"])
    assert fault["undo"] == "ok"
    assert killed not in kube_cluster.pod_names(kube_namespace)
    poll(
        "the storefront ReplicaSet back at 3 pods",
        lambda: len(kube_cluster.active_pods(kube_namespace, "app=storefront")) == 3,
    )
