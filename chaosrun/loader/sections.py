"""The parser's state, and the sections that need no probe: regions, phases, secrets, method,
rollbacks, toxiproxy, caps and the check of `${secret.x}`/`${region.x}` placeholders."""

from __future__ import annotations

import os
import re
from collections.abc import Collection
from urllib.parse import urlsplit

from ..faults import ParseContext, get_kind, known_kinds
from ..kube.config import read_cluster
from ..model import Caps, FaultStep, Phases, Region, Restart, Rollback, SecretRef, ToxiproxyProxy, ToxiproxyServer
from ..node import Document, Node
from ..units import format_duration
from .fields import (
    Fields,
    _address,
    _argv,
    _count,
    _duration,
    _filtered,
    _get,
    _last,
    _location,
    _positive,
    _str,
    _unique,
    _unknown,
    _url,
    _value,
    _walk_scalars,
)
from .keys import (
    CAPS_KEYS,
    COMMON_FAULT_KEYS,
    DEFAULT_TOXIPROXY_URL,
    PHASE_KEYS,
    PROXY_KEYS,
    READY_KEYS,
    REGION_KEYS,
    RESTART_KEYS,
    ROLLBACK_KEYS,
    SECRET_KEYS,
    TOXIPROXY_KEYS,
)
from .services import file_reader, read_tls

# the characters toxic_name() (faults/toxiproxy/undo.py) turns into `_`; a test keeps the two equal
STEP_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PLACEHOLDER = re.compile(r"\$\{(secret|region)\.([A-Za-z0-9_.-]*)\}")
_REGION_ATTRS = ("name", "base_url")
# field paths where the probe kinds and the engine resolve ${secret.x} (command argv is refused: `ps` shows it)
_SECRET_OK = re.compile(
    r"(?:^|\.)(?:http\.(?:url|body|headers\..+)|command\.env\..+)$|^rollbacks\[\d+\]\.command\[\d+\]$"
    r"|(?:^|\.)tls\.key$|(?:^|\.)(?:prometheus|burn_rate)\.(?:auth\.(?:bearer|password)|headers\..+)$"
)


class _Sections:
    """The state of one experiment's reading, and the sections that need no probe; problems go to the Document."""

    def __init__(self, doc: Document, base_dir: str) -> None:
        self.doc = doc
        self.base_dir = base_dir
        self.dirs = {doc.file: base_dir}  # folder of each file, for relative paths
        self.regions: dict[str, Region] = {}
        self.phases: Phases | None = None
        self.templates: dict[str, Fields | None] = {}
        self.template_roots: list[Node] = []

    def region_list(self, node: Node | None) -> list[Region]:
        out = []
        for name, value in (node.entries() or []) if node is not None else []:
            f = [] if value.is_null else [value.mapping(REGION_KEYS) or {}]
            base_url = _get(f, "base_url", _url, None)
            host = _get(f, "host", _str, None) or (urlsplit(base_url).hostname if base_url else None)
            if base_url is None and (bad := _last(f, "base_url")) is not None:
                base_url = str(bad.raw.value)  # reported already; keep it so paths on it report nothing more
            tls_node = _last(f, "tls")
            cluster_node = _last(f, "cluster")
            names = [n for n, _ in node.entries() or []] if node is not None else []
            cluster = None if cluster_node is None else read_cluster(cluster_node, self.base_dir, names)
            out.append(
                Region(
                    name=name,
                    base_url=base_url,
                    host=host,
                    connect_to=_get(f, "connect_to", _str, None),
                    tls=read_tls([tls_node], file_reader(self.dirs, self.base_dir)) if tls_node is not None else None,
                    prometheus=_get(f, "prometheus", _url, None),
                    cluster=cluster,
                )
            )
        if node is not None and node.is_mapping and not node.raw.value:
            node.error("expected at least one region, such as 'local: {base_url: http://127.0.0.1:8080}'")
        return out

    def region_names(self, node: Node, allowed: Collection[str] | None = None, owner: str = "") -> tuple[str, ...]:
        """A list of known region names (a single name is accepted)."""
        items = [node] if node.is_scalar and not node.is_null else node.items()
        if items is not None and not items:
            node.error("expected at least one region (omit the key for all regions)")
        out = []
        for item in items or []:
            name = item.str()
            if name is None:
                continue
            if name not in self.regions:
                _unknown(item, name, self.regions, "region")
            elif allowed is not None and name not in allowed:
                item.error(f"{owner} does not run in region '{name}' (it runs in {', '.join(allowed)})")
            else:
                out.append(name)
        return tuple(out)

    def read_phases(self, node: Node | None) -> Phases | None:
        f = node.mapping(PHASE_KEYS, required=PHASE_KEYS) if node is not None else None
        if f is None or len(f) < len(PHASE_KEYS):
            return None
        baseline = _get([f], "baseline", _positive, None)
        fault, recovery = _get([f], "fault", _duration, None), _get([f], "recovery", _duration, None)
        if baseline is None or fault is None or recovery is None:
            return None
        return Phases(baseline_s=baseline, fault_s=fault, recovery_s=recovery)

    def secrets(self, node: Node) -> tuple[SecretRef, ...]:
        out = []
        for name, value in node.entries() or []:
            f = value.mapping(SECRET_KEYS)
            if f is None:
                continue
            if len(f) != 1:
                value.error("expected exactly one of 'env: VARIABLE' or 'file: path'")
                continue
            env = _get([f], "env", _str, None)
            file = _get([f], "file", _str, None)
            if file is not None:
                file = os.path.abspath(os.path.join(self.base_dir, file))
            if env is not None or file is not None:
                (source,) = f.values()
                out.append(SecretRef(name=name, env=env, file=file, location=_location(source)))
        return tuple(out)

    def method(self, node: Node, ctx: ParseContext) -> tuple[FaultStep, ...]:
        steps = [(item, self.fault_step(item, i, ctx)) for i, item in enumerate(node.items() or [])]
        unique = _unique(steps, "step")
        # Toxic names carry the step name with URL-unsafe characters as `_` (faults/toxiproxy/undo.py,
        # toxic_name): two names that become the same would share one toxic and undo each other.
        seen: dict[str, tuple[str, int]] = {}
        for item, step in steps:
            if step is None or step not in unique:
                continue
            safe = STEP_NAME_UNSAFE.sub("_", step.name)
            if safe in seen and seen[safe][0] != step.name:
                other, line = seen[safe]
                _value(item, "name").error(
                    f"step names '{other}' (line {line}) and '{step.name}' both become '{safe}' in toxic names; "
                    "rename one"
                )
            seen.setdefault(safe, (step.name, item.line))
        return unique

    def fault_step(self, item: Node, index: int, ctx: ParseContext) -> FaultStep | None:
        if not item.is_mapping:
            item.error(f"expected a mapping such as {{fault: toxiproxy.latency, ...}}, got {item.kind}")
            return None
        own = _filtered(item, COMMON_FAULT_KEYS, keep=True).mapping(COMMON_FAULT_KEYS, required=("fault",)) or {}
        f = [own]
        kind_name = _get(f, "fault", _str, None)
        kind = get_kind(kind_name) if kind_name else None
        if kind_name is not None and kind is None:
            _unknown(own["fault"], kind_name, known_kinds(), "fault kind")
        start = _get(f, "start", _duration, 0.0)
        duration = _get(f, "duration", _positive, None)
        if self.phases is not None:
            fault_s = self.phases.fault_s
            if start >= fault_s:
                own.get("start", item).error(
                    f"starts at {format_duration(start)}, but the fault phase lasts {format_duration(fault_s)}"
                )
            elif duration is not None and start + duration > fault_s:
                own["duration"].error(
                    f"ends at {format_duration(start + duration)} (start + duration), after the fault phase "
                    f"ends at {format_duration(fault_s)}; shorten it or lengthen phases.fault"
                )
        if kind is None or kind_name is None:
            return None
        before = len(self.doc.issues)
        params = kind.parse(_filtered(item, COMMON_FAULT_KEYS, keep=False), ctx)
        if params is None:
            if len(self.doc.issues) == before:
                item.error(f"fault kind '{kind_name}' rejected its parameters")
            return None
        return FaultStep(
            kind=kind_name,
            name=_get(f, "name", _str, f"{kind_name}#{index}"),
            params=params,
            start_s=start,
            duration_s=duration,
            location=_location(item),
            restart=self.restart(own["restart"]) if "restart" in own else None,
        )

    def restart(self, node: Node) -> Restart | None:
        """`restart: {command: [...], timeout: 30s, ready: {tcp: HOST:PORT} | {http: URL}}`."""
        f = node.mapping(RESTART_KEYS, required=("command",))
        argv = _get([f] if f else [], "command", _argv, None)
        if f is None or argv is None:
            return None
        tcp = http = None
        if "ready" in f:
            ready = f["ready"].mapping(READY_KEYS) or {}
            if len(ready) != 1:
                f["ready"].error("expected exactly one of 'tcp: HOST:PORT' or 'http: URL'")
                return None
            tcp, http = _get([ready], "tcp", _address, None), _get([ready], "http", _url, None)
            if tcp is None and http is None:
                return None
        return Restart(
            argv=argv, timeout_s=_get([f], "timeout", _positive, 30.0), ready_tcp=tcp, ready_http=http,
            location=_location(node),
        )  # fmt: skip

    def rollbacks(self, node: Node) -> tuple[Rollback, ...]:
        return _unique([(item, self.rollback(item, i)) for i, item in enumerate(node.items() or [])], "rollback")

    def rollback(self, item: Node, index: int) -> Rollback | None:
        f = item.mapping(ROLLBACK_KEYS, required=("command",))
        argv = _get([f] if f else [], "command", _argv, None)
        if f is None or argv is None:
            return None
        return Rollback(
            name=_get([f], "name", _str, f"rollback#{index}"),
            argv=argv,
            timeout_s=_get([f], "timeout", _positive, 30.0),
            location=_location(item),
        )

    def toxiproxy(self, node: Node | None) -> tuple[tuple[ToxiproxyServer, ...], tuple[ToxiproxyProxy, ...]]:
        f = (node.mapping(TOXIPROXY_KEYS) or {}) if node is not None else {}
        servers: dict[str, str | None] = {}
        if "server" in f and "servers" in f:
            f["server"].error("give either 'server' (one URL) or 'servers' (name -> URL), not both")
        elif "server" in f:
            servers["default"] = _url(f["server"])
        elif "servers" in f:
            servers = {name: _url(value) for name, value in f["servers"].entries() or []}
            if f["servers"].is_mapping and not servers:
                f["servers"].error("expected at least one server, such as 'default: http://127.0.0.1:8474'")
        else:
            servers["default"] = DEFAULT_TOXIPROXY_URL
        default = "default" if "default" in servers or len(servers) != 1 else next(iter(servers))
        proxies = []
        for name, value in (f["proxies"].entries() or []) if "proxies" in f else []:
            if "/" in name or name.strip(".") == "":
                value.error(
                    f"proxy name {name!r} cannot be used: Toxiproxy addresses a proxy by its name in a URL path, "
                    "so a name with '/' (or only dots) could be created but never changed or deleted; rename it"
                )
                continue
            p = [] if value.is_null else [value.mapping(PROXY_KEYS) or {}]
            listen, upstream = _get(p, "listen", _address, None), _get(p, "upstream", _address, None)
            if (_last(p, "listen") is None) != (_last(p, "upstream") is None):
                value.error("give both listen and upstream (chaosrun creates the proxy) or neither (it exists already)")
            region_node = _last(p, "region")
            region = region_node.str() if region_node is not None else None
            if region_node is not None and region is not None and region not in self.regions:
                _unknown(region_node, region, self.regions, "region")
            server_node = _last(p, "server")
            server = (server_node.str() if server_node is not None else default) or default
            if server not in servers:
                _unknown(server_node or value, server, servers, "toxiproxy server")
            at = _location(value)
            proxies.append(
                ToxiproxyProxy(name=name, server=server, listen=listen, upstream=upstream, region=region, location=at)
            )
        known = tuple(ToxiproxyServer(name=n, url=u) for n, u in servers.items() if u is not None)
        return known, tuple(proxies)

    def caps(self, node: Node, proxies: tuple[ToxiproxyProxy, ...] | None) -> Caps:
        """`caps:`; proxy names are checked against `proxies` when known (not in a settings file)."""
        f = node.mapping(CAPS_KEYS)
        if f is None:
            return Caps()
        fields = [f]
        names = [p.name for p in proxies or ()]
        allowed = f.get("allowed_proxies") if proxies is not None else None
        for item in (allowed.items() or []) if allowed is not None and allowed.is_sequence else []:
            name = item.str()
            if name is not None and name not in names:
                _unknown(item, name, names, "proxy")
        return Caps(
            max_targets=_get(fields, "max_targets", _count, None),
            max_targets_percent=_get(fields, "max_targets_percent", lambda n: n.float(min=0, max=100), None),
            max_fault_duration_s=_get(fields, "max_fault_duration", _positive, None),
            allowed_toxiproxy=_get(fields, "allowed_toxiproxy", Node.str_list, ()),
            allowed_proxies=_get(fields, "allowed_proxies", Node.str_list, ()),
            allowed_namespaces=_get(fields, "allowed_namespaces", Node.str_list, ()),
        )

    def check_placeholders(self, root: Node, secrets: Collection[str]) -> None:
        """`${secret.x}` must name a declared secret, in a place where it is resolved; `${region.x}` an attribute."""
        for node in _walk_scalars(root):
            for m in _PLACEHOLDER.finditer(str(node.raw.value)):
                scope, name = m.groups()
                if scope == "region":
                    if name not in _REGION_ATTRS:
                        _unknown(node, f"region.{name}", [f"region.{a}" for a in _REGION_ATTRS], "placeholder")
                elif name not in secrets:
                    _unknown(node, name, sorted(secrets), "secret")
                elif not _SECRET_OK.search(node.path):
                    node.error(
                        f"${{secret.{name}}} is resolved only in http url/headers/body, command env, rollback "
                        "commands, tls.key and prometheus/burn_rate auth and headers; not here"
                    )
