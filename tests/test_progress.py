"""The live status line: worst region first, whole tokens only, no stale line after a phase change."""

from __future__ import annotations

import io

import pytest

from chaosrun.progress import Progress

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
