"""`chaosrun demo`: the whole loop in one command, offline, no Docker.

Starts Toxiproxy and a small three-region service (`chaosrun.demo.system`), runs the demo
experiments through the real engine, writes each report under `<out_root>/<name>/`, prints one
verdict line each, and stops everything it started (also on Ctrl-C and SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ChaosrunError

__all__ = ["DEMOS", "DEMO_DIR", "Demo", "demo_path", "run_demo"]

DEMO_DIR = Path(__file__).resolve().parent
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_OUTPUTS = ("events.jsonl", "journal.json", "report.html", "junit.xml", "summary.md")


@dataclass(frozen=True, slots=True, kw_only=True)
class Demo:
    name: str  # file stem and report folder
    expect: str  # the status the demo is built to show
    story: str


DEMOS = (
    Demo(name="payments-latency", expect="held", story="1s latency on payments in us-east: failover keeps it fast"),
    Demo(name="fragile-latency", expect="deviated", story="the same latency, fragile storefront (no timeout/failover)"),
    Demo(name="payments-down", expect="held", story="payments in eu-west down: failover to another region"),
    Demo(name="replica-kill", expect="held", story="a storefront replica in us-east killed, then restarted"),
)  # fmt: skip


def demo_path(name: str) -> Path:
    """The packaged experiment file of a demo."""
    return DEMO_DIR / f"{name}.yaml"


@dataclass(frozen=True, slots=True)
class _Outcome:
    demo: Demo
    status: str
    reason: str
    report: Path


async def run_demo(
    *,
    out_root: Path,
    state_dir: Path,
    echo: Callable[[str], None],
    variables: Mapping[str, str] | None = None,
    only: tuple[str, ...] = (),
    attach: bool = False,
) -> int:
    """Run the demo; 0 when every experiment ended as designed, 1 when one did not, 3 when
    interrupted, 4 when the demo system could not start.

    `variables` override the experiments' variables (e.g. shorter phases); `only` picks demos
    by name; `attach` runs against a demo system that is already up (docker-compose.yml), with
    the experiments' own variables (and `CHAOSRUN_VAR_*`), instead of starting one.
    """
    from .system import LocalSystem, find_toxiproxy, wait_until_ready

    demos = [d for d in DEMOS if not only or d.name in only]
    outcomes: list[_Outcome] = []
    signals = _Signals()
    system: LocalSystem | None = None
    try:
        signals.install()
        values = dict(variables or {})
        if attach:
            echo("chaosrun demo: waiting for the demo system (attached: nothing is started here)")
            await wait_until_ready(_readiness_urls(demos, values))
        else:
            system = LocalSystem(work_dir=state_dir / "demo", toxiproxy=find_toxiproxy())
            echo(f"chaosrun demo: starting Toxiproxy ({system.toxiproxy}) and a 3-region storefront + payments")
            endpoints = await system.start()
            for region, url in endpoints.storefronts.items():
                echo(f"  storefront {region}: {url} (2 replicas) -> payments via Toxiproxy {endpoints.proxies[region]}")
            echo(f"  fragile storefront us-east: {endpoints.fragile_url};  Toxiproxy API: {endpoints.toxiproxy_url}")
            values = {**endpoints.variables(), **values}
        for i, demo in enumerate(demos, 1):
            echo(f"\n== demo {i}/{len(demos)}: {demo.name}: {demo.story} (expected: {demo.expect})")
            outcomes.append(await _run_one(demo, out_root / demo.name, state_dir, values, echo))
            signals.install()  # the engine handled signals during the run, then removed its handlers
            if outcomes[-1].reason.startswith("interrupted by"):
                break
    except asyncio.CancelledError:
        if not signals.received:
            raise
        echo(f"demo interrupted by {signals.received}")
    except ChaosrunError as exc:
        echo(f"demo error: {exc}")
        return exc.exit_code
    finally:
        signals.remove()
        if system is not None:
            echo("stopping the demo system")
            system.stop()
    return _summary(outcomes, demos, echo)


async def _run_one(
    demo: Demo, out: Path, state_dir: Path, values: Mapping[str, str], echo: Callable[[str], None]
) -> _Outcome:
    """One demo experiment through the real engine; a refused or invalid one is an `error` outcome."""
    from ..loader import load_experiment
    from ..running.runner import run_experiment

    _clear_outputs(out)
    try:
        exp = load_experiment(demo_path(demo.name), variables=values)
        await run_experiment(exp, out_dir=out, dry_run=False, state_dir=state_dir, command="chaosrun demo", echo=echo)
    except ChaosrunError as exc:
        echo(f"error: {exc}")
        return _Outcome(demo=demo, status="error", reason=str(exc), report=out / "report.html")
    return _read_outcome(demo, out)


def _readiness_urls(demos: list[Demo], values: Mapping[str, str]) -> list[str]:
    """What must answer before an attached demo starts: each Toxiproxy server and storefront."""
    from ..loader import load_experiment

    urls: dict[str, None] = {}
    for demo in demos:
        exp = load_experiment(demo_path(demo.name), variables=values)
        urls.update((f"{s.url.rstrip('/')}/version", None) for s in exp.toxiproxy_servers if exp.toxiproxy_proxies)
        urls.update((f"{r.base_url.rstrip('/')}/health", None) for r in exp.regions if r.base_url)
    return list(urls)


class _Signals:
    """Outside engine runs, SIGINT/SIGTERM/SIGHUP cancel the demo task (its `finally` stops everything)."""

    def __init__(self) -> None:
        self.received = ""
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()

    def _on(self, sig: signal.Signals) -> None:
        self.received = self.received or sig.name
        if self._task is not None:
            self._task.cancel()

    def install(self) -> None:
        for sig in _SIGNALS:
            self._loop.add_signal_handler(sig, self._on, sig)

    def remove(self) -> None:
        for sig in _SIGNALS:
            self._loop.remove_signal_handler(sig)


def _read_outcome(demo: Demo, out: Path) -> _Outcome:
    try:
        journal = json.loads((out / "journal.json").read_text(encoding="utf-8"))
        status, reason = str(journal.get("status")), str(journal.get("reason") or "")
    except (OSError, ValueError):
        status, reason = "error", "no journal was written"
    return _Outcome(demo=demo, status=status, reason=reason, report=out / "report.html")


def _summary(outcomes: list[_Outcome], demos: list[Demo], echo: Callable[[str], None]) -> int:
    echo("\n== chaosrun demo: verdicts")
    as_designed = True
    for o in outcomes:
        ok = o.status == o.demo.expect
        as_designed = as_designed and ok
        mark = "ok" if ok else "stopped" if o.reason.startswith("interrupted by") else "UNEXPECTED"
        echo(f"  [{mark}] {o.demo.name}: {o.status.upper()} (expected {o.demo.expect}) - {o.reason}")
        echo(f"        report: {o.report if o.report.exists() else o.report.parent}")
    interrupted = len(outcomes) < len(demos) or any(o.status == "aborted" for o in outcomes)
    if interrupted:
        return 3
    if as_designed:
        echo("every experiment ended as designed: the resilient storefront held, the fragile one deviated")
        return 0
    return 1


def _clear_outputs(out: Path) -> None:
    """Remove the files a previous demo run wrote there (events.jsonl is appended to otherwise)."""
    for name in _OUTPUTS:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()
