"""A tiny supervisor: keeps N replicas of a command running and restarts any that exits.

    python -m chaosrun.demo.supervisor --name storefront-us-east --replicas 2 \\
        --state-dir DIR -- python -m chaosrun.demo.services storefront ...

Each replica runs in its own process group and dies with the supervisor. `DIR/<name>-<i>.pid`
holds replica i's current pid (rewritten on restart) and `DIR/<name>.restarts` the number of
restarts so far. On SIGTERM or SIGINT every replica gets TERM, then KILL after a grace period.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from ._proc import die_with_parent

__all__ = ["main", "supervise"]

_POLL_S = 0.05
_GRACE_S = 3.0


class _Replica:
    def __init__(self, index: int, argv: Sequence[str], pidfile: Path) -> None:
        self.index = index
        self.argv = list(argv)
        self.pidfile = pidfile
        self.process: subprocess.Popen[bytes] | None = None
        self.restart_at: float | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent
        )
        self.restart_at = None
        tmp = self.pidfile.with_suffix(".tmp")
        tmp.write_text(f"{self.process.pid}\n")
        tmp.replace(self.pidfile)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        _killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=_GRACE_S)
        except subprocess.TimeoutExpired:
            _killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=_GRACE_S)


def _killpg(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def supervise(name: str, argv: Sequence[str], *, replicas: int, state_dir: Path, restart_delay_s: float) -> None:
    """Run until SIGTERM/SIGINT/SIGHUP; restart a replica `restart_delay_s` after it exits."""
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    state_dir.mkdir(parents=True, exist_ok=True)
    counter = state_dir / f"{name}.restarts"
    counter.write_text("0\n")
    restarts = 0
    fleet = [_Replica(i, argv, state_dir / f"{name}-{i}.pid") for i in range(replicas)]
    try:
        for r in fleet:
            r.start()
        while not stopping:
            now = time.monotonic()
            for r in fleet:
                assert r.process is not None
                if r.restart_at is None and r.process.poll() is not None:
                    r.restart_at = now + restart_delay_s
                elif r.restart_at is not None and now >= r.restart_at and not stopping:
                    r.start()
                    restarts += 1
                    counter.write_text(f"{restarts}\n")
            time.sleep(_POLL_S)
    finally:
        for r in fleet:
            r.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m chaosrun.demo.supervisor", description=__doc__.split("\n")[0])
    parser.add_argument("--name", required=True, help="used for the pidfile names")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--restart-delay", type=float, default=0.5, metavar="SECONDS")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or args.replicas < 1:
        parser.error("give --replicas >= 1 and a command after --")
    supervise(args.name, command, replicas=args.replicas, state_dir=args.state_dir, restart_delay_s=args.restart_delay)


if __name__ == "__main__":
    main()
