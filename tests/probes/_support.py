"""Running samplers from sync tests: one event loop and one shared session per call."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp

from chaosrun.model import ProbeSpec, Region
from chaosrun.probes import ProbeContext, build_sampler
from chaosrun.sample import Outcome

LOCAL = Region(name="local", base_url=None, host="127.0.0.1")
HANG_S = 60.0
"""Samples still running after this long have hung: the test fails (it never passes slowly)."""


def region_for(url: str, name: str = "eu") -> Region:
    return Region(name=name, base_url=url)


def take_samples(
    spec: ProbeSpec,
    region: Region = LOCAL,
    *,
    n: int = 1,
    secrets: Mapping[str, str] | None = None,
    base_dir: str = ".",
) -> list[Outcome]:
    """Build the sampler for `spec` and take `n` samples one after another; a hang fails (HANG_S)."""

    async def main() -> list[Outcome]:
        async with aiohttp.ClientSession() as http:
            ctx = ProbeContext(http=http, secrets=dict(secrets or {}), base_dir=base_dir)
            sampler = build_sampler(spec, region, ctx)
            return [await sampler() for _ in range(n)]

    return asyncio.run(asyncio.wait_for(main(), HANG_S))


def take_sample(
    spec: ProbeSpec, region: Region = LOCAL, *, secrets: Mapping[str, str] | None = None, base_dir: str = "."
) -> Outcome:
    return take_samples(spec, region, secrets=secrets, base_dir=base_dir)[0]


def take_tls_sample(
    spec: ProbeSpec, region: Region = LOCAL, *, secrets: Mapping[str, str] | None = None, settle_s: float = 0.5
) -> Outcome:
    """`take_sample` for HTTPS targets: after the session closes, the loop runs `settle_s` more so
    TLS transports (a failed handshake's too) finish closing before `asyncio.run` closes the loop;
    otherwise their sockets are only reclaimed by the garbage collector (a ResourceWarning)."""

    async def main() -> Outcome:
        async with aiohttp.ClientSession() as http:
            outcome = await build_sampler(spec, region, ProbeContext(http=http, secrets=dict(secrets or {})))()
        await asyncio.sleep(settle_s)
        return outcome

    return asyncio.run(main())
