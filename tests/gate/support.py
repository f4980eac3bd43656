"""Experiment files with known outcomes against real local servers (tests/fixtures/servers.py).

- `held`: probes /ok, no fault.
- `deviated`: a Chaos Toolkit process action switches its own server to failing for the fault
  phase; the rollback switches it back (a real fault on a real server).
- `not_steady`: probes /status/503, so the baseline fails.
- `invalid`: a typo in a key (exit 2, never runs).
- `rollback_failed`: the fault's rollback exits 1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.report.browser import chromium_path

_HEAD = """\
title: {title}
regions: {{local: {{base_url: "{url}"}}}}
steady_state:
  probes:
    - {{name: health, http: {{url: "{path}"}}, every: 100ms, tolerance: {{success_ratio: ">= 0.9"}},
       after: {{recover_within: 900ms}}}}
phases: {{baseline: 600ms, fault: 800ms, recovery: 1s}}
"""

_SWITCH = (
    "import json,sys,urllib.request as u; u.urlopen(u.Request(sys.argv[1] + '/control', "
    "data=json.dumps({'mode': sys.argv[2]}).encode(), method='POST'), timeout=5).read()"
)


def _process(args: list[str]) -> str:
    return json.dumps({"type": "process", "path": sys.executable, "arguments": args})


def held(title: str, url: str) -> str:
    return _HEAD.format(title=title, url=url, path="/ok") + "method: []\n"


def deviated(title: str, url: str) -> str:
    return _HEAD.format(title=title, url=url, path="/mode") + (
        "method:\n"
        "  - fault: chaostoolkit.action\n"
        "    name: break-it\n"
        f"    provider: {_process(['-c', _SWITCH, url, 'failing'])}\n"
        f"    rollback: {_process(['-c', _SWITCH, url, 'healthy'])}\n"
    )


def not_steady(title: str, url: str) -> str:
    return _HEAD.format(title=title, url=url, path="/status/503") + "method: []\n"


def invalid(title: str, url: str) -> str:
    return _HEAD.format(title=title, url=url, path="/ok").replace("phases:", "phasez:") + "method: []\n"


def rollback_failed(title: str, url: str) -> str:
    return _HEAD.format(title=title, url=url, path="/ok") + (
        "method:\n"
        "  - fault: chaostoolkit.action\n"
        "    name: cannot-undo\n"
        f"    provider: {_process(['-c', 'pass'])}\n"
        f"    rollback: {_process(['-c', 'import sys; sys.exit(1)'])}\n"
    )


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def require_chromium() -> None:
    """Headless Chromium, or a skip (a failure under CI, where .ci/run installs it)."""
    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("headless Chromium is required in CI (apt-get install chromium)")
        pytest.skip("no chromium")
