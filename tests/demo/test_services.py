"""The demo services as real processes: the resilient storefront fails over, the fragile one does not."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chaosrun.demo._proc import free_port
from chaosrun.demo.services import Breaker
from tests.fixtures.toxiproxy_server import ToxiproxyProcess

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 15.0
Start = Callable[..., str]


def _get(url: str, timeout_s: float = 5.0) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def start() -> Iterator[Start]:
    """`start("payments", "--region", "x")` runs a demo service on a free port; returns its address."""
    procs: list[subprocess.Popen[bytes]] = []

    def run(*args: str) -> str:
        port = free_port()
        argv = [sys.executable, "-m", "chaosrun.demo.services", *args, "--port", str(port)]
        procs.append(subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, start_new_session=True))
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert procs[-1].poll() is None, f"{args[0]} exited early"
            try:
                if _get(f"http://127.0.0.1:{port}/health", 1.0)[0] == 200:
                    return f"127.0.0.1:{port}"
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"{args} did not answer within {START_TIMEOUT_S}s")

    yield run
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=10)


def _dead_address() -> str:
    return f"127.0.0.1:{free_port()}"  # nothing listens there: connections are refused


def test_healthy_checkout_uses_the_own_region(start: Start) -> None:
    us, eu = start("payments", "--region", "us-east"), start("payments", "--region", "eu-west")
    shop = start("storefront", "--region", "us-east", f"--payments=us-east={us}", f"--payments=eu-west={eu}")
    status, body = _get(f"http://{shop}/checkout")
    assert status == 200
    assert body["payments_region"] == "us-east" and body["failover"] is False and body["attempts"] == 1


def test_refused_dependency_is_retried_once_then_failed_over(start: Start) -> None:
    eu = start("payments", "--region", "eu-west")
    shop = start(
        "storefront", "--region", "us-east", f"--payments=us-east={_dead_address()}", f"--payments=eu-west={eu}"
    )
    status, body = _get(f"http://{shop}/checkout")
    assert status == 200
    assert body == {**body, "payments_region": "eu-west", "failover": True, "attempts": 3}  # 2 refused + 1


def test_fragile_storefront_fails_when_its_dependency_is_down(start: Start) -> None:
    shop = start("storefront", "--region", "us-east", "--fragile", f"--payments=us-east={_dead_address()}")
    status, body = _get(f"http://{shop}/checkout")
    assert status == 503
    assert body["status"] == "unavailable"


def test_every_region_down_is_an_error_not_a_hang(start: Start) -> None:
    shop = start(
        "storefront",
        "--region",
        "us-east",
        f"--payments=us-east={_dead_address()}",
        f"--payments=eu-west={_dead_address()}",
    )
    assert _get(f"http://{shop}/checkout")[0] == 503


def test_breaker_opens_after_consecutive_failures_and_half_opens_later() -> None:
    b = Breaker(threshold=3, open_s=2.0)
    for t in (0.0, 0.1):
        b.record(False, t)
        assert b.allows(t)
    b.record(False, 0.2)
    assert not b.allows(0.3) and not b.allows(2.1)
    assert b.allows(2.2)  # one trial call may go through
    b.record(True, 2.3)
    assert b.failures == 0 and b.allows(2.3)


@pytest.mark.toxiproxy
def test_hanging_dependency_resilient_fails_over_fragile_hangs(start: Start, toxiproxy_clean: ToxiproxyProcess) -> None:
    """A `timeout` toxic with timeout 0 passes no data and never closes: a hung dependency."""
    us, eu = start("payments", "--region", "us-east"), start("payments", "--region", "eu-west")
    listen = f"127.0.0.1:{free_port()}"
    toxiproxy_clean.api("POST", "/proxies", {"name": "payments-us-east", "listen": listen, "upstream": us})
    toxiproxy_clean.api(
        "POST", "/proxies/payments-us-east/toxics", {"type": "timeout", "name": "hang", "attributes": {"timeout": 0}}
    )
    shop = start(
        "storefront", "--region", "us-east", f"--payments=us-east={listen}", f"--payments=eu-west={eu}",
        "--breaker-open", "600",
    )  # fmt: skip
    fragile = start("storefront", "--region", "us-east", "--fragile", f"--payments=us-east={listen}")

    answers = [_get(f"http://{shop}/checkout") for _ in range(4)]
    assert all(status == 200 and body["payments_region"] == "eu-west" for status, body in answers)
    # After three timeouts the breaker skips us-east: straight to eu-west, one attempt.
    assert answers[-1][1]["attempts"] == 1
    assert _get(f"http://{shop}/status")[1]["breakers"] == {"us-east": "open", "eu-west": "closed"}
    with pytest.raises(TimeoutError):
        _get(f"http://{fragile}/checkout", timeout_s=2.0)
