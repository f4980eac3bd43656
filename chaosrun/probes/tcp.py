"""TCP probe: one connect per sample; the latency is the connect time."""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlsplit

from ..errors import InvalidInput
from ..model import Region, TcpProbe
from ..sample import Outcome
from ..units import format_duration
from . import ProbeContext, Sampler, probe_kind
from ._common import describe_os_error, timeout_text

__all__ = ["build_tcp_sampler", "resolve_host"]

_CLOSE_TIMEOUT_S = 1.0


def resolve_host(spec: TcpProbe, region: Region) -> str:
    """The spec's host, else the region's host, else the host of the region's base_url."""
    host = spec.host or region.host
    if host is None and region.base_url is not None:
        host = urlsplit(region.base_url).hostname
    if not host:
        raise InvalidInput(f"tcp probe port {spec.port}: region {region.name!r} has no host or base_url")
    return host


@probe_kind(TcpProbe)
def build_tcp_sampler(spec: TcpProbe, region: Region, ctx: ProbeContext) -> Sampler:
    """A sampler connecting to `spec.port` on the region's host, then closing cleanly."""
    host = resolve_host(spec, region)
    port = spec.port
    timeout_s = spec.timeout_s
    timed_out = timeout_text(timeout_s)

    async def sample() -> Outcome:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                _, writer = await asyncio.open_connection(host, port)
        except TimeoutError:
            return Outcome(False, time.perf_counter() - started, None, timed_out)
        except OSError as exc:
            return Outcome(False, None, None, describe_os_error(exc))
        latency_s = time.perf_counter() - started
        writer.close()
        # A peer that never acknowledges the close must not hold the sample (or the run) open.
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await writer.wait_closed()
        if spec.max_latency_s is not None and latency_s > spec.max_latency_s:
            return Outcome(False, latency_s, None, f"slower than {format_duration(spec.max_latency_s)}")
        return Outcome(True, latency_s)

    return sample
