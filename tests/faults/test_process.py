"""process.kill against real child processes this test starts and reaps."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from chaosrun.errors import FaultFailed, PlanRefused, ValidationFailed
from chaosrun.faults import FaultContext, get_kind, get_undoer
from chaosrun.faults.process import SignalInjection, find_processes, protected_pids, read_process
from chaosrun.loader import load_text
from chaosrun.model import Experiment

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 10.0
# A child that optionally listens on a port (written to argv[2]) and sleeps; argv[1] is a marker.
_CHILD = """
import socket, sys, time
if len(sys.argv) > 2:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
    open(sys.argv[2] + ".tmp", "w").write(str(s.getsockname()[1]))
    __import__("os").replace(sys.argv[2] + ".tmp", sys.argv[2])
time.sleep(300)
"""


class Children:
    """Children started by one test; all killed and reaped at teardown."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.started: list[subprocess.Popen[bytes]] = []
        self.marker = f"chaosrun-test-{uuid.uuid4().hex[:10]}"

    def start(self, *, listen: bool = False) -> tuple[subprocess.Popen[bytes], int | None]:
        port_file = self.tmp / f"port-{len(self.started)}"
        argv = [sys.executable, "-c", _CHILD, self.marker, *([str(port_file)] if listen else [])]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)
        self.started.append(proc)
        port = None
        if listen:
            port = int(_wait_for(lambda: port_file.read_text() if port_file.exists() else None))
        else:  # wait until the interpreter has replaced the fork (its cmdline carries the marker)
            _wait_for(lambda: (i := read_process(proc.pid)) is not None and self.marker in i.cmdline)
        return proc, port

    def close(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=WAIT_S)


def _wait_for(check: Callable[[], object]) -> object:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {WAIT_S}s")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:
            return resp.status == 200
    except OSError:
        return False


def _state(pid: int) -> str:
    info = read_process(pid)
    return info.state if info else "gone"


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    kids = Children(tmp_path)
    yield kids
    kids.close()


def _experiment(tmp_path: Path, fault: str) -> Experiment:
    text = f"""\
title: process kill test
regions:
  local: {{base_url: "http://127.0.0.1:9"}}
steady_state:
  probes:
    - {{name: up, tcp: {{port: 9}}}}
phases: {{baseline: 1s, fault: 2s, recovery: 1s}}
method:
  - fault: process.kill
{fault}
"""
    return load_text(text, file=str(tmp_path / "exp.yaml"), base_dir=str(tmp_path))


def _inject(exp: Experiment) -> tuple[list[SignalInjection], FaultContext]:
    kind = get_kind("process.kill")
    assert kind is not None
    ctx = FaultContext(run_id="test-run", experiment=exp)
    found = asyncio.run(kind.resolve(exp.method[0], ctx))
    assert all(isinstance(i, SignalInjection) for i in found)
    return [i for i in found if isinstance(i, SignalInjection)], ctx


def _apply(injections: list[SignalInjection], ctx: FaultContext) -> None:
    async def go() -> None:
        for inj in injections:
            await inj.apply(ctx)

    asyncio.run(go())


def _undo(record: dict[str, object], ctx: FaultContext) -> None:
    undo = get_undoer("process")
    assert undo is not None
    asyncio.run(undo(record, ctx))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("signal_name", "returncode"),
    [pytest.param("KILL", -signal.SIGKILL, id="kill"), pytest.param("TERM", -signal.SIGTERM, id="term")],
)
def test_kill_and_term_by_pidfile(tmp_path: Path, children: Children, signal_name: str, returncode: int) -> None:
    proc, _ = children.start()
    (tmp_path / "app.pid").write_text(f"{proc.pid}\n")
    exp = _experiment(tmp_path, f"    signal: {signal_name}\n    pidfile: app.pid")
    injections, ctx = _inject(exp)
    assert [i.process.pid for i in injections] == [proc.pid]
    record = injections[0].undo_record()
    assert record["action"] == "none" and record["start_ticks"] == injections[0].process.start_ticks
    _apply(injections, ctx)
    assert proc.wait(timeout=WAIT_S) == returncode
    _undo(record, ctx)  # a recorded no-op: nothing to bring back


def test_stop_then_undo_resumes_from_the_ledger_record_in_a_new_process(tmp_path: Path, children: Children) -> None:
    proc, _ = children.start()
    exp = _experiment(tmp_path, f"    signal: STOP\n    process_name: {children.marker}")
    injections, ctx = _inject(exp)
    _apply(injections, ctx)
    _wait_for(lambda: _state(proc.pid) == "T")
    record = injections[0].undo_record()
    assert record["action"] == "cont"
    undo = (
        "import asyncio, json, sys\n"
        "from chaosrun.faults import get_undoer\n"
        "asyncio.run(get_undoer('process')(json.loads(sys.argv[1]), None))\n"
    )
    for _ in range(2):  # idempotent: a second undo is harmless
        subprocess.run([sys.executable, "-c", undo, json.dumps(record)], check=True, timeout=WAIT_S, cwd=ROOT)
    _wait_for(lambda: _state(proc.pid) in ("S", "R"))
    assert proc.poll() is None


def test_a_recycled_pid_is_never_signalled(tmp_path: Path, children: Children) -> None:
    proc, _ = children.start()
    exp = _experiment(tmp_path, f"    signal: STOP\n    process_name: {children.marker}")
    injections, ctx = _inject(exp)
    # The same pid with another start time stands for a process that reused the pid.
    other = replace(injections[0].process, start_ticks=injections[0].process.start_ticks + 1)
    impostor = SignalInjection(**{**vars(injections[0]), "process": other})
    with pytest.raises(FaultFailed, match=r"is gone since the plan was made; nothing was signalled"):
        _apply([impostor], ctx)
    assert _state(proc.pid) in ("S", "R")
    _apply(injections, ctx)
    _wait_for(lambda: _state(proc.pid) == "T")
    _undo(impostor.undo_record(), ctx)  # CONT for the "other" process: not sent
    assert _state(proc.pid) == "T"
    _undo(injections[0].undo_record(), ctx)
    _wait_for(lambda: _state(proc.pid) in ("S", "R"))


def test_already_stopped_process_is_left_stopped(tmp_path: Path, children: Children) -> None:
    proc, _ = children.start()
    os.kill(proc.pid, signal.SIGSTOP)
    _wait_for(lambda: _state(proc.pid) == "T")
    injections, _ = _inject(_experiment(tmp_path, f"    signal: STOP\n    process_name: {children.marker}"))
    assert "already stopped: left stopped" in injections[0].describe()
    assert injections[0].undo_record()["action"] == "none"
    os.kill(proc.pid, signal.SIGCONT)


def test_by_listening_port(tmp_path: Path, children: Children) -> None:
    target, port = children.start(listen=True)
    bystander, _ = children.start(listen=True)
    injections, ctx = _inject(_experiment(tmp_path, f"    port: {port}"))
    assert [i.process.pid for i in injections] == [target.pid]
    assert f"by port {port}" in injections[0].describe()
    _apply(injections, ctx)
    assert target.wait(timeout=WAIT_S) == -signal.SIGKILL
    assert bystander.poll() is None


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        pytest.param("count: 2", 2, id="count-2-of-4"),
        pytest.param("percent: 50", 2, id="percent-50-of-4"),
        pytest.param("percent: 10", 1, id="percent-rounds-down-but-at-least-one"),
        pytest.param("count: 9", 4, id="count-beyond-matches-takes-all"),
        pytest.param("", 1, id="default-is-one"),
    ],
)
def test_count_and_percent(tmp_path: Path, children: Children, selection: str, expected: int) -> None:
    procs = [children.start()[0] for _ in range(4)]
    injections, ctx = _inject(_experiment(tmp_path, f"    process_name: {children.marker}\n    {selection}"))
    assert len(injections) == expected
    assert f"{expected} of 4 processes by process_name" in injections[0].describe()
    _apply(injections, ctx)
    hit = {i.process.pid for i in injections}
    for p in procs:
        if p.pid in hit:
            assert p.wait(timeout=WAIT_S) == -signal.SIGKILL
        else:
            assert p.poll() is None


def test_blast_radius_never_pid_1_self_or_ancestors(tmp_path: Path) -> None:
    protected = protected_pids()
    assert {1, os.getpid(), os.getppid()} <= protected
    (tmp_path / "self.pid").write_text(str(os.getpid()))
    assert find_processes(pidfile=tmp_path / "self.pid") == []
    (tmp_path / "init.pid").write_text("1")
    assert find_processes(pidfile=tmp_path / "init.pid") == []
    me = read_process(os.getpid())
    assert me is not None and me.cmdline
    assert os.getpid() not in {i.pid for i in find_processes(name=" ".join(me.cmdline))}


def test_no_match_refuses_the_plan_and_dry_run_lists_targets(tmp_path: Path, children: Children) -> None:
    proc, _ = children.start()
    (tmp_path / "app.pid").write_text(f"{proc.pid}\n")
    exp_file = tmp_path / "exp.yaml"
    exp_file.write_text(
        "title: dry run\nregions: {local: {base_url: 'http://127.0.0.1:9'}}\n"
        "steady_state: {probes: [{name: up, tcp: {port: 9}}]}\n"
        "phases: {baseline: 1s, fault: 2s, recovery: 1s}\n"
        "method:\n  - {fault: process.kill, signal: STOP, pidfile: app.pid}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "chaosrun", "run", str(exp_file), "--dry-run", "--state-dir", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert f"pause (STOP, undo sends CONT) pid {proc.pid} (python" in done.stdout
    assert f"target process:{proc.pid}" in done.stdout
    assert _state(proc.pid) in ("S", "R")  # untouched
    with pytest.raises(PlanRefused, match=r"pidfile .*missing.pid does not exist; is the process running\?"):
        find_processes(pidfile=tmp_path / "missing.pid")


_ONE_SELECTOR = "give exactly one of 'pidfile', 'process_name', 'port' or 'listen'"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        pytest.param("    signal: HUP\n    process_name: x", "expected one of KILL, TERM, STOP", id="bad-signal"),
        pytest.param("    process_name: x\n    port: 80", _ONE_SELECTOR, id="two-selectors"),
        pytest.param("    signal: KILL", _ONE_SELECTOR, id="no-selector"),
        pytest.param(
            "    process_name: x\n    count: 1\n    percent: 5", "give 'count' or 'percent', not both", id="both"
        ),
        pytest.param("    port: 70000", "must be at most 65535", id="port-range"),
        pytest.param("    process_name: x\n    percent: 0", "must be more than 0", id="percent-zero"),
        pytest.param("    process_name: x\n    sgnal: KILL", "unknown key 'sgnal'; did you mean 'signal'?", id="typo"),
    ],
)
def test_invalid_parameters_are_located(tmp_path: Path, fault: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        _experiment(tmp_path, fault)
    assert message in str(caught.value)
    assert re.search(r"exp\.yaml:(9|10|11):\d+: method\[0\]", str(caught.value))


def test_supervisor_restarts_a_killed_child_observed_by_a_probe(tmp_path: Path) -> None:
    """A real run: process.kill on the supervised replica, an HTTP probe sees it come back."""
    from chaosrun.demo._proc import free_port

    port = free_port()
    state = tmp_path / "pids"
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "chaosrun.demo.supervisor", "--name", "pay", "--replicas", "1",
         "--state-dir", str(state), "--restart-delay", "0.2", "--",
         sys.executable, "-m", "chaosrun.demo.services", "payments", "--region", "local", "--port", str(port)],
        start_new_session=True, cwd=ROOT,
    )  # fmt: skip
    try:
        pidfile = state / "pay-0.pid"
        first = int(str(_wait_for(lambda: pidfile.exists() and pidfile.read_text().strip())))
        _wait_for(lambda: _answers(f"http://127.0.0.1:{port}/health"))  # steady before the baseline
        exp_file = tmp_path / "kill.yaml"
        exp_file.write_text(
            f"title: supervised replica\nregions: {{local: {{base_url: 'http://127.0.0.1:{port}'}}}}\n"
            "steady_state:\n  probes:\n"
            "    - {name: health, http: {url: /health, timeout: 1s}, every: 100ms,\n"
            "       tolerance: {success_ratio: '>= 0.99'}, during: ignore, after: {recover_within: 8s, streak: 3}}\n"
            "phases: {baseline: 1s, fault: 2s, recovery: 8s}\n"
            f"method:\n  - {{fault: process.kill, signal: KILL, pidfile: {pidfile}}}\n"
        )
        out = tmp_path / "out"
        done = subprocess.run(
            [sys.executable, "-m", "chaosrun", "run", str(exp_file), "--out", str(out),
             "--state-dir", str(tmp_path / "s"), "--no-report"],
            capture_output=True, text=True, timeout=90, cwd=ROOT,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        journal = json.loads((out / "journal.json").read_text())
        assert journal["status"] == "held"
        assert f"pid {first} " in journal["faults"][0]["description"]
        assert journal["recovery"][0]["met"] is True
        assert (state / "pay.restarts").read_text().strip() == "1"
        second = int(pidfile.read_text())
        assert second != first and read_process(second) is not None
        series = journal["samples"]["series"][0]
        assert series["ok"][-1] == 1  # the probe ends on the restarted replica
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=WAIT_S)
