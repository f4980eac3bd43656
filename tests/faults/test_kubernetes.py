"""kubernetes.pod_kill against the fake API server (tests/fixtures/kube_api.py) with the real client."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest

from chaosrun.errors import FaultFailed, PlanRefused, ValidationFailed
from chaosrun.faults import FaultContext, get_kind, get_undoer
from chaosrun.faults.kubernetes import PodKillInjection, check_selector
from chaosrun.loader import load_text
from chaosrun.model import Experiment
from chaosrun.running.plan import Plan, build_plan, format_plan
from tests.fixtures.kube_api import FakeKubeApi, write_kubeconfig

RUN_ID = "20260101T000000Z-abc123"
BASE = """\
title: K8s test
regions: {local: {base_url: "http://127.0.0.1:1"}}
steady_state:
  probes:
    - name: h
      http: {url: /h}
phases: {baseline: 1s, fault: 2s, recovery: 1s}
"""


@pytest.fixture
def cluster(kube_api: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKubeApi:
    """shop: web (3 pods, app=web), api (3 pods, app=api); default: web (2 pods). KUBECONFIG points at it."""
    kube_api.add_replicaset("web", replicas=3, labels={"app": "web", "tier": "front"}, namespace="shop")
    kube_api.add_replicaset("api", replicas=3, labels={"app": "api", "tier": "back"}, namespace="shop")
    kube_api.add_replicaset("web", replicas=2, labels={"app": "web"}, namespace="default")
    monkeypatch.setenv("KUBECONFIG", str(kube_api.write_kubeconfig(tmp_path / "kubeconfig")))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return kube_api


def experiment(step: str, caps: str = "") -> Experiment:
    method = "method:\n" + textwrap.indent(textwrap.dedent(step).strip() + "\n", "  ")
    return load_text(BASE + method + textwrap.dedent(caps), environ={})


def context(exp: Experiment, logs: list[str] | None = None) -> FaultContext:
    return FaultContext(run_id=RUN_ID, experiment=exp, log=(logs if logs is not None else []).append)


def plan_for(step: str, caps: str = "") -> tuple[Plan, FaultContext]:
    exp = experiment(step, caps)
    ctx = context(exp)
    return asyncio.run(build_plan(exp, ctx)), ctx


def kill(step: str) -> list[PodKillInjection]:
    """Plan and apply every injection of the one step; returns them."""
    plan, ctx = plan_for(step)
    out = []
    for inj in plan.steps[0].injections:
        assert isinstance(inj, PodKillInjection)
        asyncio.run(inj.apply(ctx))
        out.append(inj)
    return out


# --- loading ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        pytest.param("- {fault: kubernetes.pod_kill}", "missing required key 'label_selector'", id="no-selector"),
        pytest.param(
            "- {fault: kubernetes.pod_kill, label_selector: ''}", "expected a non-empty string", id="empty-selector"
        ),
        pytest.param(
            "- {fault: kubernetes.pod_kill, label_selector: '!app'}", "only negative requirements", id="only-not-exists"
        ),
        pytest.param(
            "- {fault: kubernetes.pod_kill, label_selector: 'app!=db,tier notin (x)'}",
            "only negative requirements",
            id="only-negative",
        ),
        pytest.param(
            "- {fault: kubernetes.pod_kill, label_selector: 'app=web,'}", "empty requirement", id="stray-comma"
        ),
        pytest.param(
            "- {fault: kubernetes.pod_kill, label_selector: app=web, count: 1, percent: 50}",
            "give either 'count' or 'percent', not both",
            id="count-and-percent",
        ),
        pytest.param(
            "- {fault: kubernetes.pod_kill, label_selector: app=web, percent: 150}",
            "must be at most 100.0",
            id="percent-over-100",
        ),
        pytest.param(
            "- {fault: kubernetes.pod_kill, label_selector: app=web, count: 0}", "must be at least 1", id="count-zero"
        ),
        pytest.param(
            "- {fault: kubernetes.pod_kill, label_selector: app=web, grace_period: 1500ms}",
            "whole seconds",
            id="grace-whole-seconds",
        ),
        pytest.param(
            "- {fault: kubernetes.pod_kill, label_selector: app=web, namespace: Shop_1}",
            "expected a Kubernetes namespace name",
            id="bad-namespace",
        ),
        pytest.param(
            "- {fault: kubernetes.pod_kill, label_selector: app=web, name_pattern: '('}",
            "not a valid regular expression",
            id="bad-name-pattern",
        ),
        pytest.param(
            "- {fault: kubernetes.pod_kill, label_selector: app=web, selector: x}",
            "unknown key 'selector'",
            id="unknown-key",
        ),
    ],
)
def test_invalid_steps_are_located_errors(step: str, expected: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        experiment(step)
    assert expected in str(info.value)
    assert "<text>:" in str(info.value)


@pytest.mark.parametrize(
    ("selector", "refused"),
    [
        pytest.param("app=web", False, id="equality"),
        pytest.param("app in (web,api),!canary", False, id="set-and-negation"),
        pytest.param("tier", False, id="exists"),
        pytest.param("app notin (web, api)", True, id="notin-only"),
        pytest.param("!a,!b", True, id="not-exists-only"),
    ],
)
def test_check_selector(selector: str, refused: bool) -> None:
    assert (check_selector(selector) is not None) == refused


# --- resolve: the dry run ---------------------------------------------------------------


def test_dry_run_lists_matching_pods_and_deletes_nothing(cluster: FakeKubeApi) -> None:
    plan, _ = plan_for("- {fault: kubernetes.pod_kill, name: kill-web, namespace: shop, label_selector: app=web}")
    (inj,) = plan.steps[0].injections
    assert isinstance(inj, PodKillInjection)
    web = cluster.pod_names("shop", "app=web")
    assert inj.pod in web
    host = cluster.url.removeprefix("http://")
    assert inj.target == f"kubernetes:{host}/shop/pod/{inj.pod}"
    text = format_plan(plan)
    assert f"kill pod shop/{inj.pod} (ReplicaSet/web; 1 of 3 matching app=web; default grace)" in text
    assert cluster.deletes() == []
    lists = [r for r in cluster.requests if r.path == "/api/v1/namespaces/shop/pods"]
    assert [r.query.get("labelSelector") for r in lists] == ["app=web"]  # filtered server-side


def test_selector_is_honoured_a_pod_of_another_app_is_never_killed(cluster: FakeKubeApi) -> None:
    api_pods = set(cluster.pod_names("shop", "app=api"))
    for _ in range(10):  # random choice: repeat to give a wrong pick every chance
        kill("- {fault: kubernetes.pod_kill, namespace: shop, label_selector: 'app in (web), tier=front'}")
    assert set(cluster.pod_names("shop", "app=api")) == api_pods
    assert len(cluster.deletes()) == 10
    assert all(d.startswith("shop/web-") for d in cluster.deletes())
    assert cluster.pod_names("default", "app=web") and all(not d.startswith("default/") for d in cluster.deletes())


@pytest.mark.parametrize(
    ("how", "killed"),
    [
        pytest.param("count: 2", 2, id="count-2"),
        pytest.param("count: 10", 3, id="count-capped-at-matching"),
        pytest.param("percent: 50", 2, id="percent-50-of-3-rounds-up"),
        pytest.param("percent: 1", 1, id="percent-1-of-3-is-1"),
        pytest.param("percent: 100", 3, id="percent-100"),
    ],
)
def test_count_and_percent(cluster: FakeKubeApi, how: str, killed: int) -> None:
    before = set(cluster.pod_names("shop", "app=web"))
    injections = kill(f"- {{fault: kubernetes.pod_kill, namespace: shop, label_selector: app=web, {how}}}")
    assert len(injections) == killed
    assert len(set(cluster.deletes())) == killed
    assert {d.split("/")[1] for d in cluster.deletes()} <= before


def test_name_pattern_narrows_the_selection(cluster: FakeKubeApi) -> None:
    one = cluster.pod_names("shop", "app=web")[0]
    plan, _ = plan_for(
        f"- {{fault: kubernetes.pod_kill, namespace: shop, label_selector: app=web, name_pattern: '^{one}$', count: 3}}"
    )
    assert [inj.pod for inj in plan.steps[0].injections] == [one]  # type: ignore[attr-defined]


def test_no_matching_pod_refuses_the_plan(cluster: FakeKubeApi) -> None:
    with pytest.raises(PlanRefused, match="matches no target"):
        plan_for("- {fault: kubernetes.pod_kill, namespace: shop, label_selector: app=nothing}")


def test_pods_without_controller_are_refused(cluster: FakeKubeApi) -> None:
    cluster.add_pod("lonely", namespace="shop", labels={"app": "solo"})
    with pytest.raises(PlanRefused, match=r"\(lonely\) have no controller"):
        plan_for("- {fault: kubernetes.pod_kill, namespace: shop, label_selector: app=solo}")
    assert cluster.deletes() == []


def test_namespace_caps(cluster: FakeKubeApi) -> None:
    caps = "caps: {allowed_namespaces: [shop]}\n"
    with pytest.raises(PlanRefused, match=r"namespace 'default' is not in caps.allowed_namespaces \(shop\)"):
        plan_for("- {fault: kubernetes.pod_kill, label_selector: app=web}", caps)
    assert not [r for r in cluster.requests if "/pods" in r.path]  # refused before asking the API
    plan, _ = plan_for("- {fault: kubernetes.pod_kill, namespace: shop, label_selector: app=web}", caps)
    assert len(plan.steps[0].injections) == 1


def test_bad_selector_syntax_is_the_servers_400(cluster: FakeKubeApi) -> None:
    with pytest.raises(FaultFailed, match=r"400 Bad Request: unable to parse requirement"):
        plan_for("- {fault: kubernetes.pod_kill, namespace: shop, label_selector: 'app in web'}")


# --- apply: graceful deletion, controllers ----------------------------------------------


def test_default_grace_leaves_the_pod_terminating_and_the_replicaset_replaces_it(cluster: FakeKubeApi) -> None:
    (inj,) = kill("- {fault: kubernetes.pod_kill, namespace: shop, label_selector: app=web}")
    assert cluster.terminating("shop") == [inj.pod]
    active = [n for n in cluster.pod_names("shop", "app=web") if n not in cluster.terminating("shop")]
    assert len(active) == 3 and inj.pod not in active
    delete = next(r for r in cluster.requests if r.method == "DELETE")
    assert delete.body["preconditions"] == {"uid": inj.uid}
    assert "gracePeriodSeconds" not in delete.body


def test_grace_period_zero_removes_the_pod_at_once(cluster: FakeKubeApi) -> None:
    (inj,) = kill("- {fault: kubernetes.pod_kill, namespace: shop, label_selector: app=web, grace_period: 0s}")
    assert inj.pod not in cluster.pod_names("shop")
    assert cluster.terminating("shop") == []
    assert next(r for r in cluster.requests if r.method == "DELETE").body["gracePeriodSeconds"] == 0


def test_pod_gone_between_plan_and_kill(cluster: FakeKubeApi) -> None:
    plan, ctx = plan_for("- {fault: kubernetes.pod_kill, namespace: shop, label_selector: app=web, grace_period: 0s}")
    (inj,) = plan.steps[0].injections
    assert isinstance(inj, PodKillInjection)
    asyncio.run(inj.apply(ctx))
    with pytest.raises(FaultFailed, match=f"pod shop/{inj.pod} disappeared between the plan and the kill"):
        asyncio.run(inj.apply(ctx))


def test_pod_recreated_under_the_same_name_is_not_killed(cluster: FakeKubeApi) -> None:
    rs = cluster.add_replicaset("db-owner", replicas=0, labels={"app": "db"}, namespace="shop")
    cluster.add_pod("db-0", namespace="shop", labels={"app": "db"}, owner=rs)
    plan, ctx = plan_for("- {fault: kubernetes.pod_kill, namespace: shop, label_selector: app=db, grace_period: 0s}")
    (inj,) = plan.steps[0].injections
    assert isinstance(inj, PodKillInjection)
    cluster.add_pod("db-0", namespace="shop", labels={"app": "db"}, owner=rs)  # a StatefulSet would: same name, new uid
    with pytest.raises(FaultFailed, match="re-created since the plan"):
        asyncio.run(inj.apply(ctx))
    assert cluster.pod_names("shop", "app=db") == ["db-0"]


def test_api_error_names_the_pod(cluster: FakeKubeApi) -> None:
    plan, ctx = plan_for("- {fault: kubernetes.pod_kill, namespace: shop, label_selector: app=web}")
    (inj,) = plan.steps[0].injections
    cluster.fail_next(500, times=5)  # more than the client's retries
    with pytest.raises(FaultFailed, match=r"delete pod shop/web-\w+: 500 Internal Server Error: injected failure 500"):
        asyncio.run(inj.apply(ctx))


# --- undo -------------------------------------------------------------------------------


def test_undo_from_the_ledger_record_is_a_no_op_reporting_replacements(cluster: FakeKubeApi) -> None:
    (inj,) = kill("- {fault: kubernetes.pod_kill, namespace: shop, label_selector: app=web}")
    record = json.loads(json.dumps(inj.undo_record()))
    assert record["backend"] == "kubernetes" and record["pod"] == inj.pod and record["uid"] == inj.uid
    requests_before = len(cluster.requests)
    logs: list[str] = []
    undo = get_undoer("kubernetes")
    assert undo is not None
    other = experiment("- {fault: kubernetes.pod_kill, label_selector: x=y}")
    for _ in range(2):  # idempotent
        asyncio.run(undo(record, context(other, logs)))
    assert cluster.deletes() == [f"shop/{inj.pod}"]  # undo changed nothing
    assert all(r.method == "GET" for r in cluster.requests[requests_before:])
    assert len(logs) == 2
    assert f"kubernetes pod shop/{inj.pod} (ReplicaSet/web) was killed; its controller re-creates it." in logs[0]
    assert "3 pod(s) match app=web now" in logs[0] and "(the killed pod is still terminating)" in logs[0]


def test_undo_never_fails_when_the_api_is_gone(cluster: FakeKubeApi) -> None:
    (inj,) = kill("- {fault: kubernetes.pod_kill, namespace: shop, label_selector: app=web, grace_period: 0s}")
    cluster.close()
    logs: list[str] = []
    undo = get_undoer("kubernetes")
    assert undo is not None
    asyncio.run(
        undo(inj.undo_record(), context(experiment("- {fault: kubernetes.pod_kill, label_selector: a=b}"), logs))
    )
    assert "Could not check replacements" in logs[0] and "unreachable" in logs[0]


# --- configuration, TLS, health -----------------------------------------------------------


def test_insecure_kubeconfig_is_refused(kube_api: FakeKubeApi, tmp_path: Path) -> None:
    path = kube_api.write_kubeconfig(tmp_path / "insecure", insecure=True)
    with pytest.raises(PlanRefused, match="never does that"):
        plan_for(f"- {{fault: kubernetes.pod_kill, label_selector: app=web, kubeconfig: {path}}}")
    assert kube_api.requests == []


def test_plain_http_to_a_remote_api_server_is_refused(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "remote", server="http://10.255.255.1:8080")
    with pytest.raises(PlanRefused, match="plain http to a remote API server is refused"):
        plan_for(f"- {{fault: kubernetes.pod_kill, label_selector: app=web, kubeconfig: {path}}}")


def test_step_kubeconfig_and_context_win_over_the_environment(
    cluster: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    path = cluster.write_kubeconfig(tmp_path / "mine", context="ctx-a")
    plan, _ = plan_for(
        f"- {{fault: kubernetes.pod_kill, namespace: shop, label_selector: app=web, kubeconfig: {path}, "
        "context: ctx-a}"
    )
    assert len(plan.steps[0].injections) == 1
    with pytest.raises(PlanRefused, match=r"kubeconfig .*/missing does not exist"):
        plan_for("- {fault: kubernetes.pod_kill, namespace: shop, label_selector: app=web}")


def test_wrong_token_is_a_401(cluster: FakeKubeApi, tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "bad-token", server=cluster.url, token="wrong")
    with pytest.raises(FaultFailed, match="401 Unauthorized"):
        plan_for(f"- {{fault: kubernetes.pod_kill, label_selector: app=web, kubeconfig: {path}}}")


def test_healthcheck(cluster: FakeKubeApi) -> None:
    plan, ctx = plan_for("- {fault: kubernetes.pod_kill, namespace: shop, label_selector: app=web, count: 2}")
    kind = get_kind("kubernetes.pod_kill")
    assert kind is not None
    asyncio.run(kind.healthcheck(plan.steps[0].injections, ctx))
    assert [r.path for r in cluster.requests].count("/version") == 1  # once per cluster
    cluster.close()
    with pytest.raises(FaultFailed, match=r"health check \(GET /version\): unreachable \(connection refused\)"):
        asyncio.run(kind.healthcheck(plan.steps[0].injections, ctx))


def test_a_plan_that_fails_on_the_api_still_leaves_a_journal_and_a_report(cluster: FakeKubeApi, tmp_path: Path) -> None:
    """A scheduled game day is read afterwards: exit 4, and the journal, report and history say why."""
    from tests.cli import run_cli

    bad = write_kubeconfig(tmp_path / "bad-token", server=cluster.url, token="wrong")
    exp = tmp_path / "exp.yaml"
    exp.write_text(BASE + f"method:\n  - {{fault: kubernetes.pod_kill, namespace: shop, label_selector: app=web, "
                          f"kubeconfig: {bad}}}\n")  # fmt: skip
    out, state = tmp_path / "out", tmp_path / "state"
    proc = run_cli("run", str(exp), "--out", str(out), state_dir=state, timeout_s=60)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "401 Unauthorized" in proc.stderr and f"journal: {out / 'journal.json'}" in proc.stdout
    journal = json.loads((out / "journal.json").read_text())
    assert journal["status"] == "error" and "nothing was injected" in journal["reason"]
    assert "401 Unauthorized" in journal["reason"] and journal["faults"] == []
    assert (out / "report.html").exists()
    history = run_cli("history", state_dir=state, timeout_s=60)
    (row,) = [line for line in history.stdout.splitlines() if "K8s test" in line]
    assert "error" in row.lower() and str(out / "journal.json") in row
    assert cluster.deletes() == []
