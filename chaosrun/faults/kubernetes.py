"""Kubernetes pod kills (`kubernetes.pod_kill`) through the official client, on worker threads.

Safety: a `label_selector` with at least one positive requirement is required (never the whole
namespace); pods without a controller are refused (nothing would bring them back); the namespace
must be in `caps.allowed_namespaces` when that list is given; TLS is verified always (see
`chaosrun.clients.kubernetes`). `resolve()` only lists pods, so `--dry-run` shows which ones would be
killed; `apply()` deletes exactly those (uid precondition: a pod re-created under the same name
is not touched).

Undo: controllers re-create killed pods, so undo changes nothing. It is a recorded no-op that
(best effort, never failing) reports whether replacements exist. The undo record names the
cluster, namespace, pod, uid and selector, so `chaosrun recover` can report from it alone.

Configuration (`kubeconfig` + `context` from the step, else `$KUBECONFIG`, in-cluster,
`~/.kube/config`), TLS rules and API error messages live in `chaosrun.clients.kubernetes`, which
imports the client on first use only.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from ..clients.kubernetes import REQUEST_TIMEOUT, api_call, api_call_in_thread, core_v1, in_daemon_thread
from ..errors import FaultFailed, PlanRefused
from ..model import FaultParams, FaultStep
from . import fault, undoer
from .base import FaultContext, FaultKind, Injection, ParseContext, UndoRecord

if TYPE_CHECKING:
    from kubernetes.client import V1Pod

    from ..node import Node

__all__ = [
    "PodKillFault",
    "PodKillInjection",
    "PodKillParams",
    "check_selector",
    "undo_kubernetes",
]

_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_UNDO_TIMEOUT = (2.0, 3.0)  # the undo check must stay well inside the engine's undo timeout
_UNDO_CHECK_S = 5.0


# --- parameters -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PodKillParams(FaultParams):
    """Kill `count` (or `percent`, rounded up) of the pods matching a selector in one namespace."""

    label_selector: str
    namespace: str = "default"
    name_pattern: str | None = None  # re.search on the pod name, after the selector
    count: int | None = 1
    percent: float | None = None  # when given, count is None
    grace_period_s: int | None = None  # None: the pod's own terminationGracePeriodSeconds
    kubeconfig: str | None = None  # absolute path
    context: str | None = None

    def how_many(self, matching: int) -> int:
        if self.percent is not None:
            return min(matching, math.ceil(self.percent * matching / 100))
        return min(matching, self.count or 1)


def _requirements(selector: str) -> list[str]:
    """Split on commas outside parentheses: `a in (x,y),b` -> [`a in (x,y)`, `b`]."""
    parts, depth, current = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts


def check_selector(selector: str) -> str | None:
    """Why a label selector is refused (empty part, only negative requirements), else None.

    The API server parses it fully; this only makes sure it cannot select a whole namespace:
    `!a`, `a!=b` and `a notin (x)` also match every pod without label `a`.
    """
    parts = _requirements(selector)
    if not selector.strip() or any(not p for p in parts):
        return "an empty requirement (stray comma?)"
    positive = [p for p in parts if not p.startswith("!") and "!=" not in p and not re.search(r"\snotin\s*\(", p)]
    if not positive:
        return (
            "only negative requirements (!a, a!=b, a notin (...)): they also match every pod without the label; "
            "add a positive one such as app=web"
        )
    return None


def _parse(node: Node, ctx: ParseContext) -> PodKillParams | None:
    fields = node.mapping(PodKillFault.keys, required=("label_selector",))
    if fields is None:
        return None
    ok = True
    selector = fields["label_selector"].str() if "label_selector" in fields else None
    if "label_selector" not in fields:
        ok = False  # `missing required key` was reported: never the whole namespace
    elif selector is not None and (why := check_selector(selector)) is not None:
        fields["label_selector"].error(f"label_selector {selector!r} is refused: {why}")
        ok = False
    namespace: str | None = "default"
    if "namespace" in fields:
        namespace = fields["namespace"].str()
        if namespace is not None and (len(namespace) > 63 or not _NAMESPACE.match(namespace)):
            fields["namespace"].error(f"expected a Kubernetes namespace name (lower-case DNS label), got {namespace!r}")
            namespace = None
    pattern = fields["name_pattern"].str() if "name_pattern" in fields else None
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            fields["name_pattern"].error(f"not a valid regular expression: {exc}")
            ok = False
    count: int | None = 1
    percent: float | None = None
    if "count" in fields and "percent" in fields:
        node.error("give either 'count' or 'percent', not both")
        ok = False
    elif "percent" in fields:
        count, percent = None, fields["percent"].float(min=0.001, max=100.0)
        ok = ok and percent is not None
    elif "count" in fields:
        count = fields["count"].int(min=1, max=10_000)
        ok = ok and count is not None
    grace: int | None = None
    if "grace_period" in fields:
        seconds = fields["grace_period"].duration(max_s=3600.0)
        if seconds is not None and seconds != int(seconds):
            fields["grace_period"].error("Kubernetes takes whole seconds, e.g. '0s' or '30s'")
            seconds = None
        ok = ok and seconds is not None
        grace = None if seconds is None else int(seconds)
    kubeconfig = fields["kubeconfig"].str() if "kubeconfig" in fields else None
    if kubeconfig is not None:
        path = Path(kubeconfig).expanduser()
        kubeconfig = str(path if path.is_absolute() else Path(ctx.base_dir) / path)
    context = fields["context"].str() if "context" in fields else None
    if "name_pattern" in fields and pattern is None:
        ok = False
    if ("kubeconfig" in fields and kubeconfig is None) or ("context" in fields and context is None):
        ok = False
    if not ok or selector is None or namespace is None:
        return None
    return PodKillParams(
        label_selector=selector,
        namespace=namespace,
        name_pattern=pattern,
        count=count,
        percent=percent,
        grace_period_s=grace,
        kubeconfig=kubeconfig,
        context=context,
    )


# --- injections -------------------------------------------------------------------------


def _controller(pod: V1Pod) -> str | None:
    refs = pod.metadata.owner_references if pod.metadata else None
    for ref in refs or []:
        if ref.controller:
            return f"{ref.kind}/{ref.name}"
    return None


@dataclass(kw_only=True, eq=False)
class PodKillInjection(Injection):
    """One pod, chosen at plan time, deleted by apply (uid precondition)."""

    step: FaultStep
    target: str
    region: str | None
    params: PodKillParams
    host: str
    pod: str
    uid: str
    owner: str
    matching: int  # pods matching at plan time

    def describe(self) -> str:
        p = self.params
        grace = "default grace" if p.grace_period_s is None else f"grace {p.grace_period_s}s"
        how = f"{p.percent:g}%" if p.percent is not None else str(p.count)
        return (
            f"kill pod {p.namespace}/{self.pod} ({self.owner}; {how} of {self.matching} matching "
            f"{p.label_selector}; {grace})"
        )

    async def verify(self, ctx: FaultContext) -> bool | None:
        """A pod kill acts once (the replacement pod is the recovery the probes observe): not verifiable."""
        return None

    def undo_record(self) -> UndoRecord:
        p = self.params
        return {
            "backend": "kubernetes",
            "action": "pod_kill",
            "host": self.host,
            "kubeconfig": p.kubeconfig,
            "context": p.context,
            "namespace": p.namespace,
            "label_selector": p.label_selector,
            "pod": self.pod,
            "uid": self.uid,
            "owner": self.owner,
        }

    async def apply(self, ctx: FaultContext) -> None:
        from kubernetes.client import V1DeleteOptions, V1Preconditions

        p = self.params
        body = V1DeleteOptions(grace_period_seconds=p.grace_period_s, preconditions=V1Preconditions(uid=self.uid))
        try:
            await api_call_in_thread(
                p.kubeconfig,
                p.context,
                f"delete pod {p.namespace}/{self.pod}",
                lambda api: core_v1(api).delete_namespaced_pod(
                    self.pod, p.namespace, body=body, _request_timeout=REQUEST_TIMEOUT
                ),
            )
        except FaultFailed as exc:
            status = getattr(exc.__cause__, "status", None)
            if status == 404:
                raise FaultFailed(
                    f"kubernetes: pod {p.namespace}/{self.pod} disappeared between the plan and the kill; "
                    "nothing was killed (re-run to pick current pods)"
                ) from exc
            if status == 409:
                raise FaultFailed(
                    f"kubernetes: pod {p.namespace}/{self.pod} was re-created since the plan (uid changed); "
                    "the new pod was not killed (re-run to pick current pods)"
                ) from exc
            raise


def _params(step: FaultStep) -> PodKillParams:
    if not isinstance(step.params, PodKillParams):
        raise TypeError(f"{step.kind}: expected PodKillParams, got {type(step.params).__name__}")
    return step.params


@fault("kubernetes.pod_kill")
class PodKillFault(FaultKind):
    """Delete pods chosen by label selector; their controllers re-create them."""

    backend: ClassVar[str] = "kubernetes"
    keys: ClassVar[tuple[str, ...]] = (
        "namespace",
        "label_selector",
        "name_pattern",
        "count",
        "percent",
        "grace_period",
        "kubeconfig",
        "context",
    )

    def parse(self, node: Node, ctx: ParseContext) -> FaultParams | None:
        return _parse(node, ctx)

    async def resolve(self, step: FaultStep, ctx: FaultContext) -> list[Injection]:
        """List the matching pods (read-only) and choose which to kill."""
        p = _params(step)
        allowed = ctx.experiment.caps.allowed_namespaces
        if allowed and p.namespace not in allowed:
            raise PlanRefused(
                f"{step.location}: {step.name}: namespace {p.namespace!r} is not in caps.allowed_namespaces "
                f"({', '.join(allowed)})"
            )
        host, pods = await api_call_in_thread(
            p.kubeconfig,
            p.context,
            f"list pods in {p.namespace} matching {p.label_selector}",
            lambda api: core_v1(api).list_namespaced_pod(
                p.namespace, label_selector=p.label_selector, _request_timeout=REQUEST_TIMEOUT
            ),
        )
        pattern = re.compile(p.name_pattern) if p.name_pattern else None
        live = [
            pod
            for pod in pods.items
            if pod.metadata is not None
            and pod.metadata.name
            and pod.metadata.deletion_timestamp is None
            and (pattern is None or pattern.search(pod.metadata.name))
        ]
        candidates = [pod for pod in live if _controller(pod) is not None]
        if live and not candidates:
            names = ", ".join(sorted(str(pod.metadata.name) for pod in live if pod.metadata))
            raise PlanRefused(
                f"{step.location}: {step.name}: the matching pods in {p.namespace} ({names}) have no controller; "
                "killing one is permanent and undo cannot bring it back: select pods managed by a controller"
            )
        chosen = random.sample(candidates, p.how_many(len(candidates)))
        api = urlsplit(host).netloc or host
        out: list[Injection] = []
        for pod in sorted(chosen, key=lambda x: str(x.metadata.name if x.metadata else "")):
            meta = pod.metadata
            assert meta is not None and meta.name is not None
            out.append(
                PodKillInjection(
                    step=step,
                    target=f"kubernetes:{api}/{p.namespace}/pod/{meta.name}",
                    region=None,
                    params=p,
                    host=host,
                    pod=meta.name,
                    uid=str(meta.uid or ""),
                    owner=_controller(pod) or "",
                    matching=len(candidates),
                )
            )
        return out

    async def healthcheck(self, injections: Sequence[Injection], ctx: FaultContext) -> None:
        """The API server answers `/version` (once per distinct kubeconfig/context)."""
        from kubernetes.client import VersionApi

        seen: set[tuple[str | None, str | None]] = set()
        for inj in injections:
            if not isinstance(inj, PodKillInjection):
                continue
            key = (inj.params.kubeconfig, inj.params.context)
            if key in seen:
                continue
            seen.add(key)

            await api_call_in_thread(
                inj.params.kubeconfig,
                inj.params.context,
                "health check (GET /version)",
                lambda api: VersionApi(api).get_code(_request_timeout=REQUEST_TIMEOUT),
            )


# --- undo -------------------------------------------------------------------------------


def _replacements(record: UndoRecord) -> str:
    """One line on what matches the selector now (sync; may raise)."""
    kubeconfig, context = record.get("kubeconfig"), record.get("context")
    namespace, selector = str(record.get("namespace")), str(record.get("label_selector"))
    _, pods = api_call(
        kubeconfig if isinstance(kubeconfig, str) else None,
        context if isinstance(context, str) else None,
        f"list pods in {namespace}",
        lambda api: core_v1(api).list_namespaced_pod(
            namespace, label_selector=selector, _request_timeout=_UNDO_TIMEOUT
        ),
    )
    killed_uid = record.get("uid")
    others = [pod for pod in pods.items if pod.metadata is not None and pod.metadata.uid != killed_uid]
    killed = [pod for pod in pods.items if pod.metadata is not None and pod.metadata.uid == killed_uid]
    ready = [pod.metadata.name for pod in others if pod.metadata and pod.metadata.deletion_timestamp is None]
    still = " (the killed pod is still terminating)" if killed else ""
    return f"{len(ready)} pod(s) match {selector} now{still}: {', '.join(sorted(str(n) for n in ready)) or 'none'}"


@undoer("kubernetes")
async def undo_kubernetes(record: UndoRecord, ctx: FaultContext) -> None:
    """Nothing to undo (controllers re-create pods); report replacements, best effort, never raising."""
    where = f"kubernetes pod {record.get('namespace')}/{record.get('pod')} ({record.get('owner') or 'no controller'})"
    if record.get("action") != "pod_kill":
        ctx.log(f"{where}: unknown action {record.get('action')!r} in the ledger record; nothing undone")
        return
    try:
        async with asyncio.timeout(_UNDO_CHECK_S):  # well inside the engine's undo timeout
            seen = await in_daemon_thread(lambda: _replacements(record))
    except TimeoutError:
        ctx.log(f"{where} was killed; its controller re-creates it. Could not check replacements: no answer")
        return
    except Exception as exc:  # best effort: the kill itself needs no undo
        ctx.log(f"{where} was killed; its controller re-creates it. Could not check replacements: {exc}")
        return
    ctx.log(f"{where} was killed; its controller re-creates it. {seen}")
