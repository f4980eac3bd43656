"""Probes: included definitions (`include:`/`use:`), probe specs, tolerances, and the guardrails that watch them."""

from __future__ import annotations

import os

from ..errors import Issue
from ..model import (
    DEFAULT_MAX_BODY,
    ChaosToolkitProbe,
    CommandProbe,
    Guardrail,
    HttpProbe,
    Probe,
    ProbeSpec,
    PythonProbe,
    TcpProbe,
    Tolerance,
)
from ..node import Document, Node, compose, read_text
from ..units import format_duration
from .fields import (
    _EXPECTED_URL,
    Fields,
    _argv,
    _chain,
    _count,
    _duration,
    _get,
    _is_url,
    _last,
    _latency,
    _location,
    _merge,
    _pairs,
    _positive,
    _ratio,
    _regex,
    _regions,
    _size,
    _str,
    _text,
    _unique,
    _unknown,
)
from .keys import (
    AFTER_KEYS,
    CHAOSTOOLKIT_KEYS,
    COMMAND_KEYS,
    GUARDRAIL_KEYS,
    HTTP_KEYS,
    HTTP_METHODS,
    PROBE_KEYS,
    PYTHON_KEYS,
    SPEC_KEYS,
    TCP_KEYS,
    TEMPLATE_KEYS,
    TOLERANCE_KEYS,
)
from .sections import _Sections
from .services import file_reader, read_burn_rate, read_kubernetes, read_prometheus, read_tls


class _Probes(_Sections):
    """Adds the probe sections (steady_state, include, guardrails) to the section readers."""

    def include(self, node: Node) -> None:
        """Read the probe definitions of included files (paths relative to the experiment file)."""
        items = [node] if node.is_scalar and not node.is_null else node.items()
        for item in items or []:
            rel = item.str()
            if rel is None:
                continue
            path = os.path.normpath(os.path.join(self.base_dir, rel))
            text = read_text(path)
            if isinstance(text, Issue):
                shown = f"'{rel}'" if path == rel else f"'{rel}' ({path})"
                item.error(f"cannot include {shown}: {text.message}")
                continue
            sub = Document(path, variables=self.doc.variables, issues=self.doc.issues)
            self.dirs[path] = os.path.dirname(path) or "."
            root = compose(text, sub)
            f = root.mapping(("probes",), required=("probes",)) if root is not None else None
            if root is None or f is None or "probes" not in f:
                continue
            self.template_roots.append(root)
            for name, body in f["probes"].entries() or []:
                if name in self.templates:
                    body.error(f"probe definition '{name}' is already defined by an earlier include")
                    continue
                fields = body.mapping(TEMPLATE_KEYS)
                self.templates[name] = None if fields is None else [fields]

    def probes(self, node: Node | None) -> tuple[Probe, ...]:
        f = node.mapping(("probes",), required=("probes",)) if node is not None else None
        items = f["probes"].items() if f and "probes" in f else None
        if f and items == []:
            f["probes"].error("expected at least one probe")
        return _unique([(item, self.probe(item)) for item in items or []], "probe")

    def probe(self, item: Node) -> Probe | None:
        own = item.mapping(PROBE_KEYS, required=("name",))
        if own is None:
            return None
        fields: Fields = [own]
        if "use" in own:
            template = self.template(own["use"])
            if template is None:
                return None
            fields = [*template, own]
        name = _get(fields, "name", _str, None)
        regions_node = _last(fields, "regions")
        regions = tuple(self.regions) if regions_node is None else self.region_names(regions_node)
        spec = self.spec(fields, item, regions)
        tolerance = self.tolerance(_chain(fields, "tolerance")) or Tolerance()
        during = self.during(_chain(fields, "during")) if _last(fields, "during") is not None else tolerance
        after = _chain(fields, "after")
        after_f = (_merge(after, AFTER_KEYS) if after else None) or []
        recover_within = _get(after_f, "recover_within", _positive, None)
        if recover_within is not None and self.phases and recover_within > self.phases.recovery_s:
            node = _last(after_f, "recover_within")
            assert node is not None
            limit = f"longer than the recovery phase (phases.recovery: {format_duration(self.phases.recovery_s)})"
            if node.doc.file == item.doc.file:
                node.error(limit)
            else:  # from an included definition: say so at the probe that uses it, not in the shared file
                item.error(
                    f"probe {name!r}: after.recover_within {format_duration(recover_within)} from its definition "
                    f"({node.doc.file}:{node.line}:{node.column}) is {limit}; override it next to `use:` "
                    "(after: {recover_within: ...}) or lengthen phases.recovery"
                )
        if name is None or spec is None or not regions:
            return None
        return Probe(
            name=name,
            spec=spec,
            every_s=_get(fields, "every", _duration, 1.0),
            tolerance=tolerance,
            during=during,
            recover_within_s=recover_within,
            recovery_streak=_get(after_f, "streak", _count, 3),
            regions=regions,
            location=_location(item),
        )

    def template(self, node: Node) -> Fields | None:
        name = node.str()
        if name is None:
            return None
        if name not in self.templates:
            _unknown(node, name, self.templates, "probe definition")
            return None
        return self.templates[name]

    def during(self, nodes: list[Node]) -> Tolerance | None:
        if nodes[-1].is_scalar and not nodes[-1].is_null:
            if nodes[-1].str() not in (None, "ignore"):
                nodes[-1].error(f"expected 'ignore' or a tolerance mapping, got {nodes[-1].kind}")
            return None
        return self.tolerance(nodes)

    def tolerance(self, nodes: list[Node]) -> Tolerance | None:
        f = _merge(nodes, TOLERANCE_KEYS) if nodes else None
        if f is None:
            return None
        return Tolerance(
            success_ratio=_get(f, "success_ratio", _ratio, None),
            p50=_get(f, "p50", _latency, None),
            p95=_get(f, "p95", _latency, None),
            p99=_get(f, "p99", _latency, None),
            max=_get(f, "max", _latency, None),
            mean=_get(f, "mean", _latency, None),
            window_s=_get(f, "window", _positive, None),
            min_samples=_get(f, "min_samples", _count, 1),
        )

    def spec(self, fields: Fields, at: Node, regions: tuple[str, ...]) -> ProbeSpec | None:
        """The probe itself: exactly one of SPEC_KEYS (the last layer naming one wins)."""
        for layer in reversed(fields):
            present = [k for k in SPEC_KEYS if k in layer]
            if present:
                for extra in present[1:]:
                    layer[extra].error(f"a probe is one of {', '.join(SPEC_KEYS)}; '{present[0]}' is also given")
                nodes = _chain(fields, present[0])
                return self.read_spec(present[0], nodes, regions)
        at.error(f"missing the probe itself: one of {', '.join(repr(k) for k in SPEC_KEYS)}")
        return None

    def read_spec(self, kind: str, nodes: list[Node], regions: tuple[str, ...]) -> ProbeSpec | None:
        if kind == "http":
            return self.http(nodes, regions)
        if kind == "tcp":
            return self.tcp(nodes, regions)
        if kind == "command":
            return self.command(nodes)
        if kind == "chaostoolkit":
            return self.chaostoolkit(nodes)
        if kind in ("prometheus", "burn_rate", "kubernetes"):
            return self.service_spec(kind, nodes, regions)
        return self.python(nodes)

    def service_spec(self, kind: str, nodes: list[Node], regions: tuple[str, ...]) -> ProbeSpec | None:
        """What real services expose: a Prometheus query, a burn-rate rule, Kubernetes readiness."""
        path_of = file_reader(self.dirs, self.base_dir)
        servers = {name: r.prometheus for name, r in self.regions.items()}
        if kind == "prometheus":
            return read_prometheus(nodes, regions, servers, path_of)
        if kind == "burn_rate":
            return read_burn_rate(nodes, regions, servers, self.phases, path_of)
        return read_kubernetes(nodes, path_of)

    def http(self, nodes: list[Node], regions: tuple[str, ...]) -> HttpProbe | None:
        f = _merge(nodes, HTTP_KEYS, required=("url",))
        url_node = _last(f or [], "url")
        url = url_node.str() if url_node is not None else None
        if f is None or url_node is None or url is None:
            return None
        if url.startswith("/"):
            missing = [r for r in regions if self.regions[r].base_url is None]
            if missing:
                url_node.error(f"a path needs a base_url; not set for {_regions(missing)}")
        elif not url.startswith("${region.") and not _is_url(url):
            url_node.error(f"expected a path such as '/health' or {_EXPECTED_URL}, got {url!r}")
            return None
        method = _get(f, "method", _str, "GET").upper()
        if method not in HTTP_METHODS:
            node = _last(f, "method")
            assert node is not None
            node.error(f"expected an HTTP method ({', '.join(HTTP_METHODS)}), got {method!r}")
        json_path = _get(f, "json_path", _str, None)
        json_expect = _last(f, "json_expect")
        if json_expect is not None and json_path is None:
            json_expect.error("json_expect needs json_path (the field to compare)")
        return HttpProbe(
            url=url,
            method=method,
            timeout_s=_get(f, "timeout", _positive, 5.0),
            expect_status=_get(f, "expect_status", lambda n: n.int_list(min=100, max=599), (200,)),
            body_regex=_get(f, "body_regex", _regex, None),
            json_path=json_path,
            json_expect=None if json_expect is None else json_expect.scalar(),
            max_latency_s=_get(f, "max_latency", _positive, None),
            headers=_get(f, "headers", _pairs, ()),
            body=_get(f, "body", _text, None),
            max_body_bytes=_get(f, "max_body", _size, DEFAULT_MAX_BODY),
            tls=read_tls(_chain(f, "tls"), file_reader(self.dirs, self.base_dir)),
        )

    def tcp(self, nodes: list[Node], regions: tuple[str, ...]) -> TcpProbe | None:
        f = _merge(nodes, TCP_KEYS, required=("port",))
        port = _get(f or [], "port", lambda n: n.int(min=1, max=65535), None)
        host = _get(f or [], "host", _str, None)
        if f is None or port is None:
            return None
        if host is None:
            missing = [r for r in regions if self.regions[r].host is None]
            if missing:
                nodes[-1].error(f"no host: set 'host' here, or host or base_url for {_regions(missing)}")
        return TcpProbe(
            host=host,
            port=port,
            timeout_s=_get(f, "timeout", _positive, 2.0),
            max_latency_s=_get(f, "max_connect", _positive, None),
        )

    def command(self, nodes: list[Node]) -> CommandProbe | None:
        f = _merge(nodes, COMMAND_KEYS, required=("argv",))
        argv = _get(f or [], "argv", _argv, None)
        if f is None or argv is None:
            return None
        return CommandProbe(
            argv=argv,
            timeout_s=_get(f, "timeout", _positive, 10.0),
            expect_exit=_get(f, "expect_exit", lambda n: n.int_list(min=0, max=255), (0,)),
            stdout_regex=_get(f, "stdout_regex", _regex, None),
            env=_get(f, "env", _pairs, ()),
        )

    def python(self, nodes: list[Node]) -> PythonProbe | None:
        f = _merge(nodes, PYTHON_KEYS, required=("file",))
        file_node = _last(f or [], "file")
        rel = file_node.str() if file_node is not None else None
        if f is None or file_node is None or rel is None:
            return None
        path = os.path.abspath(os.path.join(self.dirs.get(file_node.doc.file, self.base_dir), rel))
        function = _get(f, "function", _str, "probe")
        if not os.path.isfile(path):
            file_node.error(f"no such file: {path}")
            return None
        if not function.isidentifier():
            node = _last(f, "function")
            assert node is not None
            node.error(f"expected a Python function name, got {function!r}")
        return PythonProbe(file=path, function=function, timeout_s=_get(f, "timeout", _positive, 5.0))

    def chaostoolkit(self, nodes: list[Node]) -> ChaosToolkitProbe | None:
        from ..clients.chaostoolkit import parse_provider

        f = _merge(nodes, CHAOSTOOLKIT_KEYS, required=("provider",))
        provider_node = _last(f or [], "provider")
        if f is None or provider_node is None:
            return None
        configuration = _get(f, "configuration", _pairs, ())
        provider = parse_provider(provider_node, dict(configuration))
        if provider is None:
            return None
        return ChaosToolkitProbe(
            provider_json=provider.spec_json, configuration=configuration, timeout_s=_get(f, "timeout", _positive, 10.0)
        )

    def guardrails(self, node: Node, probes: tuple[Probe, ...]) -> tuple[Guardrail, ...]:
        by_name = {p.name: p for p in probes}
        return _unique([(item, self.guardrail(item, by_name)) for item in node.items() or []], "guardrail")

    def guardrail(self, item: Node, probes: dict[str, Probe]) -> Guardrail | None:
        own = item.mapping(GUARDRAIL_KEYS, required=("name",))
        if own is None:
            return None
        f = [own]
        probe: Probe | None = None
        if "probe" in own:
            ref = own["probe"].str()
            if ref is not None and ref not in probes:
                _unknown(own["probe"], ref, probes, "steady-state probe")
            probe = probes.get(ref or "")
        has_spec = any(k in own for k in SPEC_KEYS)
        if ("probe" in own) == has_spec:
            item.error(
                "a guardrail watches either 'probe' (a steady-state probe) or its own http/tcp/command/python probe"
            )
        if probe is not None and "every" in own:
            every = format_duration(probe.every_s)
            own["every"].error(
                f"the guardrail uses the samples of probe '{probe.name}' (every {every}); remove 'every'"
            )
        if "regions" in own:
            allowed = probe.regions if probe else None
            regions = self.region_names(own["regions"], allowed, f"probe '{probe.name}'" if probe else "")
        else:
            regions = probe.regions if probe else tuple(self.regions)
        spec = self.spec(f, item, regions) if has_spec and "probe" not in own else None
        if not any(k in own for k in ("success_ratio", "p99", "consecutive_failures")):
            item.error("a guardrail needs at least one of success_ratio, p99 or consecutive_failures")
        name = _get(f, "name", _str, None)
        if name is None or (probe is None and spec is None):
            return None
        return Guardrail(
            name=name,
            probe=probe.name if probe else None,
            spec=spec,
            every_s=probe.every_s if probe else _get(f, "every", _duration, 1.0),
            regions=regions,
            window_s=_get(f, "window", _positive, 5.0),
            success_ratio=_get(f, "success_ratio", _ratio, None),
            p99=_get(f, "p99", _latency, None),
            consecutive_failures=_get(f, "consecutive_failures", _count, None),
            min_samples=_get(f, "min_samples", _count, 3),
            location=_location(item),
        )
