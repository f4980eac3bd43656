"""Helpers for tests on the node: the demo's 2-replica Deployment of `hostNetwork: true` web
servers on 127.0.0.1 ports (chaosrun/demo/kubernetes.py), and the events each pod writes."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from chaosrun.demo.kubernetes import web_deployment
from tests.fixtures.kube_cluster import poll
from tests.fixtures.kube_node import KubeNode


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def serves(port: int) -> str | None:
    """The body of GET http://127.0.0.1:PORT/ ("<pod> <port>"), or None."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
            return str(r.read().decode().strip())
    except (OSError, urllib.error.URLError):
        return None


@dataclass(frozen=True, slots=True)
class Web:
    namespace: str
    ports: tuple[int, int]
    events: Path


def deploy_web(node: KubeNode, namespace: str, events: Path) -> Web:
    """The demo's 2-replica Deployment (app=chaosrun-demo-web), one pod per port, writing its
    events to `events`; returns once both ports serve."""
    ports = free_ports(2)
    events.mkdir(parents=True, exist_ok=True)
    manifest = web_deployment(node.image, (ports[0], ports[1]), events_dir=str(events))
    node.cluster.ok("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", manifest)
    poll("both web pods serving", lambda: all(serves(p) for p in ports), timeout_s=120)
    return Web(namespace=namespace, ports=(ports[0], ports[1]), events=events)


def pod_events(events: Path, pod: str) -> list[tuple[float, str, int]]:
    """(epoch, what, port) lines a pod wrote about itself."""
    path = events / f"{pod}.log"
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        stamp, what, port = line.split()
        out.append((float(stamp), what, int(port)))
    return out


def journal_samples(out_dir: Path) -> tuple[float, list[list[Any]]]:
    """(the run's wall-clock start, every sample row [probe, region, phase, t, ok, lat_ms, status, error])."""
    wall0 = 0.0
    rows: list[list[Any]] = []
    for line in (out_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "run_started":
            at = datetime.fromisoformat(event["at"].replace("Z", "+00:00")).timestamp()
            wall0 = at - float(event["t"])
        elif event["type"] == "samples":
            rows.extend(event["batch"])
    return wall0, rows
