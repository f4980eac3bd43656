"""The demo system as local processes: Toxiproxy, payments and storefronts in three regions.

Every process gets a free 127.0.0.1 port, runs in its own process group and dies with the
demo (PR_SET_PDEATHSIG). `LocalSystem.stop()` is synchronous, bounded and idempotent, so it
also runs from `finally:` after Ctrl-C or SIGTERM.

    region     storefront (2 replicas, supervised)  --> Toxiproxy proxy payments-<region> --> payments
    us-east    + the fragile storefront (1 replica) --> the same proxy payments-us-east
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from ..errors import InfrastructureError
from ._proc import die_with_parent, free_port

__all__ = ["REGIONS", "Endpoints", "LocalSystem", "find_toxiproxy", "wait_until_ready"]

REGIONS = ("us-east", "eu-west", "ap-south")
REPLICAS = 2
START_TIMEOUT_S = 20.0
STOP_GRACE_S = 5.0
INSTALL_HINT = "a Toxiproxy 2.x release from https://github.com/Shopify/toxiproxy/releases"


def find_toxiproxy() -> Path:
    """The Toxiproxy server: $CHAOSRUN_TOXIPROXY_SERVER, the project's .tools/bin, or PATH."""
    explicit = os.environ.get("CHAOSRUN_TOXIPROXY_SERVER")
    candidates = [Path(explicit)] if explicit else []
    candidates += [
        Path.cwd() / ".tools" / "bin" / "toxiproxy-server",
        Path(__file__).resolve().parents[2] / ".tools" / "bin" / "toxiproxy-server",
    ]
    on_path = shutil.which("toxiproxy-server")
    if on_path:
        candidates.append(Path(on_path))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    looked = ", ".join(str(p) for p in candidates[:3])
    raise InfrastructureError(
        f"the demo needs the Toxiproxy server, not found (looked at {looked} and PATH); "
        f"install {INSTALL_HINT} on the PATH (or set CHAOSRUN_TOXIPROXY_SERVER)"
    )


async def wait_until_ready(
    urls: list[str], *, timeout_s: float = START_TIMEOUT_S, alive: Callable[[], None] = lambda: None
) -> None:
    """Wait until every URL answers 200 (bounded); `alive` raises when a process died meanwhile."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=2.0), headers={"User-Agent": "chaosrun-demo"}
    ) as http:
        for url in urls:
            while True:
                alive()
                try:
                    async with http.get(url) as resp:
                        if resp.status == 200:
                            break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if time.monotonic() > deadline:
                    raise InfrastructureError(f"demo: {url} did not answer 200 within {timeout_s:g}s")
                await asyncio.sleep(0.2)


def _var(region: str) -> str:
    return region.replace("-", "_")


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoints:
    """Where the demo system answers; `variables()` feeds the demo experiments."""

    toxiproxy_url: str
    storefronts: dict[str, str]  # region -> base URL
    storefront_ports: dict[str, int]
    fragile_url: str
    proxies: dict[str, str]  # region -> listen address of proxy payments-<region>
    payments: dict[str, str]  # region -> address of the payments service (the proxy's upstream)

    def variables(self) -> dict[str, str]:
        out = {"toxiproxy_url": self.toxiproxy_url, "fragile_url": self.fragile_url}
        for region in REGIONS:
            v = _var(region)
            out[f"{v}_url"] = self.storefronts[region]
            out[f"{v}_port"] = str(self.storefront_ports[region])
            out[f"payments_{v}_listen"] = self.proxies[region]
            out[f"payments_{v}_upstream"] = self.payments[region]
        return out


@dataclass(slots=True)
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass(slots=True)
class LocalSystem:
    """Starts and stops the demo system; logs and pidfiles go under `work_dir`."""

    work_dir: Path
    toxiproxy: Path
    python: str = sys.executable
    children: list[_Child] = field(default_factory=list)

    async def start(self) -> Endpoints:
        """Start everything and wait until a checkout works in every region (bounded)."""
        logs = self.work_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        api = free_port()
        payments = {r: f"127.0.0.1:{free_port()}" for r in REGIONS}
        proxies = {r: f"127.0.0.1:{free_port()}" for r in REGIONS}
        ports = {r: free_port() for r in REGIONS}
        fragile = free_port()
        config = self.work_dir / "toxiproxy.json"
        config.write_text(
            json.dumps(
                [{"name": f"payments-{r}", "listen": proxies[r], "upstream": payments[r]} for r in REGIONS], indent=2
            )
        )
        self._spawn("toxiproxy", [str(self.toxiproxy), "-host", "127.0.0.1", "-port", str(api), "-config", str(config)])
        services = [self.python, "-m", "chaosrun.demo.services"]
        for r in REGIONS:
            host, port = payments[r].split(":")
            self._spawn(f"payments-{r}", [*services, "payments", "--region", r, "--host", host, "--port", port])
        routes = [f"--payments={r}={proxies[r]}" for r in REGIONS]
        for r in REGIONS:
            shop = [*services, "storefront", "--region", r, "--port", str(ports[r]), *routes]
            self._supervised(f"storefront-{r}", REPLICAS, shop)
        fragile_shop = [*services, "storefront", "--region", "us-east", "--port", str(fragile), "--fragile"]
        self._supervised("storefront-fragile", 1, [*fragile_shop, f"--payments=us-east={proxies['us-east']}"])
        endpoints = Endpoints(
            toxiproxy_url=f"http://127.0.0.1:{api}",
            storefronts={r: f"http://127.0.0.1:{ports[r]}" for r in REGIONS},
            storefront_ports=ports,
            fragile_url=f"http://127.0.0.1:{fragile}",
            proxies=proxies,
            payments=payments,
        )
        await self._wait_ready(endpoints)
        return endpoints

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = self.work_dir / "logs" / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
                env={**os.environ, "LOG_LEVEL": "warn", "PYTHONUNBUFFERED": "1"},
            )
        self.children.append(_Child(name, process, log))
        pids = {c.name: c.process.pid for c in self.children}  # for people (and tests) checking the cleanup
        (self.work_dir / "pids.json").write_text(json.dumps(pids, indent=2))

    def _supervised(self, name: str, replicas: int, argv: list[str]) -> None:
        supervisor = [self.python, "-m", "chaosrun.demo.supervisor", "--name", name, "--replicas", str(replicas)]
        self._spawn(name, [*supervisor, "--state-dir", str(self.work_dir / "pids"), "--", *argv])

    async def _wait_ready(self, endpoints: Endpoints) -> None:
        urls = [f"{endpoints.toxiproxy_url}/version", f"{endpoints.fragile_url}/checkout"]
        urls += [f"{u}/checkout" for u in endpoints.storefronts.values()]
        try:
            await wait_until_ready(urls, alive=self._check_alive)
        except InfrastructureError as exc:
            raise InfrastructureError(f"{exc}{self._tails()}") from None

    def _check_alive(self) -> None:
        for child in self.children:
            if child.process.poll() is not None:
                raise InfrastructureError(
                    f"demo: {child.name} exited with code {child.process.returncode}{self._tails([child])}"
                )

    def _tails(self, children: list[_Child] | None = None) -> str:
        parts = []
        for child in children or self.children:
            text = child.log.read_text(errors="replace").strip() if child.log.exists() else ""
            if text:
                parts.append(f"\n--- {child.log} (last lines)\n" + "\n".join(text.splitlines()[-5:]))
        return "".join(parts)

    def stop(self) -> None:
        """TERM every process group, newest first; KILL what is left after a grace period."""
        children, self.children = self.children, []
        for child in reversed(children):
            _killpg(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in children:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _killpg(child.process.pid, signal.SIGKILL)
                child.process.wait(timeout=STOP_GRACE_S)


def _killpg(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        return
