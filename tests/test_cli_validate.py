"""`python -m chaosrun validate` end to end: exit codes and one `error: ` line per issue on stderr."""
# ruff: noqa: E501  (expected messages are compared whole, one per line)

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.loader_samples import MINIMAL, shipped_experiments


def validate(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaosrun", "validate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def error_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("error: ")]


def test_valid_file(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text(MINIMAL)
    done = validate(tmp_path, "exp.yaml")
    assert (done.returncode, error_lines(done)) == (0, [])


def test_every_problem_on_its_own_line(tmp_path: Path) -> None:
    text = MINIMAL.replace("http: {url: /health}", "http: {url: /health, timout: 1s}")
    text = text.replace("title: Minimal", "title: Minimal\nrgions: {}") + "method: [{fault: toxiproxy.latncy}]\n"
    (tmp_path / "exp.yaml").write_text(text)
    done = validate(tmp_path, "exp.yaml")
    assert done.returncode == 2
    assert error_lines(done) == [
        "error: exp.yaml:2:1: rgions: unknown key 'rgions'; did you mean 'regions'?",
        "error: exp.yaml:8:28: steady_state.probes[0].http.timout: unknown key 'timout'; did you mean 'timeout'?",
        "error: exp.yaml:10:18: method[0].fault: unknown fault kind 'toxiproxy.latncy'; did you mean 'toxiproxy.latency'?",
    ]
    assert done.stderr.splitlines() == error_lines(done)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            b"",
            "error: exp.yaml:1:1: the file is empty; expected a mapping with at least 'title' and 'steady_state'",
            id="empty",
        ),
        pytest.param(
            b"\x00\x01\x02",
            "error: exp.yaml: not a text file (it contains NUL bytes); expected YAML or JSON",
            id="binary",
        ),
        pytest.param(
            b"title: \xff\n", "error: exp.yaml:1:8: not UTF-8 text (byte 0xff); save the file as UTF-8", id="not-utf8"
        ),
        pytest.param(
            b"a: " + b"x" * 1_000_001,
            "error: exp.yaml: file too large (over 1000000 bytes); experiments are small documents",
            id="too-large",
        ),
        pytest.param(
            b"a: &x [1]\nb: *x\n",
            "error: exp.yaml:2:4: malformed YAML: anchors and aliases (*name) are not supported in experiments",
            id="alias",
        ),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes, expected: str) -> None:
    (tmp_path / "exp.yaml").write_bytes(content)
    done = validate(tmp_path, "exp.yaml")
    assert (done.returncode, error_lines(done)) == (2, [expected])


def test_missing_file_and_directory(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(MINIMAL)
    (tmp_path / "folder").mkdir()
    done = validate(tmp_path, "good.yaml", "nope.yaml", "folder")
    assert done.returncode == 2
    assert "good.yaml: ok" in done.stdout
    assert error_lines(done) == [
        "error: nope.yaml: no such file",
        "error: folder: is a directory, not an experiment file",
    ]


def test_variables_from_var_and_environment(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text(MINIMAL.replace("url: /health", "url: '/${svc}'"))
    missing = validate(tmp_path, "exp.yaml")
    assert error_lines(missing) == [
        "error: exp.yaml:7:19: steady_state.probes[0].http.url: unknown variable '${svc}'; declare it under 'variables' or pass --var svc=..."
    ]
    assert validate(tmp_path, "exp.yaml", "--var", "svc=health").returncode == 0
    assert validate(tmp_path, "exp.yaml", env={**os.environ, "CHAOSRUN_VAR_svc": "health"}).returncode == 0


@pytest.mark.parametrize("path", shipped_experiments(), ids=lambda p: p.name)
def test_shipped_experiments_validate(path: Path) -> None:
    done = validate(path.parent, path.name)
    assert (done.returncode, done.stderr) == (0, "")


def test_validate_imports_no_heavy_dependency(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text(MINIMAL)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "chaosrun", "validate", "exp.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert done.returncode == 0
    assert imported.isdisjoint({"aiohttp", "matplotlib", "chaoslib", "kubernetes"})
