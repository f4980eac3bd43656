"""deploy/kubernetes/gameday-cronjob.yaml against the real control plane (tests/fixtures/kube_cluster.py).

The manifest is applied object by object to a real kube-apiserver (which validates it), and its
ConfigMap's plan is run by the real CLI the way the CronJob runs it: its command and environment,
with the ConfigMap's keys and the volumes mapped to local folders, authenticated as the manifest's
ServiceAccount through a TokenRequest token, so the Role is what allows or forbids each call.
There is no kubelet: the CronJob itself never starts a pod here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaosrun.safety.ledger import Ledger
from tests.cli import run_cli
from tests.fixtures.kube_cluster import KubeCluster, poll
from tests.fixtures.servers import HttpServer

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "kubernetes" / "gameday-cronjob.yaml"
DOCKERFILE = ROOT / "deploy" / "kubernetes" / "Dockerfile"
PLACEHOLDER = "__NAMESPACE__"  # what the header tells users to replace with the namespace they apply to
REST = {
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "ConfigMap": "/api/v1/namespaces/{ns}/configmaps",
    "PersistentVolumeClaim": "/api/v1/namespaces/{ns}/persistentvolumeclaims",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
    "CronJob": "/apis/batch/v1/namespaces/{ns}/cronjobs",
}
API_VERSIONS = {"ServiceAccount": "v1", "ConfigMap": "v1", "PersistentVolumeClaim": "v1", "CronJob": "batch/v1"}
SHORT = ("baseline=1s", "fault=2s", "recovery=3s", "recover_within=2s")  # time to apply in the fault phase
STOREFRONT = {"app": "storefront"}  # what the plan's label_selector (app=storefront) selects


# --- the manifest, as a user applies it -----------------------------------------------------


def manifest(namespace: str | None = None) -> list[dict[str, Any]]:
    """The documents, with the namespace placeholder replaced as the header says (sed, then -n)."""
    text = MANIFEST.read_text()
    return [doc for doc in yaml.safe_load_all(text if namespace is None else text.replace(PLACEHOLDER, namespace))]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


def pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    (c,) = pod_spec(docs)["containers"]
    return dict(c)


def volumes_by_mount(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """mountPath -> (volume, mount) for the container's mounts."""
    volumes = {v["name"]: v for v in pod_spec(docs)["volumes"]}
    return {m["mountPath"]: {"volume": volumes[m["name"]], "mount": m} for m in container(docs)["volumeMounts"]}


def apply(cluster: KubeCluster, namespace: str) -> dict[str, dict[str, Any]]:
    """POST every document to its REST path in `namespace` (what `kubectl apply -n` does); 201 each."""
    created = {}
    for doc in manifest(namespace):
        status, answer = cluster.call("POST", REST[doc["kind"]].format(ns=namespace), doc)
        assert status == 201, f"{doc['kind']} {doc['metadata']['name']}: {status} {answer.get('message')}"
        created[doc["kind"]] = answer
    return created


def as_pod_filesystem(docs: list[dict[str, Any]], root: Path) -> dict[str, Path]:
    """A local folder per mount of the CronJob's container; a ConfigMap volume gets its keys as files."""
    folders = {}
    for i, (mount_path, where) in enumerate(sorted(volumes_by_mount(docs).items())):
        folder = root / f"volume{i}"
        folder.mkdir(parents=True)
        config_map = where["volume"].get("configMap")
        if config_map is not None:
            (cm,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == config_map["name"]]
            for key, value in cm["data"].items():
                (folder / key).write_text(value)
        folders[mount_path] = folder
    return folders


def local(value: str, folders: dict[str, Path]) -> str:
    """A path inside the pod -> the local folder that stands for its mount (longest mount first)."""
    for mount_path in sorted(folders, key=len, reverse=True):
        if value == mount_path or value.startswith(mount_path + "/"):
            return str(folders[mount_path]) + value[len(mount_path) :]
    return value


def cronjob_run(
    docs: list[dict[str, Any]], folders: dict[str, Path], namespace: str
) -> tuple[list[str], dict[str, str]]:
    """The container's command and environment as the kubelet would give them, with local paths."""
    c = container(docs)
    env = {}
    for var in c.get("env", []):
        if "value" in var:
            env[var["name"]] = local(var["value"], folders)
        else:
            assert var["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}, var
            env[var["name"]] = namespace
    return [local(arg, folders) for arg in c["command"]], env


def service_account_kubeconfig(cluster: KubeCluster, namespace: str, path: Path) -> tuple[KubeCluster, Path]:
    """A token for ServiceAccount chaosrun (TokenRequest API) and a kubeconfig with it, once its Role is in force."""
    answer = cluster.ok(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/chaosrun/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}},
    )
    token = answer["status"]["token"]
    as_sa = dataclasses.replace(cluster, token=token)
    poll(  # the API server's RBAC cache sees a new RoleBinding shortly after it is created
        "the chaosrun ServiceAccount to be allowed to list pods in its namespace",
        lambda: as_sa.call("GET", f"/api/v1/namespaces/{namespace}/pods")[0] == 200,
    )
    return as_sa, cluster.write_kubeconfig(path, token=token)


def plan_entries(plan_file: Path) -> list[str]:
    """The experiment files a game-day plan names."""
    plan = yaml.safe_load(plan_file.read_text())
    return [entry["file"] for entry in plan["experiments"]]


def start_game_day(d: Deployed, log: Path, *variables: str) -> subprocess.Popen[str]:
    """The CronJob's command in the background, output to `log`; chaosrun itself is the process."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "chaosrun", *d.command[1:], *[f"--var={v}" for v in variables]],
            cwd=ROOT,
            env={**os.environ, "CI": "true", **d.env},
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Deployed:
    """The manifest applied in a namespace, and the CronJob's container as it would run there."""

    docs: list[dict[str, Any]]
    as_sa: KubeCluster  # the admin helper, authenticated as ServiceAccount chaosrun
    kubeconfig: Path  # a kubeconfig with the ServiceAccount's token
    folders: dict[str, Path]  # mountPath -> local folder
    command: list[str]  # with local paths
    env: dict[str, str]  # the container's environment, plus KUBECONFIG

    def arg(self, flag: str) -> Path:
        return Path(self.command[self.command.index(flag) + 1])


@pytest.fixture
def deployed(kube_cluster: KubeCluster, kube_namespace: str, tmp_path: Path) -> Deployed:
    """The manifest applied in kube_namespace, with a storefront ReplicaSet (3 pods) for its drill."""
    docs = manifest(kube_namespace)
    apply(kube_cluster, kube_namespace)
    kube_cluster.create_replicaset(kube_namespace, "storefront", 3, STOREFRONT)
    as_sa, kubeconfig = service_account_kubeconfig(kube_cluster, kube_namespace, tmp_path / "kubeconfig")
    folders = as_pod_filesystem(docs, tmp_path / "pod")
    command, env = cronjob_run(docs, folders, kube_namespace)
    return Deployed(docs, as_sa, kubeconfig, folders, command, {**env, "KUBECONFIG": str(kubeconfig)})


@pytest.fixture
def other_namespace(kube_cluster: KubeCluster) -> Iterator[str]:
    """A second fresh namespace (made with the admin token), with a storefront ReplicaSet."""
    name = "o-" + secrets.token_hex(4)
    kube_cluster.ok("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    try:
        poll(
            f"the default ServiceAccount of namespace {name}",
            lambda: kube_cluster.call("GET", f"/api/v1/namespaces/{name}/serviceaccounts/default")[0] == 200,
        )
        kube_cluster.create_replicaset(name, "storefront", 2, STOREFRONT)
        yield name
    finally:
        kube_cluster.call("DELETE", f"/api/v1/namespaces/{name}")


# --- a. the API server accepts every object ---------------------------------------------------


def test_every_object_of_the_manifest_is_accepted_by_the_real_api_server(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    docs = manifest()
    assert [d["kind"] for d in docs] == [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "PersistentVolumeClaim",
        "ConfigMap",
        "CronJob",
    ]
    for doc in docs:  # `kubectl apply -n NS` puts them where the user says: none names a namespace
        assert "namespace" not in doc["metadata"], doc["kind"]
        assert doc["apiVersion"] == API_VERSIONS.get(doc["kind"], "rbac.authorization.k8s.io/v1")
    assert one(docs, "RoleBinding")["subjects"][0]["namespace"] == PLACEHOLDER

    created = apply(kube_cluster, kube_namespace)
    assert set(created) == set(REST)

    cron = kube_cluster.ok("GET", f"/apis/batch/v1/namespaces/{kube_namespace}/cronjobs/chaosrun-gameday")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron["spec"]["startingDeadlineSeconds"] > 0
    job = cron["spec"]["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0 and job["activeDeadlineSeconds"] > 0
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "chaosrun"
    assert pod["terminationGracePeriodSeconds"] >= 60  # time to roll back and write the journal after SIGTERM
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["shareProcessNamespace"] is True  # the pause container is PID 1 and reaps orphans
    (c,) = pod["containers"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"]

    binding = kube_cluster.ok(
        "GET", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{kube_namespace}/rolebindings/chaosrun-pod-kill"
    )
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "chaosrun", "namespace": kube_namespace}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "chaosrun-pod-kill"}
    role = kube_cluster.ok(
        "GET", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{kube_namespace}/roles/chaosrun-pod-kill"
    )
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "delete"]}]


# --- b. least privilege, for real ---------------------------------------------------------------


def test_the_cronjobs_plan_runs_as_its_service_account_and_a_pod_is_replaced(
    kube_cluster: KubeCluster, kube_namespace: str, deployed: Deployed, http_server: HttpServer
) -> None:
    before = kube_cluster.pod_names(kube_namespace)
    assert deployed.env["CHAOSRUN_VAR_namespace"] == kube_namespace  # the drill targets the CronJob's own namespace

    overrides = [f"--var={v}" for v in (f"base_url={http_server.url}", "probe_path=/ok", *SHORT)]
    proc = run_cli(*deployed.command[1:], *overrides, env=deployed.env, timeout_s=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    state, out = deployed.arg("--state-dir"), deployed.arg("--out")
    journals = sorted(out.rglob("journal.json"))
    experiments = plan_entries(Path(deployed.command[2]))
    assert len(journals) == len(experiments) == 1
    journal = json.loads(journals[0].read_text())
    assert journal["status"] == "held", journal.get("reason")
    (fault,) = journal["faults"]
    assert fault["undo"] == "ok"
    (killed,) = [name for name in before if f"{kube_namespace}/{name} " in fault["description"]]
    assert (journals[0].parent / "report.html").is_file()  # matplotlib wrote its cache under MPLCONFIGDIR
    assert killed not in kube_cluster.pod_names(kube_namespace)
    after: list[str] = poll(
        "the storefront ReplicaSet to replace the killed pod",
        lambda: (names := kube_cluster.active_pods(kube_namespace, "app=storefront")) and len(names) == 3 and names,
    )
    assert len(set(after) - set(before)) == 1
    assert Ledger(state).entries() == []  # nothing left to recover
    assert (state / "history.sqlite").is_file()  # `chaosrun history` on the PVC


def test_the_role_grants_nothing_outside_its_namespace_nor_beyond_pods(
    kube_cluster: KubeCluster, kube_namespace: str, deployed: Deployed, other_namespace: str, http_server: HttpServer
) -> None:
    as_sa, elsewhere = deployed.as_sa, kube_cluster.pod_names(other_namespace)

    # the plan aimed at another namespace (its caps follow the variable; RBAC is the boundary)
    overrides = [f"--var={v}" for v in (f"namespace={other_namespace}", f"base_url={http_server.url}", *SHORT)]
    proc = run_cli(*deployed.command[1:], *overrides, env=deployed.env, timeout_s=120)
    assert proc.returncode == 4, proc.stdout + proc.stderr  # an infrastructure error, not a verdict
    assert "403 Forbidden" in proc.stderr, proc.stderr
    assert f'cannot list resource "pods" in API group "" in the namespace "{other_namespace}"' in proc.stderr
    assert kube_cluster.pod_names(other_namespace) == elsewhere  # nothing there was deleted
    (journal_path,) = deployed.arg("--out").rglob("journal.json")  # the volume says why, not only the pod log
    journal = json.loads(journal_path.read_text())
    assert journal["status"] == "error" and "403 Forbidden" in journal["reason"] and journal["faults"] == []

    # pods only: the ReplicaSet that owns them (and reading a single pod) stay out of reach
    rs = f"/apis/apps/v1/namespaces/{kube_namespace}/replicasets/storefront"
    status, answer = as_sa.call("DELETE", rs)
    assert status == 403 and answer["reason"] == "Forbidden", answer
    assert kube_cluster.call("GET", rs)[0] == 200
    pod = kube_cluster.pod_names(kube_namespace)[0]
    assert as_sa.call("GET", f"/api/v1/namespaces/{kube_namespace}/pods/{pod}")[0] == 403
    assert as_sa.call("DELETE", f"/api/v1/namespaces/{other_namespace}/pods/{elsewhere[0]}")[0] == 403
    assert kube_cluster.pod_names(other_namespace) == elsewhere


# --- c. the ConfigMap, the command and the image agree ---------------------------------------------


def test_the_configmap_experiments_validate_and_the_command_names_only_its_files(tmp_path: Path) -> None:
    docs = manifest()
    folders = as_pod_filesystem(docs, tmp_path / "pod")
    mounts = volumes_by_mount(docs)
    c = container(docs)
    command = c["command"]
    assert command[:2] == ["chaosrun", "gameday"]
    header = MANIFEST.read_text().split("\n---", 1)[0]
    assert f"create job --from=cronjob/{one(docs, 'CronJob')['metadata']['name']} " in header

    # every path under the ConfigMap's mount is one of its keys
    (config_mount,) = [m for m, where in mounts.items() if "configMap" in where["volume"]]
    assert mounts[config_mount]["mount"]["readOnly"] is True
    keys = set(one(docs, "ConfigMap")["data"])
    named = [arg for arg in command if arg.startswith(config_mount + "/")]
    assert named == [f"{config_mount}/plan.yaml"]
    assert {arg.removeprefix(config_mount + "/") for arg in named} <= keys
    # ... and so is every experiment of the plan (files relative to the plan, in the same folder)
    experiments = plan_entries(Path(local(named[0], folders)))
    assert experiments and set(experiments) <= keys and all("/" not in f for f in experiments)

    # the flags exist in the real CLI; what chaosrun writes lands on writable volumes, the state on the PVC
    help_text = run_cli("gameday", "--help").stdout
    assert all(arg in help_text for arg in command if arg.startswith("--"))
    state_dir, out = command[command.index("--state-dir") + 1], command[command.index("--out") + 1]
    assert "persistentVolumeClaim" in mounts[state_dir]["volume"] and out.startswith(state_dir + "/")
    writable = [m for m, where in mounts.items() if not where["mount"].get("readOnly")]
    env = {v["name"]: v.get("value") for v in c["env"]}
    for path in (state_dir, out, env["MPLCONFIGDIR"]):
        assert any(path == m or path.startswith(m + "/") for m in writable), path

    # each experiment validates on its own defaults and with the plan's variables, as the game day passes them
    plan = yaml.safe_load((folders[config_mount] / "plan.yaml").read_text())
    with_plan = [f"--var={k}={v}" for k, v in plan["variables"].items()]
    for name in experiments:
        for extra in ([], with_plan):
            proc = run_cli("validate", str(folders[config_mount] / name), *extra)
            assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_image_runs_as_the_user_the_pod_requires() -> None:
    docs = manifest()
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    assert any(line.startswith("RUN pip install '.[kubernetes]'") for line in lines)
    (user,) = [line.split()[1] for line in lines if line.startswith("USER ")]
    security = pod_spec(docs)["securityContext"]
    assert user == f"{security['runAsUser']}:{security['runAsGroup']}"  # numeric: runAsNonRoot is checkable
    assert security["fsGroup"] == security["runAsGroup"]  # the state PVC is writable by the image's group
    assert json.loads(next(line for line in lines if line.startswith("ENTRYPOINT")).split(None, 1)[1]) == ["chaosrun"]
    assert container(docs)["command"][0] == "chaosrun"  # replaces the entry point with the same program


# --- recovery, as the header tells it ------------------------------------------------------------


def recover_snippet() -> list[str]:
    """The `kubectl run chaosrun-recover ...` command of the manifest's header, as argv."""
    header = [line[1:].strip() for line in MANIFEST.read_text().split("\n---", 1)[0].splitlines()]
    start = next(i for i, line in enumerate(header) if "run chaosrun-recover" in line)
    text = ""
    for line in header[start:]:
        text += line.removesuffix("\\") + " "
        if not line.endswith("\\"):
            break
    return shlex.split(text)


def recover_pod(argv: list[str]) -> dict[str, Any]:
    """The Pod `kubectl run NAME --restart=Never --image=I --overrides=J --command -- ARGV` creates: its
    generated pod, then the overrides merged in (containers by name, as kubectl's strategic merge does)."""
    name = argv[argv.index("run") + 1]
    options = dict(arg.split("=", 1) for arg in argv[: argv.index("--")] if arg.startswith("--") and "=" in arg)
    assert options["--restart"] == "Never" and "--command" in argv
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"run": name}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": name, "image": options["--image"], "command": argv[argv.index("--") + 1 :]}],
        },
    }
    overrides = json.loads(options["--overrides"])
    assert overrides.pop("apiVersion") == "v1"
    for key, value in overrides["spec"].items():
        if key == "containers":
            for patch in value:
                (target,) = [c for c in pod["spec"]["containers"] if c["name"] == patch["name"]]
                target.update(patch)
        else:
            pod["spec"][key] = value
    return pod


def test_a_killed_game_day_is_recovered_as_the_header_says(
    kube_cluster: KubeCluster, kube_namespace: str, deployed: Deployed, http_server: HttpServer, tmp_path: Path
) -> None:
    docs, state = deployed.docs, deployed.arg("--state-dir")

    # the header's recovery pod is a valid pod for this API server (dry run) and mounts the CronJob's state claim
    argv = recover_snippet()
    pod = recover_pod(argv)
    status, answer = kube_cluster.call("POST", f"/api/v1/namespaces/{kube_namespace}/pods?dryRun=All", pod)
    assert status == 201, answer.get("message")
    (c,) = answer["spec"]["containers"]
    assert c["image"] == container(docs)["image"]
    assert answer["spec"]["serviceAccountName"] == pod_spec(docs)["serviceAccountName"]
    assert answer["spec"]["securityContext"]["runAsNonRoot"] is True
    claims = {v["name"]: v["persistentVolumeClaim"] for v in answer["spec"]["volumes"] if "persistentVolumeClaim" in v}
    (mount,) = [m for m in c["volumeMounts"] if m["name"] in claims]
    pod_state_dir = container(docs)["command"][container(docs)["command"].index("--state-dir") + 1]
    cronjob_state = volumes_by_mount(docs)[pod_state_dir]
    assert claims[mount["name"]] == cronjob_state["volume"]["persistentVolumeClaim"]
    assert mount["mountPath"] == pod_state_dir
    assert c["command"] == ["chaosrun", "recover", "--state-dir", pod_state_dir]

    # a game day killed hard (SIGKILL: no rollback, no journal) while its fault is in the ledger
    game_day = start_game_day(
        deployed, tmp_path / "game-day.log", f"base_url={http_server.url}", "probe_path=/ok", "baseline=1s", "fault=60s"
    )
    try:
        poll("the game day's pod kill in the ledger", lambda: Ledger(state).entries(), timeout_s=60)
    finally:
        game_day.send_signal(signal.SIGKILL)
        game_day.wait(timeout=30)
    (entry,) = Ledger(state).entries()
    assert entry.pid == game_day.pid and entry.target.startswith("kubernetes:")

    # the header's command, run with the ServiceAccount's token, clears it
    recover = [local(arg, deployed.folders) for arg in c["command"]]
    proc = run_cli(*recover[1:], env={"KUBECONFIG": str(deployed.kubeconfig)}, timeout_s=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "recovered 1, failed 0" in proc.stdout, proc.stdout
    assert "its controller re-creates it" in proc.stdout and "Could not check" not in proc.stdout, proc.stdout
    assert Ledger(state).entries() == []


def test_sigterm_rolls_the_drill_back_writes_the_journal_and_ends_the_game_day(
    kube_cluster: KubeCluster, kube_namespace: str, deployed: Deployed, http_server: HttpServer, tmp_path: Path
) -> None:
    """What the kubelet does on `kubectl delete job`, activeDeadlineSeconds or a node drain: SIGTERM to
    the container's process, SIGKILL after terminationGracePeriodSeconds."""
    state, out, log = deployed.arg("--state-dir"), deployed.arg("--out"), tmp_path / "game-day.log"
    # unattended, an aborted experiment ends the plan (a stop signal ends it whatever stop_on says)
    assert "aborted" in yaml.safe_load(Path(deployed.command[2]).read_text())["stop_on"]

    game_day = start_game_day(
        deployed, log, f"base_url={http_server.url}", "probe_path=/ok", "baseline=1s", "fault=60s"
    )
    try:
        poll("the game day to kill a pod", lambda: "injected kill pod" in log.read_text(), timeout_s=60)
        assert Ledger(state).entries()  # the kill is in the ledger on the PVC until it is undone
        game_day.send_signal(signal.SIGTERM)
        code = game_day.wait(timeout=pod_spec(deployed.docs)["terminationGracePeriodSeconds"])  # the kubelet's bound
    finally:
        if game_day.poll() is None:
            game_day.kill()
            game_day.wait(timeout=30)
    output = log.read_text()
    assert code == 3, output
    assert "stopping the game day" in output and "ended aborted" in output, output
    (journal_path,) = out.rglob("journal.json")
    journal = json.loads(journal_path.read_text())
    assert journal["status"] == "aborted" and "SIGTERM" in journal["reason"], journal["reason"]
    assert [f["undo"] for f in journal["faults"]] == ["ok"]
    assert Ledger(state).entries() == []  # rolled back by the run itself: nothing for `chaosrun recover`
    poll(
        "the storefront ReplicaSet back at 3 pods",
        lambda: len(kube_cluster.active_pods(kube_namespace, "app=storefront")) == 3,
    )
