"""The demo's services: `payments` and `storefront` (resilient or fragile), as aiohttp apps.

    python -m chaosrun.demo.services payments --region us-east --port 9001
    python -m chaosrun.demo.services storefront --region us-east --port 8081 \\
        --payments us-east=127.0.0.1:21001 --payments eu-west=127.0.0.1:21002 [--fragile]

`storefront` answers `GET /health` (no dependency) and `GET /checkout`, which charges a
payment. The resilient variant gives each payment call a timeout, retries a refused or
dropped connection once, fails over to the other regions' payments in order, and keeps a
circuit breaker per region so a slow region is skipped instead of waited for. The fragile
variant calls its own region's payments once, with no timeout and no failover.
Replicas of one storefront share a port (SO_REUSEPORT), so one can die while the others serve.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

__all__ = ["Breaker", "Policy", "build_payments", "build_storefront", "main"]


@dataclass(slots=True)
class Breaker:
    """Per-region circuit breaker: open after `threshold` failures in a row, for `open_s`."""

    threshold: int = 3
    open_s: float = 2.0
    failures: int = 0
    open_until: float = 0.0

    def allows(self, now: float) -> bool:
        """Closed, or open long enough that one trial call may go through (half-open)."""
        return self.failures < self.threshold or now >= self.open_until

    def record(self, ok: bool, now: float) -> None:
        if ok:
            self.failures = 0
            return
        self.failures += 1
        if self.failures >= self.threshold:
            self.open_until = now + self.open_s


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """How a storefront calls payments."""

    timeout_s: float | None = 0.25  # per attempt; None: wait for ever (fragile)
    retries: int = 1  # extra attempts on a refused or dropped connection, same region
    failover: bool = True
    breaker_open_s: float = 2.0  # how long a failing region is skipped before one trial call


FRAGILE = Policy(timeout_s=None, retries=0, failover=False)


@dataclass(slots=True)
class Payments:
    """The payments client of one storefront: regions in preference order, one breaker each."""

    region: str
    endpoints: dict[str, str]  # region -> host:port (through that region's Toxiproxy proxy)
    policy: Policy
    session: ClientSession | None = None
    breakers: dict[str, Breaker] = field(default_factory=dict)

    def order(self) -> list[str]:
        """Own region first, then the others as given; regions with an open breaker are skipped
        unless every one is open (then the own region is tried anyway)."""
        regions = [self.region] + [r for r in self.endpoints if r != self.region]
        if not self.policy.failover:
            return [self.region]
        now = time.monotonic()
        allowed = [r for r in regions if self._breaker(r).allows(now)]
        return allowed or [self.region]

    async def charge(self) -> tuple[str, int]:
        """Charge once somewhere: (region that answered, attempts). Raises ClientError or TimeoutError."""
        assert self.session is not None
        timeout = ClientTimeout(total=self.policy.timeout_s)
        attempts = 0
        last: BaseException | None = None
        for region in self.order():
            url = f"http://{self.endpoints[region]}/charge"
            for _ in range(1 + self.policy.retries):
                attempts += 1
                try:
                    async with self.session.post(url, timeout=timeout) as resp:
                        await resp.read()
                        resp.raise_for_status()
                except TimeoutError as exc:  # slow: do not retry the same region
                    last = exc
                    break
                except ClientError as exc:  # refused or dropped: once more, then move on
                    last = exc
                    continue
                self._record(region, True)
                return region, attempts
            self._record(region, False)
        assert last is not None
        raise last

    def _breaker(self, region: str) -> Breaker:
        return self.breakers.setdefault(region, Breaker(open_s=self.policy.breaker_open_s))

    def _record(self, region: str, ok: bool) -> None:
        if self.policy.failover:
            self._breaker(region).record(ok, time.monotonic())


_PAYMENTS = web.AppKey("payments", Payments)


async def _checkout(request: web.Request) -> web.Response:
    payments = request.app[_PAYMENTS]
    started = time.perf_counter()
    try:
        served_by, attempts = await payments.charge()
    except (ClientError, TimeoutError) as exc:
        return web.json_response(
            {"status": "unavailable", "region": payments.region, "error": type(exc).__name__}, status=503
        )
    return web.json_response(
        {
            "status": "ok",
            "region": payments.region,
            "payments_region": served_by,
            "failover": served_by != payments.region,
            "attempts": attempts,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        }
    )


def build_storefront(region: str, endpoints: dict[str, str], policy: Policy) -> web.Application:
    """The storefront app of `region`, calling payments at `endpoints` with `policy`."""
    app = web.Application()
    payments = Payments(region=region, endpoints=endpoints, policy=policy)
    app[_PAYMENTS] = payments

    async def client(app: web.Application) -> AsyncIterator[None]:
        payments.session = ClientSession(connector=TCPConnector(limit=100))
        yield
        await payments.session.close()

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "region": region, "pid": os.getpid()})

    async def status(request: web.Request) -> web.Response:
        now = time.monotonic()
        breakers = {r: ("open" if not b.allows(now) else "closed") for r, b in payments.breakers.items()}
        return web.json_response({"region": region, "policy": str(policy), "breakers": breakers})

    app.cleanup_ctx.append(client)
    app.router.add_get("/health", health)
    app.router.add_get("/checkout", _checkout)
    app.router.add_get("/status", status)
    return app


def build_payments(region: str) -> web.Application:
    """The payments app of `region`: `POST /charge` and `GET /health`."""
    app = web.Application()

    async def charge(request: web.Request) -> web.Response:
        return web.json_response({"charged": True, "region": region})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "region": region})

    app.router.add_post("/charge", charge)
    app.router.add_get("/health", health)
    return app


async def serve(app: web.Application, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then shut down cleanly."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=True, shutdown_timeout=1.0)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(asyncio.CancelledError):
        await stop.wait()
    await runner.cleanup()


def _endpoints(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        region, sep, address = pair.partition("=")
        if not sep or not region or ":" not in address:
            raise SystemExit(f"--payments expects region=host:port, got {pair!r}")
        out[region] = address
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m chaosrun.demo.services", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="service", required=True)
    pay = sub.add_parser("payments", help="the payments dependency of one region")
    shop = sub.add_parser("storefront", help="the storefront API of one region")
    for p in (pay, shop):
        p.add_argument("--region", required=True)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, required=True)
    shop.add_argument("--payments", action="append", default=[], metavar="REGION=HOST:PORT")
    shop.add_argument("--fragile", action="store_true", help="no timeout, no retry, no failover")
    shop.add_argument("--timeout", type=float, default=0.25, help="seconds per payments attempt (resilient)")
    shop.add_argument("--breaker-open", type=float, default=2.0, help="seconds a failing region is skipped")
    args = parser.parse_args(argv)
    if args.service == "payments":
        app = build_payments(args.region)
    else:
        endpoints = _endpoints(args.payments)
        if args.region not in endpoints:
            parser.error(f"--payments must include the storefront's own region {args.region!r}")
        policy = FRAGILE if args.fragile else Policy(timeout_s=args.timeout, breaker_open_s=args.breaker_open)
        app = build_storefront(args.region, endpoints, policy)
    asyncio.run(serve(app, args.host, args.port))


if __name__ == "__main__":
    main()
