"""Run chaosrun as a real subprocess against the real Toxiproxy server and a real HTTP service."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.cli import read_events, wait_for_event
from tests.fixtures.toxiproxy_server import ToxiproxyProcess, free_port

ROOT = Path(__file__).resolve().parents[2]

EXPERIMENT = """\
title: Safety trial
description: latency through a real Toxiproxy proxy while probes run
regions:
  local: {{base_url: "http://127.0.0.1:${{proxy_port}}"}}
variables: {{service_port: "1", proxy_port: "2", toxiproxy: "http://127.0.0.1:8474"}}
secrets: {{token: {{env: CHAOSRUN_TEST_TOKEN}}}}
steady_state:
  probes:
    - name: health
      http: {{url: /ok, timeout: 1s, headers: {{Authorization: "Bearer ${{secret.token}}"}}}}
      every: 50ms
      tolerance: {{success_ratio: ">= 0.5"}}
phases: {{baseline: {baseline}, fault: {fault}, recovery: {recovery}}}
toxiproxy:
  servers: {{default: "${{toxiproxy}}"}}
  proxies:
    svc: {{listen: "127.0.0.1:${{proxy_port}}", upstream: "127.0.0.1:${{service_port}}", region: local}}
method:
  - fault: toxiproxy.latency
    name: slow
    proxy: svc
    latency: 20ms
  - fault: toxiproxy.bandwidth
    name: squeeze
    proxy: svc
    rate: 1000
    stream: both
"""

TOKEN = "s3cr3t-token-value-9f8e7d"


@dataclass(slots=True)
class Trial:
    proc: subprocess.Popen[bytes]
    out: Path
    state: Path

    def wait(self, timeout_s: float = 60.0) -> tuple[int, str, str]:
        stdout, stderr = self.proc.communicate(timeout=timeout_s)
        return self.proc.returncode, stdout.decode(), stderr.decode()

    def events(self) -> list[dict[str, object]]:
        return read_events(self.out / "events.jsonl")

    def wait_for_event(self, kind: str, timeout_s: float = 20.0, **fields: object) -> bool:
        """Wait (bounded) for an event of `kind` whose fields match `fields`."""
        return wait_for_event(self.out / "events.jsonl", kind, self.proc, timeout_s, **fields)


def write_experiment(tmp: Path, phases: tuple[str, str, str] = ("1s", "2s", "1s")) -> Path:
    path = tmp / "experiment.yaml"
    path.write_text(EXPERIMENT.format(baseline=phases[0], fault=phases[1], recovery=phases[2]))
    return path


def env() -> dict[str, str]:
    return {**os.environ, "CHAOSRUN_TEST_TOKEN": TOKEN, "CI": "true"}


def start_run(tmp: Path, toxiproxy: ToxiproxyProcess, service_port: int, experiment: Path, *extra: str) -> Trial:
    out, state = tmp / "out", tmp / "state"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaosrun",
            "run",
            str(experiment),
            "--out",
            str(out),
            "--state-dir",
            str(state),
            "--var",
            f"service_port={service_port}",
            "--var",
            f"proxy_port={free_port()}",
            "--var",
            f"toxiproxy={toxiproxy.url}",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
        env=env(),
        start_new_session=True,
    )
    return Trial(proc=proc, out=out, state=state)


def recover(state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaosrun", "recover", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env(),
        check=False,
    )


def chaosrun_toxics(toxiproxy: ToxiproxyProcess) -> list[str]:
    proxies = toxiproxy.api("GET", "/proxies")
    assert isinstance(proxies, dict)
    return [t["name"] for p in proxies.values() for t in p["toxics"] if t["name"].startswith("chaosrun-")]


def server_state(toxiproxy: ToxiproxyProcess) -> dict[str, object]:
    proxies = toxiproxy.api("GET", "/proxies")
    assert isinstance(proxies, dict)
    return {
        n: {k: v for k, v in p.items() if k in ("name", "listen", "upstream", "enabled", "toxics")}
        for n, p in proxies.items()
    }
