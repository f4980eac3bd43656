"""Following a pod's log through the API server: `GET .../pods/NAME/log?follow=true&timestamps=true`,
resumed after a broken stream with `sinceTime` (the last runtime timestamp seen; lines read
twice are dropped by the caller, by sequence number).

The client configuration (kubeconfig, context, in-cluster; TLS verified always) comes from
`chaosrun.clients.kubernetes.configuration`; the stream itself is aiohttp on the run's loop, so it is
cancelled like any other task (no thread blocks a stop).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..clients.kubernetes import configuration, in_daemon_thread
from ..errors import FaultFailed
from ..model import RegionCluster

if TYPE_CHECKING:
    import aiohttp

__all__ = ["LogSource", "log_source", "parse_timestamp", "stream_lines"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LogSource:
    host: str
    namespace: str
    pod: str
    container: str
    headers: tuple[tuple[str, str], ...]
    ssl_context: ssl.SSLContext | None  # None: plain http on loopback (clients.kubernetes.check_tls allowed it)

    @property
    def url(self) -> str:
        return f"{self.host}/api/v1/namespaces/{self.namespace}/pods/{self.pod}/log"


async def log_source(cluster: RegionCluster, pod: str, container: str = "agent") -> LogSource:
    """Where and how to read `pod`'s log, from the cluster's kubeconfig (loaded on a thread)."""

    def load() -> LogSource:
        cfg = configuration(cluster.kubeconfig, cluster.context)
        headers = []
        bearer = cfg.auth_settings().get("BearerToken")
        if bearer is not None and bearer["in"] == "header" and bearer["value"]:
            headers.append((bearer["key"], bearer["value"]))
        context: ssl.SSLContext | None = None
        if str(cfg.host).startswith("https"):
            context = ssl.create_default_context(cafile=cfg.ssl_ca_cert or None)
            if cfg.cert_file:
                context.load_cert_chain(cfg.cert_file, cfg.key_file or None)
        return LogSource(
            host=str(cfg.host).rstrip("/"),
            namespace=cluster.namespace,
            pod=pod,
            container=container,
            headers=tuple(headers),
            ssl_context=context,
        )

    return await in_daemon_thread(load)


def parse_timestamp(text: str) -> float:
    """RFC 3339 with up to nanoseconds (`2026-12-06T01:20:00.123456789Z`) -> UTC epoch seconds."""
    body = text.removesuffix("Z")
    whole, _, fraction = body.partition(".")
    stamp = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return stamp + (float("0." + fraction) if fraction else 0.0)


async def stream_lines(
    http: aiohttp.ClientSession, src: LogSource, *, since_time: str | None, read_timeout_s: float
) -> AsyncIterator[tuple[str, str]]:
    """(runtime timestamp, line) for every log line, until the container ends or the stream
    breaks (aiohttp errors and a silent stream past `read_timeout_s` propagate)."""
    import aiohttp

    params = {"follow": "true", "timestamps": "true", "container": src.container}
    if since_time is not None:
        params["sinceTime"] = since_time
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=read_timeout_s)
    async with http.get(
        src.url, params=params, headers=dict(src.headers), ssl=src.ssl_context or False, timeout=timeout
    ) as response:
        if response.status != 200:
            body = (await response.text())[:300]
            where = f"kubernetes API {src.host}: log of pod {src.namespace}/{src.pod}"
            raise FaultFailed(f"{where}: {response.status} {body}")
        async for raw in response.content:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            stamp, _, text = line.partition(" ")
            if text:
                yield stamp, text
