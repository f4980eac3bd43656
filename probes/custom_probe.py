"""An example custom probe, loaded by file path (never imported as a package).

chaosrun calls the function once per sample and region as `fn(region=..., base_url=...)`.
Return True (or None) for a good sample; return False or raise for a failed one. The message
of an exception is what the report shows, so make it stable (no timings or ids in it).
Sync functions run on a worker thread; `async def` works too.

Use it from an experiment (directly, or through `use: checkout-retry-budget` from
probes/http-health.yaml):

    - name: retry-budget
      python: {file: ../probes/custom_probe.py, function: checkout_within_retry_budget, timeout: 3s}
"""

from __future__ import annotations

import json
import urllib.request

MAX_ATTEMPTS = 3  # payment attempts a checkout may spend (retries + failover) before we call it unhealthy


def checkout_within_retry_budget(region: str, base_url: str | None) -> bool:
    """A checkout succeeds and spends at most MAX_ATTEMPTS payment attempts.

    The demo storefront answers `{"status": "ok", "attempts": n, "payments_region": ...}`: a
    checkout that only succeeds after many retries is a warning sign even when it succeeds.
    """
    if base_url is None:
        raise ValueError(f"region {region} has no base_url")
    request = urllib.request.Request(f"{base_url.rstrip('/')}/checkout", headers={"User-Agent": "chaosrun-probe"})
    with urllib.request.urlopen(request, timeout=3) as resp:
        body = json.loads(resp.read())
    if body.get("status") != "ok":
        raise RuntimeError(f"checkout status {body.get('status')!r}")
    return int(body.get("attempts", 1)) <= MAX_ATTEMPTS
