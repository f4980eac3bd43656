"""Headless Chromium driven through the DevTools protocol (aiohttp websocket), with bounded waits.

`open_page(path)` loads a file and returns what a report test checks: console errors, every
request the page made, values of DOM queries and a PNG screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
)  # fmt: skip
TIMEOUT_S = 30.0


def chromium_path() -> str | None:
    found = shutil.which(CHROMIUM) or shutil.which("chromium") or shutil.which("chromium-browser")
    return found


@dataclass
class PageResult:
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes = b""


class _Session:
    """One DevTools websocket: numbered commands, events queued for whoever waits."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self.pending:
                self.pending.pop(data["id"]).set_result(data)
            else:
                await self.events.put(data)

    async def send(self, method: str, session_id: str | None = None, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[msg_id] = fut
        body: dict[str, Any] = {"id": msg_id, "method": method, "params": params}
        if session_id:
            body["sessionId"] = session_id
        await self.ws.send_str(json.dumps(body))
        async with asyncio.timeout(TIMEOUT_S):
            reply = await fut
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result


@contextlib.asynccontextmanager
async def _browser() -> AsyncIterator[str]:
    """Start Chromium with a fresh profile; yields its browser websocket URL; always stops it."""
    exe = chromium_path()
    assert exe, "chromium not found"
    with tempfile.TemporaryDirectory(prefix="chaosrun-chromium-") as profile:
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once; waiting is polled below
            [exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its helpers (renderer, crashpad) share the group: ended together
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + TIMEOUT_S
            while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
                if proc.poll() is not None:
                    raise RuntimeError(f"chromium exited with {proc.returncode} before DevTools was ready")
                if time.monotonic() > deadline:
                    raise TimeoutError("chromium did not write DevToolsActivePort in time")
                await asyncio.sleep(0.05)
            port, path = port_file.read_text().splitlines()[:2]
            yield f"ws://127.0.0.1:{port}{path}"
        finally:
            _stop_group(proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """End Chromium and every helper it started, and wait until none is left (bounded): a helper
    still writing into the profile made removing it fail ("Directory not empty")."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)  # any member of the group left?
        except ProcessLookupError:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(0.05)


@dataclass(frozen=True)
class Visit:
    """One page load: a file URL at a viewport width, with or without JavaScript."""

    url: str
    width: int = 1280
    javascript: bool = True


async def open_page(url: str, queries: dict[str, str], *, width: int = 1280, full_page: bool = True) -> PageResult:
    """Load `url` (a file URL); evaluate `queries` (name -> JS expression); take a screenshot."""
    (result,) = await open_pages([Visit(url, width)], queries, screenshot=True, full_page=full_page)
    return result


async def open_pages(
    visits: list[Visit], queries: dict[str, str], *, screenshot: bool = False, full_page: bool = True
) -> list[PageResult]:
    """Load each visit in turn in one Chromium (a fresh tab each); evaluate `queries` in each.

    With JavaScript disabled for the page, the queries still run: DevTools evaluates them in
    its own world, which the page's script switch does not stop.
    """
    results = []
    async with _browser() as ws_url, aiohttp.ClientSession() as http, http.ws_connect(ws_url, max_msg_size=0) as ws:
        cdp = _Session(ws)
        for visit in visits:
            results.append(await _visit(cdp, visit, queries, screenshot=screenshot, full_page=full_page))
        cdp.reader.cancel()
    return results


async def _visit(
    cdp: _Session, visit: Visit, queries: dict[str, str], *, screenshot: bool, full_page: bool
) -> PageResult:
    result = PageResult()
    target = await cdp.send("Target.createTarget", url="about:blank")
    attached = await cdp.send("Target.attachToTarget", targetId=target["targetId"], flatten=True)
    sid = attached["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        await cdp.send(f"{domain}.enable", sid)
    await cdp.send("Emulation.setDeviceMetricsOverride", sid, width=visit.width, height=900, deviceScaleFactor=1,
                   mobile=visit.width < 700)  # fmt: skip
    if not visit.javascript:
        await cdp.send("Emulation.setScriptExecutionDisabled", sid, value=True)
    await cdp.send("Page.navigate", sid, url=visit.url)
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            event = await cdp.events.get()
            if event.get("sessionId") != sid:
                continue
            _collect(event, result)
            if event.get("method") == "Page.loadEventFired":
                break
    await asyncio.sleep(0.3)  # late console messages, if any
    while not cdp.events.empty():
        event = cdp.events.get_nowait()
        if event.get("sessionId") == sid:
            _collect(event, result)
    for name, expression in queries.items():
        reply = await cdp.send("Runtime.evaluate", sid, expression=expression, returnByValue=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"query {name!r} failed: {reply['exceptionDetails']}")
        result.values[name] = reply.get("result", {}).get("value")
    if screenshot:
        shot = await cdp.send("Page.captureScreenshot", sid, format="png", captureBeyondViewport=full_page)
        result.screenshot = base64.b64decode(shot["data"])
    await cdp.send("Target.closeTarget", targetId=target["targetId"])
    return result


def print_to_pdf(url: str, out: Path) -> Path:
    """The page printed by Chromium's own `--print-to-pdf` (as "Save as PDF" does), bounded in time."""
    exe = chromium_path()
    assert exe, "chromium not found"
    with tempfile.TemporaryDirectory(prefix="chaosrun-chromium-") as profile:
        proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile}", "--no-pdf-header-footer", f"--print-to-pdf={out}", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=TIMEOUT_S * 2)
        finally:
            _stop_group(proc)
    return out


def _collect(event: dict[str, Any], result: PageResult) -> None:
    method = event.get("method")
    params = event.get("params", {})
    if method == "Network.requestWillBeSent":
        result.requests.append(params["request"]["url"])
    elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
        result.console_errors.append(
            " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
        )
    elif method == "Runtime.exceptionThrown":
        result.console_errors.append(str(params.get("exceptionDetails", {}).get("text")))
    elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
        entry = params["entry"]
        result.console_errors.append(f"{entry.get('source')}: {entry.get('text')}")
