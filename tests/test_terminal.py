"""The SRE at a terminal: live progress on a real pseudo-terminal, Ctrl-C typed as a key.

The run is a child on its own pty (so `isatty()` is true and `\\x03` makes the terminal driver
send SIGINT to its foreground process group, exactly as a keyboard would).
"""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

EXPERIMENT = """\
title: terminal drill
regions: {{local: {{base_url: "http://127.0.0.1:{port}"}}}}
steady_state:
  probes:
    - {{name: health, http: {{url: /ok}}, every: 50ms, tolerance: {{success_ratio: ">= 0.9"}}}}
phases: {{baseline: 1s, fault: 20s, recovery: 1s}}
method:
  - fault: chaostoolkit.action
    name: slow-undo
    provider: {{type: process, path: "true"}}
    rollback: {{type: process, path: sleep, arguments: ["{undo_s}"]}}
"""


class Terminal:
    """A child process on a pty; reads are bounded in time."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: exec chaosrun on the pty
            os.chdir(ROOT)
            os.execve(argv[0], argv, env)
        self.screen = ""

    def read_until(self, text: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while text not in self.screen and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.screen += os.read(self.fd, 65536).decode(errors="replace")
                except OSError:  # the child closed the pty
                    break
        return text in self.screen

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def exit_code(self, timeout_s: float = 30.0) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.read_until("\0never\0", 0.1)  # keep draining so the child never blocks on output
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        raise AssertionError(f"the run did not exit within {timeout_s}s; screen:\n{self.screen}")


def _wait_for_process(argv: list[str], timeout_s: float) -> bool:
    """Wait (bounded) until a process runs with this command line (argv[0] by its file name)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                got = cmdline.read_bytes().decode(errors="replace").split("\0")[:-1]
            except OSError:  # it ended meanwhile
                continue
            if got and [Path(got[0]).name, *got[1:]] == argv:
                return True
        time.sleep(0.02)
    return False


def start(tmp: Path, port: int, undo_s: float) -> Terminal:
    exp = tmp / "exp.yaml"
    exp.write_text(EXPERIMENT.format(port=port, undo_s=undo_s))
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(TERM="xterm", CHAOSRUN_STATE_DIR=str(tmp / "state"), COLUMNS="160")
    return Terminal([sys.executable, "-m", "chaosrun", "run", str(exp), "--out", str(tmp / "out")], env)


def test_live_progress_and_ctrl_c_rolls_back_with_exit_3(http_server: Any, tmp_path: Path) -> None:
    term = start(tmp_path, http_server.port, undo_s=0)
    assert term.read_until("injected", 20), term.screen
    assert term.read_until("\r\x1b[K[fault", 5), "the live status line is redrawn in place"
    assert term.read_until("local 100.0% p95", 5), term.screen
    term.type(b"\x03")
    assert term.read_until("SIGINT received: stopping and rolling back", 10), term.screen
    code = term.exit_code()
    assert code == 3, term.screen
    assert "verdict: ABORTED" in term.screen
    assert "Traceback" not in term.screen


def test_second_ctrl_c_says_rollback_is_in_progress_and_third_forces_exit_naming_what_is_left(
    http_server: Any, tmp_path: Path
) -> None:
    term = start(tmp_path, http_server.port, undo_s=8.25)
    assert term.read_until("injected", 20), term.screen
    term.type(b"\x03")
    assert term.read_until("rolling back", 10), term.screen
    assert _wait_for_process(["sleep", "8.25"], 20), "the undo never started"  # it is running now
    term.type(b"\x03")
    assert term.read_until("rollback in progress, please wait", 10), term.screen
    term.type(b"\x03")
    assert term.read_until("forced exit: rollback interrupted", 10), term.screen
    code = term.exit_code()
    assert code == 5, term.screen
    assert "slow-undo" in term.screen.split("forced exit")[1] or "chaostoolkit" in term.screen.split("forced exit")[1]
    assert "chaosrun recover" in term.screen
    from chaosrun.safety.ledger import Ledger

    left = Ledger(tmp_path / "state").entries()
    assert len(left) == 1 and left[0].undo["backend"] == "chaostoolkit"  # recover can still undo it
    assert not _alive(b"sleep\x008.25\x00"), "the rollback's child must not outlive the forced exit"


def _alive(cmdline: bytes) -> list[int]:
    """Live (non-zombie) processes whose command line ends so (argv[0] may be a full path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if not (entry / "cmdline").read_bytes().endswith(cmdline):
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(entry.name))
        except OSError:
            continue
    return found
