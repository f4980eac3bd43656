"""Run one Chaos Toolkit experiment under `chaos run` and under `chaosrun run`, and compare."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TIMEOUT_S = 120.0


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    out = {**os.environ, "PYTHONPATH": str(ROOT), **(extra or {})}
    out.pop("CHAOSRUN_SETTINGS", None)
    return out


def chaos_binary() -> Path:
    chaos = BIN / "chaos"
    if not chaos.exists():
        if os.environ.get("CI"):
            pytest.fail("chaos (chaostoolkit) is not installed in the venv: run scripts/install.sh")
        pytest.skip("chaos (chaostoolkit) is not installed in the venv")
    return chaos


def write(tmp: Path, name: str, experiment: dict[str, Any]) -> Path:
    path = tmp / name
    if name.endswith(".json"):
        path.write_text(json.dumps(experiment, indent=2), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(experiment, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Outcome:
    code: int
    journal: dict[str, Any]  # Chaos Toolkit's journal (from `chaos run`, or `chaosrun --ctk-journal`)
    stdout: str
    stderr: str
    chaosrun: dict[str, Any] | None = None  # chaosrun's journal.json

    @property
    def status(self) -> str:
        return str(self.journal["status"])

    @property
    def deviated(self) -> bool:
        return bool(self.journal["deviated"])

    @property
    def ran(self) -> list[tuple[str, str]]:
        return sorted((r["activity"]["name"], r.get("status", "-")) for r in self.journal.get("run") or [])

    @property
    def rollbacks(self) -> list[tuple[str, str]]:
        return [(r["activity"]["name"], r.get("status", "-")) for r in self.journal.get("rollbacks") or []]

    def hypothesis(self, when: str) -> list[tuple[str, bool | None]] | None:
        state = (self.journal.get("steady_states") or {}).get(when)
        if not state:
            return None
        return [(p["activity"]["name"], p.get("tolerance_met")) for p in state["probes"]]

    def same_as(self, other: Outcome) -> None:
        """Every outcome Chaos Toolkit reports is the same in both runs."""
        assert (self.status, self.deviated) == (other.status, other.deviated)
        assert self.ran == other.ran
        assert self.rollbacks == other.rollbacks
        for when in ("before", "after"):
            assert self.hypothesis(when) == other.hypothesis(when), when


def chaos_run(exp: Path, tmp: Path, extra_env: dict[str, str] | None = None, *args: str) -> Outcome:
    journal = tmp / f"chaos-{exp.stem}.json"
    done = subprocess.run(
        [str(chaos_binary()), "--no-version-check", "--no-log-file", "run", "--journal-path", str(journal), *args,
         str(exp)],
        capture_output=True, text=True, timeout=TIMEOUT_S, env=env(extra_env), cwd=tmp,
    )  # fmt: skip
    assert journal.exists(), done.stdout + done.stderr
    return Outcome(done.returncode, json.loads(journal.read_text()), done.stdout, done.stderr)


def chaosrun_run(exp: Path, tmp: Path, extra_env: dict[str, str] | None = None, *args: str) -> Outcome:
    out = tmp / f"out-{exp.stem}"
    journal = tmp / f"chaosrun-{exp.stem}.json"
    done = subprocess.run(
        [sys.executable, "-m", "chaosrun", "run", str(exp), "--out", str(out), "--state-dir", str(tmp / "state"),
         "--ctk-journal", str(journal), *args],
        capture_output=True, text=True, timeout=TIMEOUT_S, env=env(extra_env), cwd=tmp,
    )  # fmt: skip
    assert journal.exists(), done.stdout + done.stderr
    return Outcome(
        done.returncode,
        json.loads(journal.read_text()),
        done.stdout,
        done.stderr,
        json.loads((out / "journal.json").read_text()),
    )
