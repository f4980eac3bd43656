"""Helpers for tests on the node: a 2-replica Deployment of `hostNetwork: true` web servers on
127.0.0.1 ports, and the events each pod writes about itself."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.fixtures.kube_cluster import poll
from tests.fixtures.kube_node import KubeNode

# The pod's program: serve HTTP on the first free port of argv (retrying until one is free),
# and append its own events ("<epoch> serving|sigterm <port>") to /events/<pod>.log (a hostPath
# folder the test reads, since a deleted pod's log is gone with it) and to stdout (the pod log).
SERVER = r"""
import http.server, os, signal, sys, time
ports = [int(p) for p in sys.argv[1:]]
pod = os.environ["POD_NAME"]
events = open(f"/events/{pod}.log", "a", buffering=1)
def log(what):
    line = f"{time.time():.6f} {what}"
    events.write(line + "\n")
    print(line, flush=True)
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{pod} {self.server.server_address[1]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = None
for _ in range(3000):
    for port in ports:
        try:
            server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
            break
        except OSError:
            pass
    if server is not None:
        break
    time.sleep(0.02)
if server is None:
    log("no free port")
    sys.exit(1)
def stop(signum, frame):
    server.socket.close()
    log(f"sigterm {server.server_address[1]}")
    os._exit(0)
signal.signal(signal.SIGTERM, stop)
log(f"serving {server.server_address[1]}")
server.serve_forever()
"""


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
    """A 2-replica Deployment `web` (app=web): one pod per port; returns once both serve."""
    ports = free_ports(2)
    events.mkdir(parents=True, exist_ok=True)
    template: dict[str, Any] = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {
            "hostNetwork": True,
            "dnsPolicy": "ClusterFirstWithHostNet",
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 5,
            "containers": [
                {
                    "name": "web",
                    "image": node.image,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-u", "-c", SERVER, *[str(p) for p in ports]],
                    "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "volumeMounts": [{"name": "events", "mountPath": "/events"}],
                }
            ],
            "volumes": [{"name": "events", "hostPath": {"path": str(events), "type": "DirectoryOrCreate"}}],
        },
    }
    node.cluster.ok(
        "POST",
        f"/apis/apps/v1/namespaces/{namespace}/deployments",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template},
        },
    )
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
