"""`chaosrun demo --kubernetes`: a pod kill on a cluster whose node runs pods, probed from an
in-cluster agent.

Needs a cluster reachable through $KUBECONFIG (or ~/.kube/config) whose node runs
`hostNetwork: true` pods that can reach 127.0.0.1 ports on the machine chaosrun runs on: the
single-node Kubernetes of `scripts/kube-up.sh --node` (see README, The demo), and the chaosrun
image on that node (variable `image`, default `chaosrun.local/agent:dev`, imported, never pulled).

It creates a namespace with a 2-replica Deployment of small web servers (one 127.0.0.1 port per
pod), runs `pod-kill-agent.yaml` through the real engine (one region probed by an agent Job in
the cluster, one locally), prints the verdict, and deletes the namespace (also on errors).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ChaosrunError, InfrastructureError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = ["SERVER", "run_kube_demo", "web_deployment"]

LABEL = "chaosrun-demo-web"
_HOME_KUBECONFIG = str(Path("~/.kube/config").expanduser())
_READY_S = 120.0

# The pods' program: serve HTTP on the first free port of argv (retrying until one is free), log
# "<epoch> serving|sigterm <port>" to stdout and, when a /events folder is mounted, to
# /events/<pod>.log (the tests read it: a deleted pod's log is gone with the pod).
SERVER = r"""
import http.server, os, signal, sys, time
ports = [int(p) for p in sys.argv[1:]]
pod = os.environ.get("POD_NAME", "web")
events = open(f"/events/{pod}.log", "a", buffering=1) if os.path.isdir("/events") else None
def log(what):
    line = f"{time.time():.6f} {what}"
    if events is not None:
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


def web_deployment(image: str, ports: tuple[int, int], *, events_dir: str | None = None) -> dict[str, Any]:
    """A 2-replica Deployment (label app=chaosrun-demo-web), one pod per 127.0.0.1 port."""
    container: dict[str, Any] = {
        "name": "web",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["python3", "-u", "-c", SERVER, *[str(p) for p in ports]],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
    }
    spec: dict[str, Any] = {
        "hostNetwork": True,
        "dnsPolicy": "ClusterFirstWithHostNet",
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 5,
        "containers": [container],
    }
    if events_dir is not None:
        container["volumeMounts"] = [{"name": "events", "mountPath": "/events"}]
        spec["volumes"] = [{"name": "events", "hostPath": {"path": events_dir, "type": "DirectoryOrCreate"}}]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": LABEL}},
            "template": {"metadata": {"labels": {"app": LABEL}}, "spec": spec},
        },
    }


def _free_ports() -> tuple[int, int]:
    socks = [socket.socket(), socket.socket()]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return socks[0].getsockname()[1], socks[1].getsockname()[1]
    finally:
        for s in socks:
            s.close()


async def _serving(ports: tuple[int, int]) -> None:
    import aiohttp

    deadline = time.monotonic() + _READY_S
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http:
        for _ in range(int(_READY_S / 0.25) + 1):
            ok = 0
            for port in ports:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/") as r:
                        ok += r.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    pass
            if ok == len(ports):
                return
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.25)
    raise InfrastructureError(
        f"the demo's web pods did not serve 127.0.0.1:{ports[0]} and :{ports[1]} within {_READY_S:g}s: does the "
        "node run hostNetwork pods on this machine, with the image imported (see README, The demo)?"
    )


async def run_kube_demo(
    *, out_root: Path, state_dir: Path, echo: Callable[[str], None], variables: Mapping[str, str]
) -> int:
    """0 when the pod kill held as designed, 1 when not, 4 when the demo could not be set up."""
    from ..clients.kubernetes import api_call_in_thread
    from ..loader import load_experiment
    from ..running.runner import run_experiment
    from . import Demo, _clear_outputs, _read_outcome, demo_path

    kubeconfig = os.environ.get("KUBECONFIG") or _HOME_KUBECONFIG
    image = variables.get("image", "chaosrun.local/agent:dev")
    namespace = f"chaosrun-demo-{secrets.token_hex(3)}"
    ports = _free_ports()
    demo = Demo(name="pod-kill-agent", expect="held", story="a web pod killed; probes from an in-cluster agent")
    out = out_root / demo.name

    def create(api: ApiClient) -> None:
        from kubernetes.client import AppsV1Api, CoreV1Api

        CoreV1Api(api).create_namespace({"metadata": {"name": namespace}}, _request_timeout=(5, 30))  # type: ignore[arg-type]
        # (the ReplicaSet controller retries its pods until the namespace's ServiceAccount exists)
        AppsV1Api(api).create_namespaced_deployment(namespace, web_deployment(image, ports))  # type: ignore[arg-type]

    def delete(api: ApiClient) -> None:
        from kubernetes.client import CoreV1Api

        CoreV1Api(api).delete_namespace(namespace, _request_timeout=(5, 30))

    echo(f"chaosrun demo --kubernetes: namespace {namespace}, 2 web pods on 127.0.0.1:{ports[0]} and :{ports[1]}")
    try:
        await api_call_in_thread(kubeconfig, None, f"create the demo namespace {namespace}", create)
        await _serving(ports)
        values = {
            "namespace": namespace,
            "kubeconfig": kubeconfig,
            "port_a": str(ports[0]),
            "port_b": str(ports[1]),
            **variables,
        }
        echo(f"\n== demo: {demo.name}: {demo.story} (expected: {demo.expect})")
        _clear_outputs(out)
        exp = load_experiment(demo_path(demo.name), variables=values)
        await run_experiment(exp, out_dir=out, dry_run=False, state_dir=state_dir, command="chaosrun demo", echo=echo)
    except ChaosrunError as exc:
        echo(f"demo error: {exc}")
        return exc.exit_code
    finally:
        try:
            await api_call_in_thread(kubeconfig, None, f"delete the demo namespace {namespace}", delete)
        except ChaosrunError as exc:
            echo(f"could not delete namespace {namespace}: {exc}")
    outcome = _read_outcome(demo, out)
    as_designed = outcome.status == demo.expect
    echo(f"  [{'ok' if as_designed else 'UNEXPECTED'}] {demo.name}: {outcome.status.upper()} - {outcome.reason}")
    echo(f"        report: {outcome.report}")
    return 0 if as_designed else 1
