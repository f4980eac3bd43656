"""YAML (or JSON) experiment file -> validated `Experiment`, or `ValidationFailed` listing every problem.

Each problem reads `file:line:col: field.path: message`; all problems of a file are reported
at once (sorted: the experiment file first, then included files, by position).

Order: the `variables` section is read first (file < `CHAOSRUN_VAR_<name>` < `--var`), then the
rest of the document is read with those values substituted into every string scalar.
`${secret.x}` and `${region.x}` placeholders stay in place: they are resolved late, per run
and per region, and only where the probe kinds resolve them.

Fault kinds: the loader reads a method entry's common keys (`COMMON_FAULT_KEYS`: `fault`,
`name`, `start`, `duration`) and hands the kind's `parse(node, ctx)` a Node of the same entry
**with the common keys removed** (same location, same field path `method[i]`). A kind therefore
calls `node.mapping(allowed=<its own keys>, required=...)` and never lists the common keys.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

import yaml

from .errors import Issue, ValidationFailed
from .faults import ParseContext, get_kind, known_kinds
from .model import (
    Caps,
    ChaosToolkitProbe,
    CommandProbe,
    Experiment,
    FaultStep,
    Guardrail,
    HttpProbe,
    Location,
    Phases,
    Probe,
    ProbeSpec,
    PythonProbe,
    Region,
    Rollback,
    SecretRef,
    TcpProbe,
    Tolerance,
    ToxiproxyProxy,
    ToxiproxyServer,
)
from .node import Document, Node, compose, read_text
from .units import Bound, format_duration

__all__ = ["COMMON_FAULT_KEYS", "DEFAULT_TOXIPROXY_URL", "load_experiment", "load_text", "parse_caps"]

COMMON_FAULT_KEYS = ("fault", "name", "start", "duration")
DEFAULT_TOXIPROXY_URL = "http://127.0.0.1:8474"
ENV_PREFIX = "CHAOSRUN_VAR_"

TOP_KEYS = ("title", "description", "tags", "regions", "variables", "secrets", "include", "steady_state",
            "phases", "method", "rollbacks", "guardrails", "toxiproxy", "caps")  # fmt: skip
REQUIRED_TOP_KEYS = ("title", "regions", "steady_state", "phases")
SPEC_KEYS = ("http", "tcp", "command", "python", "chaostoolkit")
PROBE_KEYS = ("name", "use", *SPEC_KEYS, "every", "regions", "tolerance", "during", "after")
TEMPLATE_KEYS = tuple(k for k in PROBE_KEYS if k not in ("name", "use"))
HTTP_KEYS = ("url", "method", "timeout", "expect_status", "body_regex", "json_path", "json_expect",
             "max_latency", "headers", "body")  # fmt: skip
TCP_KEYS = ("host", "port", "timeout", "max_connect")
COMMAND_KEYS = ("argv", "timeout", "expect_exit", "stdout_regex", "env")
PYTHON_KEYS = ("file", "function", "timeout")
CHAOSTOOLKIT_KEYS = ("provider", "configuration", "timeout")
TOLERANCE_KEYS = ("success_ratio", "p50", "p95", "p99", "max", "mean", "window", "min_samples")
AFTER_KEYS = ("recover_within", "streak")
PHASE_KEYS = ("baseline", "fault", "recovery")
GUARDRAIL_KEYS = ("name", "probe", *SPEC_KEYS, "every", "regions", "window", "success_ratio", "p99",
                  "consecutive_failures", "min_samples")  # fmt: skip
ROLLBACK_KEYS = ("name", "command", "timeout")
TOXIPROXY_KEYS = ("servers", "server", "proxies")
PROXY_KEYS = ("listen", "upstream", "region", "server")
CAPS_KEYS = ("max_targets", "max_targets_percent", "max_fault_duration", "allowed_toxiproxy",
             "allowed_proxies", "allowed_namespaces")  # fmt: skip
SECRET_KEYS = ("env", "file")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_LATE = ("secret.", "region.", "run.")
_PLACEHOLDER = re.compile(r"\$\{(secret|region)\.([A-Za-z0-9_.-]*)\}")
_REGION_ATTRS = ("name", "base_url")
# field paths where the probe kinds and the engine resolve ${secret.x} (command argv is refused: `ps` shows it)
_SECRET_OK = re.compile(
    r"(?:^|\.)(?:http\.(?:url|body|headers\..+)|command\.env\..+)$|^rollbacks\[\d+\]\.command\[\d+\]$"
)
_EXPECTED_URL = "an absolute URL such as 'http://127.0.0.1:8080'"
_ADDRESS = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/]+):(\d{1,5})$")

T = TypeVar("T")
D = TypeVar("D")
Fields = list[dict[str, Node]]  # the layers of one mapping: an included definition, then the override
_NO_VARIABLES: Mapping[str, str] = MappingProxyType({})


def load_experiment(
    path: str | Path, *, variables: Mapping[str, str] = _NO_VARIABLES, environ: Mapping[str, str] = os.environ
) -> Experiment:
    """Read and validate an experiment file. Raises ValidationFailed listing every problem."""
    file = str(path)
    text = read_text(file)
    if isinstance(text, Issue):
        raise ValidationFailed([text])
    return load_text(text, file=file, variables=variables, environ=environ)


def parse_caps(node: Node) -> Caps:
    """A `caps:` mapping outside an experiment (the settings file); problems go to node.doc."""
    return _Parser(node.doc, ".").caps(node, None)


def load_text(
    text: str,
    *,
    file: str = "<text>",
    variables: Mapping[str, str] = _NO_VARIABLES,
    environ: Mapping[str, str] = os.environ,
    base_dir: str | None = None,
) -> Experiment:
    """Validate an experiment given as text; relative paths are from `base_dir` (default: the file's folder)."""
    doc = Document(file)
    root = compose(text, doc)
    if root is None:
        _raise_if_any(doc)
        raise AssertionError("compose() returns None only with an issue")
    if not root.is_mapping:
        root.error(f"expected a mapping with keys such as title, regions, steady_state and phases, got {root.kind}")
        _raise_if_any(doc)
    keys = [k.value for k, _ in root.raw.value]
    if keys == ["probes"]:
        root.error("this is a file of probe definitions for 'include:', not an experiment; validate the experiment")
    elif "experiments" in keys and "steady_state" not in keys:
        root.error("this is a game-day plan, not an experiment; run it with 'chaosrun gameday'")
    _raise_if_any(doc)
    doc.variables = _variables(root, variables, environ)
    experiment = _Parser(doc, base_dir or os.path.dirname(file) or ".").experiment(root, text)
    _raise_if_any(doc)
    return experiment


def _raise_if_any(doc: Document) -> None:
    if doc.issues:
        unique = list(dict.fromkeys(doc.issues))  # a shared probe definition reports its problems once
        unique.sort(key=lambda i: (i.file != doc.file, i.file, i.line, i.column))
        raise ValidationFailed(unique)


def _variables(root: Node, overrides: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """Variable values: file < environment (CHAOSRUN_VAR_<name>) < overrides (--var). Values are literal."""
    values: dict[str, str] = {}
    node = next((Node(v, root.doc, "variables") for k, v in root.raw.value if k.value == "variables"), None)
    for name, value in (node.entries() or []) if node is not None else []:
        if not _NAME.match(name) or name.startswith(_LATE):
            value.error(f"invalid variable name '{name}'; use letters, digits, '_', '.', '-' (no secret./region./run.)")
        elif not value.is_scalar or value.is_null:
            value.error(f"expected a value (text or number), got {value.kind}")
        else:
            values[name] = str(value.raw.value)
    values.update((k[len(ENV_PREFIX) :], v) for k, v in environ.items() if k.startswith(ENV_PREFIX) and k != ENV_PREFIX)
    for name in overrides:
        if not _NAME.match(name):
            root.doc.add(0, 0, "", f"--var {name}=...: invalid variable name; use letters, digits, '_', '.', '-'")
    values.update(overrides)
    return values


# --- small readers ---------------------------------------------------------------------------


def _str(node: Node) -> str | None:
    return node.str()


def _text(node: Node) -> str | None:
    return node.str(non_empty=False)


def _duration(node: Node) -> float | None:
    return node.duration()


def _positive(node: Node) -> float | None:
    value = node.duration()
    if value == 0:
        node.error("must be more than 0s")
        return None
    return value


def _ratio(node: Node) -> Bound | None:
    return node.bound("ratio")


def _latency(node: Node) -> Bound | None:
    return node.bound("s")


def _count(node: Node) -> int | None:
    return node.int(min=1)


def _regex(node: Node) -> str | None:
    text = node.str()
    if text is not None:
        try:
            re.compile(text)
        except re.error as exc:
            node.error(f"not a valid regular expression: {exc}")
            return None
    return text


def _checked(node: Node, ok: Callable[[str], bool], expected: str) -> str | None:
    """A string that passes `ok`; else an error 'expected <expected>, got ...'."""
    text = node.str()
    if text is not None and not ok(text):
        node.error(f"expected {expected}, got {text!r}")
        return None
    return text


def _is_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a bad port or IPv6 literal
        return False


def _is_address(text: str) -> bool:
    m = _ADDRESS.match(text)
    return m is not None and 1 <= int(m.group(1)) <= 65535


def _url(node: Node) -> str | None:
    return _checked(node, _is_url, _EXPECTED_URL)


def _address(node: Node) -> str | None:
    return _checked(node, _is_address, "host:port such as '127.0.0.1:21001'")


def _argv(node: Node) -> tuple[str, ...] | None:
    """A command as a list of arguments; a string is refused (no shell)."""
    if node.is_scalar and not node.is_null:
        node.error("expected a list of arguments such as [curl, -fsS, URL]; a string is not run through a shell")
        return None
    items = node.items()
    if items is None:
        return None
    if not items:
        node.error("expected at least one argument (the program)")
        return None
    args = [items[0].str(), *(i.str(non_empty=False) for i in items[1:])]
    return None if None in args else tuple(a for a in args if a is not None)


def _pairs(node: Node) -> tuple[tuple[str, str], ...] | None:
    """A mapping of names to strings (headers, environment)."""
    entries = node.entries()
    if entries is None:
        return None
    values = [(k, v.str(non_empty=False)) for k, v in entries]
    return tuple((k, v) for k, v in values if v is not None)


def _get(fields: Fields, key: str, read: Callable[[Node], T | None], default: D) -> T | D:
    """The value of `key` in the last layer that sets it, read with `read`; `default` when absent or bad."""
    node = _last(fields, key)
    if node is None:
        return default
    value = read(node)
    return default if value is None else value


def _last(fields: Fields, key: str) -> Node | None:
    return next((layer[key] for layer in reversed(fields) if key in layer), None)


def _chain(fields: Fields, key: str) -> list[Node]:
    """The nodes to merge for a nested mapping: the last value and the mappings right before it."""
    nodes = [layer[key] for layer in fields if key in layer]
    out = nodes[-1:]
    for node in reversed(nodes[:-1]):
        if not (node.is_mapping and out[0].is_mapping):
            break
        out.insert(0, node)
    return out


def _merge(nodes: Sequence[Node], allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> Fields | None:
    """The layers of a mapping spread over `nodes` (later ones override keys of earlier ones)."""
    fields = [f for f in (n.mapping(allowed) for n in nodes) if f is not None]
    if len(fields) < len(nodes):
        return None
    for key in required:
        if _last(fields, key) is None:
            nodes[-1].error(f"missing required key '{key}'")
    return fields


def _unknown(node: Node, name: str, known: Collection[str], what: str) -> None:
    hint = difflib.get_close_matches(name, list(known), n=1)
    more = f"; did you mean '{hint[0]}'?" if hint else f"; known: {', '.join(known) or '(none)'}"
    node.error(f"unknown {what} '{name}'{more}")


def _regions(names: Sequence[str]) -> str:
    quoted = ", ".join(f"'{n}'" for n in names)
    return f"region {quoted}" if len(names) == 1 else f"regions {quoted}"


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def _unique(parsed: list[tuple[Node, N | None]], what: str) -> tuple[N, ...]:
    """The parsed entries, reporting a name used twice at the second one."""
    first: dict[str, Node] = {}
    for item, value in parsed:
        if value is None:
            continue
        if value.name in first:
            line = first[value.name].line
            _value(item, "name").error(f"duplicate {what} name '{value.name}' (first declared at line {line})")
        else:
            first[value.name] = item
    out = [v for item, v in parsed if v is not None and first[v.name] is item]
    return tuple(out)


def _value(node: Node, key: str) -> Node:
    """The value of `key` in a mapping node (the node itself when absent)."""
    raw = next((v for k, v in node.raw.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
    return node if raw is None else Node(raw, node.doc, node._child_path(key))


def _location(node: Node) -> Location:
    return Location(file=node.doc.file, line=node.line, column=node.column)


def _filtered(node: Node, keys: tuple[str, ...], *, keep: bool) -> Node:
    """The same mapping (location and path) with only `keys` (keep) or without them."""
    pairs = [(k, v) for k, v in node.raw.value if (isinstance(k, yaml.ScalarNode) and k.value in keys) == keep]
    return Node(yaml.MappingNode(node.raw.tag, pairs, node.raw.start_mark, node.raw.end_mark), node.doc, node.path)


def _walk_scalars(root: Node) -> list[Node]:
    out, stack = [], [root]
    while stack:
        node = stack.pop()
        if node.is_mapping:
            pairs = [(k, v) for k, v in node.raw.value if isinstance(k, yaml.ScalarNode)]
            stack += [Node(v, node.doc, node._child_path(str(k.value))) for k, v in pairs]
        elif node.is_sequence:
            stack += [Node(v, node.doc, node._child_path(i)) for i, v in enumerate(node.raw.value)]
        elif not node.is_null:
            out.append(node)
    return out


class _Parser:
    """Reads the sections of one experiment into the model; problems go to the Document."""

    def __init__(self, doc: Document, base_dir: str) -> None:
        self.doc = doc
        self.base_dir = base_dir
        self.dirs = {doc.file: base_dir}  # folder of each file, for relative paths
        self.regions: dict[str, Region] = {}
        self.phases: Phases | None = None
        self.templates: dict[str, Fields | None] = {}
        self.template_roots: list[Node] = []

    def experiment(self, root: Node, text: str) -> Experiment:
        top = root.mapping(TOP_KEYS, required=REQUIRED_TOP_KEYS) or {}
        f = [top]
        self.regions = {r.name: r for r in self.region_list(top.get("regions"))}
        self.phases = self.read_phases(top.get("phases"))
        secrets = _get(f, "secrets", self.secrets, ())
        servers, proxies = self.toxiproxy(top.get("toxiproxy"))
        if "include" in top:
            self.include(top["include"])
        probes = self.probes(top.get("steady_state"))
        guardrails = _get(f, "guardrails", lambda n: self.guardrails(n, probes), ())
        ctx = ParseContext(
            regions=tuple(self.regions),
            proxies={p.name: p.region for p in proxies},
            base_dir=os.path.abspath(self.base_dir),
        )
        method = _get(f, "method", lambda n: self.method(n, ctx), ())
        known_secrets = {s.name for s in secrets}
        for scalars_of in (root, *self.template_roots):
            self.check_placeholders(scalars_of, known_secrets)
        return Experiment(
            title=_get(f, "title", _str, ""),
            description=_get(f, "description", _text, ""),
            tags=_get(f, "tags", Node.str_list, ()),
            regions=tuple(self.regions.values()),
            probes=probes,
            phases=self.phases or Phases(baseline_s=0, fault_s=0, recovery_s=0),
            method=method,
            rollbacks=_get(f, "rollbacks", self.rollbacks, ()),
            guardrails=guardrails,
            toxiproxy_servers=servers,
            toxiproxy_proxies=proxies,
            caps=_get(f, "caps", lambda n: self.caps(n, proxies), Caps()),
            secrets=secrets,
            variables=tuple(sorted(self.doc.variables.items())),
            source=self.doc.file,
            source_text=text,
        )

    # --- regions, phases, secrets, include ---------------------------------------------------
    def region_list(self, node: Node | None) -> list[Region]:
        out = []
        for name, value in (node.entries() or []) if node is not None else []:
            f = [] if value.is_null else [value.mapping(("base_url", "host")) or {}]
            base_url = _get(f, "base_url", _url, None)
            host = _get(f, "host", _str, None) or (urlsplit(base_url).hostname if base_url else None)
            if base_url is None and (bad := _last(f, "base_url")) is not None:
                base_url = str(bad.raw.value)  # reported already; keep it so paths on it report nothing more
            out.append(Region(name=name, base_url=base_url, host=host))
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
                out.append(SecretRef(name=name, env=env, file=file))
        return tuple(out)

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

    # --- probes ------------------------------------------------------------------------------
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
            node.error(f"longer than the recovery phase (phases.recovery: {format_duration(self.phases.recovery_s)})")
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
        return self.python(nodes)

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
        from .faults.chaostoolkit import parse_provider

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

    # --- guardrails, method, rollbacks -------------------------------------------------------
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

    def method(self, node: Node, ctx: ParseContext) -> tuple[FaultStep, ...]:
        steps = [(item, self.fault_step(item, i, ctx)) for i, item in enumerate(node.items() or [])]
        return _unique(steps, "step")

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
        )

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

    # --- toxiproxy, caps, placeholders -------------------------------------------------------
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
                        f"${{secret.{name}}} is resolved only in http url/headers/body, command env and rollback "
                        "commands; not here"
                    )
