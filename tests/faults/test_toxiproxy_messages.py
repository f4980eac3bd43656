"""Issue 10 (Low): Toxiproxy and OS error messages say what happened and what to do next.
Tiny real servers stand in for answers a real Toxiproxy does not give on demand (a 500 on a
toxic, a server that is not Toxiproxy)."""

from __future__ import annotations

import asyncio
import errno
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from chaosrun.clients.toxiproxy import ToxiproxyClient
from chaosrun.errors import ToxiproxyNotFound, ToxiproxyServerError, os_error_text
from tests.fixtures.tcp import serve
from tests.test_toxiproxy_client import _canned


def _run(url: str, fn: Callable[[ToxiproxyClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with ToxiproxyClient(url, timeout_s=5) as client:
            return await fn(client)

    return asyncio.run(main())


def test_a_500_on_a_toxic_does_not_blame_the_listen_address() -> None:
    body = json.dumps({"error": "internal failure", "status": 500}).encode()
    with serve(_canned("500 Internal Server Error", body, [])) as fake:
        url = f"http://{fake.address}"
        with pytest.raises(ToxiproxyServerError) as on_toxic:
            _run(url, lambda c: c.create_toxic("svc", type="latency", attributes={"latency": 1}))
        with pytest.raises(ToxiproxyServerError) as on_delete:
            _run(url, lambda c: c.delete_toxic("svc", "t"))
        with pytest.raises(ToxiproxyServerError) as on_proxy:
            _run(url, lambda c: c.create_proxy("svc", listen="127.0.0.1:0", upstream="127.0.0.1:9"))
    for caught in (on_toxic, on_delete):
        assert "listen address" not in str(caught.value)
        assert "toxiproxy-server log" in str(caught.value)
    assert "listen address in use" in str(on_proxy.value)


def test_a_server_that_is_not_toxiproxy_is_named_as_such() -> None:
    with serve(_canned("404 Not Found", b"", [])) as fake:
        url = f"http://{fake.address}"
        with pytest.raises(ToxiproxyNotFound) as caught:
            _run(url, lambda c: c.version())
    text = str(caught.value)
    assert "not Toxiproxy's answer" in text and url in text


def test_running_out_of_file_descriptors_is_named_with_what_to_do() -> None:
    text = os_error_text(OSError(errno.EMFILE, "Too many open files"))
    assert "too many open files" in text and "ulimit -n" in text
    assert "internal error" not in text
    assert "/srv/x" in os_error_text(OSError(errno.ENOSPC, "No space left on device", "/srv/x"))
