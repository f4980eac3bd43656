"""Issue 10: faults verified while they last, claims held on the Toxiproxy server, unconfirmed
undo is exit 5, a rollback that daemonizes is judged by its own exit. Real Toxiproxy servers
(restarted with their -config, frozen with SIGSTOP), real runs as subprocesses."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_cli
from tests.fixtures.toxiproxy_server import BINARY, ToxiproxyProcess, api, free_port, start_toxiproxy
from tests.safety.hostile import ROOT, assert_server_clean, journal_of, launch, ledger_entries, write_experiment

pytestmark = [pytest.mark.toxiproxy, pytest.mark.slow]


def _start_with_config(folder: Path, port: int, config: Path) -> ToxiproxyProcess:
    """toxiproxy-server on `port` with `-config` (its proxies come back after a restart, without toxics)."""
    log = folder / f"toxiproxy-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BINARY), "-host", "127.0.0.1", "-port", str(port), "-config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "LOG_LEVEL": "warn"},
            start_new_session=True,
        )
    server = ToxiproxyProcess(url=f"http://127.0.0.1:{port}", port=port, process=process, log=log)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError):
            api(server.url, "GET", "/version", timeout_s=1.0)
            return server
        time.sleep(0.05)
    server.stop()
    pytest.fail(f"toxiproxy-server with -config did not start: {log.read_text(errors='replace')[-400:]}")


@pytest.fixture
def configured(tmp_path: Path, http_server: Any) -> Iterator[tuple[Path, int, int, list[ToxiproxyProcess]]]:
    """A -config file declaring proxy `svc`, its API port and listen port; servers started are stopped."""
    start_toxiproxy(tmp_path).stop()  # fails under CI / skips elsewhere when the binary is missing
    listen = free_port()
    config = tmp_path / "toxiproxy.json"
    config.write_text(
        json.dumps([{"name": "svc", "listen": f"127.0.0.1:{listen}", "upstream": f"127.0.0.1:{http_server.port}"}])
    )
    servers: list[ToxiproxyProcess] = []
    yield config, free_port(), listen, servers
    for s in servers:
        s.stop()


def test_toxiproxy_restarted_with_its_config_mid_fault_is_inconclusive_never_held(
    configured: tuple[Path, int, int, list[ToxiproxyProcess]], http_server: Any, tmp_path: Path
) -> None:
    config, port, listen, servers = configured
    servers.append(_start_with_config(tmp_path, port, config))
    run = launch(
        tmp_path, servers[0], http_server.port, write_experiment(tmp_path, ("500ms", "6s", "500ms")), proxy_port=listen
    )
    assert run.wait_for_event("fault_applied", setup=False)
    time.sleep(1.0)
    servers[0].kill()
    servers.append(_start_with_config(tmp_path, port, config))  # the proxy is back, its toxics are not
    code, stdout, stderr = run.finish()
    assert code == 7, stdout + stderr
    _, journal = journal_of(run)
    assert journal["status"] == "inconclusive", journal["reason"]
    assert "not in place" in journal["reason"]
    missing = [e for e in journal["events"] if e["type"] == "fault_missing"]
    assert missing, "no fault_missing event"
    fault_phase = next(p for p in journal["phases"] if p["name"] == "fault")
    assert all(fault_phase["start_s"] <= e["t"] for e in missing)
    gone = [f for f in journal["faults"] if f["missing_s"] is not None]
    assert {f["id"] for f in gone} == {e["fault"] for e in missing}
    removed = [e for e in journal["events"] if e["type"] == "fault_removed" and e.get("already_gone")]
    assert {e["fault"] for e in removed} == {f["id"] for f in gone}, "undo of a vanished fault said a silent ok"
    assert "was already gone" in stderr
    report = (run.out / "report.html").read_text()
    assert "Fault not in place" in report and "already gone at undo" in report
    assert_server_clean(servers[-1])
    assert not ledger_entries(run.state)


def test_a_second_run_from_another_state_folder_is_refused_before_its_baseline(
    toxiproxy_clean: ToxiproxyProcess, http_server: Any, tmp_path: Path
) -> None:
    exp = write_experiment(tmp_path, ("3s", "1s", "200ms"))
    listen = free_port()
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    a = launch(a_dir, toxiproxy_clean, http_server.port, exp, proxy_port=listen)
    assert a.wait_for_event("phase_started", phase="baseline"), "run A never reached its baseline"
    a_id = next(e["run_id"] for e in a.events() if e["type"] == "run_started")
    b = launch(b_dir, toxiproxy_clean, http_server.port, exp, proxy_port=listen)
    code_b, out_b, err_b = b.finish()
    assert code_b == 2, out_b + err_b
    assert a_id in out_b + err_b, "the refusal does not name the other run"
    assert not any(e["type"] == "phase_started" for e in b.events()), "run B started its baseline"
    assert not any(e["type"] == "fault_applied" and not e["setup"] for e in b.events())
    # while A still runs, only A's toxics are on the proxy
    owners = {t.split("/")[1].split("-")[1] + "-" + t.split("/")[1].split("-")[2] for t in _toxics(toxiproxy_clean)}
    assert owners <= {a_id}, owners
    code_a, out_a, err_a = a.finish()
    assert code_a in (0, 1), out_a + err_a
    assert_server_clean(toxiproxy_clean)
    assert not ledger_entries(a.state) and not ledger_entries(b.state)


def _chaosrun(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaosrun", *args], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
    )


def _toxics(server: ToxiproxyProcess) -> list[str]:
    proxies = server.api("GET", "/proxies")
    assert isinstance(proxies, dict)
    return [f"{n}/{t['name']}" for n, p in proxies.items() for t in p["toxics"] if t["name"].startswith("chaosrun-")]


def test_stop_and_recover_remove_a_claim_left_by_a_killed_run(
    toxiproxy_clean: ToxiproxyProcess, http_server: Any, tmp_path: Path
) -> None:
    run = launch(tmp_path, toxiproxy_clean, http_server.port, write_experiment(tmp_path, ("5s", "1s", "200ms")))
    assert run.wait_for_event("phase_started", phase="baseline")
    assert any(t.endswith("-claim") for t in _toxics(toxiproxy_clean)), "no claim on the server"
    os.killpg(run.proc.pid, signal.SIGKILL)
    run.finish(timeout_s=30)
    done = _chaosrun("recover", "--state-dir", str(run.state))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "claim proxy svc" in done.stdout
    assert_server_clean(toxiproxy_clean)


def test_an_undo_that_hangs_is_exit_5_with_the_exact_recover_command(
    toxiproxy_factory: Any, http_server: Any, tmp_path: Path
) -> None:
    server: ToxiproxyProcess = toxiproxy_factory()
    settings = tmp_path / "settings.yaml"
    settings.write_text(f'toxiproxy: ["{server.url}"]\n')
    run = launch(
        tmp_path,
        server,
        http_server.port,
        write_experiment(tmp_path, ("500ms", "1500ms", "200ms")),
        extra=("--settings", str(settings)),
    )
    assert run.wait_for_event("fault_applied", setup=False)
    os.kill(server.pid, signal.SIGSTOP)  # every request to it now hangs
    try:
        code, stdout, stderr = run.finish(timeout_s=180)
    finally:
        os.kill(server.pid, signal.SIGCONT)
    assert code == 5, stdout + stderr
    command = f"chaosrun recover --state-dir {run.state}"
    assert command in stdout, stdout
    assert f"chaosrun stop --state-dir {run.state} --settings {settings}" in stdout, stdout
    _, journal = journal_of(run)
    assert journal["status"] == "rollback_failed"
    assert journal["remaining"]
    assert run.marker.read_text() == "rolled back", "the experiment's rollback must still run"
    assert ledger_entries(run.state), "the ledger must keep what was not confirmed"
    done = _chaosrun(*command.split()[1:])
    assert done.returncode == 0, done.stdout + done.stderr
    assert_server_clean(server)
    assert not ledger_entries(run.state)


def test_a_rollback_that_daemonizes_is_judged_by_its_own_exit(tmp_path: Path) -> None:
    tag = str(200000 + uuid.uuid4().int % 700000)
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "title: daemon rollback\nregions: {local: }\n"
        "steady_state:\n  probes:\n    - name: ok\n"
        f'      command: {{argv: ["{sys.executable}", "-c", "pass"], timeout: 2s}}\n'
        "      every: 200ms\n"
        "phases: {baseline: 300ms, fault: 0s, recovery: 0s}\n"
        f'rollbacks:\n  - name: start-daemon\n    command: [setsid, -f, sleep, "{tag}"]\n    timeout: 20s\n'
    )
    try:
        done = run_cli("run", str(exp), "--out", str(tmp_path / "out"), state_dir=tmp_path / "state", timeout_s=60)
        assert done.returncode == 0, done.stdout + done.stderr
        journal = json.loads((tmp_path / "out" / "journal.json").read_text())
        assert journal["rollbacks"][0]["ok"] is True, journal["rollbacks"]
    finally:
        for pid in _pids_with_arg(tag):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _pids_with_arg(arg: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if arg.encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found
