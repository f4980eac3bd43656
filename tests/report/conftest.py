"""Journals of every status, built once per session (rendering is the slow part, not building)."""

from __future__ import annotations

from typing import Any

import pytest

from .journals import make_journal

SMALL = {"regions": ("us-east", "eu-west"), "phases_s": (10.0, 20.0, 10.0), "rate_hz": 5.0}


@pytest.fixture(scope="session")
def small_journals() -> dict[str, dict[str, Any]]:
    """Wire journals of every status, 40 s runs in two regions."""
    statuses = ("held", "deviated", "not_steady", "aborted", "error", "rollback_failed")
    return {s: make_journal(s, **SMALL) for s in statuses}  # type: ignore[arg-type]
