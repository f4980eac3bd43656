"""Issue 10 trials: chaosrun as a real subprocess in a hostile environment (full disks, deleted
folders, closed pipes, a restarted or frozen Toxiproxy, a second run), against the real
Toxiproxy server and a real HTTP service. Every wait is bounded."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from tests.fixtures.toxiproxy_server import ToxiproxyProcess, free_port

ROOT = Path(__file__).resolve().parents[2]

# three toxics on one proxy (latency + bandwidth on both streams) and one rollback that leaves
# a file behind: the trials check the server, the rollback and the journal afterwards
EXPERIMENT = """\
title: Hostile trial
regions:
  local: {{base_url: "http://127.0.0.1:${{proxy_port}}"}}
variables: {{service_port: "1", proxy_port: "2", toxiproxy: "http://127.0.0.1:8474", marker: "/nonexistent"}}
steady_state:
  probes:
    - name: health
      http: {{url: /ok, timeout: 1s}}
      every: 50ms
      tolerance: {{success_ratio: ">= 0.05"}}
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
rollbacks:
  - name: mark
    command: [{python}, -c, "import sys; open(sys.argv[1], 'w').write('rolled back')", "${{marker}}"]
    timeout: 10s
"""


def write_experiment(folder: Path, phases: tuple[str, str, str] = ("1s", "4s", "500ms")) -> Path:
    path = folder / "experiment.yaml"
    path.write_text(
        EXPERIMENT.format(baseline=phases[0], fault=phases[1], recovery=phases[2], python=json.dumps(sys.executable))
    )
    return path


@dataclass(slots=True)
class Run:
    proc: subprocess.Popen[bytes]
    out: Path
    state: Path
    marker: Path
    stderr_path: Path

    def events(self) -> list[dict[str, Any]]:
        """Events of events.jsonl (while it can be read)."""
        try:
            lines = (self.out / "events.jsonl").read_text(errors="replace").splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def wait_for_event(self, kind: str, timeout_s: float = 30.0, **fields: object) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(e.get("type") == kind and all(e.get(k) == v for k, v in fields.items()) for e in self.events()):
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.02)
        return False

    def finish(self, timeout_s: float = 90.0) -> tuple[int, str, str]:
        """Exit code, stdout (when piped), stderr (from its file)."""
        try:
            stdout, _ = self.proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate(timeout=10)
            raise AssertionError("the run did not end within its bound") from None
        stderr = self.stderr_path.read_text(errors="replace")
        return self.proc.returncode, (stdout or b"").decode(errors="replace"), stderr


def launch(
    folder: Path,
    server: ToxiproxyProcess,
    service_port: int,
    experiment: Path,
    *,
    out: Path | None = None,
    state: Path | None = None,
    stdout: int | IO[Any] = subprocess.PIPE,
    proxy_port: int | None = None,
    extra: tuple[str, ...] = (),
    stderr: IO[Any] | None = None,
) -> Run:
    out = out or folder / "out"
    state = state or folder / "state"
    marker = folder / f"rolled-back-{time.monotonic_ns()}"
    stderr_path = folder / f"stderr-{time.monotonic_ns()}.txt"
    with stderr_path.open("wb") as err:
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
                f"proxy_port={proxy_port or free_port()}",
                "--var",
                f"toxiproxy={server.url}",
                "--var",
                f"marker={marker}",
                *extra,
            ],
            stdout=stdout,
            stderr=stderr or err,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            env={**os.environ, "CI": "true"},
            start_new_session=True,
        )
    return Run(proc=proc, out=out, state=state, marker=marker, stderr_path=stderr_path)


def chaosrun_toxics(server: ToxiproxyProcess) -> list[str]:
    proxies = server.api("GET", "/proxies")
    assert isinstance(proxies, dict)
    return [f"{n}/{t['name']}" for n, p in proxies.items() for t in p["toxics"] if t["name"].startswith("chaosrun-")]


def assert_server_clean(server: ToxiproxyProcess) -> None:
    """No chaosrun toxic anywhere, every proxy enabled."""
    proxies = server.api("GET", "/proxies")
    assert isinstance(proxies, dict)
    assert not chaosrun_toxics(server), f"chaosrun toxics left on the server: {chaosrun_toxics(server)}"
    disabled = [n for n, p in proxies.items() if not p["enabled"]]
    assert not disabled, f"proxies left disabled: {disabled}"


def ledger_entries(state: Path) -> list[Path]:
    return sorted((state / "ledger").rglob("*.json")) if (state / "ledger").exists() else []


def journal_of(run: Run) -> tuple[Path, dict[str, Any]]:
    """journal.json where the run left it: --out, else its documented fallback folders."""
    candidates = [run.out / "journal.json", *sorted((run.state / "journals").glob("*/journal.json"))]
    for path in candidates:
        if path.exists():
            return path, json.loads(path.read_text())
    raise AssertionError(f"no journal.json in {run.out} or {run.state / 'journals'}")


def can_mount() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@contextlib.contextmanager
def tmpfs(where: Path, size: str = "1m", *, read_only: bool = False) -> Iterator[Path]:
    """A real tmpfs of `size` at `where` (root only: CI runs as root; elsewhere the test skips)."""
    if not can_mount():
        if os.environ.get("CI"):
            pytest.fail("mounting a tmpfs needs root, and CI runs as root", pytrace=False)
        pytest.skip("mounting a tmpfs needs root (run as root, as CI does, to run this trial)")
    where.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], capture_output=True, timeout=30)
    if done.returncode != 0:
        message = f"mount -t tmpfs failed: {done.stderr.decode(errors='replace').strip()}"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30, check=False)


def fill(folder: Path) -> None:
    """Fill the file system of `folder` from another process, until it is full (bounded by its size)."""
    subprocess.run(
        ["dd", "if=/dev/zero", f"of={folder / 'filler'}", "bs=64k"], capture_output=True, timeout=60, check=False
    )
