"""Python probe: user modules loaded by file path from tmp_path."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

import chaosrun.probes
from chaosrun.errors import InvalidInput
from chaosrun.model import PythonProbe, Region
from chaosrun.probes.python import MAX_STUCK_CALLS, load_user_module

from ._support import take_sample, take_samples

REGION = Region(name="eu", base_url="http://eu.example")

USER_MODULE = """
import asyncio
import threading
import time

release = threading.Event()

def good(region, base_url):
    return None

def checks_arguments(region, base_url):
    return region == "eu" and base_url == "http://eu.example"

def bad(region, base_url):
    return False

def boom(region, base_url):
    raise ValueError("token s3cr3t rejected")

def hangs(region, base_url):
    time.sleep(300)

def blocks(region, base_url):
    release.wait(10)

async def async_good(region, base_url):
    await asyncio.sleep(0)
    return True

async def async_bad(region, base_url):
    return False

async def async_boom(region, base_url):
    raise RuntimeError("async failure")

async def async_hangs(region, base_url):
    await asyncio.sleep(300)

not_a_function = 3
"""


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    # Named like our own package: loading it by path must not shadow anything.
    path = tmp_path / "probes.py"
    path.write_text(textwrap.dedent(USER_MODULE))
    return path


@pytest.mark.parametrize(
    ("function", "ok", "error"),
    [
        pytest.param("good", True, None, id="sync-none-is-ok"),
        pytest.param("checks_arguments", True, None, id="sync-gets-region-and-base-url"),
        pytest.param("bad", False, "returned False", id="sync-false"),
        pytest.param("boom", False, "ValueError: token *** rejected", id="sync-raises-secret-masked"),
        pytest.param("async_good", True, None, id="async-true"),
        pytest.param("async_bad", False, "returned False", id="async-false"),
        pytest.param("async_boom", False, "RuntimeError: async failure", id="async-raises"),
        pytest.param("hangs", False, "timeout after 200ms", id="sync-timeout"),
        pytest.param("async_hangs", False, "timeout after 200ms", id="async-timeout"),
    ],
)
def test_outcomes(user_file: Path, function: str, ok: bool, error: str | None) -> None:
    # a timed-out call is abandoned, not awaited: waiting for the 300 s hang fails take_sample
    outcome = take_sample(
        PythonProbe(file=str(user_file), function=function, timeout_s=0.2), REGION, secrets={"t": "s3cr3t"}
    )
    assert (outcome.ok, outcome.error) == (ok, error)
    assert outcome.latency_s is not None


def test_loaded_by_path_under_a_unique_name(user_file: Path) -> None:
    path_before = list(sys.path)
    module = load_user_module(user_file)
    assert module.__name__.startswith("chaosrun_user_probe_")
    assert sys.path == path_before
    assert sys.modules["chaosrun.probes"] is chaosrun.probes
    assert load_user_module(user_file) is module


def test_relative_file_is_resolved_from_base_dir(user_file: Path) -> None:
    spec = PythonProbe(file=user_file.name, function="good")
    assert take_sample(spec, REGION, base_dir=str(user_file.parent)).ok


def test_stuck_sync_calls_are_bounded(user_file: Path) -> None:
    spec = PythonProbe(file=str(user_file), function="blocks", timeout_s=0.05)
    try:
        outcomes = take_samples(spec, REGION, n=MAX_STUCK_CALLS + 2)
    finally:
        load_user_module(user_file).release.set()
    errors = [o.error for o in outcomes]
    skipped = f"skipped: {MAX_STUCK_CALLS} earlier calls still running"
    assert errors == ["timeout after 50ms"] * MAX_STUCK_CALLS + [skipped] * 2


@pytest.mark.parametrize(
    ("function", "source", "message"),
    [
        pytest.param("missing", USER_MODULE, "no function 'missing'", id="missing-function"),
        pytest.param("not_a_function", USER_MODULE, "no function 'not_a_function'", id="not-callable"),
        pytest.param("f", "def f(:\n", "import failed: SyntaxError", id="syntax-error"),
        pytest.param("f", "raise ImportError('nope')\n", "import failed: ImportError: nope", id="import-error"),
    ],
)
def test_bad_modules_are_refused_at_build_time(tmp_path: Path, function: str, source: str, message: str) -> None:
    path = tmp_path / f"user_{function}.py"
    path.write_text(textwrap.dedent(source))
    with pytest.raises(InvalidInput, match=message):
        take_sample(PythonProbe(file=str(path), function=function), REGION)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="file not found"):
        take_sample(PythonProbe(file=str(tmp_path / "absent.py"), function="f"), REGION)
