"""A small async client for the Toxiproxy HTTP API (v2.x), on aiohttp.

One instance talks to one server (`base_url`). It uses the run's shared
`aiohttp.ClientSession` when given one, or opens (and closes) its own when used as an
async context manager. Every call has a total timeout (default 5 s) and sends the
User-Agent `chaosrun/<version>` (Toxiproxy answers 403 to browser-like agents).

Errors: the server's `{"error", "status"}` bodies become ToxiproxyNotFound (404),
ToxiproxyConflict (409), ToxiproxyBadRequest (400) or ToxiproxyServerError (5xx); no
answer (connection refused, timeout, dropped connection) becomes ToxiproxyUnreachable.
Each message names the server, the method and path, and what to do next.

aiohttp is imported on first use, so `chaosrun validate` never loads it.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Literal, TypeAlias, TypeVar
from urllib.parse import quote, urlsplit

from .. import __version__
from ..errors import (
    ToxiproxyBadRequest,
    ToxiproxyConflict,
    ToxiproxyError,
    ToxiproxyNotFound,
    ToxiproxyServerError,
    ToxiproxyUnreachable,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "USER_AGENT",
    "Proxy",
    "Stream",
    "Toxic",
    "ToxiproxyClient",
    "server_key",
]

DEFAULT_TIMEOUT_S = 5.0
USER_AGENT = f"chaosrun/{__version__}"
INSTALL_HINT = "is toxiproxy-server running? (Toxiproxy 2.x: https://github.com/Shopify/toxiproxy/releases)"

Stream: TypeAlias = Literal["upstream", "downstream"]
_Json: TypeAlias = "str | int | float | bool | list[_Json] | dict[str, _Json] | None"
T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Toxic:
    """A toxic as the server reports it. Attributes are integers (ms, KB/s, bytes, µs)."""

    name: str
    type: str
    stream: str
    toxicity: float = 1.0
    attributes: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    @classmethod
    def from_json(cls, data: object) -> Toxic:
        obj = _expect_object(data, "toxic")
        attrs = obj.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise ValueError(f"toxic attributes: expected an object, got {attrs!r}")
        toxicity = obj.get("toxicity", 1.0)
        return cls(
            name=str(obj["name"]),
            type=str(obj["type"]),
            stream=str(obj.get("stream", "downstream")),
            toxicity=float(toxicity) if isinstance(toxicity, int | float) else 1.0,
            attributes=MappingProxyType({str(k): int(v) for k, v in attrs.items() if isinstance(v, int | float)}),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Proxy:
    """A proxy as the server reports it (unknown keys such as the stray `Logger` are ignored)."""

    name: str
    listen: str
    upstream: str
    enabled: bool = True
    toxics: tuple[Toxic, ...] = ()

    @classmethod
    def from_json(cls, data: object) -> Proxy:
        obj = _expect_object(data, "proxy")
        toxics = obj.get("toxics") or []
        if not isinstance(toxics, list):
            raise ValueError(f"proxy toxics: expected a list, got {toxics!r}")
        return cls(
            name=str(obj["name"]),
            listen=str(obj.get("listen", "")),
            upstream=str(obj.get("upstream", "")),
            enabled=bool(obj.get("enabled", True)),
            toxics=tuple(Toxic.from_json(t) for t in toxics),
        )


def _expect_object(data: object, what: str) -> dict[str, object]:
    if not isinstance(data, dict):
        raise ValueError(f"expected a {what} object, got {data!r}")
    return data


_HINTS = {
    404: "check the name (GET {base}/proxies lists proxies and their toxics)",
    409: "pick another name, or delete the existing one first",
    400: "the server rejected the request body",
    405: "this server does not accept that method; is it Toxiproxy >= 2.6?",
    403: "the server refused the User-Agent",
    503: "the server timed out handling the request; see the toxiproxy-server log",
}
_ERRORS: dict[int, type[ToxiproxyError]] = {
    400: ToxiproxyBadRequest,
    404: ToxiproxyNotFound,
    405: ToxiproxyBadRequest,
    409: ToxiproxyConflict,
}


class ToxiproxyClient:
    """Async client for one Toxiproxy server.

    ```python
    async with ToxiproxyClient("http://127.0.0.1:8474") as client:      # own session
        await client.create_toxic("payments", type="latency", attributes={"latency": 300})
    client = ToxiproxyClient(url, session=run_session)                    # shared session
    ```
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._session = session
        self._owns_session = False

    async def __aenter__(self) -> ToxiproxyClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if this client opened it (a shared session is left open)."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None
            self._owns_session = False

    # -- server ----------------------------------------------------------------
    async def version(self) -> str:
        """`GET /version`: the server's version string (`"2.12.0"`, or `"git"` for unstamped builds)."""
        return await self._call("GET", "/version", None, lambda d: str(_expect_object(d, "version")["version"]))

    async def reset(self) -> None:
        """`POST /reset`: re-enable every proxy and remove every toxic (proxies stay)."""
        await self._request("POST", "/reset")

    async def populate(self, proxies: Sequence[Proxy]) -> list[Proxy]:
        """`POST /populate`: create, or replace when changed, proxies (name, listen, upstream, enabled)."""
        body: list[_Json] = [
            {"name": p.name, "listen": p.listen, "upstream": p.upstream, "enabled": p.enabled} for p in proxies
        ]
        return await self._call("POST", "/populate", body, _parse_populated)

    # -- proxies ---------------------------------------------------------------
    async def proxies(self) -> dict[str, Proxy]:
        """`GET /proxies`: every proxy, by name, with its toxics."""
        return await self._call("GET", "/proxies", None, _parse_proxies)

    async def get_proxy(self, name: str) -> Proxy:
        """`GET /proxies/{name}` (ToxiproxyNotFound when missing)."""
        return await self._call("GET", _proxy_path(name), None, Proxy.from_json)

    async def create_proxy(self, name: str, *, listen: str, upstream: str, enabled: bool = True) -> Proxy:
        """`POST /proxies`. Pass `listen` as `127.0.0.1:port` (port 0: any free port)."""
        body: dict[str, _Json] = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        return await self._call("POST", "/proxies", body, Proxy.from_json)

    async def update_proxy(
        self, name: str, *, listen: str | None = None, upstream: str | None = None, enabled: bool | None = None
    ) -> Proxy:
        """`PATCH /proxies/{name}`: change only the given fields (listen/upstream restart the proxy)."""
        body: dict[str, _Json] = {}
        if listen is not None:
            body["listen"] = listen
        if upstream is not None:
            body["upstream"] = upstream
        if enabled is not None:
            body["enabled"] = enabled
        return await self._call("PATCH", _proxy_path(name), body, Proxy.from_json)

    async def delete_proxy(self, name: str) -> None:
        """`DELETE /proxies/{name}`: stop listening and close its connections."""
        await self._request("DELETE", _proxy_path(name))

    # -- toxics ----------------------------------------------------------------
    async def toxics(self, proxy: str) -> list[Toxic]:
        """`GET /proxies/{proxy}/toxics`: both streams, in creation order."""
        return await self._call("GET", f"{_proxy_path(proxy)}/toxics", None, _parse_toxics)

    async def get_toxic(self, proxy: str, name: str) -> Toxic:
        """`GET /proxies/{proxy}/toxics/{name}`."""
        return await self._call("GET", _toxic_path(proxy, name), None, Toxic.from_json)

    async def create_toxic(
        self,
        proxy: str,
        *,
        type: str,
        name: str | None = None,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        attributes: Mapping[str, int] | None = None,
    ) -> Toxic:
        """`POST /proxies/{proxy}/toxics`. Attributes must be integers (the server rejects floats)."""
        body: dict[str, _Json] = {
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }
        if name is not None:
            body["name"] = name
        return await self._call("POST", f"{_proxy_path(proxy)}/toxics", body, Toxic.from_json)

    async def update_toxic(
        self, proxy: str, name: str, *, attributes: Mapping[str, int] | None = None, toxicity: float | None = None
    ) -> Toxic:
        """`PATCH /proxies/{proxy}/toxics/{name}`: a partial update of attributes and toxicity only."""
        body: dict[str, _Json] = {}
        if attributes is not None:
            body["attributes"] = dict(attributes)
        if toxicity is not None:
            body["toxicity"] = toxicity
        return await self._call("PATCH", _toxic_path(proxy, name), body, Toxic.from_json)

    async def delete_toxic(self, proxy: str, name: str) -> None:
        """`DELETE /proxies/{proxy}/toxics/{name}`; applies to open connections at once."""
        await self._request("DELETE", _toxic_path(proxy, name))

    # -- transport -------------------------------------------------------------
    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    async def _call(self, method: str, path: str, body: _Json | None, parse: Callable[[_Json], T]) -> T:
        data = await self._request(method, path, body)
        try:
            return parse(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ToxiproxyServerError(
                f"toxiproxy {self.base_url}: {method} {path}: unexpected answer ({exc}); "
                "is this a Toxiproxy 2.x server?",
                url=self.base_url,
            ) from exc

    async def _request(self, method: str, path: str, body: _Json | None = None) -> _Json:
        import aiohttp

        session = self._ensure_session()
        where = f"toxiproxy {self.base_url}: {method} {path}"
        data = None if body is None else json.dumps(body)
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with session.request(
                method,
                self.base_url + path,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            ) as resp:
                status = resp.status
                text = await resp.text(errors="replace")
        except TimeoutError as exc:
            raise ToxiproxyUnreachable(
                f"{where}: no answer within {self.timeout_s:g}s; is the server overloaded or stuck?",
                url=self.base_url,
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            dns = getattr(aiohttp, "ClientConnectorDNSError", ())
            if isinstance(exc, dns) or isinstance(exc.os_error, socket.gaierror):  # os.strerror(-2): "unknown error"
                host = urlsplit(self.base_url).hostname or self.base_url
                raise ToxiproxyUnreachable(
                    f"toxiproxy {self.base_url}: cannot resolve host '{host}' ({exc.os_error.strerror or exc}) "
                    f"for {method} {path}; check the server URL",
                    url=self.base_url,
                ) from exc
            reason = os.strerror(exc.errno).lower() if exc.errno and exc.errno > 0 else str(exc)
            raise ToxiproxyUnreachable(
                f"toxiproxy {self.base_url}: cannot connect ({reason}) for {method} {path}; {INSTALL_HINT}",
                url=self.base_url,
            ) from exc
        except aiohttp.ClientError as exc:
            raise ToxiproxyUnreachable(
                f"{where}: connection failed ({type(exc).__name__}: {exc}); {INSTALL_HINT}", url=self.base_url
            ) from exc
        if status >= 400:
            raise self._error(where, status, text)
        if status == 204 or not text.strip():
            return None
        try:
            parsed: _Json = json.loads(text)
        except ValueError as exc:
            raise ToxiproxyServerError(
                f"{where}: answered {status} with a body that is not JSON ({text[:80]!r}); is this a Toxiproxy server?",
                url=self.base_url,
                status=status,
            ) from exc
        return parsed

    def _error(self, where: str, status: int, text: str) -> ToxiproxyError:
        message = text.strip()
        try:
            parsed = json.loads(text)
            if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
                message = parsed["error"]
        except ValueError:
            if text.lstrip().startswith("<"):
                message = "(HTML page)"
        if status >= 500:
            listen = "/toxics" not in where and not where.split(": ", 1)[-1].startswith(("DELETE", "GET"))
            fallback = ("is the listen address in use? " if listen else "") + "see the toxiproxy-server log"
        else:
            fallback = ""
        hint = _HINTS.get(status, fallback).format(base=self.base_url)
        if status == 404 and not _toxiproxy_error_body(text):
            # Toxiproxy answers its 404s with {"error": ..., "status": 404}: this is another server
            message = message or "(empty body)"
            hint = f"this is not Toxiproxy's answer: is {self.base_url} the Toxiproxy API (port 8474 by default)?"
        cls = _ERRORS.get(status, ToxiproxyServerError if status >= 500 else ToxiproxyError)
        text_out = f"{where}: {status} {message or '(empty body)'}" + (f"; {hint}" if hint else "")
        return cls(text_out, url=self.base_url, status=status)


def _toxiproxy_error_body(text: str) -> bool:
    try:
        parsed = json.loads(text)
    except ValueError:
        return False
    return isinstance(parsed, dict) and "error" in parsed


def _parse_proxies(data: object) -> dict[str, Proxy]:
    return {str(name): Proxy.from_json(p) for name, p in sorted(_expect_object(data, "proxies").items())}


def _parse_toxics(data: object) -> list[Toxic]:
    if not isinstance(data, list):
        raise ValueError(f"expected a list of toxics, got {data!r}")
    return [Toxic.from_json(t) for t in data]


def _parse_populated(data: object) -> list[Proxy]:
    listed = _expect_object(data, "populate result").get("proxies") or []
    if not isinstance(listed, list):
        raise ValueError(f"expected a list of proxies, got {listed!r}")
    return [Proxy.from_json(p) for p in listed]


def _proxy_path(name: str) -> str:
    return f"/proxies/{quote(name, safe='')}"


def _toxic_path(proxy: str, name: str) -> str:
    return f"{_proxy_path(proxy)}/toxics/{quote(name, safe='')}"


def server_key(url: str) -> str:
    """One spelling per Toxiproxy server, for target identity (claims, caps, the ledger): scheme
    and host lower-cased, `localhost` as 127.0.0.1, the default port made explicit, no trailing
    slash. Two runs must not stack faults on one proxy because one wrote `localhost`."""
    parts = urlsplit(url.strip())
    scheme = (parts.scheme or "http").lower()
    host = (parts.hostname or "").lower()
    if host in ("localhost", "localhost.localdomain"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{host}:{port}{parts.path.rstrip('/')}"
