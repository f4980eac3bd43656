"""Stop signals outside the fault phase, and in game days.

- SIGTERM while `chaosrun run` is still planning (here: listing pods from a Kubernetes API
  server that accepts and never answers) is exit 3 with a message, at once: not click's
  "Aborted!" (exit 1 reads as "deviated"), and not after the client's read timeouts.
- SIGTERM during the preflight (a Toxiproxy server that never answers) aborts the run at once:
  exit 3, status aborted, not a 5 s wait ending in an infrastructure error.
- A game day installs its handlers first, and a stop signal ends the whole plan: the current
  experiment rolls back, the next ones never start (whatever `stop_on` says).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.fixtures.kube_api import write_kubeconfig
from tests.fixtures.tcp import TcpServer, hold, serve

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60.0

HEAD = """\
title: {title}
regions: {{local: {{base_url: "{url}"}}}}
steady_state:
  probes:
    - {{name: ok, http: {{url: /ok}}, every: 100ms}}
phases: {{baseline: 1s, fault: 1s, recovery: 1s}}
"""

HUNG_API = (
    HEAD
    + """\
method:
  - {{fault: kubernetes.pod_kill, label_selector: app=web, kubeconfig: "{kubeconfig}"}}
"""
)

STALLED = (
    HEAD
    + """\
toxiproxy:
  servers: {{default: "http://{silent}"}}
  proxies: {{svc: {{listen: "127.0.0.1:1", upstream: "127.0.0.1:9", region: local}}}}
method:
  - {{fault: toxiproxy.latency, proxy: svc, latency: 10ms}}
"""
)

LONG_FAULT = """\
title: {title}
regions: {{local: {{base_url: "{url}"}}}}
steady_state:
  probes:
    - {{name: ok, http: {{url: /ok}}, every: 100ms, tolerance: {{success_ratio: ">= 0.9"}}}}
phases: {{baseline: 500ms, fault: 30s, recovery: 500ms}}
method:
  - fault: chaostoolkit.action
    name: mark
    provider: {{type: process, path: /bin/sh, arguments: ["-c", "echo on > '{marker}'"]}}
    rollback: {{type: process, path: /bin/sh, arguments: ["-c", "echo rolled-back > '{marker}'"]}}
"""


@contextmanager
def silent_server() -> Iterator[tuple[TcpServer, threading.Event]]:
    """A TCP server that accepts and never answers; the event is set on the first connection."""
    arrived = threading.Event()

    def handler(sock: Any) -> None:
        arrived.set()
        hold(sock)

    with serve(handler) as server:
        yield server, arrived


def start(*args: str, tmp: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "CI": "true", "CHAOSRUN_STATE_DIR": str(tmp / "state")}
    return subprocess.Popen(
        [sys.executable, "-m", "chaosrun", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=WAIT_S)
    return proc.returncode, out, err


def test_sigterm_while_planning_is_exit_3_at_once(http_server: Any, tmp_path: Path) -> None:
    with silent_server() as (silent, arrived):
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server=f"http://{silent.address}", token="t")
        exp = tmp_path / "exp.yaml"
        exp.write_text(HUNG_API.format(title="hung", url=http_server.url, kubeconfig=kubeconfig))
        proc = start("run", str(exp), "--out", str(tmp_path / "out"), tmp=tmp_path)
        assert arrived.wait(WAIT_S), "chaosrun never asked the API server for pods"
        proc.send_signal(signal.SIGTERM)
        code, out, err = finish(proc)  # bounded by WAIT_S; the client alone would wait 3 x 30 s
    assert code == 3, out + err
    assert "stopped by SIGTERM" in err and "Aborted!" not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing ran: nothing to report


def test_sigterm_during_the_preflight_aborts_the_run(http_server: Any, tmp_path: Path) -> None:
    with silent_server() as (silent, arrived):
        exp = tmp_path / "exp.yaml"
        exp.write_text(STALLED.format(title="stalled", url=http_server.url, silent=silent.address))
        proc = start("run", str(exp), "--out", str(tmp_path / "out"), tmp=tmp_path)
        assert arrived.wait(WAIT_S), "chaosrun never reached the Toxiproxy preflight"
        proc.send_signal(signal.SIGTERM)
        code, out, err = finish(proc)
    assert code == 3, out + err
    assert "SIGTERM received" in err and "no answer within" not in out + err
    journal = json.loads((tmp_path / "out" / "journal.json").read_text())
    assert journal["status"] == "aborted" and journal["faults"] == []
    assert (tmp_path / "out" / "report.html").exists()  # a run that never reached its baseline still has a report


def test_a_gameday_ends_on_sigterm_during_planning(http_server: Any, tmp_path: Path) -> None:
    with silent_server() as (silent, arrived):
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server=f"http://{silent.address}", token="t")
        (tmp_path / "first.yaml").write_text(HUNG_API.format(title="first", url=http_server.url,
                                                             kubeconfig=kubeconfig))  # fmt: skip
        (tmp_path / "second.yaml").write_text(LONG_FAULT.format(title="second", url=http_server.url,
                                                                marker=tmp_path / "second-ran"))  # fmt: skip
        plan = tmp_path / "plan.yaml"
        plan.write_text("title: day\nexperiments:\n  - file: first.yaml\n  - file: second.yaml\n")
        proc = start("gameday", str(plan), "--out", str(tmp_path / "runs"), tmp=tmp_path)
        assert arrived.wait(WAIT_S), "the game day never reached the first experiment's planning"
        proc.send_signal(signal.SIGTERM)
        code, out, err = finish(proc)
    assert code == 3, out + err
    assert "stopped by SIGTERM" in err and "Traceback" not in err
    assert "experiment 2/2" not in out and not (tmp_path / "second-ran").exists()


def test_sigterm_rolls_back_the_current_experiment_and_ends_the_game_day(http_server: Any, tmp_path: Path) -> None:
    """Default `stop_on` (rollback_failed only): the signal still ends the plan."""
    first, second = tmp_path / "first-marker", tmp_path / "second-marker"
    (tmp_path / "first.yaml").write_text(LONG_FAULT.format(title="first", url=http_server.url, marker=first))
    (tmp_path / "second.yaml").write_text(LONG_FAULT.format(title="second", url=http_server.url, marker=second))
    plan = tmp_path / "plan.yaml"
    plan.write_text("title: day\nexperiments:\n  - file: first.yaml\n  - file: second.yaml\n")
    proc = start("gameday", str(plan), "--out", str(tmp_path / "runs"), tmp=tmp_path)
    deadline = time.monotonic() + WAIT_S
    while not first.exists() and time.monotonic() < deadline and proc.poll() is None:  # bounded: WAIT_S
        time.sleep(0.05)
    assert first.exists(), "the first experiment's fault was never applied"
    proc.send_signal(signal.SIGTERM)
    code, out, err = finish(proc)
    assert code == 3, out + err
    assert first.read_text().strip() == "rolled-back"
    assert "stopping the game day: interrupted by SIGTERM" in out
    assert "first.yaml: aborted (exit 3)" in out and "experiment 2/2" not in out
    assert not second.exists()
    (journal,) = (tmp_path / "runs").rglob("journal.json")
    assert json.loads(journal.read_text())["status"] == "aborted"
