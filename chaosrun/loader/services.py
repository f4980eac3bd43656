"""Readers for what real services expose: TLS options, Prometheus queries and burn-rate rules,
Kubernetes readiness. Each reports problems on its node and returns None (like `fields`)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from ..model import (
    BURN_WINDOW as WINDOW,
)
from ..model import (
    BurnRateProbe,
    Experiment,
    HttpProbe,
    KubernetesProbe,
    Phases,
    PrometheusProbe,
    PromServer,
    TlsOptions,
)
from ..node import Node
from ..units import Bound, Op, format_duration
from .fields import Fields, _chain, _get, _last, _merge, _pairs, _positive, _str, _url
from .keys import AUTH_KEYS, BURN_RATE_KEYS, KUBERNETES_KEYS, PROMETHEUS_KEYS, TLS_KEYS

__all__ = ["insecure_tls", "read_burn_rate", "read_kubernetes", "read_prometheus", "read_tls"]

PathOf = Callable[[Node], str | None]  # a file path relative to the file declaring `node`, made absolute
_SECRET_ONLY = re.compile(r"^\$\{secret\.([A-Za-z0-9_.-]+)\}$")
_VALUE_BOUND = re.compile(r"^\s*(<=|>=|==|<|>)\s*(.+?)\s*$")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*x\s*baseline$")
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)\s*%$")
_DEFAULT_FACTOR = 14.4  # a 30-day budget's 2% in 1 hour: the page rule of the SRE workbook, Sloth and Pyrra


def file_reader(dirs: dict[str, str], base_dir: str) -> PathOf:
    """Reads a path relative to the folder of the file that declares it; reports a missing file."""

    def read(node: Node) -> str | None:
        rel = node.str()
        if rel is None:
            return None
        path = os.path.abspath(os.path.join(dirs.get(node.doc.file, base_dir), os.path.expanduser(rel)))
        if not os.path.isfile(path):
            node.error(f"no such file: {path}")
            return None
        return path

    return read


def read_tls(nodes: list[Node], path_of: PathOf) -> TlsOptions | None:
    """`tls: {ca_file, cert_file, key_file | key: ${secret.x}, server_name, insecure_skip_verify}`."""
    f = _merge(nodes, TLS_KEYS) if nodes else None
    if f is None:
        return None
    key_secret = None
    key_node = _last(f, "key")
    if key_node is not None:
        text = key_node.str()
        m = _SECRET_ONLY.match(text or "")
        if text is not None and m is None:
            key_node.error("expected the client key's PEM text from a secret: '${secret.name}' (or use key_file)")
        key_secret = m.group(1) if m else None
    key_file_node = _last(f, "key_file")
    if key_file_node is not None and key_node is not None:
        key_file_node.error("give the client key either as key_file or as key (a secret), not both")
    opts = TlsOptions(
        ca_file=_get(f, "ca_file", path_of, None),
        cert_file=_get(f, "cert_file", path_of, None),
        key_file=_get(f, "key_file", path_of, None),
        key_secret=key_secret,
        server_name=_get(f, "server_name", _str, None),
        insecure_skip_verify=_get(f, "insecure_skip_verify", Node.bool, None),
    )
    if (opts.key_file or opts.key_secret) and opts.cert_file is None:
        nodes[-1].error("a client key needs its certificate: add cert_file")
    return opts


def _value_bound(node: Node) -> Bound | None:
    """`'< 0.01'`, `'>= 3'`, `'<= 1.5x baseline'`: a comparison of a query's value."""
    text = node.str()
    m = _VALUE_BOUND.match(text or "")
    if text is None:
        return None
    if m is None:
        node.error(f"expected a comparison like '< 0.01', '>= 3' or '<= 1.5x baseline', got {text!r}")
        return None
    op: Op = m.group(1)  # type: ignore[assignment]
    rest = m.group(2)
    rel = _RELATIVE.match(rest)
    if rel:
        return Bound(op=op, factor=float(rel.group(1)))
    try:
        return Bound(op=op, value=float(rest))
    except ValueError:
        node.error(f"expected a number or 'Nx baseline' after {op}, got {rest!r}")
        return None


def _server(f: Fields, path_of: PathOf) -> PromServer:
    auth_nodes = _chain(f, "auth")
    auth = _merge(auth_nodes, AUTH_KEYS) if auth_nodes else None
    bearer = _get(auth or [], "bearer", _str, None)
    username = _get(auth or [], "username", _str, None)
    password = _get(auth or [], "password", _str, None)
    if auth is not None and bearer is not None and (username is not None or password is not None):
        auth_nodes[-1].error("auth is either 'bearer' or 'username' and 'password', not both")
    if auth is not None and (username is None) != (password is None):
        auth_nodes[-1].error("basic auth needs both 'username' and 'password'")
    return PromServer(
        url=_get(f, "url", _url, None),
        headers=_get(f, "headers", _pairs, ()),
        bearer=bearer,
        username=username,
        password=password,
        tls=read_tls(_chain(f, "tls"), path_of),
    )


def _needs_server(f: Fields, at: Node, regions: tuple[str, ...], servers: dict[str, str | None]) -> None:
    if _last(f, "url") is None:
        missing = [r for r in regions if servers.get(r) is None]
        if missing:
            at.error(f"no Prometheus server: set 'url' here, or 'prometheus' for region(s) {', '.join(missing)}")


def read_prometheus(
    nodes: list[Node], regions: tuple[str, ...], servers: dict[str, str | None], path_of: PathOf
) -> PrometheusProbe | None:
    """`prometheus: {query, value, url, timeout, auth, headers, tls}`."""
    f = _merge(nodes, PROMETHEUS_KEYS, required=("query",))
    query = _get(f or [], "query", _str, None)
    if f is None or query is None:
        return None
    _needs_server(f, nodes[-1], regions, servers)
    return PrometheusProbe(
        query=query,
        value=_get(f, "value", _value_bound, None),
        timeout_s=_get(f, "timeout", _positive, 5.0),
        server=_server(f, path_of),
    )


def _objective(node: Node) -> float | None:
    text = node.str()
    if text is None:
        return None
    m = _PERCENT.match(text)
    try:
        value = float(m.group(1)) / 100 if m else float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1:
        node.error(f"expected an SLO target strictly between 0 and 1 such as '99.9%' or 0.999, got {text!r}")
        return None
    return value


def read_burn_rate(
    nodes: list[Node], regions: tuple[str, ...], servers: dict[str, str | None], phases: Phases | None, path_of: PathOf
) -> BurnRateProbe | None:
    """`burn_rate: {errors, total, objective, long_window, short_window, factor, url, auth, tls}`.

    Windows default to the experiment: the long window is the fault phase, the short one a
    twelfth of it (the 1h/5m ratio of the SRE workbook's page rule), never under 1s."""
    f = _merge(nodes, BURN_RATE_KEYS, required=("errors", "total", "objective"))
    if f is None:
        return None
    errors = _get(f, "errors", _str, None)
    total = _get(f, "total", _str, None)
    for key in ("errors", "total"):
        node = _last(f, key)
        if node is not None and WINDOW not in (node.str() or WINDOW):
            node.error(f"the {key} query must use {WINDOW} as its range (as Sloth does), such as rate(x[{WINDOW}])")
    objective = _get(f, "objective", _objective, None)
    fault_s = phases.fault_s if phases is not None else 60.0
    long_s = _get(f, "long_window", _positive, max(1.0, round(fault_s)))
    short_s = _get(f, "short_window", _positive, max(1.0, round(long_s / 12)))
    if short_s >= long_s and (node := _last(f, "short_window") or _last(f, "long_window")) is not None:
        node.error(
            f"the short window ({format_duration(short_s)}) must be shorter than the long one "
            f"({format_duration(long_s)})"
        )
    factor = _get(f, "factor", lambda n: n.float(min=0.0), _DEFAULT_FACTOR)
    _needs_server(f, nodes[-1], regions, servers)
    if errors is None or total is None or objective is None:
        return None
    return BurnRateProbe(
        errors=errors,
        total=total,
        objective=objective,
        long_window_s=long_s,
        short_window_s=short_s,
        factor=factor,
        timeout_s=_get(f, "timeout", _positive, 5.0),
        server=_server(f, path_of),
    )


def _min_ready(node: Node) -> tuple[int | None, float | None] | None:
    if node.is_scalar and isinstance(node.scalar(), int) and not isinstance(node.scalar(), bool):
        count = node.int(min=0)
        return None if count is None else (count, None)
    text = node.str()
    m = _PERCENT.match(text or "")
    if text is None:
        return None
    if m is None or not 0 < float(m.group(1)) <= 100:
        node.error(f"expected a number of pods such as 3, or a share such as '100%' or '50%', got {text!r}")
        return None
    return None, float(m.group(1)) / 100


def read_kubernetes(nodes: list[Node], path_of: PathOf) -> KubernetesProbe | None:
    """`kubernetes: {namespace, selector | deployment, min_ready, kubeconfig, context, timeout}`."""
    f = _merge(nodes, KUBERNETES_KEYS)
    if f is None:
        return None
    selector = _get(f, "selector", _str, None)
    deployment = _get(f, "deployment", _str, None)
    if (selector is None) == (deployment is None):
        nodes[-1].error("a kubernetes probe watches either 'selector' (ready pods) or 'deployment' (replicas)")
        return None
    count, share = _get(f, "min_ready", _min_ready, (None, 1.0))
    return KubernetesProbe(
        namespace=_get(f, "namespace", _str, "default"),
        selector=selector,
        deployment=deployment,
        min_ready=count,
        min_ready_percent=share,
        kubeconfig=_get(f, "kubeconfig", path_of, None),
        context=_get(f, "context", _str, None),
        timeout_s=_get(f, "timeout", _positive, 5.0),
    )


def insecure_tls(exp: Experiment) -> list[str]:
    """A loud line for every place that switches certificate verification off."""
    out = []
    for r in exp.regions:
        if r.tls is not None and r.tls.insecure_skip_verify:
            out.append(f"region '{r.name}'")
    specs = [(f"probe '{p.name}'", p.spec) for p in exp.probes]
    specs += [(f"guardrail '{g.name}'", g.spec) for g in exp.guardrails if g.spec is not None]
    for owner, spec in specs:
        tls = spec.tls if isinstance(spec, HttpProbe) else None
        if isinstance(spec, PrometheusProbe | BurnRateProbe):
            tls = spec.server.tls
        if tls is not None and tls.insecure_skip_verify:
            out.append(owner)
    return [
        f"WARNING: {where}: tls.insecure_skip_verify is set: server certificates are NOT verified "
        "(anyone on the path can answer for the service)"
        for where in out
    ]
