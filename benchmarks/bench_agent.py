"""In-cluster agent: samples/s an agent sustains, and the latency its samples add on the log path.

    python benchmarks/bench_agent.py [--series 10] [--every 100ms] [--seconds 10]

Starts a node (scripts/kube-up.sh --node, the agent image from scripts/build-agent-image.sh,
cached after the first build) and an HTTP server on 127.0.0.1, then runs one chaosrun
experiment with two regions probing that server with the same probes: `eu` from an agent Job
on the node, `local` from chaosrun itself. Prints, from the run's journal:
- per region: samples, samples/s, scheduled samples/s, probe latency p50/p99;
- for the agent: the log path's latency (container runtime timestamp to chaosrun's receipt,
  `agent_clock` event), p50/p99, and the agent's clock offset.
Bounded: one run of `--seconds`, every wait has a timeout. Exits 0 unless something failed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "chaosrun.local/agent:dev"


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10)
    parser.add_argument("--every", default="100ms")
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp_name:
        tmp = Path(tmp_name)
        image = tmp / "image.tar"
        subprocess.run(["bash", str(ROOT / "scripts/build-agent-image.sh"), str(image), IMAGE], check=True, timeout=900)
        node_dir = tmp / "node"
        up = subprocess.run(
            ["bash", str(ROOT / "scripts/kube-up.sh"), "--node", str(node_dir)],
            env={**os.environ, "KUBE_NODE_IMAGES": str(image)},
            capture_output=True,
            text=True,
            timeout=600,
            start_new_session=True,
            check=False,
        )
        if up.returncode != 0:
            print(up.stderr[-3000:], file=sys.stderr)
            return 1
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            return _run(args, tmp, node_dir, f"http://127.0.0.1:{server.server_address[1]}")
        finally:
            server.shutdown()
            down = ["bash", str(ROOT / "scripts/kube-up.sh"), "--down", str(node_dir)]
            subprocess.run(down, timeout=120, check=False)


def _run(args: argparse.Namespace, tmp: Path, node_dir: Path, url: str) -> int:
    kubeconfig = node_dir / "kubeconfig"
    cluster = (
        f"{{kubeconfig: {kubeconfig}, namespace: default, image: {IMAGE}, "
        "image_pull_policy: Never, host_network: true}"
    )
    probes = "\n".join(
        f"    - {{name: p{i}, http: {{url: /{i}, timeout: 1s}}, every: {args.every}, "
        '      tolerance: {success_ratio: ">= 0"}}'
        for i in range(args.series)
    )
    exp = tmp / "bench.yaml"
    exp.write_text(
        textwrap.dedent(
            f"""\
            title: agent benchmark
            regions:
              eu: {{base_url: "{url}", cluster: {cluster}}}
              local: {{base_url: "{url}"}}
            steady_state:
              probes:
            """
        )
        + probes
        + f"\nphases: {{baseline: {args.seconds}s, fault: 0s, recovery: 0s}}\n"
    )
    out = tmp / "out"
    run = subprocess.run(
        [sys.executable, "-m", "chaosrun", "run", str(exp), "--out", str(out), "--no-report"],
        env={**os.environ, "CI": "true", "CHAOSRUN_STATE_DIR": str(tmp / "state"), "KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        timeout=args.seconds + 300,
        check=False,
    )
    if run.returncode not in (0, 1):
        print(run.stdout[-2000:], run.stderr[-2000:], file=sys.stderr)
        return 1
    rows: dict[str, list[list[object]]] = {"eu": [], "local": []}
    clock: dict[str, object] = {}
    start = end = 0.0  # the baseline phase: samples outside it (the agent starts earlier) are not counted
    for line in (out / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "phase_started" and event["phase"] == "baseline":
            start, end = float(event["t"]), float(event["t"]) + args.seconds
        elif event["type"] == "samples":
            for row in event["batch"]:
                if start <= float(row[3]) < end:  # type: ignore[arg-type]
                    rows.setdefault(str(row[1]), []).append(row)
        elif event["type"] == "agent_clock" and event.get("final"):
            clock = event
    every_s = float(args.every.removesuffix("ms")) / 1000 if args.every.endswith("ms") else float(args.every)
    scheduled = args.series / every_s if every_s > 0 else float("nan")
    print(f"{args.series} series every {args.every} for {args.seconds}s per region (scheduled {scheduled:.0f}/s)")
    for region, label in (("eu", "agent (in the cluster)"), ("local", "local (chaosrun)")):
        samples = rows.get(region, [])
        lat = [float(r[5]) for r in samples if isinstance(r[5], int | float)]
        ok = sum(1 for r in samples if r[4])
        print(
            f"  {label:24s} {len(samples):7d} samples  {len(samples) / args.seconds:7.0f}/s  "
            f"ok {ok / max(1, len(samples)):.1%}  "
            f"latency p50 {statistics.median(lat) if lat else float('nan'):.2f} ms  p99 {_pct(lat, 0.99):.2f} ms"
        )
    p50, p99 = clock.get("log_latency_p50_s"), clock.get("log_latency_p99_s")
    offset = clock.get("offset_s")
    if isinstance(p50, float) and isinstance(p99, float):
        print(f"  log path (runtime timestamp -> chaosrun receipt): p50 {p50 * 1000:.1f} ms  p99 {p99 * 1000:.1f} ms")
    print(f"  agent clock offset against its node's runtime: {offset} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
