"""`chaosrun stop`: the emergency stop aborts live runs and removes every chaosrun-owned toxic."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_cli
from tests.fixtures.toxiproxy_server import ToxiproxyProcess, free_port
from tests.safety.support import chaosrun_toxics, env, start_run, write_experiment

pytestmark = pytest.mark.toxiproxy


def stop(state: Path, toxiproxy: ToxiproxyProcess) -> subprocess.CompletedProcess[str]:
    return run_cli("stop", "--state-dir", str(state), "--toxiproxy", toxiproxy.url, env=env(), timeout_s=60)


def test_stop_aborts_a_live_run_which_rolls_back(
    toxiproxy_clean: ToxiproxyProcess, http_server: Any, tmp_path: Path
) -> None:
    trial = start_run(tmp_path, toxiproxy_clean, http_server.port, write_experiment(tmp_path, ("1s", "30s", "1s")))
    assert trial.wait_for_event("fault_applied", setup=False)
    result = stop(tmp_path / "state", toxiproxy_clean)
    code, _, stderr = trial.wait()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stopping run" in result.stdout and str(trial.proc.pid) in result.stdout
    assert code == 3 and "SIGTERM received" in stderr
    assert chaosrun_toxics(toxiproxy_clean) == []


def test_stop_removes_toxics_of_a_killed_run_and_leaves_others_alone(
    toxiproxy_clean: ToxiproxyProcess, http_server: Any, tmp_path: Path
) -> None:
    theirs = {"name": "ops-latency", "type": "latency", "attributes": {"latency": 5}}
    toxiproxy_clean.api(
        "POST", "/proxies", {"name": "other", "listen": f"127.0.0.1:{free_port()}", "upstream": "127.0.0.1:1"}
    )
    toxiproxy_clean.api("POST", "/proxies/other/toxics", theirs)
    trial = start_run(tmp_path, toxiproxy_clean, http_server.port, write_experiment(tmp_path, ("1s", "30s", "1s")))
    assert trial.wait_for_event("fault_applied", setup=False)
    os.kill(trial.proc.pid, signal.SIGKILL)
    trial.wait()
    assert chaosrun_toxics(toxiproxy_clean), "the killed run left its toxics"
    result = stop(tmp_path / "state", toxiproxy_clean)
    assert result.returncode == 0, result.stdout + result.stderr
    assert chaosrun_toxics(toxiproxy_clean) == []
    proxies = toxiproxy_clean.api("GET", "/proxies")
    assert isinstance(proxies, dict)
    assert [t["name"] for t in proxies["other"]["toxics"]] == ["ops-latency"]  # not ours: untouched
    assert set(proxies) == {"other"}  # the proxy the killed run created is gone too (from its ledger)
