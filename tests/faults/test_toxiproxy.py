"""Toxiproxy fault kinds against the real server, observed through real proxies and real TCP servers.

Each effect test drives the kinds the way the engine does (resolve -> setup -> ledger record ->
apply -> undo from the JSON record alone) and checks the server is left exactly as found, also
as seen by the independent client `toxiproxy-python`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import aiohttp
import pytest
import toxiproxy as toxiproxy_python

from chaosrun.errors import PlanRefused, ToxiproxyUnreachable, ValidationFailed
from chaosrun.faults import FaultContext, Injection, ParseContext, get_kind, get_undoer
from chaosrun.faults.base import UndoRecord
from chaosrun.faults.toxiproxy import (
    ClaimInjection,
    DownInjection,
    ProxyInjection,
    ToxicInjection,
    ToxicParams,
    owner_of,
    remove_owned_toxics,
    toxic_name,
)
from chaosrun.model import Experiment, FaultStep, Location, Phases, Region, ToxiproxyProxy, ToxiproxyServer
from chaosrun.node import Document, compose
from tests.fixtures.tcp import TcpServer, connect, echo, median, read_until_eof, round_trips, serve, source
from tests.fixtures.toxiproxy_server import ToxiproxyProcess

RUN = "20261126T170000Z-3f9a1c"
OTHER = "20261125T090000Z-0b7e2d"
HERE = Location(file="exp.yaml", line=1, column=1)
REGIONS = ("eu-west", "us-east")


# --- harness: the engine's sequence, one asyncio.run per step -------------------------------


def declared(
    name: str, upstream: str | None, *, region: str = "eu-west", listen: str | None = "127.0.0.1:0"
) -> ToxiproxyProxy:
    return ToxiproxyProxy(name=name, server="local", listen=listen, upstream=upstream, region=region, location=HERE)


class Harness:
    def __init__(self, server: ToxiproxyProcess, proxies: Sequence[ToxiproxyProxy], run_id: str = RUN) -> None:
        self.server = server
        self.experiment = Experiment(
            title="t",
            description="",
            tags=(),
            regions=tuple(Region(name=r) for r in REGIONS),
            probes=(),
            phases=Phases(baseline_s=0, fault_s=8, recovery_s=0),
            method=(),
            toxiproxy_servers=(ToxiproxyServer(name="local", url=server.url + "/"),),
            toxiproxy_proxies=tuple(proxies),
        )
        self.logs: list[str] = []
        self.ctx = FaultContext(run_id=run_id, experiment=self.experiment, log=self.logs.append)
        self.parse_ctx = ParseContext(regions=REGIONS, proxies={p.name: p.region for p in proxies}, base_dir=".")

    def step(self, kind: str, text: str, *, name: str = "slow-payments", duration_s: float | None = None) -> FaultStep:
        doc = Document(file="exp.yaml")
        node = compose(text, doc)
        assert node is not None
        fault_kind = get_kind(kind)
        assert fault_kind is not None
        params = fault_kind.parse(node, self.parse_ctx)
        doc.raise_if_any()
        assert params is not None
        return FaultStep(kind=kind, name=name, params=params, duration_s=duration_s, location=HERE)

    def resolve(self, step: FaultStep) -> list[Injection]:
        kind = get_kind(step.kind)
        assert kind is not None
        return asyncio.run(kind.resolve(step, self.ctx))

    def setup(self, kind: str, injections: Sequence[Injection]) -> list[Injection]:
        fault_kind = get_kind(kind)
        assert fault_kind is not None
        return asyncio.run(fault_kind.setup(injections, self.ctx))

    def apply(self, injections: Sequence[Injection]) -> list[UndoRecord]:
        """Ledger first (the JSON record), then apply."""
        records = [json.loads(json.dumps(i.undo_record())) for i in injections]

        async def main() -> None:
            for injection in injections:
                await injection.apply(self.ctx)

        asyncio.run(main())
        return records

    def undo(self, records: Sequence[UndoRecord]) -> None:
        """Undo in a fresh context that knows nothing but the records (as `chaosrun recover`)."""
        bare = Experiment(
            title="r", description="", tags=(), regions=(), probes=(), method=(),
            phases=Phases(baseline_s=0, fault_s=0, recovery_s=0),
        )  # fmt: skip
        ctx = FaultContext(run_id="recover", experiment=bare, log=self.logs.append)

        async def main() -> None:
            for record in reversed(records):
                backend = record["backend"]
                assert isinstance(backend, str)
                undo = get_undoer(backend)
                assert undo is not None
                await undo(record, ctx)

        asyncio.run(main())

    def start(self, kind: str, text: str, **step: Any) -> tuple[list[Injection], list[UndoRecord], list[UndoRecord]]:
        """resolve + setup + apply: (injections, setup records, fault records)."""
        injections = self.resolve(self.step(kind, text, **step))
        setups = self.setup(kind, injections)
        setup_records = self.apply(setups)
        return injections, setup_records, self.apply(injections)

    def run(self, action: Callable[[FaultContext], Awaitable[None]]) -> None:
        """Run one ramp action (as the engine would, on time)."""

        async def main() -> None:
            await action(self.ctx)

        asyncio.run(main())

    def listen(self, proxy: str) -> str:
        found = self.server.api("GET", f"/proxies/{proxy}")
        assert isinstance(found, dict)
        return str(found["listen"])


def state(server: ToxiproxyProcess) -> object:
    """GET /proxies as raw JSON, toxics sorted (the server's order is per stream)."""
    raw = server.api("GET", "/proxies")
    assert isinstance(raw, dict)
    for proxy in raw.values():
        proxy["toxics"] = sorted(proxy["toxics"], key=lambda t: t["name"])
    return raw


def observed(server: ToxiproxyProcess) -> dict[str, Any]:
    """The same state read by the independent client toxiproxy-python."""
    client = toxiproxy_python.Toxiproxy()
    client.update_api_consumer("127.0.0.1", server.port)
    return {
        name: (p.listen, p.upstream, p.enabled, sorted(
            (t.name, t.type, t.stream, t.toxicity, sorted(t.attributes.items())) for t in p.toxics().values()
        ))
        for name, p in client.proxies().items()
    }  # fmt: skip


@pytest.fixture
def echo_server() -> Iterator[TcpServer]:
    with serve(echo) as server:
        yield server


@pytest.fixture
def tp(toxiproxy_clean: ToxiproxyProcess, echo_server: TcpServer) -> Harness:
    """A harness with one declared proxy `payments-eu` (created by setup) in front of an echo server."""
    return Harness(toxiproxy_clean, [declared("payments-eu", echo_server.address)])


def ms(values: list[float]) -> float:
    return median(values) * 1000


def added_ms(listen: str, base_ms: float, n: int = 5) -> float:
    """The median round trip through `listen` less `base_ms`, the same proxy's measured without toxics."""
    return ms(round_trips(listen, n)) - base_ms


# Bounds are about the toxic's effect, not the machine's speed: a toxic adds at least what it was
# configured to (less 5% for clocks), and the delay it adds is measured against the same proxy
# without it in the same test; the upper bounds only tell one toxic value from another.


# --- effects ----------------------------------------------------------------------------


@pytest.mark.toxiproxy
def test_latency_adds_the_configured_delay_and_undo_leaves_the_server_as_found(tp: Harness) -> None:
    before, seen_before = state(tp.server), observed(tp.server)
    setup_records = tp.apply(tp.setup("toxiproxy.latency", []))
    base = ms(round_trips(tp.listen("payments-eu"), 7))
    injections = tp.resolve(tp.step("toxiproxy.latency", "{proxy: payments-eu, latency: 100ms, stream: downstream}"))
    records = tp.apply(injections)
    assert [i.describe() for i in injections] == ["latency 100ms (downstream) on payments-eu"]
    assert records == [{"backend": "toxiproxy", "action": "remove_toxics", "url": tp.server.url,
                        "proxy": "payments-eu", "toxics": [f"chaosrun-{RUN}-slow-payments-downstream"]}]  # fmt: skip
    assert setup_records[0]["action"] == "delete_proxy"
    during = observed(tp.server)["payments-eu"][3]
    assert during == [(f"chaosrun-{RUN}-slow-payments-downstream", "latency", "downstream", 1.0,
                       [("jitter", 0), ("latency", 100)])]  # fmt: skip
    assert 95.0 <= added_ms(tp.listen("payments-eu"), base, 7) < 150.0
    tp.undo(records)
    assert added_ms(tp.listen("payments-eu"), base) < 50.0  # the 100 ms are gone
    tp.undo(setup_records)
    assert state(tp.server) == before
    assert observed(tp.server) == seen_before == {}


@pytest.mark.toxiproxy
def test_both_streams_add_up_and_name_one_toxic_per_stream(tp: Harness) -> None:
    setups = tp.apply(tp.setup("toxiproxy.latency", []))
    base = ms(round_trips(tp.listen("payments-eu"), 5))
    injections = tp.resolve(tp.step("toxiproxy.latency", "{proxy: payments-eu, latency: 40ms, stream: both}"))
    records = tp.apply(injections)
    assert sorted(i.toxic for i in injections if isinstance(i, ToxicInjection)) == [
        f"chaosrun-{RUN}-slow-payments-downstream",
        f"chaosrun-{RUN}-slow-payments-upstream",
    ]
    assert 76.0 <= added_ms(tp.listen("payments-eu"), base) < 120.0  # 40 ms each way, not 40 ms once
    tp.undo(records + setups)
    assert state(tp.server) == {}


@pytest.mark.toxiproxy
def test_jitter_spreads_round_trips_around_the_latency(tp: Harness) -> None:
    _, setups, records = tp.start("toxiproxy.latency", "{proxy: payments-eu, latency: 60ms, jitter: 40ms}")
    samples = [s * 1000 for s in round_trips(tp.listen("payments-eu"), 25)]
    assert all(s >= 19.0 for s in samples), samples  # uniform over [20, 100): never below 20 ms
    assert max(samples) - min(samples) > 20.0, samples  # a flat line is no jitter
    tp.undo(records + setups)


@pytest.mark.toxiproxy
def test_bandwidth_limits_the_rate(toxiproxy_clean: ToxiproxyProcess) -> None:
    payload = bytes(range(256)) * 400  # 102_400 bytes
    with serve(source(payload)) as upstream:
        tp = Harness(toxiproxy_clean, [declared("blob", upstream.address)])
        setups = tp.apply(tp.setup("toxiproxy.bandwidth", []))
        direct = read_until_eof(tp.listen("blob"))
        records = tp.apply(tp.resolve(tp.step("toxiproxy.bandwidth", "{proxy: blob, rate: 200}")))
        got = read_until_eof(tp.listen("blob"))
        tp.undo(records + setups)
    assert got.data == direct.data == payload and got.eof_s is not None and direct.eof_s is not None
    rate_kb_s = len(payload) / 1000 / got.eof_s
    assert rate_kb_s <= 230, rate_kb_s  # capped at the configured 200 KB/s (KB = 1000 bytes)
    assert got.eof_s > 2 * direct.eof_s, (got, direct)  # and slower than the same proxy without it


@pytest.mark.toxiproxy
def test_slow_close_delays_only_the_close(toxiproxy_clean: ToxiproxyProcess) -> None:
    with serve(source(b"hello")) as upstream:
        tp = Harness(toxiproxy_clean, [declared("closer", upstream.address)])
        _, setups, records = tp.start("toxiproxy.slow_close", "{proxy: closer, delay: 400ms}")
        got = read_until_eof(tp.listen("closer"))
        tp.undo(records + setups)
    assert got.data == b"hello" and got.first_s is not None and got.eof_s is not None
    assert got.eof_s >= 0.39
    assert got.eof_s - got.first_s >= 0.3  # the data came well before the close


@pytest.mark.toxiproxy
def test_timeout_closes_without_passing_data(tp: Harness) -> None:
    _, setups, records = tp.start("toxiproxy.timeout", "{proxy: payments-eu, timeout: 300ms}")
    got = read_until_eof(tp.listen("payments-eu"), send=b"anyone?")
    tp.undo(records + setups)
    assert got.data == b"" and got.error is None and got.eof_s is not None
    assert got.eof_s >= 0.29


@pytest.mark.toxiproxy
def test_reset_peer_resets_the_connection(tp: Harness) -> None:
    _, setups, records = tp.start("toxiproxy.reset_peer", "{proxy: payments-eu, timeout: 0ms}")
    got = read_until_eof(tp.listen("payments-eu"), send=b"hello")
    tp.undo(records + setups)
    assert isinstance(got.error, ConnectionResetError), got


@pytest.mark.toxiproxy
def test_slicer_cuts_data_into_small_pieces(toxiproxy_clean: ToxiproxyProcess) -> None:
    payload = b"x" * 2000
    with serve(source(payload)) as upstream:
        tp = Harness(toxiproxy_clean, [declared("sliced", upstream.address)])
        _, setups, records = tp.start(
            "toxiproxy.slicer", "{proxy: sliced, average_size: 50, size_variation: 10, delay: 2ms}"
        )
        got = read_until_eof(tp.listen("sliced"))
        tp.undo(records + setups)
    assert got.data == payload
    assert got.chunks >= 5, got.chunks  # ~40 pieces 2 ms apart; without the toxic one read gets it all


@pytest.mark.toxiproxy
def test_limit_data_cuts_after_n_bytes(toxiproxy_clean: ToxiproxyProcess) -> None:
    with serve(source(b"0123456789" * 100)) as upstream:
        tp = Harness(toxiproxy_clean, [declared("limited", upstream.address)])
        _, setups, records = tp.start("toxiproxy.limit_data", "{proxy: limited, bytes: 120}")
        got = read_until_eof(tp.listen("limited"))
        tp.undo(records + setups)
    assert got.data == (b"0123456789" * 12)
    assert got.eof_s is not None or isinstance(got.error, ConnectionResetError)


@pytest.mark.toxiproxy
def test_down_refuses_connections_and_undo_re_enables(tp: Harness) -> None:
    created = tp.setup("toxiproxy.down", [])
    assert [type(i) for i in created] == [ProxyInjection]
    assert created[0].describe().startswith("create proxy payments-eu (127.0.0.1:0 -> 127.0.0.1:")
    setup_records = tp.apply(created)
    listen = tp.listen("payments-eu")
    open_conn = connect(listen, timeout_s=5)
    injections = tp.resolve(tp.step("toxiproxy.down", "{proxy: payments-eu}", name="outage"))
    claims = tp.setup("toxiproxy.down", injections)  # the proxy is created once per run, claimed once
    assert [type(i) for i in claims] == [ClaimInjection]
    setup_records = tp.apply(claims) + setup_records  # undone last, newest first
    records = tp.apply(injections)
    marker = f"chaosrun-{RUN}-outage-down"
    assert records == [{"backend": "toxiproxy", "action": "enable", "url": tp.server.url,
                        "proxy": "payments-eu", "enabled": True, "toxics": [marker]}]  # fmt: skip
    claim, toxic = observed(tp.server)["payments-eu"][3]  # the marker names the run on the disabled proxy
    assert toxic == (marker, "latency", "downstream", 0.0, [("jitter", 0), ("latency", 0)])  # never acts
    assert claim == (f"chaosrun-{RUN}-claim", "latency", "downstream", 0.0, [("jitter", 0), ("latency", 0)])
    with open_conn, contextlib.suppress(ConnectionResetError):
        assert open_conn.recv(10) == b""  # existing connections are closed
    with pytest.raises(ConnectionRefusedError):
        connect(listen, timeout_s=2)
    assert observed(tp.server)["payments-eu"][2] is False
    tp.undo(records)
    assert len(round_trips(listen, 3)) == 3  # connections pass again
    tp.undo(setup_records)
    assert state(tp.server) == {}


@pytest.mark.toxiproxy
def test_emergency_stop_re_enables_a_downed_proxy_without_the_ledger(tp: Harness) -> None:
    """The run and its ledger are gone: the marker alone lets `chaosrun stop` bring the proxy back."""
    setups = tp.apply(tp.setup("toxiproxy.down", []))
    before = state(tp.server)
    tp.apply(tp.resolve(tp.step("toxiproxy.down", "{proxy: payments-eu}", name="outage")))  # records dropped
    assert observed(tp.server)["payments-eu"][2] is False
    other = Harness(tp.server, tp.experiment.toxiproxy_proxies, run_id=OTHER)
    with pytest.raises(PlanRefused, match=f"another chaosrun run \\({RUN}\\)"):  # nobody else takes it meanwhile
        other.setup(
            "toxiproxy.latency", other.resolve(other.step("toxiproxy.latency", "{proxy: payments-eu, latency: 5ms}"))
        )
    removed = asyncio.run(remove_owned_toxics(tp.server.url, None))
    assert removed == [f"payments-eu/chaosrun-{RUN}-outage-down"]
    assert state(tp.server) == before  # enabled again, marker gone
    assert len(round_trips(tp.listen("payments-eu"), 3)) == 3  # connections pass again
    tp.undo(setups)


@pytest.mark.toxiproxy
def test_down_restores_a_proxy_that_was_already_disabled(toxiproxy_clean: ToxiproxyProcess) -> None:
    toxiproxy_clean.api("POST", "/proxies", {"name": "off", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9",
                                             "enabled": False})  # fmt: skip
    before = state(toxiproxy_clean)
    tp = Harness(toxiproxy_clean, [declared("off", "127.0.0.1:9")])
    _, setups, records = tp.start("toxiproxy.down", "{region: eu-west}")
    assert [s["action"] for s in setups] == ["remove_toxics"] and records[0]["enabled"] is False  # the claim
    assert records[0]["toxics"] == []  # not disabled by us: no marker, so `stop` leaves it disabled
    assert [t[0] for t in observed(toxiproxy_clean)["off"][3]] == [f"chaosrun-{RUN}-claim"]  # the claim only
    tp.undo(records)
    tp.undo(setups)
    assert state(toxiproxy_clean) == before


@pytest.mark.toxiproxy
def test_ramp_moves_the_live_latency_step_by_step(tp: Harness) -> None:
    step = tp.step("toxiproxy.latency", "{proxy: payments-eu, latency: 20ms, ramp: {to: 80ms, steps: 3}}",
                   duration_s=4.0)  # fmt: skip
    injections = tp.resolve(step)
    (injection,) = injections
    assert [round(offset, 3) for offset, _ in injection.updates()] == [1.0, 2.0, 3.0]
    setups = tp.apply(tp.setup("toxiproxy.latency", injections))
    listen = tp.listen("payments-eu")
    base = ms(round_trips(listen, 5))
    records = tp.apply(injections)
    measured = [added_ms(listen, base)]
    for _, update in injection.updates():  # the engine runs these on time; here, back to back
        tp.run(update)
        measured.append(added_ms(listen, base))
    for got, want in zip(measured, [20, 40, 60, 80], strict=True):
        assert want * 0.95 <= got < want + 20, measured  # each step adds its own latency, not the next one's
    assert injection.describe() == "latency 80ms, ramp step 3/3 to 80ms (downstream) on payments-eu"
    tp.undo(records + setups)


@pytest.mark.toxiproxy
def test_one_shared_session_for_a_whole_run(tp: Harness) -> None:
    async def main() -> list[str]:
        async with aiohttp.ClientSession() as session:
            tp.ctx.http = session
            kind = get_kind("toxiproxy.bandwidth")
            assert kind is not None
            step = tp.step("toxiproxy.bandwidth", "{proxy: payments-eu, rate: 50, ramp: {to: 10}}")
            injections = await kind.resolve(step, tp.ctx)
            setups = await kind.setup(injections, tp.ctx)
            records = [i.undo_record() for i in [*setups, *injections]]
            for injection in [*setups, *injections]:
                await injection.apply(tp.ctx)
            for _, update in injections[0].updates():
                await update(tp.ctx)
            rate = tp.server.api("GET", f"/proxies/payments-eu/toxics/{toxic_name(RUN, step.name, 'downstream')}")
            undo = get_undoer("toxiproxy")
            assert undo is not None
            for record in reversed(records):
                await undo(record, tp.ctx)
            assert not session.closed
            return [json.dumps(rate)]

    (rate,) = asyncio.run(main())
    tp.ctx.http = None
    assert '"rate": 10' in rate
    assert state(tp.server) == {}


# --- ownership, idempotence, refusal ----------------------------------------------------


@pytest.mark.toxiproxy
def test_undo_is_idempotent_and_safe_before_apply(tp: Harness) -> None:
    injections = tp.resolve(tp.step("toxiproxy.latency", "{proxy: payments-eu, latency: 10ms}"))
    setups = tp.apply(tp.setup("toxiproxy.latency", injections))
    never_applied = [i.undo_record() for i in injections]
    tp.undo(never_applied)  # 404: nothing to remove
    records = tp.apply(injections)
    tp.undo(records)
    tp.undo(records)
    tp.undo(setups)
    tp.undo(setups)
    tp.undo([*records, {"backend": "toxiproxy", "action": "enable", "url": tp.server.url, "proxy": "payments-eu",
                        "enabled": True}])  # fmt: skip
    assert state(tp.server) == {}


@pytest.mark.toxiproxy
def test_other_owners_are_never_touched(toxiproxy_clean: ToxiproxyProcess, echo_server: TcpServer) -> None:
    api = toxiproxy_clean.api
    api("POST", "/proxies", {"name": "payments-eu", "listen": "127.0.0.1:0", "upstream": echo_server.address})
    api("POST", "/proxies", {"name": "search-eu", "listen": "127.0.0.1:0", "upstream": echo_server.address})
    api("POST", "/proxies/payments-eu/toxics", {"name": "manual", "type": "latency", "attributes": {"latency": 1}})
    foreign = f"chaosrun-{OTHER}-their-step-downstream"
    api("POST", "/proxies/search-eu/toxics", {"name": foreign, "type": "latency", "attributes": {"latency": 1}})
    before = state(toxiproxy_clean)
    tp = Harness(toxiproxy_clean, [declared("payments-eu", echo_server.address),
                                   declared("search-eu", echo_server.address, region="us-east")])  # fmt: skip
    _, setups, records = tp.start("toxiproxy.latency", "{proxy: payments-eu, latency: 5ms, stream: both}")
    assert [s["action"] for s in setups] == ["remove_toxics"]  # the claim; the proxy existed: not ours to delete
    removed = asyncio.run(remove_owned_toxics(toxiproxy_clean.url, None, RUN))
    assert sorted(removed) == [
        f"payments-eu/chaosrun-{RUN}-claim",
        f"payments-eu/chaosrun-{RUN}-slow-payments-downstream",
        f"payments-eu/chaosrun-{RUN}-slow-payments-upstream",
    ]
    tp.undo(records)  # already removed by the emergency stop: still fine
    assert state(toxiproxy_clean) == before
    assert asyncio.run(remove_owned_toxics(toxiproxy_clean.url, None)) == [f"search-eu/{foreign}"]
    after = state(toxiproxy_clean)
    assert isinstance(after, dict) and isinstance(before, dict)
    assert after["payments-eu"] == before["payments-eu"]  # the manual toxic is still there


@pytest.mark.toxiproxy
def test_refuses_a_proxy_carrying_another_runs_toxics(tp: Harness) -> None:
    tp.apply(tp.setup("toxiproxy.latency", []))
    tp.server.api("POST", "/proxies/payments-eu/toxics",
                  {"name": f"chaosrun-{OTHER}-db-slow-upstream", "type": "latency", "stream": "upstream"})  # fmt: skip
    injections = tp.resolve(tp.step("toxiproxy.latency", "{region: eu-west, latency: 5ms}"))
    with pytest.raises(PlanRefused) as caught:
        tp.setup("toxiproxy.latency", injections)
    assert f"another chaosrun run ({OTHER})" in str(caught.value)
    assert f"chaosrun-{OTHER}-db-slow-upstream" in str(caught.value)
    assert tp.server.url in str(caught.value)


@pytest.mark.toxiproxy
def test_refusal_covers_every_toxiproxy_step_whichever_kind_is_set_up(toxiproxy_clean: ToxiproxyProcess) -> None:
    for name in ("a", "b"):
        toxiproxy_clean.api("POST", "/proxies", {"name": name, "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"})
    toxiproxy_clean.api("POST", "/proxies/b/toxics", {"name": f"chaosrun-{OTHER}-x-downstream", "type": "latency"})
    tp = Harness(toxiproxy_clean, [declared("a", "127.0.0.1:9"), declared("b", "127.0.0.1:9")])
    latency, down = tp.step("toxiproxy.latency", "{proxy: a, latency: 5ms}"), tp.step("toxiproxy.down", "{proxy: b}")
    tp.experiment = tp.ctx.experiment = dataclasses.replace(tp.experiment, method=(latency, down))
    with pytest.raises(PlanRefused, match=f"proxy 'b' carries toxics of another chaosrun run \\({OTHER}\\)"):
        tp.setup("toxiproxy.latency", tp.resolve(latency))  # the engine sets up one kind per back end


@pytest.mark.toxiproxy
def test_refuses_an_existing_proxy_with_another_upstream(toxiproxy_clean: ToxiproxyProcess) -> None:
    toxiproxy_clean.api("POST", "/proxies", {"name": "payments-eu", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:7"})
    tp = Harness(toxiproxy_clean, [declared("payments-eu", "127.0.0.1:8")])
    with pytest.raises(
        PlanRefused, match=r"exists with upstream 127\.0\.0\.1:7, but exp\.yaml:1:1 declares 127\.0\.0\.1:8"
    ):
        tp.setup("toxiproxy.latency", [])


@pytest.mark.toxiproxy
def test_refuses_a_missing_proxy_it_cannot_create(toxiproxy_clean: ToxiproxyProcess) -> None:
    tp = Harness(toxiproxy_clean, [declared("ghost", None, listen=None)])
    injections = tp.resolve(tp.step("toxiproxy.down", "{proxy: ghost}"))
    with pytest.raises(PlanRefused, match="proxy 'ghost' does not exist"):
        tp.setup("toxiproxy.down", injections)


@pytest.mark.toxiproxy
def test_preflight_names_an_unreachable_server(toxiproxy_factory: Callable[[], ToxiproxyProcess]) -> None:
    server = toxiproxy_factory()
    tp = Harness(server, [declared("p", "127.0.0.1:9")])
    injections = tp.resolve(tp.step("toxiproxy.latency", "{proxy: p, latency: 5ms}"))
    server.kill()
    with pytest.raises(ToxiproxyUnreachable, match=f"toxiproxy {server.url}: cannot connect"):
        tp.setup("toxiproxy.latency", injections)


@pytest.mark.toxiproxy
def test_toxiproxy_dying_mid_run_makes_undo_fail_loudly(toxiproxy_factory: Callable[[], ToxiproxyProcess]) -> None:
    server = toxiproxy_factory()
    tp = Harness(server, [declared("p", "127.0.0.1:9")])
    _, _, records = tp.start("toxiproxy.latency", "{proxy: p, latency: 5ms}")
    server.kill()
    with pytest.raises(ToxiproxyUnreachable) as caught:
        tp.undo(records)
    assert caught.value.url == server.url and "is toxiproxy-server running?" in str(caught.value)


# --- resolve and parse (no server) ------------------------------------------------------


def offline() -> Harness:
    class _Nowhere:
        url = "http://127.0.0.1:1"
        port = 1

    proxies = [declared("a", "127.0.0.1:9"), declared("b", "127.0.0.1:9"),
               declared("c", "127.0.0.1:9", region="us-east")]  # fmt: skip
    return Harness(_Nowhere(), proxies)  # type: ignore[arg-type]


def test_region_targets_every_proxy_of_the_region() -> None:
    tp = offline()
    injections = tp.resolve(tp.step("toxiproxy.down", "{region: eu-west}"))
    assert [(i.target, i.region) for i in injections] == [
        ("toxiproxy:http://127.0.0.1:1/a", "eu-west"),
        ("toxiproxy:http://127.0.0.1:1/b", "eu-west"),
    ]
    assert all(isinstance(i, DownInjection) for i in injections)


def test_ramp_schedule_uses_the_fault_phase_when_the_step_has_no_duration() -> None:
    tp = offline()  # fault phase: 8 s
    (injection,) = tp.resolve(tp.step("toxiproxy.bandwidth", "{proxy: a, rate: 1000, ramp: {to: 100, steps: 3}}"))
    assert isinstance(injection, ToxicInjection)
    assert injection.ramp == ((2.0, 700), (4.0, 400), (6.0, 100))
    assert injection.describe() == "bandwidth 1000KB/s, ramping to 100KB/s in 3 steps (downstream) on a"


@pytest.mark.parametrize(
    ("kind", "text", "attributes"),
    [
        pytest.param("toxiproxy.latency", "{proxy: a, latency: 1.5s, jitter: 50ms}", {"latency": 1500, "jitter": 50},
                     id="latency"),
        pytest.param("toxiproxy.slicer", "{proxy: a, average_size: 64, delay: 250us}",
                     {"average_size": 64, "size_variation": 0, "delay": 250}, id="slicer-us"),
        pytest.param("toxiproxy.reset_peer", "{proxy: a}", {"timeout": 0}, id="reset-peer-default"),
        pytest.param("toxiproxy.limit_data", "{proxy: a, bytes: 0}", {"bytes": 0}, id="limit-data-zero"),
    ],
)  # fmt: skip
def test_parse_converts_units(kind: str, text: str, attributes: dict[str, int]) -> None:
    params = offline().step(kind, text).params
    assert isinstance(params, ToxicParams)
    assert dict(params.attributes) == attributes
    assert params.streams == ("downstream",) and params.toxicity == 1.0


@pytest.mark.parametrize(
    ("kind", "text", "message"),
    [
        pytest.param("toxiproxy.latency", "{proxy: a, latency: 5ms, latencyy: 1ms}",
                     "unknown key 'latencyy'; did you mean 'latency'?", id="unknown-attribute"),
        pytest.param("toxiproxy.latency", "{latency: 5ms}", "give exactly one of 'proxy'", id="no-target"),
        pytest.param("toxiproxy.latency", "{proxy: a, region: eu-west, latency: 5ms}", "exactly one",
                     id="two-targets"),
        pytest.param("toxiproxy.latency", "{proxy: aa, latency: 5ms}",
                     "unknown toxiproxy proxy 'aa'; did you mean 'a'?", id="unknown-proxy"),
        pytest.param("toxiproxy.down", "{region: ap-south}", "unknown region 'ap-south'", id="unknown-region"),
        pytest.param("toxiproxy.latency", "{proxy: a}", "missing required key 'latency'", id="missing-latency"),
        pytest.param("toxiproxy.latency", "{proxy: a, latency: 300}", "expected a duration", id="bare-number"),
        pytest.param("toxiproxy.latency", "{proxy: a, latency: 1.5ms}", "Toxiproxy takes whole milliseconds",
                     id="fractional-ms"),
        pytest.param("toxiproxy.bandwidth", "{proxy: a, rate: 0}", "stalls the link for ever", id="rate-zero"),
        pytest.param("toxiproxy.bandwidth", "{proxy: a, rate: 10, ramp: {to: 0}}", "must be at least 1KB/s",
                     id="ramp-rate-zero"),
        pytest.param("toxiproxy.latency", "{proxy: a, latency: 5ms, toxicity: 1.5}", "must be at most 1.0",
                     id="toxicity-range"),
        pytest.param("toxiproxy.latency", "{proxy: a, latency: 5ms, stream: sideways}", "expected one of upstream",
                     id="bad-stream"),
        pytest.param("toxiproxy.timeout", "{proxy: a, timeout: 1s, ramp: {to: 2s}}", "unknown key 'ramp'",
                     id="no-ramp-for-timeout"),
        pytest.param("toxiproxy.slicer", "{proxy: a, average_size: 10, size_variation: 10}",
                     "must be smaller than average_size", id="slicer-variation"),
        pytest.param("toxiproxy.latency", "{proxy: a, latency: 5ms, ramp: {to: 9ms, steps: 0}}", "must be at least 1",
                     id="ramp-steps"),
        pytest.param("toxiproxy.down", "{proxy: a, latency: 5ms}", "unknown key 'latency'", id="down-no-attributes"),
    ],
)  # fmt: skip
def test_parse_rejects(kind: str, text: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        offline().step(kind, text)
    assert message in str(caught.value)
    assert str(caught.value).startswith("exp.yaml:1:")


def test_parse_rejects_a_region_without_proxies() -> None:
    tp = offline()
    tp.parse_ctx = ParseContext(regions=REGIONS, proxies={"a": "eu-west"}, base_dir=".")
    with pytest.raises(ValidationFailed, match="no toxiproxy proxy is declared for region 'us-east'"):
        tp.step("toxiproxy.latency", "{region: us-east, latency: 5ms}")


@pytest.mark.parametrize(
    ("name", "owner"),
    [
        pytest.param(f"chaosrun-{RUN}-slow-payments-downstream", RUN, id="dashes-in-step"),
        pytest.param(f"chaosrun-{RUN}-s-upstream", RUN, id="short-step"),
        pytest.param("chaosrun-oops", None, id="no-run-id"),
        pytest.param("latency_downstream", None, id="default-name"),
        pytest.param(f"xchaosrun-{RUN}-s-upstream", None, id="not-a-prefix"),
    ],
)
def test_owner_of(name: str, owner: str | None) -> None:
    assert owner_of(name) == owner


def test_toxic_names_are_url_safe() -> None:
    assert toxic_name(RUN, "slow payments/eu", "upstream") == f"chaosrun-{RUN}-slow_payments_eu-upstream"
    assert owner_of(toxic_name(RUN, "a-b-c", "downstream")) == RUN


def test_kinds_are_registered_with_their_keys() -> None:
    latency = get_kind("toxiproxy.latency")
    assert latency is not None and latency.backend == "toxiproxy"
    assert set(latency.keys) == {"proxy", "region", "stream", "toxicity", "latency", "jitter", "ramp"}
