"""`chaosrun check` and `chaosrun gameday --dry-run`: the preflight connects to everything a run
needs and touches nothing; exit 0 only when the run would start, each failure one located line.

Against real things: a real HTTP server, a real listening process, a dead port for Toxiproxy,
a ledger with an un-recovered entry, and a real kube-apiserver with a token that may list pods
but not delete them."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chaosrun.faults.process_targets import read_process
from chaosrun.safety.ledger import Ledger, LedgerEntry, Owner
from tests.cli import run_cli
from tests.fixtures.kube_cluster import KubeCluster, poll
from tests.fixtures.servers import HttpServer

WAIT_S = 20.0
LISTENER = "import socket, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); " \
           "print(s.getsockname()[1], flush=True); time.sleep(300)"  # fmt: skip


@pytest.fixture
def listener() -> Iterator[tuple[int, int]]:
    """(pid, port) of a real process listening on 127.0.0.1."""
    proc = subprocess.Popen([sys.executable, "-c", LISTENER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield proc.pid, port
    finally:
        proc.kill()
        proc.wait(timeout=WAIT_S)
        if proc.stdout is not None:
            proc.stdout.close()


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def _process_drill(url: str, port: int, extra: str = "") -> str:
    return f"""title: process drill
regions:
  local: {{base_url: "{url}"}}
steady_state:
  probes:
    - {{name: mode, http: {{url: /mode, timeout: 1s}}}}
phases: {{baseline: 1s, fault: 1s, recovery: 1s}}
method:
  - {{fault: process.kill, name: kill-it, listen: "127.0.0.1:{port}", signal: TERM}}
rollbacks:
  - {{name: tidy, command: ["true"]}}
{extra}"""


def test_everything_ready_exits_0_and_touches_nothing(
    http_server: HttpServer, listener: tuple[int, int], tmp_path: Path
) -> None:
    pid, port = listener
    exp = _write(tmp_path, "drill.yaml", _process_drill(http_server.url, port))
    state = tmp_path / "state"
    done = run_cli("check", str(exp), "--seed", "4", state_dir=state)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f"target found: kill -TERM pid {pid} (python" in out and f"on 127.0.0.1:{port}" in out
    assert "plan: 1 target(s) within the caps (seed 4)" in out
    assert "probe mode in local: ok in" in out
    assert "info  rollback tidy: `true` (timeout 30s), after the recovery phase" in out
    assert out.strip().endswith(f"{exp}: the run would start")
    info = read_process(pid)
    assert info is not None and info.state != "Z", "the preflight signals nothing"
    assert not list(state.glob("ledger/**/*.json")), "the preflight writes no ledger entry"


def test_a_dead_toxiproxy_is_one_located_failure_exit_4(http_server: HttpServer, tmp_path: Path) -> None:
    dead = _dead_port()
    exp = _write(tmp_path, "latency.yaml", f"""title: latency drill
regions:
  local: {{base_url: "{http_server.url}"}}
steady_state:
  probes:
    - {{name: mode, http: {{url: /mode, timeout: 1s}}}}
phases: {{baseline: 1s, fault: 1s, recovery: 1s}}
toxiproxy:
  server: "http://127.0.0.1:{dead}"
  proxies:
    db: {{listen: "127.0.0.1:{_dead_port()}", upstream: "127.0.0.1:{dead}", region: local}}
method:
  - {{fault: toxiproxy.latency, proxy: db, latency: 100ms}}
""")  # fmt: skip
    done = run_cli("check", str(exp), state_dir=tmp_path / "state")
    assert done.returncode == 4, done.stdout + done.stderr
    fails = [line for line in done.stdout.splitlines() if line.strip().startswith("FAIL")]
    assert len(fails) == 1, done.stdout
    assert (
        f"{exp}: toxiproxy default: toxiproxy http://127.0.0.1:{dead}: cannot connect (connection refused)" in fails[0]
    )
    assert "the run would NOT start (1 problem(s))" in done.stdout


def test_an_unrecovered_ledger_entry_on_a_target_exit_2(
    http_server: HttpServer, listener: tuple[int, int], tmp_path: Path
) -> None:
    pid, port = listener
    exp = _write(tmp_path, "drill.yaml", _process_drill(http_server.url, port))
    state = tmp_path / "state"
    gone = Owner(pid=999_999, start=1, where="another-boot")  # a run that died elsewhere
    Ledger(state).add(LedgerEntry(
        entry_id="f1-abcd", run_id="20261201T000000Z-dead00", owner=gone, experiment="earlier drill",
        target=f"process:{pid}", description=f"pause pid {pid}", undo={"backend": "process", "action": "none"},
        created_at=time.time(),
    ))  # fmt: skip
    done = run_cli("check", str(exp), state_dir=state)
    assert done.returncode == 2, done.stdout + done.stderr
    (fail,) = [line for line in done.stdout.splitlines() if line.strip().startswith("FAIL")]
    assert (
        f"{exp}: ledger {state}: process:{pid} still has an un-recovered fault from run 20261201T000000Z-dead00" in fail
    )
    assert "run `chaosrun recover` first" in fail
    assert list((state / "ledger").glob("**/*.json")), "the preflight does not recover anything"


def test_a_failing_probe_is_located_at_the_probe_exit_6(
    make_http_server: Callable[[str], HttpServer], listener: tuple[int, int], tmp_path: Path
) -> None:
    server = make_http_server("broken")
    server.set_mode("failing")
    _, port = listener
    exp = _write(tmp_path, "drill.yaml", _process_drill(server.url, port))
    done = run_cli("check", str(exp), state_dir=tmp_path / "state")
    assert done.returncode == 6, done.stdout + done.stderr
    (fail,) = [line for line in done.stdout.splitlines() if line.strip().startswith("FAIL")]
    assert f"{exp}:6:7: probe mode in local: failed in " in fail
    assert "the baseline would not hold" in fail


def test_gameday_dry_run_checks_every_experiment(
    make_http_server: Callable[[str], HttpServer], listener: tuple[int, int], tmp_path: Path
) -> None:
    good, bad = make_http_server("good"), make_http_server("bad")
    bad.set_mode("failing")
    _, port = listener
    _write(tmp_path, "a.yaml", _process_drill(good.url, port))
    _write(tmp_path, "b.yaml", _process_drill(bad.url, port))
    plan = _write(tmp_path, "plan.yaml", "title: game day\nexperiments:\n  - file: a.yaml\n  - file: b.yaml\n")
    done = run_cli("gameday", str(plan), "--dry-run", state_dir=tmp_path / "state")
    assert done.returncode == 6, done.stdout + done.stderr
    assert f"{tmp_path / 'a.yaml'}: the run would start" in done.stdout
    assert f"{tmp_path / 'b.yaml'}: the run would NOT start (1 problem(s))" in done.stdout
    assert not (tmp_path / "reports").exists()


def test_a_kubernetes_token_without_delete_rights_exit_4(
    kube_cluster: KubeCluster, kube_namespace: str, http_server: HttpServer, tmp_path: Path
) -> None:
    ns = kube_namespace
    kube_cluster.create_replicaset(ns, "web", 1, {"app": "web"})
    (pod,) = poll("the ReplicaSet's pod", lambda: kube_cluster.active_pods(ns, "app=web"))
    kube_cluster.ok("POST", f"/api/v1/namespaces/{ns}/serviceaccounts",
                    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "viewer"}})  # fmt: skip
    kube_cluster.ok("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "pod-reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
    })  # fmt: skip
    kube_cluster.ok("POST", f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "viewer-reads"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": ns}],
    })  # fmt: skip
    token = kube_cluster.ok("POST", f"/api/v1/namespaces/{ns}/serviceaccounts/viewer/token",
                            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                             "spec": {"expirationSeconds": 3600}})["status"]["token"]  # fmt: skip
    kubeconfig = kube_cluster.write_kubeconfig(tmp_path / "viewer.kubeconfig", token=token)
    poll("the role binding to let the token list pods", lambda: _status_as(kube_cluster, token, ns) == 200)
    exp = _write(tmp_path, "pods.yaml", _pod_drill(http_server.url, ns, kubeconfig))
    done = run_cli("check", str(exp), state_dir=tmp_path / "state")
    assert done.returncode == 4, done.stdout + done.stderr
    (fail,) = [line for line in done.stdout.splitlines() if line.strip().startswith("FAIL")]
    assert f"{exp}:9:5: kubernetes " in fail
    assert f"the credentials may not delete pods in namespace '{ns}'" in fail
    assert "target found: " in done.stdout and pod in done.stdout
    assert kube_cluster.active_pods(ns, "app=web") == [pod], "the preflight deletes nothing"


def _status_as(cluster: KubeCluster, token: str, ns: str) -> int:
    request = urllib.request.Request(f"{cluster.url}/api/v1/namespaces/{ns}/pods")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(
            request, timeout=10, context=ssl.create_default_context(cafile=str(cluster.ca))
        ) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code)


def _pod_drill(url: str, ns: str, kubeconfig: Path) -> str:
    return f"""title: pod drill
regions:
  local: {{base_url: "{url}"}}
steady_state:
  probes:
    - {{name: mode, http: {{url: /mode, timeout: 1s}}}}
phases: {{baseline: 1s, fault: 1s, recovery: 1s}}
method:
  - fault: kubernetes.pod_kill
    name: kill-web
    namespace: {ns}
    label_selector: app=web
    kubeconfig: {kubeconfig}
"""


def test_a_failing_guard_probe_would_trip_exit_3(
    make_http_server: Callable[[str], HttpServer], listener: tuple[int, int], tmp_path: Path
) -> None:
    good, guard = make_http_server("good"), make_http_server("guard")
    guard.set_mode("failing")
    _, port = listener
    extra = f'guardrails:\n  - {{name: error-budget, http: {{url: "{guard.url}/mode"}}, success_ratio: ">= 0.5"}}\n'
    exp = _write(tmp_path, "drill.yaml", _process_drill(good.url, port, extra))
    done = run_cli("check", str(exp), state_dir=tmp_path / "state")
    assert done.returncode == 3, done.stdout + done.stderr
    (fail,) = [line for line in done.stdout.splitlines() if line.strip().startswith("FAIL")]
    assert f"{exp}:13:5: guardrail error-budget in local: failed in " in fail
    assert "the guardrail would trip (the run would abort)" in fail
