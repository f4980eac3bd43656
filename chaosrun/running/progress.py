"""Live progress: one redrawn status line on a terminal; plain log lines when not a TTY or in CI."""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "printable"]

# C0 and C1 control characters but newline and tab: a name with ESC or BEL in it must not reach a
# terminal or a CI log raw (it can move the cursor, ring, or hide text).
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0))}


def printable(text: str) -> str:
    """`text` with control characters shown as `\\xNN`."""
    return text.translate(_CONTROL)


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
        self.lost = False  # the stream failed once: nothing more is written to it

    def _write(self, text: str) -> None:
        if self.lost:
            return
        try:
            if self.live and self._line:
                self.stream.write("\r\x1b[K")
            self.stream.write(printable(text) + "\n")
            if self.live and self._line:
                self.stream.write(self._line)
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe, /dev/full: the terminal is gone, the run goes on
            self.lost = True

    def phase(self, name: str, length_s: float) -> None:
        self._phase, self._phase_len, self._phase_started = name, length_s, time.monotonic()
        if self.live and self._line:  # the old phase's status line must not be drawn again under it
            self._raw("\r\x1b[K")
            self._line = ""
        self._write(f"== {name} phase ({length_s:g}s)")

    def event(self, t: float, text: str) -> None:
        self._write(f"[{t:7.2f}s] {text}")

    def status(self, snapshot: dict[str, tuple[float, float]], width: int | None = None) -> str:
        """`[fault 12s left] eu-west 40.0% p95 812ms | us-east 100.0% p95 31ms`: the worst region
        first (lowest success ratio, then highest p95), so a narrow terminal still shows the one
        that matters; regions that do not fit whole become `+N more`, never a cut-off number."""
        elapsed = time.monotonic() - self._phase_started
        left = max(0.0, self._phase_len - elapsed)

        def badness(item: tuple[str, tuple[float, float]]) -> tuple[float, float, str]:
            region, (ratio, p95) = item
            return (2.0 if math.isnan(ratio) else ratio, 0.0 if math.isnan(p95) else -p95, region)

        parts = []
        for region, (ratio, p95) in sorted(snapshot.items(), key=badness):
            ratio_s = "-" if math.isnan(ratio) else f"{ratio * 100:.1f}%"
            p95_s = "-" if math.isnan(p95) else f"{p95 * 1000:.0f}ms"
            parts.append(f"{region} {ratio_s} p95 {p95_s}")
        head = f"[{self._phase or 'starting'} {left:.0f}s left]"
        if width is None:
            return " ".join([head, " | ".join(parts)]) if parts else head

        def fit(shown: int) -> str:
            line = " ".join([head, " | ".join(parts[:shown])]) if shown else head
            rest = len(parts) - shown
            return line + (f"{' |' if shown else ''} +{rest} more" if rest else "")

        shown = 0
        while shown < len(parts) and len(fit(shown + 1)) <= width:
            shown += 1
        if shown == 0 and parts and len(" ".join([head, parts[0]])) <= width:
            return " ".join([head, parts[0]])  # the worst region alone, when "+N more" does not fit too
        line = fit(shown)
        return line if len(line) <= width else head

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
            if self.live:
                width = self._columns() - 1
                self._line = printable(self.status(snapshot(), width))[:width]
                self._raw("\r\x1b[K" + self._line)
            else:
                self._write(self.status(snapshot()))
        if self.live and self._line:
            self._raw("\r\x1b[K")
            self._line = ""

    def _raw(self, text: str) -> None:
        if self.lost:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.lost = True
