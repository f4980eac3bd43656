"""Journals of every status, built once per session (rendering is the slow part, not building)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from .browser import chromium_path
from .journals import make_journal

SMALL = {"regions": ("us-east", "eu-west"), "phases_s": (10.0, 20.0, 10.0), "rate_hz": 5.0}


@pytest.fixture(scope="session")
def small_journals() -> dict[str, dict[str, Any]]:
    """Wire journals of every status, 40 s runs in two regions."""
    statuses = ("held", "deviated", "not_steady", "aborted", "error", "rollback_failed")
    return {s: make_journal(s, **SMALL) for s in statuses}  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium the browser tests drive: required under CI, else they are skipped without it."""
    found = chromium_path()
    if not found:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (install it, e.g. apt-get install chromium)")
        pytest.skip("chromium not installed")
    return found
