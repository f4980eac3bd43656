"""Webhooks of a game day: at the start, after each experiment and at the end.

A webhook gets either Slack-compatible JSON (`{"text": ...}`) or a generic JSON body, signed
with HMAC-SHA256 when the plan names a key: `X-Chaosrun-Signature: sha256=<hex of
HMAC(key, body)>`, with `X-Chaosrun-Event` and `X-Chaosrun-Delivery` (a new id per event, the
same across retries). Each attempt has its own timeout and the retries are bounded, so one
delivery takes at most `bound_s`; a webhook that fails, refuses or hangs is logged (URL and
keys masked) and never stops, delays beyond that bound, or changes the outcome of the day.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from .. import __version__
from ..journal import Redactor
from .plan import Webhook

__all__ = ["Delivery", "Notifier", "bound_s", "signature"]

_BACKOFF_S = 0.2  # before the 2nd attempt; doubled after each further failure


def signature(secret: str, body: bytes) -> str:
    """The X-Chaosrun-Signature value of a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def bound_s(hook: Webhook) -> float:
    """The longest one delivery to `hook` can take: every attempt's timeout plus the pauses."""
    pauses = sum(_BACKOFF_S * 2.0**i for i in range(hook.retries))
    return hook.timeout_s * (hook.retries + 1) + pauses


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    hook: str  # the webhook's name, never its URL
    event: str
    ok: bool
    attempts: int
    error: str = ""


def _slack_text(event: str, payload: dict[str, object]) -> str:
    day = payload.get("day") or {}
    title = day.get("title", "") if isinstance(day, dict) else ""
    if event == "start":
        return f":rotating_light: chaosrun game day *{title}* started ({payload.get('experiments')} experiments)"
    if event == "experiment":
        exp = payload.get("experiment") or {}
        assert isinstance(exp, dict)
        mark = ":white_check_mark:" if exp.get("as_expected") else ":x:"
        return (
            f"{mark} {exp.get('title')}: *{exp.get('status')}* (expected {' or '.join(exp.get('expected') or [])}),"
            f" score {exp.get('score')}, report {exp.get('report') or '-'}"
        )
    mark = ":white_check_mark:" if payload.get("passed") else ":x:"
    return f"{mark} chaosrun game day *{title}* ended: exit {payload.get('exit_code')}; {payload.get('summary')}"


class Notifier:
    """Sends each event to every webhook that wants it, concurrently, each within its bound."""

    def __init__(
        self,
        hooks: Sequence[Webhook],
        http: aiohttp.ClientSession,
        warn: Callable[[str], None],
        secrets: Sequence[str] = (),
    ) -> None:
        self.hooks = tuple(hooks)
        self.http = http
        self.warn = warn
        self.redact = Redactor([*secrets, *(h.url for h in hooks), *(h.secret for h in hooks if h.secret)])
        self.deliveries: list[Delivery] = []

    async def send(self, event: str, payload: dict[str, object]) -> None:
        """Deliver one event; returns once every webhook succeeded or gave up (bounded)."""
        wanted = [h for h in self.hooks if event in h.events]
        if wanted:
            body = {"event": event, "chaosrun_version": __version__, **payload}
            await asyncio.gather(*(self._deliver(h, event, body) for h in wanted))

    async def _deliver(self, hook: Webhook, event: str, body: dict[str, object]) -> None:
        if hook.format == "slack":
            data = json.dumps({"text": _slack_text(event, body)}).encode()
        else:
            data = json.dumps(body, default=str).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Chaosrun-Event": event,
            "X-Chaosrun-Delivery": str(uuid.uuid4()),
        }
        if hook.secret and hook.format == "json":
            headers["X-Chaosrun-Signature"] = signature(hook.secret, data)
        error, attempts = "", 0
        try:
            async with asyncio.timeout(bound_s(hook) + 0.5):  # the bound holds whatever aiohttp does
                for attempt in range(hook.retries + 1):
                    attempts = attempt + 1
                    if attempt:
                        await asyncio.sleep(_BACKOFF_S * 2 ** (attempt - 1))
                    error = await self._post(hook, data, headers)
                    if not error:
                        break
        except TimeoutError:
            error = f"no answer within its bound of {bound_s(hook):.1f} s"
        ok = not error
        self.deliveries.append(Delivery(hook=hook.name, event=event, ok=ok, attempts=attempts, error=error))
        if not ok:
            self.warn(f"warning: webhook {hook.name}: {event} not delivered after {attempts} attempt(s): {error}")

    async def _post(self, hook: Webhook, data: bytes, headers: dict[str, str]) -> str:
        """One attempt; '' when delivered, else what went wrong (masked)."""
        try:
            async with self.http.post(
                hook.url, data=data, headers=headers, timeout=aiohttp.ClientTimeout(total=hook.timeout_s)
            ) as resp:
                await resp.read()
                if 200 <= resp.status < 300:
                    return ""
                return f"HTTP {resp.status}"
        except TimeoutError:
            return f"timed out after {hook.timeout_s:g} s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return self.redact(f"{type(exc).__name__}: {exc}")
