"""`regions.<name>.cluster`: the region's own cluster, where its probes run (read by the loader)."""

from __future__ import annotations

import os
import re
from collections.abc import Collection

from ..model import RegionCluster
from ..node import Node

__all__ = ["CLUSTER_KEYS", "read_cluster"]

CLUSTER_KEYS = (
    "image",
    "namespace",
    "kubeconfig",
    "context",
    "service_account",
    "image_pull_policy",
    "host_network",
    "start_timeout",
    "matrix",
    "endpoints",
)
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PULL = ("Always", "IfNotPresent", "Never")


def read_cluster(node: Node, base_dir: str, regions: Collection[str]) -> RegionCluster | None:
    """The cluster mapping, or None (errors reported on the nodes). `regions`: every region's name."""
    f = node.mapping(CLUSTER_KEYS, required=("image",))
    if f is None or "image" not in f:
        return None
    image = f["image"].str()
    namespace = f["namespace"].str() if "namespace" in f else "default"
    if namespace is not None and not _NAME.match(namespace):
        f["namespace"].error(f"expected a namespace name such as 'chaos', got {namespace!r}")
        namespace = None
    kubeconfig = f["kubeconfig"].str() if "kubeconfig" in f else None
    if kubeconfig is not None:
        kubeconfig = os.path.abspath(os.path.join(base_dir, os.path.expanduser(kubeconfig)))
    pull = f["image_pull_policy"].str() if "image_pull_policy" in f else "IfNotPresent"
    if pull is not None and pull not in _PULL:
        f["image_pull_policy"].error(f"expected one of {', '.join(_PULL)}, got {pull!r}")
        pull = None
    host_network = f["host_network"].bool() if "host_network" in f else False
    timeout = f["start_timeout"].duration() if "start_timeout" in f else 60.0
    if timeout is not None and timeout <= 0:
        f["start_timeout"].error("must be more than 0s")
        timeout = None
    matrix = f["matrix"].bool() if "matrix" in f else False
    endpoints: list[tuple[str, str]] = []
    for name, value in (f["endpoints"].entries() or []) if "endpoints" in f else []:
        url = value.str()
        if name not in regions:
            value.error(f"unknown region '{name}' (regions: {', '.join(regions)})")
        elif url is not None and not url.startswith(("http://", "https://")):
            value.error(f"expected an absolute URL such as 'http://10.0.0.5:8080', got {url!r}")
        elif url is not None:
            endpoints.append((name, url))
    if matrix is None:
        return None
    if image is None or namespace is None or pull is None or host_network is None or timeout is None:
        return None
    return RegionCluster(
        image=image,
        namespace=namespace,
        kubeconfig=kubeconfig,
        context=f["context"].str() if "context" in f else None,
        service_account=f["service_account"].str() if "service_account" in f else None,
        image_pull_policy=pull,
        host_network=host_network,
        start_timeout_s=timeout,
        matrix=matrix,
        endpoints=tuple(endpoints),
    )
