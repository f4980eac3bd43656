"""Chaos Toolkit providers as a probe kind: one sample = one provider run through chaostoolkit-lib."""

from __future__ import annotations

import json

from ..model import ChaosToolkitProbe, Region
from ..sample import Outcome
from . import ProbeContext, Sampler, probe_kind

__all__ = ["build"]


@probe_kind(ChaosToolkitProbe)
def build(spec: ChaosToolkitProbe, region: Region, ctx: ProbeContext) -> Sampler:
    """The sampler; the provider runs as in Chaos Toolkit (process providers as chaosrun children)."""
    from ..clients.chaostoolkit import run_ctk_probe

    provider = json.loads(spec.provider_json)
    configuration = dict(spec.configuration)

    async def sample() -> Outcome:
        return await run_ctk_probe(provider, spec.timeout_s, configuration=configuration)

    return sample
