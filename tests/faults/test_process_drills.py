"""Process drills as SREs run them: real listeners on several loopback addresses with the same
port, a kill scoped to one region, seeded selection, a refusal when the set widened, and a
daemonizing restart whose readiness `recover_within` is measured from."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chaosrun.errors import PlanRefused, RollbackFailed
from chaosrun.faults import FaultContext, get_kind
from chaosrun.faults.process import SignalInjection
from chaosrun.faults.process_targets import Scope, find_matches, read_process
from chaosrun.faults.restart import run_restart
from chaosrun.loader import load_text
from chaosrun.model import Experiment
from tests.cli import run_cli

WAIT_S = 20.0
# A listener on argv[1]:argv[2] that writes its pid to argv[3] once listening, then serves forever.
SERVER = """
import os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)
open(sys.argv[3] + ".tmp", "w").write(str(os.getpid())); os.replace(sys.argv[3] + ".tmp", sys.argv[3])
while True:
    c, _ = s.accept(); c.close()
"""
HOSTS = ("127.0.1.1", "127.0.2.1", "127.0.3.1")


def _wait_for(check: Callable[[], object], what: str) -> object:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what}: not within {WAIT_S}s")


def _shared_free_port(hosts: tuple[str, ...]) -> int:
    """A port free on every one of `hosts` (bounded tries)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port = int(probe.getsockname()[1])
        try:
            for h in hosts:
                with socket.socket() as s:
                    s.bind((h, port))
        except OSError:
            continue
        return port
    raise AssertionError("no port free on every test address")


class Listeners:
    """Server processes started by one test (pidfiles in tmp); all killed at teardown."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.script = tmp / "server.py"
        self.script.write_text(SERVER)
        self.pidfiles: list[Path] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    def argv(self, host: str, port: int) -> list[str]:
        pidfile = self.tmp / f"pid-{host}-{port}-{len(self.pidfiles)}"
        self.pidfiles.append(pidfile)
        return [sys.executable, str(self.script), host, str(port), str(pidfile)]

    def start(self, host: str, port: int) -> int:
        argv = self.argv(host, port)
        self.procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True))
        pidfile = Path(argv[-1])
        return int(str(_wait_for(lambda: pidfile.exists() and pidfile.read_text(), f"{host}:{port} listening")))

    def close(self) -> None:
        for f in self.pidfiles:
            if f.exists():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(f.read_text()), signal.SIGKILL)
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=WAIT_S)


@pytest.fixture
def listeners(tmp_path: Path) -> Iterator[Listeners]:
    ls = Listeners(tmp_path)
    try:
        yield ls
    finally:
        ls.close()


def _experiment(tmp: Path, method: str, extra: str = "") -> Experiment:
    regions = "\n".join(f"  {n}: {{host: {h}}}" for n, h in zip(("us-east", "eu-west", "ap-south"), HOSTS, strict=True))
    text = f"""title: drill
regions:
{regions}
steady_state:
  probes:
    - name: up
      tcp: {{port: 9}}
phases: {{baseline: 1s, fault: 2s, recovery: 1s}}
method:
{method}
{extra}"""
    return load_text(text, file=str(tmp / "exp.yaml"), environ={})


async def _resolve(exp: Experiment, seed: int = 0) -> list[SignalInjection]:
    kind = get_kind("process.kill")
    assert kind is not None
    ctx = FaultContext(run_id="t", experiment=exp, seed=seed, log=lambda _s: None)
    out = await kind.resolve(exp.method[0], ctx)
    assert all(isinstance(i, SignalInjection) for i in out)
    return [i for i in out if isinstance(i, SignalInjection)]


def test_listen_address_scopes_processes_sharing_a_port(listeners: Listeners) -> None:
    port = _shared_free_port(HOSTS)
    pids = {h: listeners.start(h, port) for h in HOSTS}
    matches, _ = find_matches(scope=Scope(hosts=frozenset({"127.0.2.1"}), port=port))
    assert [m.process.pid for m in matches] == [pids["127.0.2.1"]]
    every, _ = find_matches(scope=Scope(port=port))
    assert {m.process.pid for m in every} == set(pids.values())


def test_region_narrows_a_port_to_that_regions_host(tmp_path: Path, listeners: Listeners) -> None:
    port = _shared_free_port(HOSTS)
    pids = {h: listeners.start(h, port) for h in HOSTS}
    exp = _experiment(tmp_path, f"  - {{fault: process.kill, name: kill-eu, port: {port}, region: eu-west}}")
    (inj,) = asyncio.run(_resolve(exp))
    assert inj.process.pid == pids["127.0.2.1"]
    assert inj.region == "eu-west"
    text = inj.describe()
    assert f"on 127.0.2.1:{port} in eu-west" in text
    assert "not undoable: nothing in this experiment restarts it" in text


def test_listen_attributes_the_step_to_its_region(tmp_path: Path, listeners: Listeners) -> None:
    port = _shared_free_port(HOSTS)
    pids = {h: listeners.start(h, port) for h in HOSTS}
    exp = _experiment(tmp_path, f"  - {{fault: process.kill, name: kill-ap, listen: '127.0.3.1:{port}'}}")
    (inj,) = asyncio.run(_resolve(exp))
    assert (inj.process.pid, inj.region) == (pids["127.0.3.1"], "ap-south")


def test_selection_is_the_same_for_the_same_seed(tmp_path: Path, listeners: Listeners) -> None:
    port = _shared_free_port(HOSTS)
    for h in HOSTS:
        listeners.start(h, port)
    exp = _experiment(tmp_path, f"  - {{fault: process.kill, name: one-of-three, port: {port}, count: 1}}")
    picks = {seed: [asyncio.run(_resolve(exp, seed))[0].process.pid for _ in range(3)] for seed in range(6)}
    for seed, pids in picks.items():
        assert len(set(pids)) == 1, f"seed {seed} picked different processes: {pids}"
    assert "(seed 5)" in asyncio.run(_resolve(exp, 5))[0].describe()


def test_a_widened_target_set_is_refused_before_any_signal(tmp_path: Path, listeners: Listeners) -> None:
    hosts = (*HOSTS, "127.0.4.1")
    port = _shared_free_port(hosts)
    pids = [listeners.start(h, port) for h in HOSTS]
    exp = _experiment(tmp_path, f"  - {{fault: process.kill, name: by-port, port: {port}, count: 1}}")
    (inj,) = asyncio.run(_resolve(exp))
    listeners.start("127.0.4.1", port)  # a fourth listener appears between the plan and the fault
    ctx = FaultContext(run_id="t", experiment=exp, log=lambda _s: None)
    with pytest.raises(PlanRefused, match=r"now matches 4 process\(es\) \(the plan matched 3\).*Refusing to widen"):
        asyncio.run(inj.apply(ctx))
    for pid in pids:  # nothing was signalled
        info = read_process(pid)
        assert info is not None and info.state not in ("Z", "X")


def test_a_wildcard_listener_is_not_an_address_scoped_target(listeners: Listeners) -> None:
    port = _shared_free_port(("0.0.0.0",))
    pid = listeners.start("0.0.0.0", port)
    matches, skipped = find_matches(scope=Scope(hosts=frozenset({"127.0.1.1"}), port=port))
    assert matches == []
    assert [m.process.pid for m in skipped] == [pid]


def test_restart_that_does_not_return_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(RollbackFailed, match=r"still running after 1s and was killed: a restart must return"):
        asyncio.run(
            run_restart([sys.executable, "-c", "import time; time.sleep(60)"], timeout_s=1.0, ready_tcp=None,
                        ready_http=None, cwd=str(tmp_path))
        )  # fmt: skip
    with pytest.raises(RollbackFailed, match=r"exited 3: boom; start it by hand"):
        asyncio.run(
            run_restart([sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], timeout_s=5.0,
                        ready_tcp=None, ready_http=None, cwd=None)
        )  # fmt: skip


def test_kill_and_daemonized_restart_is_measured_by_recover_within(tmp_path: Path, listeners: Listeners) -> None:
    """End to end: the kill takes the listener down during the fault, the step's daemonizing
    restart (`setsid -f`) brings it back when the step ends, and the recovery objective is met
    because it is measured from the restart, not after the experiment's rollbacks."""
    host = "127.0.5.1"
    port = _shared_free_port((host,))
    first = listeners.start(host, port)
    restart_argv = ["setsid", "-f", *listeners.argv(host, port)]
    exp = tmp_path / "drill.yaml"
    exp.write_text(
        f"""title: kill and restart
regions:
  db: {{host: {host}}}
steady_state:
  probes:
    - name: db-port
      tcp: {{port: {port}, timeout: 500ms}}
      every: 100ms
      during: ignore
      after: {{recover_within: 2s, streak: 2}}
phases: {{baseline: 1s, fault: 1500ms, recovery: 3s}}
method:
  - fault: process.kill
    name: kill-db
    listen: '{host}:{port}'
    restart:
      command: {json.dumps(restart_argv)}
      timeout: 15s
      ready: {{tcp: '{host}:{port}'}}
"""
    )
    out = tmp_path / "out"
    done = run_cli("run", str(exp), "--out", str(out), "--seed", "3", state_dir=tmp_path / "state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "seed 3" in done.stdout
    said = done.stdout + done.stderr
    assert "was sent SIGKILL: not undoable; restarted by the step's restart next" in said
    assert "restart for step 'kill-db'" in said and "replaced by pid" in said
    journal = json.loads((out / "journal.json").read_text())
    (rec,) = journal["recovery"]
    assert rec["met"] is True and rec["recovery_s"] <= 2.0
    kinds = [f["kind"] for f in journal["faults"]]
    assert kinds == ["restart", "process.kill"]
    assert all(f["undo"] == "ok" for f in journal["faults"])
    # the restarted server outlives chaosrun and is not the one killed
    second = int(listeners.pidfiles[-1].read_text())
    assert second != first
    info = read_process(second)
    assert info is not None and info.state != "Z"
    assert read_process(first) is None or read_process(first).state == "Z"  # type: ignore[union-attr]
