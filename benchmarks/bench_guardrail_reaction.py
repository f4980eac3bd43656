"""Guardrail reaction time: breach sample -> every fault undone, at 10 Hz sampling.

Target (issue: safety): under 500 ms at 10 Hz. Each trial runs the real CLI against a real
Toxiproxy server (latency toxic on the service's proxy) and a real local HTTP service that
starts failing on a timer during the fault phase; the guardrail trips on 3 consecutive failures.
The journal's `guardrails[].reaction_ms` is the figure (from the breach sample's scheduled start,
so it includes that sample's own latency); the baseline printed beside it is the
sampling period (100 ms), the floor of how soon a breach can even be seen. Bounded: N trials,
each with a 60 s timeout.

    python benchmarks/bench_guardrail_reaction.py [--trials 10]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINARY = ROOT / ".tools" / "bin" / "toxiproxy-server"

EXPERIMENT = """\
title: guardrail reaction
regions: {{local: {{base_url: "http://127.0.0.1:{proxy_port}"}}}}
steady_state:
  probes:
    - {{name: health, http: {{url: /, timeout: 1s}}, every: 100ms,
       tolerance: {{success_ratio: ">= 0.5"}}, during: ignore}}
phases: {{baseline: 1s, fault: 10s, recovery: 1s}}
toxiproxy:
  server: "http://127.0.0.1:{toxi_port}"
  proxies:
    svc: {{listen: "127.0.0.1:{proxy_port}", upstream: "127.0.0.1:{service_port}", region: local}}
method:
  - {{fault: toxiproxy.latency, proxy: svc, latency: 20ms}}
guardrails:
  - {{name: failing, probe: health, consecutive_failures: 3}}
"""


class _Degrading(BaseHTTPRequestHandler):
    fail_after = 0.0

    def do_GET(self) -> None:
        failing = time.monotonic() >= _Degrading.fail_after
        self.send_response(503 if failing else 200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"no" if failing else b"ok")

    def log_message(self, *args: object) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    if not BINARY.exists():
        raise SystemExit(f"{BINARY} missing: run scripts/install-toxiproxy.sh")
    toxi_port = free_port()
    toxi = subprocess.Popen(
        [str(BINARY), "-host", "127.0.0.1", "-port", str(toxi_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Degrading)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    reactions: list[float] = []
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{toxi_port}/version", timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        with tempfile.TemporaryDirectory() as tmp:
            for trial in range(args.trials):
                exp = Path(tmp) / f"exp{trial}.yaml"
                exp.write_text(
                    EXPERIMENT.format(
                        proxy_port=free_port(), toxi_port=toxi_port, service_port=server.server_address[1]
                    )
                )
                _Degrading.fail_after = time.monotonic() + 3.0  # ~1.5 s into the fault phase
                out = Path(tmp) / f"out{trial}"
                proc = subprocess.run(
                    [sys.executable, "-m", "chaosrun", "run", str(exp), "--out", str(out), "--no-report"],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    cwd=ROOT,
                    env={**os.environ, "CHAOSRUN_STATE_DIR": str(Path(tmp) / "state"), "CI": "true"},
                )
                journal = json.loads((out / "journal.json").read_text())
                trip = (journal.get("guardrails") or [{}])[0]
                if proc.returncode != 3 or trip.get("reaction_ms") is None:
                    print(f"trial {trial}: exit {proc.returncode}, no reaction recorded: {proc.stderr[-300:]}")
                    continue
                reactions.append(float(trip["reaction_ms"]))
                print(f"trial {trial}: exit 3 (aborted), reaction {trip['reaction_ms']:.1f} ms")
    finally:
        server.shutdown()
        toxi.terminate()
        toxi.wait(timeout=10)
    if not reactions:
        raise SystemExit("no trial recorded a reaction time")
    reactions.sort()
    p95 = reactions[min(len(reactions) - 1, round(0.95 * (len(reactions) - 1)))]
    print(
        f"\nreaction (breach sample's start -> all faults undone) over {len(reactions)} trials: "
        f"median {statistics.median(reactions):.1f} ms, p95 {p95:.1f} ms, max {reactions[-1]:.1f} ms"
    )
    print(
        f"baseline: sampling period 100.0 ms -> median reaction = {statistics.median(reactions) / 100:.2f}x one period"
    )
    print(f"target: < 500 ms -> {'met' if reactions[-1] < 500 else 'NOT met'} (max {reactions[-1]:.1f} ms)")


if __name__ == "__main__":
    main()
