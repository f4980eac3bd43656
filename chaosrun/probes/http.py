"""HTTP probe: one request per sample over the run's shared keep-alive session.

Everything that can be prepared is prepared when the sampler is built (URL, headers, body,
compiled regex, parsed JSON path), so a sample is one request plus a few checks.

Latency is `time.perf_counter()` around sending the request and reading the whole body. It is
reported whenever a response arrived or the timeout fired (then it is the time waited), and is
None when the connection failed before any response.
"""

from __future__ import annotations

import asyncio
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

__all__ = ["JsonPath", "build_http_sampler", "parse_json_path", "resolve_json_path", "resolve_url"]

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
    # TLS options (the probe's over the region's) and the region's connect_to address
    tls = spec.tls.over(region.tls) if spec.tls is not None else region.tls
    target = route(url, region, tls)
    url = target.url
    if target.host_header is not None and not any(k.lower() == "host" for k in headers):
        headers["Host"] = target.host_header
    sni = target.server_hostname
    ssl_arg = ssl_context(tls, secrets, where=where, server_hostname=sni) if url.startswith("https:") else True
    timed_out = timeout_text(timeout_s)

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

    async def sample() -> Outcome:
        started = time.perf_counter()
        try:
            async with (
                asyncio.timeout(timeout_s),
                session.request(
                    method, url, headers=headers, data=body, allow_redirects=False, ssl=ssl_arg, server_hostname=sni
                ) as resp,
            ):
                payload = await resp.read()
                status = resp.status
        except TimeoutError:
            return Outcome(False, time.perf_counter() - started, None, timed_out)
        except aiohttp.ClientSSLError as exc:
            return Outcome(False, None, None, describe_tls_error(exc) or describe_exception(exc, secrets))
        except aiohttp.ClientConnectorError as exc:
            return Outcome(False, None, None, describe_os_error(exc.os_error))
        except aiohttp.ServerDisconnectedError:
            return Outcome(False, time.perf_counter() - started, None, "server disconnected")
        except aiohttp.ClientPayloadError:
            return Outcome(False, time.perf_counter() - started, None, "incomplete body")
        except aiohttp.ClientError as exc:
            return Outcome(False, None, None, _describe_client_error(exc, secrets))
        latency_s = time.perf_counter() - started
        error = check(status, payload, latency_s)
        return Outcome(error is None, latency_s, status, error)

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
