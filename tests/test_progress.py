"""The live status line: worst region first, whole tokens only, no stale line after a phase change."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from chaosrun.running.progress import Progress
from tests.cli import run_cli

SNAPSHOT = {"ap-south": (1.0, 0.012), "eu-west": (0.998, 0.030), "us-east": (0.46, 0.812)}


@pytest.mark.parametrize(
    ("width", "line"),
    [
        (200, "[fault 30s left] us-east 46.0% p95 812ms | eu-west 99.8% p95 30ms | ap-south 100.0% p95 12ms"),
        (80, "[fault 30s left] us-east 46.0% p95 812ms | eu-west 99.8% p95 30ms | +1 more"),
        (40, "[fault 30s left] us-east 46.0% p95 812ms"),  # the faulted region, not the first by name
        (24, "[fault 30s left] +3 more"),
        (20, "[fault 30s left]"),
    ],
)
def test_the_worst_region_comes_first_and_nothing_is_cut_mid_token(width: int, line: str) -> None:
    progress = Progress(io.StringIO(), live=True)
    progress.phase("fault", 30)
    got = progress.status(SNAPSHOT, width)
    assert got.replace("29s", "30s") == line  # a slow machine may already be a second in
    assert len(got) <= width


def test_a_new_phase_clears_the_old_status_line_instead_of_redrawing_it() -> None:
    stream = io.StringIO()
    progress = Progress(stream, live=True)
    progress.phase("baseline", 1)
    progress._line = "[baseline 0s left] us-east 100.0% p95 12ms"  # what the ticker drew last
    stream.seek(0)
    stream.truncate()
    progress.phase("fault", 30)
    assert stream.getvalue() == "\r\x1b[K== fault phase (30s)\n"  # cleared, announced, not drawn again


def test_control_characters_in_names_never_reach_the_terminal_raw(tmp_path: Path, http_server: Any) -> None:
    """A title with BEL and an ESC sequence (written as YAML escapes) is shown escaped in the log."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        'title: "drill \\a \\e[31mred"\n'
        f"regions: {{r: {{base_url: '{http_server.url}'}}}}\n"
        "steady_state: {probes: [{name: p, http: {url: /ok}, every: 100ms}]}\n"
        "phases: {baseline: 300ms, fault: 0s, recovery: 0s}\n"
    )
    proc = run_cli("run", str(exp), "--out", str(tmp_path / "out"), "--no-report", state_dir=tmp_path / "s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "\x07" not in proc.stdout + proc.stderr and "\x1b" not in proc.stdout + proc.stderr
    assert "drill \\x07 \\x1b[31mred" in proc.stdout
