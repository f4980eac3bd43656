"""Blast-radius caps, --dry-run and target locks, through the real CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chaosrun.errors import PlanRefused
from chaosrun.safety.ledger import Ledger
from tests.cli import run_cli
from tests.fixtures.toxiproxy_server import ToxiproxyProcess
from tests.safety.support import start_run, write_experiment

ROOT = Path(__file__).resolve().parents[1]

EXPERIMENT = """\
title: Caps
regions:
  us-east: {{base_url: "http://127.0.0.1:9001"}}
  eu-west: {{base_url: "http://127.0.0.1:9002"}}
steady_state:
  probes:
    - name: health
      http: {{url: /ok}}
      tolerance: {{success_ratio: ">= 0.9"}}
phases: {{baseline: 1s, fault: 30s, recovery: 1s}}
toxiproxy:
  proxies:
    pay-us: {{listen: "127.0.0.1:21001", upstream: "127.0.0.1:9101", region: us-east}}
    pay-eu: {{listen: "127.0.0.1:21002", upstream: "127.0.0.1:9102", region: eu-west}}
    db-eu: {{listen: "127.0.0.1:21003", upstream: "127.0.0.1:9103", region: eu-west}}
method:
  - fault: toxiproxy.down
    region: eu-west
{caps}
"""


def chaosrun(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, state_dir=tmp / "state", timeout_s=60)


def write(tmp: Path, caps: str = "") -> Path:
    path = tmp / "caps.yaml"
    path.write_text(EXPERIMENT.format(caps=caps))
    return path


def test_dry_run_prints_targets_and_timed_plan_and_touches_nothing(tmp_path: Path) -> None:
    # the Toxiproxy server named by the experiment is not running: a dry run must not need it
    proc = chaosrun("run", str(write(tmp_path)), "--dry-run", "--out", str(tmp_path / "out"), tmp=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "toxiproxy:http://127.0.0.1:8474/pay-eu" in proc.stdout
    assert "toxiproxy:http://127.0.0.1:8474/db-eu" in proc.stdout
    assert "pay-us" not in proc.stdout.split("Faults")[1]
    assert "at +0ms until +30s" in proc.stdout
    assert "Targets: 2" in proc.stdout
    assert not (tmp_path / "out").exists()
    assert Ledger(tmp_path / "state").entries() == [] and Ledger(tmp_path / "state").runs() == []


@pytest.mark.parametrize(
    ("caps", "message"),
    [
        pytest.param("caps: {max_targets: 1}", "touches 2 targets but caps.max_targets is 1", id="max-targets"),
        pytest.param("caps: {max_targets_percent: 50}", "2 of 3 Toxiproxy proxies (67%)", id="max-percent"),
        pytest.param(
            "caps: {max_fault_duration: 10s}", "lasts 30s, beyond caps.max_fault_duration 10s", id="max-duration"
        ),
        pytest.param(
            "caps: {allowed_proxies: [pay-eu]}", "proxy 'db-eu' is not in caps.allowed_proxies", id="allowed-proxies"
        ),
        pytest.param(
            "caps: {allowed_toxiproxy: ['http://10.0.0.1:8474']}",
            "http://127.0.0.1:8474 is not in caps.allowed_toxiproxy",
            id="allowed-servers",
        ),
    ],
)
def test_a_plan_beyond_a_cap_is_refused_before_anything_runs(tmp_path: Path, caps: str, message: str) -> None:
    proc = chaosrun("run", str(write(tmp_path, caps)), "--out", str(tmp_path / "out"), tmp=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_claims_refuse_a_second_run_on_the_same_target_naming_the_first(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.claim("20261126T170000Z-aaaaaa", "first experiment", ("toxiproxy:http://x/p",))
    with pytest.raises(
        PlanRefused, match=rf"run 20261126T170000Z-aaaaaa \(pid {os.getpid()}, experiment 'first experiment'\)"
    ):
        ledger.claim("20261126T170001Z-bbbbbb", "second", ("toxiproxy:http://x/p", "toxiproxy:http://x/q"))
    ledger.claim("20261126T170002Z-cccccc", "third", ("toxiproxy:http://x/q",))  # another target is fine
    ledger.release("20261126T170000Z-aaaaaa")
    ledger.claim("20261126T170003Z-dddddd", "fourth", ("toxiproxy:http://x/p",))


@pytest.mark.toxiproxy
def test_a_second_live_run_on_the_same_proxy_is_refused(
    toxiproxy_clean: ToxiproxyProcess, http_server: Any, tmp_path: Path
) -> None:
    experiment = write_experiment(tmp_path, ("1s", "3s", "1s"))
    first = start_run(tmp_path / "a", toxiproxy_clean, http_server.port, experiment)
    try:
        assert first.wait_for_event("run_started")
        # same proxy listen port is chosen per run; the lock is on the target (server + proxy name)
        second = start_run(
            tmp_path / "b", toxiproxy_clean, http_server.port, experiment, "--state-dir", str(tmp_path / "a" / "state")
        )
        code, _, stderr = second.wait()
        assert code == 2
        assert (
            "is already under test by run" in stderr and f"pid {first.proc.pid}" in stderr and "Safety trial" in stderr
        )
    finally:
        first.proc.terminate()
        first.wait()


def test_site_settings_caps_apply_on_top_of_the_experiment(tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("caps: {max_targets: 1}\ntoxiproxy: [http://127.0.0.1:8474]\n")
    proc = chaosrun("run", str(write(tmp_path, "caps: {max_targets: 5}")), "--settings", str(settings), tmp=tmp_path)
    assert proc.returncode == 2
    assert "touches 2 targets but caps.max_targets is 1" in proc.stderr
    env_proc = run_cli(
        "run",
        str(write(tmp_path)),
        "--dry-run",
        state_dir=tmp_path / "state",
        env={"CHAOSRUN_SETTINGS": str(settings)},
        timeout_s=60,
    )
    assert env_proc.returncode == 2 and "caps.max_targets is 1" in env_proc.stderr


def test_site_caps_reach_the_fault_kinds_and_game_days(
    tmp_path: Path, kube_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The site's allowed_namespaces refuses a pod kill the experiment alone allows (the kind
    checks it before asking the API), and `gameday` applies the settings file like `run`."""
    kube_api.add_replicaset("web", replicas=2, labels={"app": "web"}, namespace="shop")
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig")
    settings = tmp_path / "settings.yaml"
    settings.write_text("caps: {allowed_namespaces: [payments]}\n")
    exp = tmp_path / "kill.yaml"
    exp.write_text(
        "title: kill\nregions: {r: {base_url: 'http://127.0.0.1:9'}}\n"
        "steady_state: {probes: [{name: p, http: {url: /}}]}\nphases: {baseline: 1s, fault: 1s, recovery: 1s}\n"
        "method: [{fault: kubernetes.pod_kill, namespace: shop, label_selector: app=web,\n"
        f"          kubeconfig: {kubeconfig}}}]\n"
    )
    proc = chaosrun("run", str(exp), "--dry-run", "--settings", str(settings), tmp=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "namespace 'shop' is not in caps.allowed_namespaces (payments)" in proc.stderr
    assert not [r for r in kube_api.requests if "/pods" in r.path]
    plan = tmp_path / "plan.yaml"
    plan.write_text("title: day\nexperiments:\n  - file: kill.yaml\n")
    day = chaosrun("gameday", str(plan), "--settings", str(settings), "--out", str(tmp_path / "runs"), tmp=tmp_path)
    assert day.returncode == 2 and "kill.yaml: invalid (exit 2)" in day.stdout, day.stdout + day.stderr
    assert "not in caps.allowed_namespaces" in day.stdout + day.stderr
    assert kube_api.deletes() == []


def test_a_bad_settings_file_is_a_located_error(tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("caps:\n  max_targts: 1\n")
    proc = chaosrun("run", str(write(tmp_path)), "--settings", str(settings), "--dry-run", tmp=tmp_path)
    assert proc.returncode == 2
    assert "settings.yaml:2:3: caps.max_targts: unknown key 'max_targts'; did you mean 'max_targets'?" in proc.stderr


def test_stricter_caps_take_the_tighter_of_each_limit() -> None:
    from chaosrun.model import Caps
    from chaosrun.settings import stricter

    merged = stricter(
        Caps(max_targets=3, max_fault_duration_s=60, allowed_proxies=("a", "b")),
        Caps(max_targets=5, max_targets_percent=50, allowed_proxies=("b", "c"), allowed_namespaces=("x",)),
    )
    assert merged == Caps(
        max_targets=3,
        max_targets_percent=50,
        max_fault_duration_s=60,
        allowed_proxies=("b",),
        allowed_namespaces=("x",),
    )
    disjoint = stricter(Caps(allowed_proxies=("a",)), Caps(allowed_proxies=("b",)))
    assert disjoint.allowed_proxies and "a" not in disjoint.allowed_proxies and "b" not in disjoint.allowed_proxies
