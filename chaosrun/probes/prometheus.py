"""Prometheus probes: an instant PromQL query per sample (`prometheus`), and the multiwindow,
multi-burn-rate SLO rule (`burn_rate`).

A query is `GET /api/v1/query?query=...` on the region's server (or the probe's `url`) over the
run's shared session, with basic auth or a bearer token from secrets and the TLS options of
`chaosrun.probes.tls`. Every bad answer is a failed sample with a stable text, never a crash:
an unreachable server, a timeout, an HTTP error, a query error, an empty result, several series
where one is expected, a NaN.

Burn rate (see docs/experiment.md for a worked example): with SLO target `objective`, the error
budget is `1 - objective`; the burn rate over a window is `error_ratio(window) / (1 - objective)`
(1 means the budget lasts exactly the SLO period). A sample fails when the burn rate exceeds
`factor` over the long window AND the short one: the long window proves the burn is significant,
the short one that it is still happening (so the alert stops soon after the burning does).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from ..errors import InvalidInput
from ..model import BURN_WINDOW as WINDOW
from ..model import BurnRateProbe, PrometheusProbe, PromServer, Region
from ..sample import Outcome
from ..units import Bound, format_duration
from . import ProbeContext, Sampler, probe_kind
from ._common import describe_os_error, mask, substitute, timeout_text
from .tls import describe_tls_error, route, ssl_context

__all__ = ["PromApi", "QueryError", "build_burn_rate_sampler", "build_prometheus_sampler"]

_MAX_BODY = 4 * 1024 * 1024  # a runaway answer (a huge matrix) is refused, not read


class QueryError(Exception):
    """A query that gave no usable number; the message is the sample's stable error text."""


@dataclass(slots=True)
class PromApi:
    """One Prometheus server as seen from one region: URL, auth headers, TLS."""

    session: aiohttp.ClientSession
    url: str  # .../api/v1/query
    headers: dict[str, str]
    ssl: object
    server_hostname: str | None
    secrets: Mapping[str, str]

    @classmethod
    def build(cls, server: PromServer, region: Region, ctx: ProbeContext, *, where: str) -> PromApi:
        base = server.url or region.prometheus
        if base is None:
            raise InvalidInput(f"{where}: region {region.name!r} has no prometheus server and the probe no url")
        secrets = ctx.secrets
        base = substitute(base, region, secrets, where=f"{where} url", allow_secrets=False)
        headers = {k: substitute(v, region, secrets, where=f"{where} header {k!r}") for k, v in server.headers}
        if server.bearer is not None:
            headers["Authorization"] = "Bearer " + substitute(server.bearer, region, secrets, where=f"{where} auth")
        elif server.username is not None and server.password is not None:
            password = substitute(server.password, region, secrets, where=f"{where} auth")
            token = base64.b64encode(f"{server.username}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        tls = server.tls.over(region.tls) if server.tls is not None else region.tls
        target = route(base.rstrip("/") + "/api/v1/query", region, tls)
        if target.host_header is not None:
            headers.setdefault("Host", target.host_header)
        sni = target.server_hostname
        ssl_arg = (
            ssl_context(tls, secrets, where=where, server_hostname=sni) if target.url.startswith("https:") else True
        )
        return cls(ctx.http, target.url, headers, ssl_arg, sni, secrets)

    async def value(self, query: str, *, empty_is: float | None = None) -> float:
        """The single number `query` evaluates to now. Raises QueryError (stable text) otherwise;
        an empty result is `empty_is` when given."""
        try:
            async with self.session.get(
                self.url,
                params={"query": query},
                headers=self.headers,
                ssl=self.ssl,  # type: ignore[arg-type]
                server_hostname=self.server_hostname,
                allow_redirects=False,
            ) as resp:
                payload = await resp.content.read(_MAX_BODY + 1)
                status = resp.status
        except aiohttp.ClientSSLError as exc:
            raise QueryError(describe_tls_error(exc) or "TLS: handshake failed") from None
        except aiohttp.ClientConnectorError as exc:
            raise QueryError(f"prometheus unreachable: {describe_os_error(exc.os_error)}") from None
        except aiohttp.ClientError as exc:
            raise QueryError(f"prometheus: {describe_tls_error(exc) or type(exc).__name__}") from None
        if len(payload) > _MAX_BODY:
            raise QueryError(f"answer larger than {_MAX_BODY // (1024 * 1024)} MiB")
        return self._number(status, payload, empty_is)

    def _number(self, status: int, payload: bytes, empty_is: float | None) -> float:
        if status in (401, 403):
            raise QueryError(f"prometheus refused the credentials (status {status})")
        try:
            doc = json.loads(payload)
        except ValueError:
            raise QueryError(f"prometheus answered status {status} without JSON") from None
        if not isinstance(doc, dict):
            raise QueryError("prometheus answered an unexpected document")
        if doc.get("status") != "success":
            kind = doc.get("errorType", "error")
            raise QueryError(mask(f"query error ({kind}): {doc.get('error', 'no message')}", self.secrets))
        data = doc.get("data") or {}
        kind, result = data.get("resultType"), data.get("result")
        if kind == "scalar" and isinstance(result, list) and len(result) == 2:
            return _float(result[1])
        if kind != "vector" or not isinstance(result, list):
            raise QueryError(f"query returned a {kind}, expected one number (an instant vector or a scalar)")
        if not result:
            if empty_is is not None:
                return empty_is
            raise QueryError("empty result: no series matched")
        if len(result) > 1:
            raise QueryError(f"{len(result)} series, expected one (aggregate with sum(), max() ... by nothing)")
        return _float(result[0].get("value", [None, None])[1])


def _float(text: object) -> float:
    try:
        return float(str(text))
    except ValueError:
        raise QueryError(f"not a number: {str(text)[:40]!r}") from None


@dataclass(slots=True)
class _Baseline:
    """The mean of a series' values during the baseline phase (constant memory)."""

    total: float = 0.0
    count: int = 0

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1

    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


def _judge(value: float, bound: Bound | None, baseline: _Baseline | None, phase: str) -> str | None:
    if math.isnan(value):
        return "value is NaN (0/0: no data in the range?)"
    if bound is None:
        return None
    if baseline is not None:  # relative bound: learn during the baseline, compare afterwards
        if phase == "baseline":
            baseline.add(value)
            return None
        base = baseline.mean()
        if base is None:
            return "no baseline value to compare with"
        if not bound.holds(value, base):
            return f"value breaks {bound.describe('ratio')}"
        return None
    if not bound.holds(value):
        assert bound.value is not None
        return f"value breaks {bound.op} {bound.value:g}"
    return None


@probe_kind(PrometheusProbe)
def build_prometheus_sampler(spec: PrometheusProbe, region: Region, ctx: ProbeContext) -> Sampler:
    """A sampler running `spec.query` against the region's Prometheus and checking its value."""
    where = "prometheus probe"
    api = PromApi.build(spec.server, region, ctx, where=where)
    query = substitute(spec.query, region, ctx.secrets, where=f"{where} query", allow_secrets=False)
    baseline = _Baseline() if spec.value is not None and spec.value.factor is not None else None
    timeout_s = spec.timeout_s
    timed_out = timeout_text(timeout_s)
    phase_of = ctx.phase

    async def sample() -> Outcome:
        phase = phase_of() if phase_of is not None else "baseline"
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                value = await api.value(query)
        except TimeoutError:
            return Outcome(False, time.perf_counter() - started, None, timed_out)
        except QueryError as exc:
            return Outcome(False, time.perf_counter() - started, None, str(exc))
        error = _judge(value, spec.value, baseline, phase)
        return Outcome(error is None, time.perf_counter() - started, None, error)

    return sample


def _raise_first(answer: float | BaseException) -> float:
    if isinstance(answer, BaseException):
        raise answer
    return answer


def window_text(seconds: float) -> str:
    """A PromQL range: whole seconds as `90s`, else milliseconds (`1500ms`)."""
    return f"{seconds:g}s" if float(seconds).is_integer() else f"{round(seconds * 1000)}ms"


@probe_kind(BurnRateProbe)
def build_burn_rate_sampler(spec: BurnRateProbe, region: Region, ctx: ProbeContext) -> Sampler:
    """A sampler failing while the error budget burns faster than `spec.factor` over both windows."""
    where = "burn_rate probe"
    api = PromApi.build(spec.server, region, ctx, where=where)
    budget = 1.0 - spec.objective
    queries = []
    for window in (spec.long_window_s, spec.short_window_s):
        for text, what in ((spec.errors, "errors"), (spec.total, "total")):
            q = substitute(text, region, ctx.secrets, where=f"{where} {what}", allow_secrets=False)
            queries.append(q.replace(WINDOW, window_text(window)))
    timeout_s = spec.timeout_s
    timed_out = timeout_text(timeout_s)
    burning = (
        f"error budget burning faster than {spec.factor:g}x over both {format_duration(spec.long_window_s)} "
        f"and {format_duration(spec.short_window_s)} (SLO {spec.objective * 100:g}%)"
    )

    def burn(errors: float, total: float) -> float:
        if not total > 0:  # no traffic (or NaN): nothing burns
            return 0.0
        return (0.0 if math.isnan(errors) else errors) / total / budget

    async def sample() -> Outcome:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                # no error series yet means no errors; no traffic at all means nothing burns
                answers = await asyncio.gather(*(api.value(q, empty_is=0.0) for q in queries), return_exceptions=True)
            values = [_raise_first(a) for a in answers]
        except TimeoutError:
            return Outcome(False, time.perf_counter() - started, None, timed_out)
        except QueryError as exc:
            return Outcome(False, time.perf_counter() - started, None, str(exc))
        long_rate, short_rate = burn(values[0], values[1]), burn(values[2], values[3])
        latency = time.perf_counter() - started
        if long_rate > spec.factor and short_rate > spec.factor:
            return Outcome(False, latency, None, burning)
        return Outcome(True, latency)

    return sample
