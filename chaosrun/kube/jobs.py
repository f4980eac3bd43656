"""The agent's Job: its manifest, creation, the wait for its pod to run, and its deletion.

Why a Job and not a bare Pod: a Job gets `ttlSecondsAfterFinished` (the TTL controller removes
it, and its pod, if chaosrun and `chaosrun recover` both never ran again), and
`activeDeadlineSeconds` with `backoffLimit: 0` (the pod is stopped when the run should long be
over, and never restarted: a restarted agent would re-sample ticks already reported).

Everything carries the run id (label `chaosrun.io/run-id`) and is in the ledger before it is
created (undo record `{"backend": "kubernetes.agent", ...}`), so `chaosrun recover` deletes what
a dead run left. Least privilege for the identity in the kubeconfig, in the agent namespace:
create/get/delete `jobs` (batch), get/list `pods`, get `pods/log`.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..clients.kubernetes import api_call_in_thread
from ..errors import FaultFailed, PlanRefused
from ..faults import undoer
from ..faults.base import FaultContext, UndoRecord
from ..model import RegionCluster

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = ["AgentJob", "job_manifest", "undo_agent"]

RUN_LABEL = "chaosrun.io/run-id"
REGION_LABEL = "chaosrun.io/region"
MANAGED = {"app.kubernetes.io/managed-by": "chaosrun", "app.kubernetes.io/component": "agent"}
TTL_AFTER_FINISHED_S = 600
_FATAL_WAITING = {
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}
_POLL_S = 0.25


def _slug(text: str, size: int) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:size].strip("-") or "x"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentJob:
    """One region's agent Job."""

    region: str
    cluster: RegionCluster
    run_id: str
    name: str

    @classmethod
    def for_region(cls, region: str, cluster: RegionCluster, run_id: str) -> AgentJob:
        name = f"chaosrun-agent-{_slug(run_id, 30)}-{_slug(region, 20)}"
        return cls(region=region, cluster=cluster, run_id=run_id, name=name)

    @property
    def labels(self) -> dict[str, str]:
        return {**MANAGED, RUN_LABEL: self.run_id, REGION_LABEL: _slug(self.region, 63)}

    def undo_record(self) -> UndoRecord:
        return {
            "backend": "kubernetes.agent",
            "kubeconfig": self.cluster.kubeconfig,
            "context": self.cluster.context,
            "namespace": self.cluster.namespace,
            "job": self.name,
            "run_id": self.run_id,
        }

    def describe(self) -> str:
        return f"agent Job {self.cluster.namespace}/{self.name} (probes of region {self.region})"

    async def create(self, plan_json: str, deadline_s: float) -> None:
        manifest = job_manifest(self, plan_json, deadline_s)

        def create(api: ApiClient) -> None:
            from kubernetes.client import BatchV1Api

            # the client serialises a plain manifest as is (its stubs ask for a V1Job)
            BatchV1Api(api).create_namespaced_job(
                self.cluster.namespace,
                manifest,  # type: ignore[arg-type]
                _request_timeout=(5, 30),
            )

        await api_call_in_thread(self.cluster.kubeconfig, self.cluster.context, f"create {self.describe()}", create)

    async def wait_running(self) -> tuple[str, str]:
        """(pod name, node) once the agent's container runs; PlanRefused when it cannot start
        (image not pulled, container not created, not scheduled within the start timeout)."""
        deadline = time.monotonic() + self.cluster.start_timeout_s
        selector = f"job-name={self.name}"
        last = "no pod created yet"
        for _ in range(int(self.cluster.start_timeout_s / _POLL_S) + 2):

            def pods(api: ApiClient) -> list[Any]:
                from kubernetes.client import CoreV1Api

                found = CoreV1Api(api).list_namespaced_pod(
                    self.cluster.namespace, label_selector=selector, _request_timeout=(5, 10)
                )
                return list(found.items or [])

            _, items = await api_call_in_thread(
                self.cluster.kubeconfig, self.cluster.context, f"list the pods of {self.describe()}", pods
            )
            for pod in items:
                ready, why = _pod_state(pod)
                if ready:
                    return str(pod.metadata.name), str(pod.spec.node_name or "")
                last = f"pod {pod.metadata.name}: {why}"
                if why.startswith("fatal: "):
                    raise PlanRefused(
                        f"{self.describe()} cannot start: {last.replace('fatal: ', '')} "
                        f"(image {self.cluster.image}); nothing was injected"
                    )
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(_POLL_S)
        raise PlanRefused(
            f"{self.describe()} did not start within {self.cluster.start_timeout_s:g}s ({last}); "
            "check the namespace's quota, the node's capacity and the image; nothing was injected"
        )

    async def delete(self) -> bool:
        """Delete the Job and its pods (background propagation); False when it was already gone."""
        return await delete_job(self.cluster.kubeconfig, self.cluster.context, self.cluster.namespace, self.name)


def _pod_state(pod: Any) -> tuple[bool, str]:
    """(running, why not): `fatal: ...` when it will never run."""
    phase = pod.status.phase if pod.status else None
    for cs in (pod.status.container_statuses if pod.status else None) or []:
        state = cs.state
        if state is not None and state.running is not None:
            return True, "running"
        if state is not None and state.waiting is not None:
            reason = state.waiting.reason or "waiting"
            if reason in _FATAL_WAITING:
                return False, f"fatal: {reason}: {(state.waiting.message or '')[:200]}"
            return False, reason
        if state is not None and state.terminated is not None:
            term = state.terminated
            return False, f"fatal: container exited ({term.reason}, exit code {term.exit_code})"
    if phase in ("Failed", "Succeeded"):
        return False, f"fatal: pod {phase}"
    for cond in (pod.status.conditions if pod.status else None) or []:
        if cond.type == "PodScheduled" and cond.status == "False":
            return False, f"not scheduled: {cond.reason}: {(cond.message or '')[:200]}"
    return False, phase or "pending"


async def delete_job(kubeconfig: str | None, context: str | None, namespace: str, name: str) -> bool:
    def delete(api: ApiClient) -> bool:
        from kubernetes.client import BatchV1Api, V1DeleteOptions
        from kubernetes.client.exceptions import ApiException

        try:
            BatchV1Api(api).delete_namespaced_job(
                name,
                namespace,
                body=V1DeleteOptions(propagation_policy="Background", grace_period_seconds=0),
                _request_timeout=(5, 10),
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    _, deleted = await api_call_in_thread(kubeconfig, context, f"delete agent Job {namespace}/{name}", delete)
    return deleted


def job_manifest(job: AgentJob, plan_json: str, deadline_s: float) -> dict[str, Any]:
    c = job.cluster
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 5,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": [
            {
                "name": "agent",
                "image": c.image,
                "imagePullPolicy": c.image_pull_policy,
                "args": ["agent", "--plan", plan_json],
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
            }
        ],
    }
    if c.host_network:
        pod_spec["hostNetwork"] = True
        pod_spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    if c.service_account:
        pod_spec["serviceAccountName"] = c.service_account
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job.name, "labels": job.labels},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": max(1, math.ceil(deadline_s)),
            "ttlSecondsAfterFinished": TTL_AFTER_FINISHED_S,
            "template": {"metadata": {"labels": job.labels}, "spec": pod_spec},
        },
    }


@undoer("kubernetes.agent")
async def undo_agent(record: UndoRecord, ctx: FaultContext) -> None:
    """Delete an agent Job named by a ledger record (idempotent: an absent Job is done)."""
    try:
        namespace, name = str(record["namespace"]), str(record["job"])
        kubeconfig, context = record.get("kubeconfig"), record.get("context")
    except KeyError as exc:
        raise FaultFailed(f"agent ledger record without {exc}") from exc
    deleted = await delete_job(
        kubeconfig if isinstance(kubeconfig, str) else None,
        context if isinstance(context, str) else None,
        namespace,
        name,
    )
    ctx.log(f"agent Job {namespace}/{name}: {'deleted' if deleted else 'already gone'}")
