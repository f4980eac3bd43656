"""Probes from a region's own cluster: `chaosrun agent` in a Job on the node, its samples read
back through the API server's pod log into the same journal and verdicts as local samples."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.cli import ROOT, run_cli
from tests.fixtures.kube_cluster import poll
from tests.fixtures.kube_node import KubeNode
from tests.fixtures.servers import HttpServer
from tests.kube.support import journal_samples

MANAGED = "app.kubernetes.io/managed-by=chaosrun"


def experiment(
    path: Path, node: KubeNode, namespace: str, url: str, *, image: str | None = None, phases: str = ""
) -> Path:
    cluster = (
        f"{{kubeconfig: {node.cluster.kubeconfig}, namespace: {namespace}, image: {image or node.image}, "
        "image_pull_policy: Never, host_network: true, start_timeout: 60s}"
    )
    path.write_text(
        textwrap.dedent(
            f"""\
            title: probes from the region's cluster
            regions:
              eu: {{base_url: "{url}", cluster: {cluster}}}
              local: {{base_url: "{url}"}}
            steady_state:
              probes:
                - {{name: web, http: {{url: /ok, timeout: 1s}}, every: 100ms, tolerance: {{success_ratio: ">= 0.9"}}}}
            phases: {phases or "{baseline: 2s, fault: 1s, recovery: 2s}"}
            """
        )
    )
    return path


def events(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]


def in_phase(out: Path, phase: str) -> bool:
    """The run's events name `phase` as started (the file may hold a half-written last line)."""
    path = out / "events.jsonl"
    lines = path.read_text().splitlines()[:-1] if path.exists() else []
    return any(json.loads(line).get("type") == "phase_started" and phase in line for line in lines)


def jobs(node: KubeNode, namespace: str) -> list[str]:
    items = node.cluster.ok("GET", f"/apis/batch/v1/namespaces/{namespace}/jobs?labelSelector={MANAGED}")["items"]
    return sorted(j["metadata"]["name"] for j in items if "deletionTimestamp" not in j["metadata"])


def running_agent_pod(node: KubeNode, namespace: str) -> str | None:
    for pod in node.cluster.pods(namespace, MANAGED):
        statuses = pod.get("status", {}).get("containerStatuses") or []
        if any("running" in s.get("state", {}) for s in statuses):
            return str(pod["metadata"]["name"])
    return None


@contextlib.contextmanager
def running(
    kube_node: KubeNode, namespace: str, url: str, tmp_path: Path, phases: str
) -> Iterator[tuple[subprocess.Popen[str], Path, Path]]:
    """`chaosrun run` in the background (run, out folder, state folder); killed if still running after."""
    exp = experiment(tmp_path / "exp.yaml", kube_node, namespace, url, phases=phases)
    out, state = tmp_path / "out", tmp_path / "state"
    env = {
        **os.environ,
        "CI": "true",
        "CHAOSRUN_STATE_DIR": str(state),
        "KUBECONFIG": str(kube_node.cluster.kubeconfig),
    }
    run = subprocess.Popen(
        [sys.executable, "-m", "chaosrun", "run", str(exp), "--out", str(out), "--no-report"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield run, out, state
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate(timeout=30)


def test_agent_samples_feed_the_same_journal_and_verdicts(
    kube_node: KubeNode, node_namespace: str, http_server: HttpServer, tmp_path: Path
) -> None:
    exp = experiment(tmp_path / "agent.yaml", kube_node, node_namespace, http_server.url)
    out, state = tmp_path / "out", tmp_path / "state"
    proc = run_cli(
        "run", str(exp), "--out", str(out), "--no-report", state_dir=state,
        env={"KUBECONFIG": str(kube_node.cluster.kubeconfig)}, timeout_s=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    journal = json.loads((out / "journal.json").read_text())
    assert journal["status"] == "held"
    judged = {(v["region"], v["phase"]) for v in journal["verdicts"] if v["judged"] and v["held"]}
    assert {("eu", p) for p in ("baseline", "fault", "recovery")} <= judged
    assert {("local", p) for p in ("baseline", "fault", "recovery")} <= judged
    _, rows = journal_samples(out)
    eu = [r for r in rows if r[1] == "eu"]
    assert {r[2] for r in eu} == {"baseline", "fault", "recovery"} and all(r[4] for r in eu)
    kinds = [e["type"] for e in events(out)]
    for kind in ("agent_created", "agent_running", "agent_clock", "agent_deleted"):
        assert kind in kinds, kinds
    final = [e for e in events(out) if e["type"] == "agent_clock" and e["final"]]
    (clock,) = final
    assert clock["samples"] == len(eu)  # every sample the agent wrote was read back once
    assert clock["log_latency_p50_s"] is not None and clock["log_latency_p50_s"] >= 0
    assert clock["offset_s"] is not None and abs(clock["offset_s"]) < 1.0  # one machine, one clock
    assert jobs(kube_node, node_namespace) == []  # deleted at the end of the run
    assert not list((state / "ledger").rglob("*.json"))


def test_an_agent_that_cannot_start_refuses_the_run(
    kube_node: KubeNode, node_namespace: str, http_server: HttpServer, tmp_path: Path
) -> None:
    exp = experiment(
        tmp_path / "bad.yaml", kube_node, node_namespace, http_server.url, image="chaosrun.local/missing:1"
    )
    out, state = tmp_path / "out", tmp_path / "state"
    proc = run_cli(
        "run", str(exp), "--out", str(out), "--no-report", state_dir=state,
        env={"KUBECONFIG": str(kube_node.cluster.kubeconfig)}, timeout_s=240,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cannot start" in proc.stderr and "ErrImageNeverPull" in proc.stderr, proc.stderr
    kinds = [e["type"] for e in events(out)]
    assert "phase_started" not in kinds and "samples" not in kinds  # nothing ran, nothing sampled
    assert jobs(kube_node, node_namespace) == []
    assert not list((state / "ledger").rglob("*.json"))


def test_an_agent_killed_mid_run_leaves_its_samples_not_taken_and_the_run_inconclusive(
    kube_node: KubeNode, node_namespace: str, http_server: HttpServer, tmp_path: Path
) -> None:
    phases = "{baseline: 2s, fault: 3s, recovery: 3s}"
    with running(kube_node, node_namespace, http_server.url, tmp_path, phases) as (run, out, _):
        pod = poll("the agent pod running", lambda: running_agent_pod(kube_node, node_namespace), timeout_s=120)
        poll("the fault phase", lambda: in_phase(out, "fault"), timeout_s=60)
        kube_node.cluster.ok("DELETE", f"/api/v1/namespaces/{node_namespace}/pods/{pod}", {"gracePeriodSeconds": 0})
        output, _ = run.communicate(timeout=120)
    # the rest of eu's fault phase and its recovery were never observed: inconclusive (exit 7),
    # never held on half the evidence and never deviated for samples the agent could not send
    assert run.returncode == 7, output
    journal = json.loads((out / "journal.json").read_text())
    assert journal["status"] == "inconclusive", journal["reason"]
    lost = [e for e in events(out) if e["type"] == "agent_lost"]
    assert len(lost) == 1 and lost[0]["region"] == "eu"
    eu_recovery = next(v for v in journal["verdicts"] if v["region"] == "eu" and v["phase"] == "recovery")
    assert eu_recovery["inconclusive"] and eu_recovery["held"] is None
    assert "not taken" in " ".join(eu_recovery["reasons"])
    not_taken = [e for e in events(out) if e["type"] == "samples_not_taken"]
    assert not_taken and all(e["region"] == "eu" for e in not_taken)
    local = [v for v in journal["verdicts"] if v["region"] == "local"]
    assert local and all(v["judged"] and v["held"] for v in local)
    assert jobs(kube_node, node_namespace) == []


def test_recover_after_kill_9_deletes_the_agent(
    kube_node: KubeNode, node_namespace: str, http_server: HttpServer, tmp_path: Path
) -> None:
    phases = "{baseline: 60s, fault: 1s, recovery: 1s}"
    with running(kube_node, node_namespace, http_server.url, tmp_path, phases) as (run, _, state):
        poll("the agent pod running", lambda: running_agent_pod(kube_node, node_namespace), timeout_s=120)
        (job,) = jobs(kube_node, node_namespace)
        entries = list((state / "ledger").rglob("*.json"))
        assert len(entries) == 1 and json.loads(entries[0].read_text())["undo"]["job"] == job
        os.kill(run.pid, signal.SIGKILL)
        run.communicate(timeout=30)
    assert jobs(kube_node, node_namespace) == [job]  # nothing deleted it: chaosrun died
    proc = run_cli("recover", state_dir=state, env={"KUBECONFIG": str(kube_node.cluster.kubeconfig)}, timeout_s=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"agent Job {node_namespace}/{job}: deleted" in proc.stdout
    poll("the agent Job gone", lambda: jobs(kube_node, node_namespace) == [], timeout_s=60)
    poll("the agent pod gone", lambda: running_agent_pod(kube_node, node_namespace) is None, timeout_s=60)
    assert not list((state / "ledger").rglob("*.json"))
