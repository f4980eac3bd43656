"""TCP probe against real local sockets."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from chaosrun.errors import InvalidInput
from chaosrun.model import Region, TcpProbe
from tests.fixtures.servers import HttpServer

from ._support import LOCAL, region_for, take_sample, take_samples


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose accept queue is full: further connects hang until they time out."""
    with socket.socket() as server, socket.socket() as filler:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = int(server.getsockname()[1])
        filler.connect(("127.0.0.1", port))
        yield port


def test_connect_then_close_cleanly(http_server: HttpServer) -> None:
    outcomes = take_samples(TcpProbe(host="127.0.0.1", port=http_server.port), n=3)
    assert [(o.ok, o.error) for o in outcomes] == [(True, None)] * 3
    assert all(o.latency_s is not None and o.latency_s > 0 for o in outcomes)
    deadline = time.monotonic() + 5  # the server thread accepts after the client's connect returns
    while http_server.connections < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert http_server.connections == 3


def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    outcome = take_sample(TcpProbe(host="127.0.0.1", port=port))
    assert (outcome.ok, outcome.latency_s, outcome.error) == (False, None, "connection refused")


def test_timeout(full_backlog: int) -> None:
    outcome = take_sample(TcpProbe(host="127.0.0.1", port=full_backlog, timeout_s=0.2))
    assert (outcome.ok, outcome.error) == (False, "timeout after 200ms")
    assert outcome.latency_s is not None and outcome.latency_s >= 0.2


def test_max_latency() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        outcome = take_sample(TcpProbe(host=None, port=int(server.getsockname()[1]), max_latency_s=1e-9))
    assert not outcome.ok and outcome.error is not None and outcome.error.startswith("slower than ")


@pytest.mark.parametrize(
    "region",
    [
        pytest.param(LOCAL, id="region-host"),
        pytest.param(Region(name="r", base_url="http://127.0.0.1:9"), id="from-base-url"),
    ],
)
def test_host_comes_from_the_region(http_server: HttpServer, region: Region) -> None:
    assert take_sample(TcpProbe(host=None, port=http_server.port), region).ok


def test_spec_host_wins_over_region(http_server: HttpServer) -> None:
    region = region_for("http://192.0.2.1:9")  # TEST-NET: would not answer
    assert take_sample(TcpProbe(host="127.0.0.1", port=http_server.port), region).ok


def test_no_host_anywhere_is_refused() -> None:
    with pytest.raises(InvalidInput, match="has no host or base_url"):
        take_sample(TcpProbe(host=None, port=1), Region(name="r"))
