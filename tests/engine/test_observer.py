"""The observer never lies: whole runs against real local servers (issue 9).

- a rate that fills the live window: no sample fails against a healthy server, connections reused;
- a server that closes kept-alive connections after N requests: retried, no false failure;
- SIGSTOP/SIGCONT of a real `chaosrun run` in its fault phase: the stall is reported, the
  samples not taken are not counted against the target, the run is not deviated for them;
- a target streaming a body far over the limit: a clear error, bounded RSS, the run goes on and
  everything injected is undone.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from chaosrun.model import Experiment, HttpProbe, Phases, Probe, Region, Tolerance
from chaosrun.running import sampling as sampling_module
from chaosrun.running.runner import run_experiment
from chaosrun.running.sampling import LiveWindow
from chaosrun.units import parse_bound
from tests.cli import ROOT, run_cli
from tests.engine.support import LOC
from tests.fixtures.fast_http import FastHttpServer
from tests.fixtures.toxiproxy_server import ToxiproxyProcess, free_port
from tests.safety.support import server_state


def _experiment(url: str, *, regions: int, every_s: float, phases: tuple[float, float, float]) -> Experiment:
    tol = Tolerance(success_ratio=parse_bound(">= 0.99", "ratio"), p95=parse_bound("< 1s", "s"))
    names = tuple(f"r{i}" for i in range(regions))
    return Experiment(
        title="observer",
        description="",
        tags=(),
        regions=tuple(Region(name=n, base_url=url) for n in names),
        probes=(
            Probe(
                name="ok",
                spec=HttpProbe(url="/ok", timeout_s=2.0),
                every_s=every_s,
                tolerance=tol,
                during=tol,
                recover_within_s=None,
                regions=names,
                location=LOC,
            ),
        ),
        phases=Phases(baseline_s=phases[0], fault_s=phases[1], recovery_s=phases[2]),
        method=(),
        source="test.yaml",
    )


def _run(exp: Experiment, tmp: Path) -> tuple[int, dict[str, Any]]:
    code = asyncio.run(
        run_experiment(
            exp, out_dir=tmp / "out", dry_run=False, state_dir=tmp / "state", write_reports=False, echo=lambda s: None
        )
    )
    return code, json.loads((tmp / "out" / "journal.json").read_text())


def _rows(out: Path) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for line in (out / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "samples":
            rows += event["batch"]
    return rows


def test_a_rate_that_fills_the_live_window_fails_no_sample_and_reuses_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lives: list[LiveWindow] = []

    class CountedLive(LiveWindow):
        def __init__(self) -> None:
            super().__init__()
            lives.append(self)

    monkeypatch.setattr(sampling_module, "LiveWindow", CountedLive)
    server = FastHttpServer()
    try:
        # 3 regions x every 5 ms = 600 samples/s for 7 s: the 5 s live window fills
        code, journal = _run(_experiment(server.url, regions=3, every_s=0.005, phases=(5.5, 1.0, 0.5)), tmp_path)
    finally:
        server.close()
    verdicts = journal["verdicts"]
    taken = sum(v["samples"] for v in verdicts)
    assert taken > 1000, journal["reason"]
    assert sum(v["failures"] for v in verdicts) == 0, [v["reasons"] for v in verdicts]
    errors = [e for s in journal["samples"]["series"] for e in s["error"] if e != -1]
    assert errors == []
    # a loaded machine may leave samples not taken (then the run says so); never failures
    assert journal["status"] in ("held", "inconclusive"), journal["reason"]
    assert (code, journal["status"]) in ((0, "held"), (7, "inconclusive"))
    assert server.connections < taken / 10  # kept alive: not a connection per sample
    # the live window held seconds of samples, yet each sample was appended once and dropped
    # at most once: the work per sample did not grow with the window (counted, not timed)
    (live,) = lives
    assert live.ops <= 2 * taken, (live.ops, taken)
    assert max(len(d) for d in live.oks.values()) > 100


def test_a_server_closing_kept_alive_connections_causes_no_false_failure(tmp_path: Path) -> None:
    server = FastHttpServer(close_after=5)
    try:
        code, journal = _run(_experiment(server.url, regions=1, every_s=0.01, phases=(1.5, 0.5, 0.5)), tmp_path)
    finally:
        server.close()
    assert server.closed_unanswered > 5  # the server did close connections the client then reused
    verdicts = journal["verdicts"]
    assert sum(v["failures"] for v in verdicts) == 0, [v["reasons"] for v in verdicts]
    retried = [r for r in _rows(tmp_path / "out") if len(r) > 8 and r[8] == 1]
    assert retried and all(r[4] == 1 for r in retried)  # visible in the journal, and they succeeded
    assert code in (0, 7), journal["reason"]


STALL_EXPERIMENT = """\
title: stalled observer
regions:
  local: {base_url: "${url}"}
variables: {url: "http://127.0.0.1:1"}
steady_state:
  probes:
    - name: ok
      http: {url: /ok, timeout: 1s}
      every: 20ms
      tolerance: {success_ratio: ">= 0.99", p95: "< 500ms"}
phases: {baseline: 2s, fault: 6s, recovery: 2s}
method: []
"""


def _lines(stream: Any, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def _wait_for_line(lines: queue.Queue[str], seen: list[str], needle: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            continue
        seen.append(line)
        if needle in line:
            return
    pytest.fail(f"no line with {needle!r} within {timeout_s:g}s; got:\n{''.join(seen)}")


def test_a_stalled_chaosrun_is_reported_and_never_blamed_on_the_target(tmp_path: Path) -> None:
    server = FastHttpServer()
    path = tmp_path / "exp.yaml"
    path.write_text(STALL_EXPERIMENT)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaosrun",
            "run",
            str(path),
            "--out",
            str(out),
            "--state-dir",
            str(tmp_path / "st"),
            "--var",
            f"url={server.url}",
        ],
        cwd=ROOT,
        env={**os.environ, "CI": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    err: queue.Queue[str] = queue.Queue()
    out_lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    readers = [
        threading.Thread(target=_lines, args=(proc.stderr, err), daemon=True),
        threading.Thread(target=_lines, args=(proc.stdout, out_lines), daemon=True),
    ]
    for r in readers:
        r.start()
    try:
        _wait_for_line(err, seen, "== fault phase", timeout_s=60)
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(2.5)  # the stall itself (what is asserted is counted, not timed)
        os.kill(proc.pid, signal.SIGCONT)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait(10)
        server.close()
    for r in readers:
        r.join(10)  # the child is gone: the readers reach the pipes' ends
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    seen += list(err.queue)
    stderr = "".join(seen)
    stdout = "".join(out_lines.queue)
    journal = json.loads((out / "journal.json").read_text())
    assert "chaosrun stalled for" in stderr, stderr
    stalls = [e for e in journal["events"] if e["type"] == "stall"]
    assert stalls and max(e["duration_s"] for e in stalls) > 2.0
    fault = next(v for v in journal["verdicts"] if v["phase"] == "fault")
    # about 2.5 s of 6 s at 50 samples/s not taken; none of them a failure of the target
    assert fault["not_taken"] >= 80, fault
    assert fault["failures"] == 0, fault
    assert fault["inconclusive"] is True and fault["held"] is None
    spans = [e for e in journal["events"] if e["type"] == "not_taken"]
    assert sum(e["samples"] for e in spans) >= fault["not_taken"]
    assert journal["status"] == "inconclusive", journal["reason"]
    assert proc.returncode == 7, stdout + stderr
    assert "verdict: INCONCLUSIVE" in stdout and "not taken" in stdout
    junit = (out / "junit.xml").read_text()
    assert "Inconclusive" in junit and "samples not taken" in junit
    # journal.json keeps the stretches not taken (the stall, every region), and the report shades them
    stalled = [n for n in journal["not_taken"] if n["probe"] is None]
    assert stalled and max(n["to_s"] - n["from_s"] for n in stalled) > 2.0, journal["not_taken"]
    assert any(n["probe"] is not None and n["samples"] > 0 for n in journal["not_taken"])
    report = (out / "report.html").read_text()
    assert "inconclusive" in report
    assert "not taken: chaosrun stalled (its event loop did not run)" in report


BODY_EXPERIMENT = """\
title: a body far over the limit
regions:
  local: {base_url: "http://127.0.0.1:${proxy_port}"}
variables: {service_port: "1", proxy_port: "2", toxiproxy: "http://127.0.0.1:8474"}
steady_state:
  probes:
    - name: ok
      http: {url: /ok, timeout: 2s}
      every: 50ms
      tolerance: {success_ratio: ">= 0.9"}
    - name: huge
      http: {url: /stream, timeout: 5s, max_body: 64KiB}
      every: 100ms
      tolerance: {success_ratio: ">= 0"}
      during: ignore
phases: {baseline: 1s, fault: 2s, recovery: 1s}
toxiproxy:
  servers: {default: "${toxiproxy}"}
  proxies:
    svc: {listen: "127.0.0.1:${proxy_port}", upstream: "127.0.0.1:${service_port}", region: local}
method:
  - fault: toxiproxy.latency
    proxy: svc
    latency: 5ms
"""


@pytest.mark.toxiproxy
def test_a_body_far_over_the_limit_is_a_clear_error_in_bounded_memory(
    toxiproxy_clean: ToxiproxyProcess, tmp_path: Path
) -> None:
    server = FastHttpServer(stream_bytes=1 << 30)  # 1 GiB per request, generated as it goes
    before = server_state(toxiproxy_clean)
    path = tmp_path / "exp.yaml"
    path.write_text(BODY_EXPERIMENT)
    args = ["run", str(path), "--out", str(tmp_path / "out"), "--state-dir", str(tmp_path / "state"), "--no-report"]
    args += ["--var", f"service_port={server.port}", "--var", f"proxy_port={free_port()}"]
    args += ["--var", f"toxiproxy={toxiproxy_clean.url}"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaosrun", *args],
        cwd=ROOT,
        env={**os.environ, "CI": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        output = _communicate_with_rusage(proc, timeout_s=120)
    finally:
        server.close()
        if proc.stdout is not None:
            proc.stdout.close()
    text, max_rss_kib = output
    journal = json.loads((tmp_path / "out" / "journal.json").read_text())
    assert journal["status"] == "held", text
    huge = [s for s in journal["samples"]["series"] if s["probe"] == "huge"]
    errors = journal["samples"]["errors"]
    assert huge and all(ok == 0 for s in huge for ok in s["ok"])
    assert {errors[i] for s in huge for i in s["error"]} == {"body over the 64KiB limit (max_body)"}
    assert [f["undo"] for f in journal["faults"] if not f["setup"]] == ["ok"]
    assert server_state(toxiproxy_clean) == before  # everything injected was undone
    assert max_rss_kib < 200 * 1024, max_rss_kib  # a 1 GiB body read whole would need > 1 GiB


def _communicate_with_rusage(proc: subprocess.Popen[bytes], timeout_s: float) -> tuple[str, int]:
    """The child's output and its peak RSS (KiB, from wait4: this child alone)."""
    chunks: list[bytes] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: proc.stdout.read(4096), b"")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            reader.join(10)
            return b"".join(chunks).decode(errors="replace"), usage.ru_maxrss
        time.sleep(0.2)
    proc.kill()
    proc.wait(10)
    pytest.fail(f"chaosrun did not finish within {timeout_s:g}s: {b''.join(chunks).decode(errors='replace')}")


def test_max_body_is_validated_with_a_located_message(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(STALL_EXPERIMENT.replace("{url: /ok, timeout: 1s}", "{url: /ok, timeout: 1s, max_body: lots}"))
    proc = run_cli("validate", str(path), timeout_s=60)
    assert proc.returncode == 2
    assert "max_body" in proc.stderr and "expected a size" in proc.stderr and "exp.yaml:" in proc.stderr
