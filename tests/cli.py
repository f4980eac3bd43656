"""Run the real CLI as a subprocess (`python -m chaosrun ...`), the way users and CI do."""

from __future__ import annotations

import os
import subprocess
import sys
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
