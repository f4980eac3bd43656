"""Chaos Toolkit `process` providers run so that nothing outlives chaosrun.

Same output as chaostoolkit-lib (`{status, stdout, stderr}`, a non-zero exit is not a failure,
the provider's `timeout` raises ActivityFailed with chaoslib's words), and the same meaning for
string arguments: `<path> <arguments>` through `/bin/sh -c`, as Chaos Toolkit does (experiments
rely on pipes and redirections). What differs is where the child lives: in its own session and
process group, killed as a whole (SIGKILL to the group) when its timeout fires, when the run is
interrupted (SIGINT, SIGTERM, SIGHUP) and when the run ends; on Linux the direct child also gets
SIGKILL if chaosrun dies (`procs.preexec_die_with_chaosrun`). Chaos Toolkit's `subprocess.run`
kills only the shell, and the shell's children (the real fault) run on.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

from ..safety.procs import kill_group, preexec_die_with_chaosrun

__all__ = ["kill_running", "patched_process_provider", "run_process_activity"]

_RUNNING: set[int] = set()  # process groups of provider children still running
_LOCK = threading.Lock()


def run_process_activity(activity: dict[str, Any], configuration: Any, secrets: Any) -> dict[str, Any]:
    """chaoslib's `run_process_activity`, with the child in its own process group (module doc)."""
    from chaoslib import substitute
    from chaoslib.exceptions import ActivityFailed
    from chaoslib.provider.process import decode_bytes

    provider = activity["provider"]
    timeout = provider.get("timeout")
    arguments = provider.get("arguments", [])
    if arguments and (configuration or secrets):
        arguments = substitute(arguments, configuration, secrets)
    path = shutil.which(os.path.expanduser(provider["path"]))
    if path is None:
        raise ActivityFailed(f"path '{provider['path']}' cannot be found")
    argv: list[str]
    if isinstance(arguments, str):
        argv = ["/bin/sh", "-c", f"{path} {arguments}"]
    else:
        if isinstance(arguments, dict):
            arguments = itertools.chain.from_iterable(arguments.items())
        argv = [path, *(str(p) for p in arguments if p not in (None, ""))]
    # the parent-death signal fires when the forking *thread* ends: only from the main thread
    preexec = preexec_die_with_chaosrun() if threading.current_thread() is threading.main_thread() else None
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=preexec,
    )
    with _LOCK:
        _RUNNING.add(proc.pid)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise ActivityFailed("process activity took too long to complete") from None
    except BaseException:  # a signal (KeyboardInterrupt, InterruptExecution): the whole group goes
        _kill(proc)
        raise
    finally:
        with _LOCK:
            _RUNNING.discard(proc.pid)
    return {"status": proc.returncode, "stdout": decode_bytes(out), "stderr": decode_bytes(err)}


def _kill(proc: subprocess.Popen[bytes]) -> None:
    kill_group(proc.pid)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=2.0)


def kill_running() -> None:
    """SIGKILL every provider process group still running (background activities at the end)."""
    with _LOCK:
        groups = list(_RUNNING)
    for pgid in groups:
        kill_group(pgid)


@contextlib.contextmanager
def patched_process_provider() -> Iterator[None]:
    """chaostoolkit-lib runs process providers through `run_process_activity` imported into
    `chaoslib.activity`; for the run, that name is ours."""
    import chaoslib.activity as activity_module

    original = activity_module.run_process_activity
    activity_module.run_process_activity = run_process_activity
    try:
        yield
    finally:
        activity_module.run_process_activity = original
        kill_running()
