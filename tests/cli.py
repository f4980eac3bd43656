"""Run the real CLI as a subprocess (`python -m chaosrun ...`), the way users and CI do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_cli(
    *args: str, state_dir: Path | None = None, env: dict[str, str] | None = None, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    """`chaosrun ARGS` with CI set (plain progress lines) and, when given, its own state folder."""
    full_env = {**os.environ, "CI": "true", **(env or {})}
    if state_dir is not None:
        full_env["CHAOSRUN_STATE_DIR"] = str(state_dir)
    return subprocess.run(
        [sys.executable, "-m", "chaosrun", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=ROOT,
        check=False,
        env=full_env,
    )


def read_events(events: Path) -> list[dict[str, object]]:
    """The events of a run's events.jsonl so far (a line still being written is left out)."""
    if not events.exists():
        return []
    out = []
    for line in events.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def wait_for_event(
    events: Path,
    kind: str,
    proc: subprocess.Popen[str] | subprocess.Popen[bytes] | None = None,
    timeout_s: float = 30.0,
    **fields: object,
) -> bool:
    """Wait (bounded) until events.jsonl has an event of `kind` whose fields match `fields`;
    False on timeout or when `proc` ended first. Tests synchronise on this, never on sleeps."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(e.get("type") == kind and all(e.get(k) == v for k, v in fields.items()) for e in read_events(events)):
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False
