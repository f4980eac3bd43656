"""Live progress: one redrawn status line on a terminal; plain log lines when not a TTY or in CI."""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress"]

Snapshot = Callable[[], dict[str, tuple[float, float]]]  # region -> (success ratio, p95 s)


class Progress:
    """Writes what the run is doing to a stream (stderr by default)."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None, plain_every_s: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        if live is None:
            live = self.stream.isatty() and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"
        self.live = live
        self.plain_every_s = plain_every_s
        self._phase = ""
        self._phase_len = 0.0
        self._phase_started = time.monotonic()
        self._line = ""

    def _write(self, text: str) -> None:
        if self.live and self._line:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        if self.live and self._line:
            self.stream.write(self._line)
        self.stream.flush()

    def phase(self, name: str, length_s: float) -> None:
        self._phase, self._phase_len, self._phase_started = name, length_s, time.monotonic()
        self._write(f"== {name} phase ({length_s:g}s)")

    def event(self, t: float, text: str) -> None:
        self._write(f"[{t:7.2f}s] {text}")

    def status(self, snapshot: dict[str, tuple[float, float]]) -> str:
        elapsed = time.monotonic() - self._phase_started
        left = max(0.0, self._phase_len - elapsed)
        parts = []
        for region, (ratio, p95) in sorted(snapshot.items()):
            ratio_s = "  -  " if math.isnan(ratio) else f"{ratio * 100:5.1f}%"
            p95_s = "-" if math.isnan(p95) else f"{p95 * 1000:.0f}ms"
            parts.append(f"{region} {ratio_s} p95 {p95_s}")
        return f"[{self._phase or 'starting'} {left:4.0f}s left] " + " | ".join(parts)

    def _columns(self) -> int:
        """Terminal width; a pty may report 0 columns, then $COLUMNS or 100."""
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError):
            columns = 0
        if columns <= 0:
            try:
                columns = int(os.environ.get("COLUMNS", "100"))
            except ValueError:
                columns = 100
        return max(columns, 20)

    async def run(self, snapshot: Snapshot, stop: asyncio.Event) -> None:
        """Redraw (live) every 0.5 s, or log a status line every `plain_every_s` (plain)."""
        period = 0.5 if self.live else self.plain_every_s
        while not stop.is_set():
            try:
                async with asyncio.timeout(period):
                    await stop.wait()
            except TimeoutError:
                pass
            if stop.is_set():
                break
            line = self.status(snapshot())
            if self.live:
                self._line = line[: self._columns() - 1]
                self.stream.write("\r\x1b[K" + self._line)
                self.stream.flush()
            else:
                self._write(line)
        if self.live and self._line:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._line = ""
