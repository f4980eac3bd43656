"""HTTP probe: one request per sample over the run's shared keep-alive session.

Everything that can be prepared is prepared when the sampler is built (URL, headers, body,
compiled regex, parsed JSON path), so a sample is one request plus a few checks.

Latency is `time.perf_counter()` around sending the request and reading the whole body. It is
reported whenever a response arrived or the timeout fired (then it is the time waited), and is
None when the connection failed before any response.

The body is read up to the probe's `max_body_bytes` (1 MiB by default): a larger one (by its
Content-Length, or once that much has arrived) fails the sample with an error naming the limit,
and its connection is closed unread, so chaosrun's memory never follows the target's body.

A kept-alive connection the server closed (nginx closes one after `keepalive_requests`; any
server may close an idle one) fails the request before any response: such a request is sent
once more, on a new connection (`ProbeContext.fresh_http`: other kept-alive connections may
be closed too), before the sample counts as failed, and the sample says so
(`Outcome.retried`, the journal's samples). The session's own silent retry is turned off
(`disable_silent_retry`) so this is the only one.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping

import aiohttp

from ..errors import InvalidInput
from ..model import HttpProbe, Region
from ..sample import Outcome
from ..units import format_duration
from . import ProbeContext, Sampler, probe_kind
from ._common import describe_exception, describe_os_error, mask, substitute, timeout_text
from .tls import describe_refusal, describe_tls_error, route, ssl_context

__all__ = [
    "JsonPath",
    "body_limit_text",
    "build_http_sampler",
    "disable_silent_retry",
    "parse_json_path",
    "resolve_json_path",
    "resolve_url",
]

JsonPath = tuple[str | int, ...]
_SEGMENT = re.compile(r"([^.\[\]]+)?((?:\[\d+\])*)")
_INDEX = re.compile(r"\[(\d+)\]")
_MISSING = object()


def resolve_url(url: str, region: Region) -> str:
    """`url` if absolute, else the region's base_url joined with the path (one `/` between)."""
    if "://" in url:
        return url
    if region.base_url is None:
        raise InvalidInput(f"http probe {url!r}: region {region.name!r} has no base_url for a relative url")
    return region.base_url.rstrip("/") + "/" + url.lstrip("/")


def parse_json_path(path: str) -> JsonPath:
    """`'items[0].state'` -> `('items', 0, 'state')`; `'[1].id'` -> `(1, 'id')`."""
    parts: list[str | int] = []
    for i, segment in enumerate(path.split(".")):
        m = _SEGMENT.fullmatch(segment)
        if not segment or m is None or (m.group(1) is None and i > 0):
            raise InvalidInput(f"json_path {path!r}: expected a dotted path such as 'items[0].state'")
        if m.group(1) is not None:
            parts.append(m.group(1))
        parts += [int(n) for n in _INDEX.findall(m.group(2))]
    return tuple(parts)


def resolve_json_path(doc: object, path: JsonPath) -> object:
    """The value at `path` in a decoded JSON document, or `_MISSING`."""
    node = doc
    for key in path:
        if isinstance(key, int):
            if not isinstance(node, list) or key >= len(node):
                return _MISSING
            node = node[key]
        else:
            if not isinstance(node, dict) or key not in node:
                return _MISSING
            node = node[key]
    return node


def _json_equal(got: object, expected: object) -> bool:
    # JSON true is not 1 and 1.0 is 1: compare bools by identity, numbers by value.
    if isinstance(got, bool) or isinstance(expected, bool):
        return got is expected
    return got == expected


def disable_silent_retry(session: aiohttp.ClientSession) -> None:
    """Turn off aiohttp's own invisible retry of idempotent requests on a closed keep-alive
    connection (aiohttp >= 3.10): the http probe retries once itself, and journals it."""
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False


def body_limit_text(limit: int) -> str:
    """`body over the 1MiB limit (max_body)`: the per-sample error of a body over the limit."""
    if limit % (1 << 20) == 0:
        size = f"{limit >> 20}MiB"
    elif limit % 1024 == 0:
        size = f"{limit >> 10}KiB"
    else:
        size = f"{limit}-byte"
    return f"body over the {size} limit (max_body)"


async def _read_bounded(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The body, or None when it is longer than `limit` bytes (then nothing more is read)."""
    length = resp.content_length
    if length is not None:
        return None if length > limit else await resp.read()
    body = bytearray()
    while chunk := await resp.content.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


_CLOSED_KEEPALIVE = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientConnectionResetError)


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else json.dumps(value)


@probe_kind(HttpProbe)
def build_http_sampler(spec: HttpProbe, region: Region, ctx: ProbeContext) -> Sampler:
    """A sampler issuing `spec` against `region` through `ctx.http`."""
    where = f"http probe {spec.url!r}"
    secrets = ctx.secrets
    url = substitute(resolve_url(spec.url, region), region, secrets, where=where)
    headers = {
        name: substitute(value, region, secrets, where=f"{where} header {name!r}") for name, value in spec.headers
    }
    body = None if spec.body is None else substitute(spec.body, region, secrets, where=f"{where} body").encode()
    body_re = None if spec.body_regex is None else re.compile(spec.body_regex.encode())
    json_path = None if spec.json_path is None else parse_json_path(spec.json_path)
    method = spec.method.upper()
    timeout_s = spec.timeout_s
    session = ctx.http
    fresh = ctx.fresh_http or session
    deadlines = ctx.deadlines
    # TLS options (the probe's over the region's) and the region's connect_to address
    tls = spec.tls.over(region.tls) if spec.tls is not None else region.tls
    target = route(url, region, tls)
    url = target.url
    if target.host_header is not None and not any(k.lower() == "host" for k in headers):
        headers["Host"] = target.host_header
    sni = target.server_hostname
    ssl_arg = ssl_context(tls, secrets, where=where, server_hostname=sni) if url.startswith("https:") else True
    timed_out = timeout_text(timeout_s)
    limit = spec.max_body_bytes
    too_big = body_limit_text(limit)

    def check(status: int, payload: bytes, latency_s: float) -> str | None:
        if status not in spec.expect_status:
            return describe_refusal(status, payload) or f"status {status}"
        if body_re is not None and body_re.search(payload) is None:
            return f"body does not match /{spec.body_regex}/"
        if json_path is not None:
            error = _check_json(payload, json_path, spec)
            if error is not None:
                return error
        if spec.max_latency_s is not None and latency_s > spec.max_latency_s:
            return f"slower than {format_duration(spec.max_latency_s)}"
        return None

    async def exchange(session: aiohttp.ClientSession) -> tuple[int, bytes | None]:
        async with session.request(
            method, url, headers=headers, data=body, allow_redirects=False, ssl=ssl_arg, server_hostname=sni
        ) as resp:
            payload = await _read_bounded(resp, limit)
            if payload is None:
                resp.close()  # the rest of the body is never read: the connection goes
            return resp.status, payload

    async def sample() -> Outcome:
        started = time.perf_counter()
        retried = False
        try:
            async with deadlines.after(timeout_s):  # not asyncio.timeout: no timer per request
                try:
                    status, payload = await exchange(session)
                except _CLOSED_KEEPALIVE as exc:
                    if isinstance(exc, aiohttp.ClientConnectorError):
                        raise
                    retried = True  # a kept-alive connection closed under the request: once more, anew
                    status, payload = await exchange(fresh)
        except TimeoutError:
            return Outcome(False, time.perf_counter() - started, None, timed_out, retried)
        except aiohttp.ClientSSLError as exc:
            return Outcome(False, None, None, describe_tls_error(exc) or describe_exception(exc, secrets), retried)
        except aiohttp.ClientConnectorError as exc:
            return Outcome(False, None, None, describe_os_error(exc.os_error), retried)
        except aiohttp.ServerDisconnectedError:
            return Outcome(False, time.perf_counter() - started, None, "server disconnected", retried)
        except aiohttp.ClientPayloadError:
            return Outcome(False, time.perf_counter() - started, None, "incomplete body", retried)
        except aiohttp.ClientConnectionResetError as exc:
            # "Cannot write to closing transport": the request never left chaosrun (also after a
            # retry on a fresh connection); sampling treats it as not taken while its loop lags
            return Outcome(False, None, None, _describe_client_error(exc, secrets), retried, unsent=True)
        except aiohttp.ClientError as exc:
            return Outcome(False, None, None, _describe_client_error(exc, secrets), retried)
        latency_s = time.perf_counter() - started
        if payload is None:
            return Outcome(False, latency_s, status, too_big, retried)
        error = check(status, payload, latency_s)
        return Outcome(error is None, latency_s, status, error, retried)

    return sample


def _check_json(payload: bytes, path: JsonPath, spec: HttpProbe) -> str | None:
    try:
        doc = json.loads(payload)
    except ValueError:
        return "body is not JSON"
    got = resolve_json_path(doc, path)
    if got is _MISSING:
        return f"json {spec.json_path}: not found"
    if spec.json_expect is not None and not _json_equal(got, spec.json_expect):
        return f"json {spec.json_path}: expected {_show(spec.json_expect)}, got {_show(got)}"
    return None


def _describe_client_error(exc: aiohttp.ClientError, secrets: Mapping[str, str]) -> str:
    tls_cause = describe_tls_error(exc)  # a server refusing the client certificate after the handshake
    if tls_cause is not None:
        return tls_cause
    if isinstance(exc, aiohttp.ClientOSError):
        return describe_os_error(exc)
    if isinstance(exc, aiohttp.ClientResponseError):
        return mask(f"bad response: {exc.message}", secrets)
    return describe_exception(exc, secrets)
