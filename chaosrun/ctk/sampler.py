"""The hypothesis, probed continuously through the method (chaosrun's addition).

Each hypothesis probe runs on its own thread at a fixed rate (`start + k * every`, no drift; a
probe slower than the period skips the ticks it missed, counted), through chaostoolkit-lib
(`run_activity`) and judged with Chaos Toolkit's own `within_tolerance`. A sample is good when
the tolerance holds. These samples are observations for the report (the fault period as a
series): they do not change the run's Chaos Toolkit status, which the hypothesis before and
after the method decides, as in `chaos run`.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from typing import Any

from ..journal import Clock
from ..sample import Sample
from .experiment import REGION

__all__ = ["ContinuousSampler", "probe_sample"]

_STOP_WAIT_S = 5.0  # how long stop() waits for a probe still running before leaving it behind


def probe_sample(
    probe: dict[str, Any], configuration: Any, secrets: Any, clock: Clock, phase: Any, t_s: float
) -> Sample:
    """Run one hypothesis probe once and judge it with its tolerance."""
    from chaoslib.activity import run_activity
    from chaoslib.hypothesis import within_tolerance

    started = time.perf_counter()
    try:
        output = run_activity(probe, configuration, secrets)
        latency = time.perf_counter() - started
        ok = bool(within_tolerance(copy.deepcopy(probe["tolerance"]), output, configuration, secrets))
        error = None if ok else "tolerance not met"
    except Exception as exc:
        latency, ok, output = time.perf_counter() - started, False, None
        error = " ".join(str(exc).split())[:200] or type(exc).__name__
    return Sample(
        probe=str(probe["name"]),
        region=REGION,
        phase=phase,
        t_s=t_s,
        at=clock.wall(t_s),
        ok=ok,
        latency_s=latency,
        status=output_status(output),
        error=error,
    )


def output_status(output: object) -> int | None:
    """The HTTP status or exit code in a provider's output, else None."""
    status = output.get("status") if isinstance(output, dict) else None
    return status if isinstance(status, int) and not isinstance(status, bool) else None


class ContinuousSampler:
    """One thread per hypothesis probe, sampling at a fixed rate until stopped."""

    def __init__(
        self,
        probes: list[dict[str, Any]],
        *,
        configuration: Any,
        secrets: Any,
        every_s: float,
        clock: Clock,
        record: Callable[[Sample], None],
    ) -> None:
        self._probes = probes
        self._configuration = configuration
        self._secrets = secrets
        self._every_s = every_s
        self._clock = clock
        self._record = record
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.skipped = 0

    def start(self) -> None:
        t0 = self._clock.t()
        for probe in self._probes:
            thread = threading.Thread(target=self._loop, args=(probe, t0), name=f"ctk-probe-{probe['name']}")
            thread.daemon = True  # a provider stuck without a timeout must not keep chaosrun alive
            thread.start()
            self._threads.append(thread)

    def _loop(self, probe: dict[str, Any], t0: float) -> None:
        k = 0
        while True:
            due = t0 + k * self._every_s
            if self._stop.wait(max(0.0, due - self._clock.t())):
                return
            self._record(probe_sample(probe, self._configuration, self._secrets, self._clock, "fault", due))
            behind = int((self._clock.t() - t0) / self._every_s) + 1
            if behind > k + 1:
                self.skipped += behind - (k + 1)
            k = max(k + 1, behind)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(_STOP_WAIT_S)
