"""experiments/: every example validates, and those that can run here run against the demo system.

The runnable ones go through the real CLI (`python -m chaosrun run ...`) with short phases via
--var, against a local demo system (Toxiproxy + the 3-region storefront), one after another.
`pod-kill.yaml` needs a Kubernetes cluster: it is validated only.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaosrun.demo.system import Endpoints, LocalSystem
from chaosrun.loader import load_experiment
from tests.fixtures.toxiproxy_server import BINARY, ToxiproxyProcess

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
GAMEDAYS = sorted((ROOT / "experiments" / "gamedays").glob("*.yaml"))
SHORT = {"baseline": "2s", "fault": "3s", "recovery": "2s", "recover_within": "2s"}
# file -> expected status against the resilient demo system
RUNNABLE = {
    "dependency-latency.yaml": "held",
    "dependency-down.yaml": "held",
    "bandwidth-squeeze.yaml": "held",
    "connection-resets.yaml": "held",
    "region-outage.yaml": "held",
    "process-kill.yaml": "held",
}
NOT_RUNNABLE_HERE = {
    "pod-kill.yaml": "needs a Kubernetes cluster",
    "https-regions.yaml": "needs TLS load balancers: run against nginx in tests/engine/test_https_drill.py",
    "prometheus-slo.yaml": "needs Prometheus: run against a real one in tests/probes/test_prometheus_drill.py",
}
OWN_PROBES = {"https-regions.yaml", "prometheus-slo.yaml"}  # probe what the demo's shared probes do not


def test_every_example_is_listed_here() -> None:
    assert {p.name for p in EXPERIMENTS} == set(RUNNABLE) | set(NOT_RUNNABLE_HERE)


def test_validate_command_accepts_every_example() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chaosrun", "validate", *map(str, EXPERIMENTS)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(": ok") == len(EXPERIMENTS)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_example_is_documented_and_uses_shared_probes(path: Path) -> None:
    exp = load_experiment(path, environ={})
    assert path.read_text().startswith("# Drill:"), "each example opens with what it drills and how to run it"
    assert exp.description and "drill" in exp.tags
    if path.name not in OWN_PROBES:
        assert "../probes/http-health.yaml" in exp.source_text


@pytest.mark.parametrize("path", GAMEDAYS, ids=lambda p: p.stem)
def test_gameday_plan_loads_and_its_experiments_validate(path: Path) -> None:
    from chaosrun.gameday import load_gameday

    plan = load_gameday(path)
    assert plan.entries
    for entry in plan.entries:
        assert entry.file.resolve().parent == (ROOT / "experiments").resolve()
        load_experiment(entry.file, variables=dict(entry.variables), environ={})


@pytest.fixture(scope="module")
def demo_system(tmp_path_factory: pytest.TempPathFactory, toxiproxy: ToxiproxyProcess) -> Iterator[Endpoints]:
    """The demo system as local processes (the `toxiproxy` fixture guarantees the binary is installed)."""
    system = LocalSystem(work_dir=tmp_path_factory.mktemp("demo-system"), toxiproxy=BINARY)
    try:
        yield asyncio.run(system.start())
    finally:
        system.stop()


@pytest.mark.toxiproxy
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUNNABLE))
def test_runnable_example_runs_against_the_demo_system(name: str, demo_system: Endpoints, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "chaosrun", "run", str(ROOT / "experiments" / name), "--out", str(out)]
    argv += ["--state-dir", str(tmp_path / "state"), "--no-report"]
    argv += [a for k, v in SHORT.items() for a in ("--var", f"{k}={v}")]  # every experiment declares these
    # the demo's endpoints as environment overrides: each experiment uses only some of them, and
    # `run` refuses a --var the experiment does not know (a typo), while the environment is not checked
    env = {**os.environ, **{f"CHAOSRUN_VAR_{k}": v for k, v in demo_system.variables().items()}}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    journal = json.loads((out / "journal.json").read_text())
    assert journal["status"] == RUNNABLE[name], done.stdout[-2000:] + done.stderr[-2000:]
    assert done.returncode == 0
    assert journal["faults"] and all(f["undo"] == "ok" for f in journal["faults"])
