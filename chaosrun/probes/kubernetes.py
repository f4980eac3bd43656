"""Kubernetes readiness probe: ready pods for a label selector, or a Deployment's available replicas.

One API read per sample, on a daemon thread through `chaosrun.clients.kubernetes` (its configuration
rules: kubeconfig, context, verified TLS). A sample is good when at least `min_ready` pods are
ready (or `min_ready_percent` of the matching pods / of the Deployment's desired replicas), so
the time until a Deployment is whole again after a pod kill is measured like any recovery.
A pod counts as ready when its `Ready` condition is True and it is not being deleted.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING

from ..clients.kubernetes import api_call_in_thread
from ..errors import ChaosrunError
from ..model import KubernetesProbe, Region
from ..sample import Outcome
from . import ProbeContext, Sampler, probe_kind
from ._common import mask, timeout_text

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = ["build_kubernetes_sampler", "is_pod_ready"]


def is_pod_ready(pod: object) -> bool:
    """True when the pod's Ready condition is True and it is not terminating."""
    meta = getattr(pod, "metadata", None)
    if meta is not None and getattr(meta, "deletion_timestamp", None) is not None:
        return False
    conditions = getattr(getattr(pod, "status", None), "conditions", None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def _needed(spec: KubernetesProbe, of: int) -> int:
    if spec.min_ready is not None:
        return spec.min_ready
    share = spec.min_ready_percent if spec.min_ready_percent is not None else 1.0
    return max(1, math.ceil(share * of - 1e-9))


def _want(spec: KubernetesProbe) -> str:
    if spec.min_ready is not None:
        return f"at least {spec.min_ready}"
    share = spec.min_ready_percent if spec.min_ready_percent is not None else 1.0
    return f"at least {share * 100:g}%"


@probe_kind(KubernetesProbe)
def build_kubernetes_sampler(spec: KubernetesProbe, region: Region, ctx: ProbeContext) -> Sampler:
    """A sampler reading readiness from the API server named by `spec`'s kubeconfig/context."""
    request_timeout = (min(5.0, spec.timeout_s), spec.timeout_s)
    timed_out = timeout_text(spec.timeout_s)

    def pods(api: ApiClient) -> str | None:
        from kubernetes.client import CoreV1Api

        items = (
            CoreV1Api(api)
            .list_namespaced_pod(spec.namespace, label_selector=spec.selector, _request_timeout=request_timeout)
            .items
        )
        if not items:
            return f"no pods match {spec.selector} in {spec.namespace}"
        ready = sum(1 for p in items if is_pod_ready(p))
        if ready < _needed(spec, len(items)):
            return f"not enough ready pods for {spec.selector} ({_want(spec)})"
        return None

    def deployment(api: ApiClient) -> str | None:
        from kubernetes.client import AppsV1Api

        assert spec.deployment is not None
        dep = AppsV1Api(api).read_namespaced_deployment(
            spec.deployment, spec.namespace, _request_timeout=request_timeout
        )
        desired = dep.spec.replicas if dep.spec.replicas is not None else 1
        available = (dep.status.available_replicas if dep.status is not None else None) or 0
        if desired == 0 and spec.min_ready is None:
            return None
        if available < _needed(spec, desired):
            return f"deployment {spec.deployment}: not enough available replicas ({_want(spec)})"
        return None

    read = pods if spec.selector is not None else deployment
    what = f"read readiness in namespace {spec.namespace}"

    async def sample() -> Outcome:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(spec.timeout_s):
                _, error = await api_call_in_thread(spec.kubeconfig, spec.context, what, read)
        except TimeoutError:
            return Outcome(False, time.perf_counter() - started, None, timed_out)
        except ChaosrunError as exc:
            return Outcome(False, time.perf_counter() - started, None, mask(str(exc), ctx.secrets))
        return Outcome(error is None, time.perf_counter() - started, None, error)

    return sample
