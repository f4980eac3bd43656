"""Deliberate differences on interruption: chaosrun plays the rollbacks on SIGINT, SIGTERM and
SIGHUP (Chaos Toolkit's default strategy does not), kills a string-argument process action's
whole process group (Chaos Toolkit orphans the shell's children), and keeps the rollbacks in
the ledger so `chaosrun recover` plays them after a `kill -9`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .sidebyside import chaos_binary, env, write

M = "tests.ctk.ctkmod"
_WAIT_S = 60.0


def _touch(name: str, path: Path) -> dict[str, Any]:
    provider = {"type": "python", "module": M, "func": "touch", "arguments": {"path": str(path)}}
    return {"type": "action", "name": name, "provider": provider}


def _experiment(tmp: Path, sleep_token: str, string_args: bool) -> dict[str, Any]:
    probe = {
        "type": "probe",
        "name": "n",
        "tolerance": 42,
        "provider": {"type": "python", "module": M, "func": "number"},
    }
    sleep = {"type": "process", "path": "sleep", "arguments": sleep_token if string_args else [sleep_token]}
    return {
        "title": "interrupted",
        "description": "a long method, interrupted",
        "steady-state-hypothesis": {"title": "fine", "probes": [probe]},
        "method": [
            _touch("started", tmp / "method-started"),
            {"type": "action", "name": "long-fault", "provider": sleep},
        ],
        "rollbacks": [_touch("undo", tmp / "rolled-back")],
    }


def _sleepers(token: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[:2] == [b"sleep", token.encode()] or argv[:2] == [b"/usr/bin/sleep", token.encode()]:
            out.append(int(entry.name))
    return out


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + _WAIT_S
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the method never started: {out}{err}")
        time.sleep(0.05)
    time.sleep(0.5)  # the process action is running by now (or about to)


def _kill_leftovers(token: str) -> list[int]:
    left = _sleepers(token)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_chaosrun_rolls_back_on_signals_and_leaves_no_process(tmp_path: Path, sig: signal.Signals) -> None:
    token = f"{300 + sig.value}.{os.getpid() % 1000}"
    exp = write(tmp_path, "experiment.yaml", _experiment(tmp_path, token, string_args=True))
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaosrun", "run", str(exp), "--out", str(tmp_path / "out"), "--state-dir",
         str(tmp_path / "state"), "--ctk-journal", str(tmp_path / "ctk.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(tmp_path / "method-started", proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=_WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out + err
    assert (tmp_path / "rolled-back").exists()
    ctk = json.loads((tmp_path / "ctk.json").read_text())
    assert ctk["status"] == "interrupted" and [r["status"] for r in ctk["rollbacks"]] == ["succeeded"]
    journal = json.loads((tmp_path / "out" / "journal.json").read_text())
    assert journal["status"] == "aborted" and journal["signals"] == [sig.name]
    assert _kill_leftovers(token) == []  # the shell's `sleep` died with its group
    assert list((tmp_path / "state").rglob("ctk-*.json")) == []


def test_chaos_run_skips_rollbacks_on_sigterm(tmp_path: Path) -> None:
    """The difference, measured on Chaos Toolkit itself: interrupted, no rollback, an orphan."""
    token = f"377.{os.getpid() % 1000}"
    exp = write(tmp_path, "experiment.yaml", _experiment(tmp_path, token, string_args=True))
    proc = subprocess.Popen(
        [str(chaos_binary()), "--no-version-check", "--no-log-file", "run", "--journal-path",
         str(tmp_path / "chaos.json"), str(exp)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), start_new_session=True, cwd=tmp_path,
    )  # fmt: skip
    try:
        _wait_for(tmp_path / "method-started", proc)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=_WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
        orphans = _kill_leftovers(token)
    assert proc.returncode == 1
    ctk = json.loads((tmp_path / "chaos.json").read_text())
    assert ctk["status"] == "interrupted" and not ctk.get("rollbacks")
    assert not (tmp_path / "rolled-back").exists()
    assert orphans  # Chaos Toolkit left the shell's child running


def test_kill_9_then_recover_plays_the_rollbacks(tmp_path: Path) -> None:
    token = f"388.{os.getpid() % 1000}"
    exp = write(tmp_path, "experiment.yaml", _experiment(tmp_path, token, string_args=False))
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaosrun", "run", str(exp), "--out", str(tmp_path / "out"), "--state-dir", str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(tmp_path / "method-started", proc)
        proc.kill()
        proc.communicate(timeout=_WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (tmp_path / "rolled-back").exists()
    assert len(list(state.rglob("ctk-*.json"))) == 1
    deadline = time.monotonic() + _WAIT_S
    while _sleepers(token) and time.monotonic() < deadline:  # the direct child dies with chaosrun
        time.sleep(0.05)
    assert _kill_leftovers(token) == []
    done = subprocess.run(
        [sys.executable, "-m", "chaosrun", "recover", "--state-dir", str(state)],
        capture_output=True, text=True, env=env(), timeout=_WAIT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "recovered 1, failed 0" in done.stdout
    assert (tmp_path / "rolled-back").exists()
    assert list(state.rglob("ctk-*.json")) == []


def test_a_second_signal_during_the_rollbacks_does_not_stop_them(tmp_path: Path) -> None:
    token = f"399.{os.getpid() % 1000}"
    exp = _experiment(tmp_path, token, string_args=False)
    exp["rollbacks"] = [
        _touch("rollbacks-started", tmp_path / "rollbacks-started"),
        {"type": "action", "name": "slow-undo", "provider": {"type": "process", "path": "sleep", "arguments": ["3"]}},
        _touch("undo", tmp_path / "rolled-back"),
    ]
    path = write(tmp_path, "experiment.yaml", exp)
    proc = subprocess.Popen(
        [sys.executable, "-m", "chaosrun", "run", str(path), "--out", str(tmp_path / "out"), "--state-dir",
         str(tmp_path / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(tmp_path / "method-started", proc)
        proc.send_signal(signal.SIGINT)
        _wait_for(tmp_path / "rollbacks-started", proc)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=_WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out + err
    assert "the rollbacks are being played" in out
    assert (tmp_path / "rolled-back").exists()
    journal = json.loads((tmp_path / "out" / "journal.json").read_text())
    assert journal["signals"] == ["SIGINT", "SIGTERM"]
    assert [r["ok"] for r in journal["rollbacks"]] == [True, True, True]
    assert _kill_leftovers(token) == []
