"""Process helpers for the demo: free ports, and children that die with their parent."""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import socket
import sys

__all__ = ["die_with_parent", "free_port"]

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def die_with_parent() -> None:
    """`preexec_fn` for children: SIGTERM when the parent dies (Linux), so a demo killed with
    SIGKILL leaves nothing behind. A no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except OSError:
        pass
