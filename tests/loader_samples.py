"""Shared by the loader tests: a tiny test fault kind and valid experiment documents."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import yaml

from chaosrun.faults import FaultContext, FaultKind, Injection, ParseContext, fault, get_kind
from chaosrun.model import FaultParams, FaultStep
from chaosrun.node import Node


@dataclass(frozen=True, slots=True, kw_only=True)
class NoopParams(FaultParams):
    proxy: str
    amount: int = 1


class NoopKind(FaultKind):
    """Does nothing; checks `proxy` against the declared Toxiproxy proxies like a real kind would."""

    backend: ClassVar[str] = "test"
    keys: ClassVar[tuple[str, ...]] = ("proxy", "amount")

    def parse(self, node: Node, ctx: ParseContext) -> NoopParams | None:
        f = node.mapping(allowed=self.keys, required=("proxy",))
        if f is None or "proxy" not in f:
            return None
        proxy = f["proxy"].str()
        if proxy is not None and proxy not in ctx.proxies:
            hint = difflib.get_close_matches(proxy, list(ctx.proxies), n=1)
            more = f"; did you mean '{hint[0]}'?" if hint else ""
            f["proxy"].error(f"unknown proxy '{proxy}'{more}")
            return None
        amount = f["amount"].int(min=1) if "amount" in f else 1
        if proxy is None or amount is None:
            return None
        return NoopParams(proxy=proxy, amount=amount)

    async def resolve(self, step: FaultStep, ctx: FaultContext) -> list[Injection]:
        return []

    async def setup(self, injections: Sequence[Injection], ctx: FaultContext) -> list[Injection]:
        return []


if get_kind("test.noop") is None:
    fault("test.noop")(NoopKind)


MINIMAL = """\
title: Minimal
regions:
  local: {base_url: "http://127.0.0.1:8101"}
steady_state:
  probes:
    - name: health
      http: {url: /health}
phases: {baseline: 1s, fault: 2s, recovery: 1s}
"""

FULL = """\
title: Checkout survives payment latency
description: Payments in eu-west get 300ms slower.
tags: [payments, latency]
regions:
  us-east: {base_url: "http://127.0.0.1:8101"}
  eu-west: {base_url: "http://127.0.0.1:8102/", host: 127.0.0.2}
variables:
  threshold: 300ms
  service: checkout
secrets:
  token: {env: API_TOKEN}
  dbpass: {file: secrets/db.txt}
steady_state:
  probes:
    - name: checkout
      http:
        url: /${service}/health
        method: post
        timeout: 2s
        expect_status: [200, 204]
        body_regex: "ok|fine"
        json_path: status
        json_expect: ok
        max_latency: 500ms
        headers: {Authorization: "Bearer ${secret.token}", X-Region: "${region.name}"}
        body: '{"ping": true}'
      every: 200ms
      regions: [us-east]
      tolerance: {success_ratio: ">= 0.99", p95: "< ${threshold}", p99: "<= 1.5x baseline", window: 10s, min_samples: 5}
      during: ignore
      after: {recover_within: 10s, streak: 2}
    - name: db
      tcp: {port: 5432, timeout: 1s, max_connect: 100ms}
      every: 0s
      tolerance: {success_ratio: ">= 99%"}
      during: {success_ratio: ">= 0.5", max: "< 2s"}
    - name: cli
      command:
        argv: [curl, -fsS, "http://127.0.0.1:8101/health"]
        timeout: 5s
        expect_exit: [0, 7]
        stdout_regex: ok
        env: {PGPASSWORD: "${secret.dbpass}"}
      regions: eu-west
phases: {baseline: 30s, fault: 60s, recovery: 30s}
method:
  - fault: test.noop
    proxy: payments-eu
    amount: 3
  - fault: test.noop
    name: late
    start: 10s
    duration: 50s
    proxy: payments-us
rollbacks:
  - {name: restart, command: [systemctl, restart, "${service}"], timeout: 20s}
  - command: [curl, -H, "Authorization: ${secret.token}", "http://127.0.0.1:8101/reset"]
guardrails:
  - name: error-budget
    probe: checkout
    window: 5s
    success_ratio: ">= 0.5"
    p99: "< 2s"
    consecutive_failures: 3
  - name: db-alive
    tcp: {host: 127.0.0.1, port: 5432}
    every: 500ms
    regions: [eu-west]
    consecutive_failures: 5
    min_samples: 1
toxiproxy:
  servers: {default: "http://127.0.0.1:8474", other: "http://127.0.0.1:8475"}
  proxies:
    payments-eu: {listen: "127.0.0.1:21001", upstream: "127.0.0.1:9102", region: eu-west}
    payments-us: {server: other}
caps:
  max_targets: 3
  max_targets_percent: 50
  max_fault_duration: 5m
  allowed_toxiproxy: ["http://127.0.0.1:8474"]
  allowed_proxies: [payments-eu]
  allowed_namespaces: [shop]
"""

JSON = """\
{"title": "JSON works", "regions": {"local": {"base_url": "http://127.0.0.1:8101"}},
 "steady_state": {"probes": [{"name": "health", "http": {"url": "/health"}}]},
 "phases": {"baseline": "1s", "fault": "2s", "recovery": "1s"}}
"""

VALID_DOCUMENTS = {"minimal": MINIMAL, "full": FULL, "json": JSON}

REPO = Path(__file__).resolve().parent.parent


def shipped_experiments() -> list[Path]:
    """The experiments in the repository (experiments/, the demo), without game-day plans and probe definitions."""
    found = []
    for folder in (REPO / "experiments", REPO / "chaosrun" / "demo"):
        for path in sorted(folder.rglob("*.y*ml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or list(data) == ["probes"] or "experiments" in data:
                continue
            found.append(path)
    return found
