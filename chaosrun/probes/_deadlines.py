"""Many per-request timeouts enforced by one coarse timer, instead of a timer per request.

A timer per sample (`asyncio.timeout`) costs a timer-heap insertion and removal on every
request, most of them cancelled unfired: at thousands of samples/s that is a measurable share
of chaosrun's CPU and of its latency tail. Here a request registers its deadline in a FIFO per
timeout length (deadlines of one length arrive in order: O(1)), and one timer, armed only while
requests are pending, wakes every `RESOLUTION_S` and cancels the requests past their deadline.
A timeout therefore fires up to `RESOLUTION_S` late (the latency reported is the time waited).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from types import TracebackType

__all__ = ["RESOLUTION_S", "Deadline", "Deadlines"]

RESOLUTION_S = 0.01


class Deadline:
    """One request's deadline; an async context manager raising TimeoutError when it fires."""

    __slots__ = ("_owner", "_task", "at", "done", "fired", "key")

    def __init__(self, owner: Deadlines, at: float, key: float) -> None:
        self._owner = owner
        self.at = at
        self.key = key
        self.fired = False
        self.done = False
        self._task: asyncio.Task[object] | None = None

    async def __aenter__(self) -> Deadline:
        self._task = asyncio.current_task()
        self._owner._add(self)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        self.done = True
        # our cancel, and nobody else's (uncancel leaves none pending): a timeout
        if self.fired and exc_type is asyncio.CancelledError and self._task is not None and self._task.uncancel() == 0:
            raise TimeoutError from exc
        return False

    def fire(self) -> None:
        if not self.done and self._task is not None:
            self.fired = True
            self._task.cancel()


class Deadlines:
    """The pending deadlines of one event loop, by timeout length."""

    def __init__(self) -> None:
        self._queues: dict[float, deque[Deadline]] = {}
        self._armed = False

    def after(self, timeout_s: float) -> Deadline:
        """`async with deadlines.after(2.0):` like `asyncio.timeout(2.0)`, within RESOLUTION_S."""
        return Deadline(self, time.monotonic() + timeout_s, round(timeout_s, 3))

    def _add(self, d: Deadline) -> None:
        q = self._queues.get(d.key)
        if q is None:
            q = self._queues[d.key] = deque()
        q.append(d)
        if not self._armed:
            self._armed = True
            asyncio.get_running_loop().call_later(RESOLUTION_S, self._sweep)

    def _sweep(self) -> None:
        now = time.monotonic()
        pending = False
        for q in self._queues.values():
            while q and (q[0].done or q[0].at <= now):
                q.popleft().fire()
            pending = pending or bool(q)
        if pending:
            asyncio.get_running_loop().call_later(RESOLUTION_S, self._sweep)
        else:
            self._armed = False
