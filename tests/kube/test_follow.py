"""The pod-log follower against the real API server and kubelet: a stream closed mid-way and
resumed with `sinceTime` loses no line (lines replayed around the resume point are dropped by
the agent's sequence numbers)."""

from __future__ import annotations

import asyncio

import aiohttp

from chaosrun.kube.follow import log_source, parse_timestamp, stream_lines
from chaosrun.model import RegionCluster
from tests.fixtures.kube_cluster import poll
from tests.fixtures.kube_node import KubeNode

PRINTER = "import time\nfor i in range(1, 61):\n    print(i, flush=True)\n    time.sleep(0.05)\ntime.sleep(120)\n"


def test_a_broken_stream_resumes_with_since_time_and_loses_nothing(kube_node: KubeNode, node_namespace: str) -> None:
    cluster = kube_node.cluster
    cluster.ok(
        "POST",
        f"/api/v1/namespaces/{node_namespace}/pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "printer"},
            "spec": {
                "hostNetwork": True,
                "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": 1,
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "agent",
                        "image": kube_node.image,
                        "imagePullPolicy": "Never",
                        "command": ["python3", "-u", "-c", PRINTER],
                    }
                ],
            },
        },
    )
    poll(
        "the printer running",
        lambda: (
            cluster.ok("GET", f"/api/v1/namespaces/{node_namespace}/pods/printer")["status"].get("phase") == "Running"
        ),
        timeout_s=120,
    )
    where = RegionCluster(image=kube_node.image, namespace=node_namespace, kubeconfig=str(cluster.kubeconfig))

    async def follow() -> tuple[list[int], str, list[int]]:
        src = await log_source(where, "printer")
        first: list[int] = []
        stamp = ""
        async with aiohttp.ClientSession() as http:
            async for line_stamp, text in stream_lines(http, src, since_time=None, read_timeout_s=30):
                first.append(int(text))
                stamp = line_stamp
                if len(first) == 10:
                    break  # the stream is closed here: a broken stream, as far as the reader knows
            await asyncio.sleep(0.5)  # more lines are written meanwhile
            resumed: list[int] = []
            async for _, text in stream_lines(http, src, since_time=stamp, read_timeout_s=30):
                resumed.append(int(text))
                if resumed[-1] == 60:
                    break
        return first, stamp, resumed

    first, stamp, resumed = asyncio.run(asyncio.wait_for(follow(), 90))
    assert first == list(range(1, 11))
    assert parse_timestamp(stamp) > 0
    assert resumed[0] <= 11, resumed[:5]  # nothing after the resume point is lost...
    assert resumed == list(range(resumed[0], 61))  # ...and nothing is skipped or reordered
