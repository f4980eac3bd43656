"""Python probe: a user function loaded by file path, called once per sample.

The module is imported from its file under a unique name (`chaosrun_user_probe_<hash>`),
never through `sys.path`, so a user file called `probes.py` or `chaosrun.py` cannot shadow
ours. It is called as `function(region=<name>, base_url=<url or None>)`; returning False or
raising is a failed sample, anything else a good one.

Sync functions run on a daemon thread per call rather than the shared default executor: a
function that hangs keeps its thread, and it must neither starve other series of executor
workers nor block interpreter exit. At most `MAX_STUCK_CALLS` timed-out calls per sampler may
still be running; beyond that a sample fails at once without starting another thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import inspect
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import InvalidInput
from ..model import PythonProbe, Region
from ..sample import Outcome
from . import ProbeContext, Sampler, probe_kind
from ._common import describe_exception, timeout_text

__all__ = ["MAX_STUCK_CALLS", "build_python_sampler", "load_user_module"]

MAX_STUCK_CALLS = 4
_MODULES: dict[Path, ModuleType] = {}
_LOCK = threading.Lock()


def load_user_module(path: Path) -> ModuleType:
    """Import the file at `path` under a unique module name (once per path per process)."""
    path = path.resolve()
    with _LOCK:
        if path in _MODULES:
            return _MODULES[path]
        name = "chaosrun_user_probe_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise InvalidInput(f"python probe {path}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look modules up here
        try:
            spec.loader.exec_module(module)
        except FileNotFoundError as exc:
            del sys.modules[name]
            raise InvalidInput(f"python probe {path}: file not found") from exc
        except Exception as exc:
            del sys.modules[name]
            raise InvalidInput(f"python probe {path}: import failed: {type(exc).__name__}: {exc}") from exc
        _MODULES[path] = module
        return module


@probe_kind(PythonProbe)
def build_python_sampler(spec: PythonProbe, region: Region, ctx: ProbeContext) -> Sampler:
    """A sampler calling `spec.function` from `spec.file` (relative paths: from ctx.base_dir)."""
    module = load_user_module(Path(ctx.base_dir) / spec.file)
    fn = getattr(module, spec.function, None)
    if not callable(fn):
        raise InvalidInput(f"python probe {spec.file}: no function {spec.function!r}")
    kwargs = {"region": region.name, "base_url": region.base_url}
    is_async = inspect.iscoroutinefunction(fn)
    timeout_s = spec.timeout_s
    timed_out = timeout_text(timeout_s)
    stuck = _StuckCalls()

    async def sample() -> Outcome:
        if not is_async and stuck.count >= MAX_STUCK_CALLS:
            return Outcome(False, None, None, f"skipped: {MAX_STUCK_CALLS} earlier calls still running")
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                result = await fn(**kwargs) if is_async else await _on_daemon_thread(fn, kwargs, stuck)
        except TimeoutError:
            return Outcome(False, time.perf_counter() - started, None, timed_out)
        except Exception as exc:
            return Outcome(False, time.perf_counter() - started, None, describe_exception(exc, ctx.secrets))
        latency_s = time.perf_counter() - started
        if result is False:
            return Outcome(False, latency_s, None, "returned False")
        return Outcome(True, latency_s)

    return sample


class _StuckCalls:
    """Threads of one sampler that are still running after their sample ended."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


async def _on_daemon_thread(fn: Callable[..., Any], kwargs: dict[str, Any], stuck: _StuckCalls) -> Any:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    abandoned = False

    def deliver(ok: bool, value: Any) -> None:
        nonlocal abandoned
        if abandoned:
            stuck.count -= 1
        elif not future.done():
            (future.set_result if ok else future.set_exception)(value)

    def run() -> None:
        try:
            value, ok = fn(**kwargs), True
        except BaseException as exc:
            value, ok = exc, False
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(deliver, ok, value)

    threading.Thread(target=run, name="chaosrun-python-probe", daemon=True).start()
    try:
        return await future
    except asyncio.CancelledError:
        abandoned = True
        stuck.count += 1
        raise
