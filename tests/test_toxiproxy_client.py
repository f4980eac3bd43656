"""chaosrun.clients.toxiproxy against the real Toxiproxy server (and tiny real servers for edge cases)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chaosrun import __version__
from chaosrun.clients.toxiproxy import Proxy, Toxic, ToxiproxyClient
from chaosrun.errors import (
    ToxiproxyBadRequest,
    ToxiproxyConflict,
    ToxiproxyError,
    ToxiproxyNotFound,
    ToxiproxyServerError,
    ToxiproxyUnreachable,
)
from tests.fixtures import toxiproxy_server
from tests.fixtures.tcp import hold, serve
from tests.fixtures.toxiproxy_server import ToxiproxyProcess, free_port

pytestmark = pytest.mark.toxiproxy


def run(server: ToxiproxyProcess | str, fn: Callable[[ToxiproxyClient], Awaitable[Any]]) -> Any:
    """Run `fn(client)` on a fresh loop with a client that owns its session."""
    url = server if isinstance(server, str) else server.url

    async def main() -> Any:
        async with ToxiproxyClient(url) as client:
            return await fn(client)

    return asyncio.run(main())


def test_version(toxiproxy: ToxiproxyProcess) -> None:
    assert run(toxiproxy, lambda c: c.version()) == "2.12.0"


def test_proxy_lifecycle(toxiproxy_clean: ToxiproxyProcess) -> None:
    async def scenario(c: ToxiproxyClient) -> None:
        created = await c.create_proxy("alpha", listen="127.0.0.1:0", upstream="127.0.0.1:9")
        assert created.name == "alpha" and created.enabled and created.toxics == ()
        assert not created.listen.endswith(":0")  # the server picked a port
        assert await c.get_proxy("alpha") == created  # the stray "Logger" key is ignored
        assert list(await c.proxies()) == ["alpha"]
        disabled = await c.update_proxy("alpha", enabled=False)
        assert disabled.enabled is False and disabled.upstream == "127.0.0.1:9"
        moved = await c.update_proxy("alpha", upstream="127.0.0.1:10", enabled=True)
        assert (moved.upstream, moved.enabled) == ("127.0.0.1:10", True)
        await c.delete_proxy("alpha")
        assert await c.proxies() == {}

    run(toxiproxy_clean, scenario)


def test_populate_and_reset(toxiproxy_clean: ToxiproxyProcess) -> None:
    async def scenario(c: ToxiproxyClient) -> None:
        made = await c.populate(
            [
                Proxy(name="p1", listen="127.0.0.1:0", upstream="127.0.0.1:9"),
                Proxy(name="p2", listen="127.0.0.1:0", upstream="127.0.0.1:9", enabled=False),
            ]
        )
        assert sorted(p.name for p in made) == ["p1", "p2"]
        await c.create_toxic("p1", type="latency", name="slow", attributes={"latency": 10})
        await c.reset()
        after = await c.proxies()
        assert sorted(after) == ["p1", "p2"]  # reset keeps proxies...
        assert all(p.enabled and p.toxics == () for p in after.values())  # ...and clears the rest

    run(toxiproxy_clean, scenario)


def test_toxic_lifecycle(toxiproxy_clean: ToxiproxyProcess) -> None:
    async def scenario(c: ToxiproxyClient) -> None:
        await c.create_proxy("beta", listen="127.0.0.1:0", upstream="127.0.0.1:9")
        down = await c.create_toxic("beta", type="latency", name="lat", attributes={"latency": 100, "jitter": 5})
        assert down == Toxic(name="lat", type="latency", stream="downstream", attributes={"latency": 100, "jitter": 5})
        up = await c.create_toxic("beta", type="bandwidth", stream="upstream", toxicity=0.5, attributes={"rate": 7})
        assert (up.name, up.stream, up.toxicity) == ("bandwidth_upstream", "upstream", 0.5)
        assert sorted(t.name for t in await c.toxics("beta")) == ["bandwidth_upstream", "lat"]
        changed = await c.update_toxic("beta", "lat", attributes={"jitter": 9})
        assert dict(changed.attributes) == {"latency": 100, "jitter": 9}  # partial update
        assert (await c.update_toxic("beta", "lat", toxicity=0.25)).toxicity == 0.25
        assert await c.get_toxic("beta", "lat") == Toxic(
            name="lat", type="latency", stream="downstream", toxicity=0.25, attributes={"latency": 100, "jitter": 9}
        )
        await c.delete_toxic("beta", "lat")
        assert [t.name for t in (await c.get_proxy("beta")).toxics] == ["bandwidth_upstream"]

    run(toxiproxy_clean, scenario)


@pytest.mark.parametrize(
    ("call", "error", "status", "text"),
    [
        pytest.param(lambda c: c.get_proxy("nope"), ToxiproxyNotFound, 404, "GET /proxies/nope: 404 proxy not found",
                     id="404-proxy"),
        pytest.param(lambda c: c.delete_toxic("gamma", "nope"), ToxiproxyNotFound, 404, "toxic not found",
                     id="404-toxic"),
        pytest.param(lambda c: c.create_proxy("gamma", listen="127.0.0.1:0", upstream="127.0.0.1:9"),
                     ToxiproxyConflict, 409, "POST /proxies: 409 proxy already exists", id="409-proxy"),
        pytest.param(lambda c: c.create_toxic("gamma", type="latency", name="t"), ToxiproxyConflict, 409,
                     "toxic already exists", id="409-toxic"),
        pytest.param(lambda c: c.create_toxic("gamma", type="no_such_type"), ToxiproxyBadRequest, 400,
                     "400 invalid toxic type", id="400-toxic-type"),
        pytest.param(lambda c: c.create_proxy("delta", listen="127.0.0.1:0", upstream=""), ToxiproxyBadRequest, 400,
                     "missing required field: upstream", id="400-missing-upstream"),
    ],
)  # fmt: skip
def test_error_mapping(
    toxiproxy_clean: ToxiproxyProcess,
    call: Callable[[ToxiproxyClient], Awaitable[Any]],
    error: type[ToxiproxyError],
    status: int,
    text: str,
) -> None:
    async def scenario(c: ToxiproxyClient) -> None:
        await c.create_proxy("gamma", listen="127.0.0.1:0", upstream="127.0.0.1:9")
        await c.create_toxic("gamma", type="latency", name="t")
        await call(c)

    with pytest.raises(error) as caught:
        run(toxiproxy_clean, scenario)
    assert caught.value.status == status
    assert caught.value.url == toxiproxy_clean.url
    assert text in str(caught.value)
    assert str(caught.value).startswith(f"toxiproxy {toxiproxy_clean.url}: ")


def test_listen_conflict_is_server_error(toxiproxy_clean: ToxiproxyProcess) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ToxiproxyServerError) as caught:
            run(toxiproxy_clean, lambda c: c.create_proxy("eps", listen=f"127.0.0.1:{port}", upstream="127.0.0.1:9"))
    assert caught.value.status == 500
    assert "address already in use" in str(caught.value)


def test_connection_refused_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ToxiproxyUnreachable) as caught:
        run(url, lambda c: c.version())
    assert str(caught.value) == (
        f"toxiproxy {url}: cannot connect (connection refused) for GET /version; "
        "is toxiproxy-server running? (Toxiproxy 2.x: https://github.com/Shopify/toxiproxy/releases)"
    )
    assert caught.value.url == url


def test_no_answer_is_unreachable_after_the_timeout() -> None:
    with serve(hold) as silent:

        async def main() -> None:
            async with ToxiproxyClient(f"http://{silent.address}", timeout_s=0.3) as c:
                await c.proxies()

        with pytest.raises(ToxiproxyUnreachable, match=r"GET /proxies: no answer within 0\.3s"):
            asyncio.run(main())


def test_server_killed_is_unreachable(toxiproxy_factory: Callable[[], ToxiproxyProcess]) -> None:
    server = toxiproxy_factory()
    assert run(server, lambda c: c.version()) == "2.12.0"
    server.kill()
    with pytest.raises(ToxiproxyUnreachable, match="cannot connect"):
        run(server, lambda c: c.proxies())


def _canned(status_line: str, body: bytes, seen: list[bytes]) -> Callable[[socket.socket], None]:
    """A real HTTP/1.1 server answering one canned response (for answers Toxiproxy cannot give)."""

    def handle(sock: socket.socket) -> None:
        request = b""
        for _ in range(100):
            request += sock.recv(65536)
            if b"\r\n\r\n" in request:
                break
        seen.append(request)
        head = f"HTTP/1.1 {status_line}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        sock.sendall(head.encode() + body)

    return handle


def test_sends_a_chaosrun_user_agent_and_maps_html_errors() -> None:
    seen: list[bytes] = []
    page = b"<html><body>Timeout</body></html>"
    with serve(_canned("503 Service Unavailable", page, seen)) as fake:
        url = f"http://{fake.address}"
        with pytest.raises(ToxiproxyServerError) as caught:
            run(url, lambda c: c.version())
    assert caught.value.status == 503
    assert "503 (HTML page)" in str(caught.value)
    assert f"user-agent: chaosrun/{__version__}".encode() in seen[0].lower()


def test_non_json_success_is_a_server_error() -> None:
    seen: list[bytes] = []
    with serve(_canned("200 OK", b"hello", seen)) as fake, pytest.raises(ToxiproxyServerError, match="not JSON"):
        run(f"http://{fake.address}", lambda c: c.version())


def test_shared_session_stays_open(toxiproxy: ToxiproxyProcess) -> None:
    async def main() -> bool:
        async with aiohttp.ClientSession() as session:
            async with ToxiproxyClient(toxiproxy.url, session=session) as client:
                assert await client.version() == "2.12.0"
            closed = session.closed
            assert await ToxiproxyClient(toxiproxy.url, session=session).version() == "2.12.0"
            return closed

    assert asyncio.run(main()) is False


def test_validate_path_does_not_import_aiohttp() -> None:
    code = (
        "import sys, chaosrun.faults as f, chaosrun.clients.toxiproxy;"
        "assert 'toxiproxy.latency' in f.known_kinds();"
        "assert 'aiohttp' not in sys.modules, 'aiohttp imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_fixture_describes_the_server(toxiproxy: ToxiproxyProcess) -> None:
    # The pid is a live toxiproxy-server started on the fixture's port, and the url reaches it.
    cmdline = Path(f"/proc/{toxiproxy.pid}/cmdline").read_bytes().split(b"\0")
    assert Path(cmdline[0].decode()).name == "toxiproxy-server"
    assert cmdline[cmdline.index(b"-port") + 1] == str(toxiproxy.port).encode()
    assert toxiproxy.url == f"http://127.0.0.1:{toxiproxy.port}"
    with urllib.request.urlopen(f"{toxiproxy.url}/version", timeout=5) as resp:
        assert "2.12.0" in resp.read().decode()


@pytest.mark.parametrize(
    ("ci", "outcome"), [pytest.param("true", "fail", id="ci"), pytest.param("", "skip", id="local")]
)
def test_missing_server_binary_fails_in_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str, outcome: str
) -> None:
    monkeypatch.setattr(toxiproxy_server, "BINARY", tmp_path / "toxiproxy-server")
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if outcome == "fail" else pytest.skip.Exception
    with pytest.raises(expected, match=r"scripts/install-toxiproxy\.sh"):
        toxiproxy_server.start_toxiproxy(tmp_path)
