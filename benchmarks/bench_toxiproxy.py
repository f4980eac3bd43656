"""Toxiproxy: injection accuracy of `latency`, and apply/undo cost per toxic.

(1) Accuracy: an HTTP server on 127.0.0.1, an aiohttp keep-alive client (one connection),
    requests direct and through a real Toxiproxy proxy with 50/100/300 ms downstream latency.
    Added latency = median through the toxic - median direct (baseline measured in the same
    run). Target: within 2 ms of the configured value.
(2) Cost: ToxicInjection.apply (create) and the toxiproxy undoer (delete) through chaosrun's
    client on one shared session, median and p95. Target: < 20 ms each.

Bounded: a fixed number of requests and toxics, each call with a timeout. Needs
.tools/bin/toxiproxy-server (bash scripts/install-toxiproxy.sh).

    python benchmarks/bench_toxiproxy.py [--requests 25] [--toxics 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chaosrun.clients.toxiproxy import ToxiproxyClient  # noqa: E402
from chaosrun.faults import FaultContext  # noqa: E402
from chaosrun.faults.toxiproxy import ToxicInjection, undo_toxiproxy  # noqa: E402
from chaosrun.model import Experiment, FaultParams, FaultStep, Location, Phases  # noqa: E402

BINARY = ROOT / ".tools" / "bin" / "toxiproxy-server"
RUN_ID = "20260101T000000Z-bench0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def toxiproxy_server() -> Iterator[str]:
    """A toxiproxy-server child on a free port; stopped by PID (SIGTERM, then SIGKILL)."""
    port = free_port()
    proc = subprocess.Popen(
        [str(BINARY), "-host", "127.0.0.1", "-port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "LOG_LEVEL": "error"},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise SystemExit("toxiproxy-server did not start within 10 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def setup(self) -> None:
        super().setup()
        # headers and body go out as two writes: without this, Nagle + delayed ACK add ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def median_ms(session: aiohttp.ClientSession, url: str, requests: int) -> float:
    """Median request time over one keep-alive connection (after a warm-up request)."""
    timeout = aiohttp.ClientTimeout(total=5)
    samples = []
    for i in range(requests + 1):
        t0 = time.perf_counter()
        async with session.get(url, timeout=timeout) as resp:
            await resp.read()
        if i:
            samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def accuracy(api: str, upstream: str, requests: int) -> None:
    connector = aiohttp.TCPConnector(limit=1, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = ToxiproxyClient(api, session=session)
        proxy = await client.create_proxy("bench", listen="127.0.0.1:0", upstream=upstream)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as probe:
            direct = await median_ms(probe, f"http://{upstream}/", requests)
            through = f"http://{proxy.listen}/"
            plain = await median_ms(probe, through, requests)
            print("(1) injection accuracy: downstream latency, aiohttp keep-alive, median of", requests, "requests")
            print(f"    direct {direct:.2f} ms; through the proxy without toxic {plain:.2f} ms")
            print(f"    {'configured':>10} {'measured':>9} {'added':>8} {'error':>7}  target |error| <= 2 ms")
            for latency in (50, 100, 300):
                await client.create_toxic("bench", type="latency", name="lat", attributes={"latency": latency})
                n = requests if latency < 300 else max(5, requests // 2)
                measured = await median_ms(probe, through, n)
                await client.delete_toxic("bench", "lat")
                added = measured - direct
                error = added - latency
                verdict = "met" if abs(error) <= 2 else "NOT met"
                print(f"    {latency:>8}ms {measured:>7.2f}ms {added:>6.2f}ms {error:>+6.2f}ms  {verdict}")
        await client.delete_proxy("bench")


async def cost(api: str, upstream: str, toxics: int) -> None:
    bare = Experiment(
        title="bench", description="", tags=(), regions=(), probes=(), method=(),
        phases=Phases(baseline_s=0, fault_s=0, recovery_s=0),
    )  # fmt: skip
    step = FaultStep(kind="toxiproxy.latency", name="bench", params=FaultParams(),
                     location=Location(file="bench", line=0, column=0))  # fmt: skip
    async with aiohttp.ClientSession() as session:
        ctx = FaultContext(run_id=RUN_ID, experiment=bare, http=session, log=lambda _: None)
        client = ToxiproxyClient(api, session=session)
        await client.create_proxy("cost", listen="127.0.0.1:0", upstream=upstream)
        applies: list[float] = []
        undos: list[float] = []
        for i in range(toxics):
            injection = ToxicInjection(
                step=step, target=f"toxiproxy:{api}/cost", region=None, url=api, proxy="cost",
                toxic=f"chaosrun-{RUN_ID}-bench{i}-downstream", toxic_type="latency", stream="downstream",
                toxicity=1.0, attributes=(("latency", 100), ("jitter", 0)),
            )  # fmt: skip
            record = injection.undo_record()
            t0 = time.perf_counter()
            await injection.apply(ctx)
            t1 = time.perf_counter()
            await undo_toxiproxy(record, ctx)
            t2 = time.perf_counter()
            applies.append((t1 - t0) * 1000)
            undos.append((t2 - t1) * 1000)
        assert (await client.get_proxy("cost")).toxics == ()
        await client.delete_proxy("cost")
    print(f"(2) fault apply and undo per toxic, {toxics} toxics, one shared session; target < 20 ms")
    for name, values in (("apply (create toxic)", applies), ("undo (delete toxic)", undos)):
        med, p95 = statistics.median(values), pct(values, 0.95)
        print(f"    {name:<22} median {med:6.2f} ms  p95 {p95:6.2f} ms  {'met' if p95 < 20 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=25)
    parser.add_argument("--toxics", type=int, default=100)
    args = parser.parse_args()
    if not BINARY.exists():
        raise SystemExit(f"{BINARY} missing: run `bash scripts/install-toxiproxy.sh`")
    with toxiproxy_server() as api, http_server() as upstream:
        asyncio.run(accuracy(api, upstream, max(3, min(args.requests, 200))))
        asyncio.run(cost(api, upstream, max(5, min(args.toxics, 1000))))


if __name__ == "__main__":
    main()
