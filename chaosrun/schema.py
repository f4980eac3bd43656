"""The JSON Schema (draft 2020-12) of experiment files, for editors (`chaosrun schema`).

The keys of every section come from the loader, so the two cannot drift apart; fault entries
are a `oneOf` over the registered fault kinds (`FaultKind.keys`). The loader stays the judge:
the schema is for completion and early hints, and accepts `${variable}` in any scalar.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import loader as L
from .faults import get_kind, known_kinds
from .loader import keys as K

__all__ = ["SCHEMA_ID", "experiment_schema"]

SCHEMA_ID = "https://chaosrun.dev/schema/experiment.json"
Schema = dict[str, Any]  # a JSON document

_VAR = r"\$\{[A-Za-z_][A-Za-z0-9_.-]*\}"
_NUM = r"\d+(\.\d+)?"
_DURATION = rf"^\s*({_NUM}\s*(us|µs|ms|s|m|h)|.*{_VAR}.*)\s*$"
_LATENCY_BOUND = rf"^\s*(<=|>=|==|<|>)\s*({_NUM}\s*(us|µs|ms|s|m|h)|{_NUM}\s*x\s*baseline|.*{_VAR}.*)\s*$"
_ADDRESS = rf"^(\S+:\d+|.*{_VAR}.*)$"
_RATIO_BOUND = rf"^\s*(<=|>=|==|<|>)\s*({_NUM}\s*%?|{_NUM}\s*x\s*baseline|.*{_VAR}.*)\s*$"


def _string(description: str, **extra: Any) -> Schema:
    return {"type": "string", "description": description, **extra}


def _duration(description: str) -> Schema:
    return _string(f"{description} A duration with its unit: '300ms', '2s', '1m'.", pattern=_DURATION)


def _latency(description: str) -> Schema:
    return _string(f"{description} A comparison: '< 300ms', '<= 1.5x baseline'.", pattern=_LATENCY_BOUND)


def _ratio(description: str) -> Schema:
    return _string(f"{description} A comparison: '>= 0.99', '>= 99%'.", pattern=_RATIO_BOUND)


def _integer(description: str, minimum: int | None = None, maximum: int | None = None) -> Schema:
    number: Schema = {"type": "integer"}
    if minimum is not None:
        number["minimum"] = minimum
    if maximum is not None:
        number["maximum"] = maximum
    return {"description": description, "anyOf": [number, {"type": "string", "pattern": rf"^(\d+|.*{_VAR}.*)$"}]}


def _names(description: str, value: Schema) -> Schema:
    return {"type": "object", "description": description, "additionalProperties": value}


def _strings(description: str) -> Schema:
    return {"description": description, "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


def _object(
    description: str, keys: tuple[str, ...], props: dict[str, Schema], required: tuple[str, ...] = ()
) -> Schema:
    """A closed mapping with exactly the loader's `keys` (each must be described in `props`)."""
    out: Schema = {
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "properties": {k: props[k] for k in keys},
    }
    if required:
        out["required"] = list(required)
    return out


def _probe_kinds() -> dict[str, Schema]:
    argv = {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "description": "Program and arguments (no shell).",
    }
    pairs = {"type": "object", "additionalProperties": {"type": "string"}}
    http = {
        "url": _string("A path joined to the region's base_url ('/health'), or an absolute URL."),
        "method": _string("HTTP method (default GET).", enum=[*L.HTTP_METHODS, *(m.lower() for m in L.HTTP_METHODS)]),
        "timeout": _duration("Per-request timeout (default 5s)."),
        "expect_status": {
            "description": "Status codes that count as success (default [200]).",
            "anyOf": [
                {"type": "integer"},
                {"type": "array", "items": {"type": "integer", "minimum": 100, "maximum": 599}},
            ],
        },
        "body_regex": _string("The body must match this regular expression."),
        "json_path": _string("Dotted path into a JSON body: 'status', 'items[0].state'."),
        "json_expect": {
            "description": "The value expected at json_path.",
            "type": ["string", "number", "boolean", "null"],
        },
        "max_latency": _duration("A slower response counts as a failed sample."),
        "headers": {**pairs, "description": "Request headers; values may use ${secret.name}."},
        "body": _string("Request body; may use ${secret.name}."),
        "max_body": {
            "description": "Largest response body read (default 1MiB); a larger one fails the sample.",
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": r"^\d+(\.\d+)?\s*(B|KB|KiB|MB|MiB|GB|GiB)$"},
            ],
        },
        "tls": {"$ref": "#/$defs/tls"},
    }
    tcp = {
        "host": _string("Host to connect to (default: the region's host, or the host of its base_url)."),
        "port": _integer("TCP port.", 1, 65535),
        "timeout": _duration("Connect timeout (default 2s)."),
        "max_connect": _duration("A slower connect counts as a failed sample."),
    }
    command = {
        "argv": argv,
        "timeout": _duration("Timeout (default 10s); the process group is killed after it."),
        "expect_exit": {
            "description": "Exit codes that count as success (default [0]).",
            "anyOf": [
                {"type": "integer"},
                {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 255}},
            ],
        },
        "stdout_regex": _string("Standard output must match this regular expression."),
        "env": {**pairs, "description": "Extra environment; values may use ${secret.name}."},
    }
    python = {
        "file": _string("Python file, relative to the file that declares it."),
        "function": _string("Function name (default 'probe'); called with region and base_url."),
        "timeout": _duration("Timeout (default 5s)."),
    }
    chaostoolkit = {
        "provider": {
            "type": "object",
            "description": "A Chaos Toolkit provider: {type: python|process|http, ...} exactly as in Chaos Toolkit.",
            "required": ["type"],
            "properties": {"type": {"enum": ["python", "process", "http"]}},
        },
        "configuration": {**pairs, "description": "Chaos Toolkit configuration values (strings)."},
        "timeout": _duration("Timeout per sample (default 10s)."),
    }
    return {
        "chaostoolkit": _object(
            "A Chaos Toolkit provider per sample, run through chaostoolkit-lib.",
            L.CHAOSTOOLKIT_KEYS,
            chaostoolkit,
            ("provider",),
        ),
        "http": _object("An HTTP request per sample.", L.HTTP_KEYS, http, ("url",)),
        "tcp": _object("A TCP connect per sample.", L.TCP_KEYS, tcp, ("port",)),
        "command": _object("A command per sample, without a shell.", L.COMMAND_KEYS, command, ("argv",)),
        "python": _object("A Python function per sample.", L.PYTHON_KEYS, python, ("file",)),
        **_service_kinds(pairs),
    }


def _service_kinds(pairs: Schema) -> dict[str, Schema]:
    """TLS options, and the prometheus, burn_rate and kubernetes probe kinds."""
    server = {
        "url": _string("Prometheus server URL (default: the region's `prometheus`).", pattern=r"^(https?://|.*\$\{).+"),
        "timeout": _duration("Per-query timeout (default 5s)."),
        "auth": _object(
            "Credentials: a bearer token, or basic auth; values may use ${secret.name}.",
            K.AUTH_KEYS,
            {k: _string(f"{k.capitalize()}.") for k in K.AUTH_KEYS},
        ),
        "headers": {**pairs, "description": "Request headers; values may use ${secret.name}."},
        "tls": {"$ref": "#/$defs/tls"},
    }
    value = _string(
        "A comparison of the value: '< 0.01', '>= 3', '<= 1.5x baseline' (the baseline phase's mean).",
        pattern=rf"^\s*(<=|>=|==|<|>)\s*(-?{_NUM}(e-?\d+)?|{_NUM}\s*x\s*baseline|.*{_VAR}.*)\s*$",
    )
    number: Schema = {"anyOf": [{"type": "number"}, {"type": "string"}]}
    prometheus = {
        "query": _string("Instant PromQL query; one series (or a scalar) expected; may use ${region.name}."),
        "value": value,
        **server,
    }
    burn = {
        "errors": _string("PromQL for bad events per second, with {{.window}} as the range."),
        "total": _string("PromQL for all events per second, with {{.window}} as the range."),
        "objective": {**number, "description": "SLO target: '99.9%' or 0.999."},
        "long_window": _duration("Long window (default: the fault phase)."),
        "short_window": _duration("Short window (default: a twelfth of the long one)."),
        "factor": {**number, "description": "Burn-rate threshold over both windows (default 14.4)."},
        **server,
    }
    kube = {
        "namespace": _string("Namespace (default 'default')."),
        "selector": _string("Label selector of the pods counted: 'app=web'."),
        "deployment": _string("A Deployment whose available replicas are counted."),
        "min_ready": {
            "description": "At least this many ready (3) or this share ('100%', the default).",
            "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}],
        },
        "kubeconfig": _string("Kubeconfig file (default $KUBECONFIG, in-cluster, ~/.kube/config)."),
        "context": _string("Kubeconfig context."),
        "timeout": _duration("Per-read timeout (default 5s)."),
    }
    tls = {
        "ca_file": _string("CA bundle to verify the server with (default: the system trust store)."),
        "cert_file": _string("Client certificate (PEM) for mutual TLS."),
        "key_file": _string("Its private key (PEM file)."),
        "key": _string("Its private key's PEM text from a secret: '${secret.name}' (never logged)."),
        "server_name": _string("SNI and the name the server's certificate must carry (default: the URL's host)."),
        "insecure_skip_verify": {"type": ["boolean", "string"], "description": "Do not verify (warned loudly)."},
    }
    return {
        "tls": _object("TLS options (a probe's override its region's).", K.TLS_KEYS, tls),
        "prometheus": _object("An instant PromQL query per sample.", K.PROMETHEUS_KEYS, prometheus, ("query",)),
        "burn_rate": _object(
            "Fails while the error budget burns faster than `factor` over both windows (multiwindow, multi-burn-rate).",
            K.BURN_RATE_KEYS,
            burn,
            ("errors", "total", "objective"),
        ),
        "kubernetes": _object(
            "Ready pods for a selector, or a Deployment's available replicas.", K.KUBERNETES_KEYS, kube
        ),
    }


def _cluster() -> Schema:
    from .kube.config import CLUSTER_KEYS

    return _object(
        "The region's own Kubernetes cluster: its probes run there, in an agent Job.",
        CLUSTER_KEYS,
        {
            "image": _string("The chaosrun image the agent runs (deploy/kubernetes/Dockerfile)."),
            "namespace": _string("Namespace of the agent Job (default 'default')."),
            "kubeconfig": _string("Kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)."),
            "context": _string("Kubeconfig context."),
            "service_account": _string("ServiceAccount of the agent pod."),
            "image_pull_policy": {"enum": ["Always", "IfNotPresent", "Never"]},
            "host_network": {"type": "boolean", "description": "Run the agent pod on the node's network."},
            "start_timeout": _duration("The agent must run by then, else the run is refused (default 60s)."),
            "matrix": {"type": "boolean", "description": "The agent also probes every other region (a matrix)."},
            "endpoints": _names("Base URL of other regions as reached from this cluster.", _string("A URL.")),
        },
        ("image",),
    )


def _tolerance(description: str) -> Schema:
    props = {
        "success_ratio": _ratio("Share of good samples."),
        **{k: _latency(f"{k} latency.") for k in ("p50", "p95", "p99", "max", "mean")},
        "window": _duration("Also judge every sliding window of this length."),
        "min_samples": _integer("Fewer samples than this fail the check (default 1).", 1),
    }
    return _object(description, L.TOLERANCE_KEYS, props)


def _probe_props() -> dict[str, Schema]:
    return {
        "name": _string("Unique probe name."),
        "use": _string("Name of a probe definition from an included file; keys here override it."),
        **{k: {"$ref": f"#/$defs/{k}"} for k in L.SPEC_KEYS},
        "every": _duration("Sampling interval (default 1s; 0s: back to back)."),
        "regions": _strings("Regions to probe (default: all)."),
        "tolerance": {"$ref": "#/$defs/tolerance"},
        "during": {
            "description": "Fault-phase tolerance: 'ignore', or a tolerance (default: the same as 'tolerance').",
            "anyOf": [{"const": "ignore"}, {"$ref": "#/$defs/tolerance"}],
        },
        "after": _object(
            "Recovery objective.",
            L.AFTER_KEYS,
            {
                "recover_within": _duration("Healthy again within this time after the faults are removed."),
                "streak": _integer("Consecutive good samples that count as recovered (default 3).", 1),
            },
        ),
    }


def _open_to_variables(schema: Mapping[str, object]) -> Schema:
    """A fault kind's key schema, where a number may also be written as a `${variable}` string."""
    out = dict(schema)
    props = out.get("properties")
    if isinstance(props, dict):
        out["properties"] = {k: _open_to_variables(v) for k, v in props.items()}
    if out.get("type") not in ("integer", "number") and "enum" not in out:
        return out
    description = out.pop("description", "")
    return {"description": description, "anyOf": [out, {"type": "string", "pattern": rf"^(\d+(\.\d+)?|.*{_VAR}.*)$"}]}


def _fault_entries() -> Schema:
    common = {
        "name": _string("Step name (default '<kind>#<index>')."),
        "start": _duration("Offset inside the fault phase (default 0s)."),
        "duration": _duration("How long (default: until the fault phase ends)."),
        "restart": _object(
            "The step's own undo, run when the step ends, before recovery is measured (docs/experiment.md).",
            L.RESTART_KEYS,
            {
                "command": {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                    "description": "Argument list, no shell; it must return: judged by its exit code.",
                },
                "timeout": _duration("For the command and the ready check together (default 30s)."),
                "ready": _object(
                    "Polled after the command exited 0.",
                    L.READY_KEYS,
                    {
                        "tcp": _string("HOST:PORT that must accept a connection."),
                        "http": _string("URL that must answer below 400."),
                    },
                ),
            },
        ),
    }
    entries = []
    for name in known_kinds():
        kind = get_kind(name)
        if kind is None:
            continue
        doc = (type(kind).__doc__ or name).strip().splitlines()[0]
        props = {
            "fault": {"const": name, "description": doc},
            **common,
            **{k: _open_to_variables(kind.key_schema.get(k, {})) for k in kind.keys},
        }
        entries.append(
            {
                "type": "object",
                "description": doc,
                "properties": props,
                "required": ["fault"],
                "additionalProperties": False,
            }
        )
    if not entries:
        return {"type": "object", "properties": {"fault": _string("Fault kind."), **common}, "required": ["fault"]}
    return {"oneOf": entries}


def experiment_schema() -> Schema:
    """The JSON Schema of an experiment file."""
    probe_props = _probe_props()
    steady_probe = _object("A steady-state probe.", L.PROBE_KEYS, probe_props, ("name",))
    template = _object("A reusable probe definition.", L.TEMPLATE_KEYS, probe_props)
    guard_props = {
        "name": _string("Unique guardrail name."),
        "probe": _string("A steady-state probe to watch (or give a dedicated http/tcp/command/python probe)."),
        **{k: {"$ref": f"#/$defs/{k}"} for k in L.SPEC_KEYS},
        "every": _duration("Sampling interval of a dedicated probe (default 1s)."),
        "regions": _strings("Regions watched (default: all, or the probe's)."),
        "window": _duration("Window the conditions are judged over (default 5s)."),
        "success_ratio": _ratio("Healthy condition; breaking it trips the guardrail."),
        "p99": _latency("Healthy condition; breaking it trips the guardrail."),
        "consecutive_failures": _integer("This many failed samples in a row trip the guardrail.", 1),
        "min_samples": _integer("Samples needed before judging (default 3).", 1),
    }
    proxy_props = {
        "listen": _string("host:port chaosrun creates the proxy on (with upstream).", pattern=_ADDRESS),
        "upstream": _string("host:port the proxy forwards to.", pattern=_ADDRESS),
        "region": _string("The region this proxy belongs to."),
        "server": _string("Server name (default: 'default', or the only server)."),
    }
    url = _string("An absolute http(s) URL.", pattern=r"^(https?://|.*\$\{).+")
    top = {
        "title": _string("What the experiment shows."),
        "description": _string("Longer explanation (default '')."),
        "tags": _strings("Labels."),
        "regions": _names(
            "Where the service runs: name -> {base_url, host}.",
            {
                "anyOf": [
                    {"type": "null"},
                    _object(
                        "A region.",
                        K.REGION_KEYS,
                        {
                            "base_url": url,
                            "host": _string("Host for tcp probes (default: from base_url)."),
                            "connect_to": _string(
                                "host[:port] this region's HTTP(S) traffic goes to, keeping the URL's name."
                            ),
                            "tls": {"$ref": "#/$defs/tls"},
                            "prometheus": _string("This region's Prometheus server URL."),
                            "cluster": _cluster(),
                        },
                    ),
                ]
            },
        ),
        "variables": _names(
            "${name} values; overridden by CHAOSRUN_VAR_<name> and --var.", {"type": ["string", "number", "boolean"]}
        ),
        "secrets": _names(
            "Secrets read at run time, used as ${secret.name}.",
            {
                "oneOf": [
                    _object("From an environment variable.", ("env",), {"env": _string("Variable name.")}, ("env",)),
                    _object(
                        "From a file.", ("file",), {"file": _string("Path, relative to the experiment.")}, ("file",)
                    ),
                ]
            },
        ),
        "include": _strings("Files of probe definitions ('probes: {name: {...}}'), relative to the experiment."),
        "steady_state": _object(
            "The steady-state hypothesis.",
            ("probes",),
            {"probes": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/probe"}}},
            ("probes",),
        ),
        "phases": _object(
            "Phase lengths.",
            L.PHASE_KEYS,
            {
                "baseline": _duration("Before any fault (more than 0s)."),
                "fault": _duration("While the method's faults are applied."),
                "recovery": _duration("After the faults are removed."),
            },
            L.PHASE_KEYS,
        ),
        "method": {"type": "array", "description": "Fault steps.", "items": {"$ref": "#/$defs/fault"}},
        "rollbacks": {
            "type": "array",
            "description": "Extra undo commands, run after the faults are removed.",
            "items": _object(
                "A rollback command.",
                L.ROLLBACK_KEYS,
                {
                    "name": _string("Name (default 'rollback#<index>')."),
                    "command": {
                        "type": "array",
                        "items": {"type": "string"},
                        "minItems": 1,
                        "description": "argv; no shell.",
                    },
                    "timeout": _duration("Timeout (default 30s)."),
                },
                ("command",),
            ),
        },
        "guardrails": {
            "type": "array",
            "description": "Abort conditions.",
            "items": _object("A guardrail.", L.GUARDRAIL_KEYS, guard_props, ("name",)),
        },
        "toxiproxy": _object(
            "Toxiproxy servers and proxies.",
            L.TOXIPROXY_KEYS,
            {
                "server": {**url, "description": "Shorthand for servers: {default: URL}."},
                "servers": _names("name -> URL (default {default: http://127.0.0.1:8474}).", url),
                "proxies": _names(
                    "Proxies faults may use.",
                    {"anyOf": [{"type": "null"}, _object("A proxy.", L.PROXY_KEYS, proxy_props)]},
                ),
            },
        ),
        "caps": _object(
            "Blast-radius caps.",
            L.CAPS_KEYS,
            {
                "max_targets": _integer("Most targets a plan may touch.", 1),
                "max_targets_percent": {"type": "number", "minimum": 0, "maximum": 100, "description": "Percent."},
                "max_fault_duration": _duration("Longest fault."),
                "allowed_toxiproxy": _strings("Server URLs faults may use (empty: any)."),
                "allowed_proxies": _strings("Proxy names faults may use (empty: any)."),
                "allowed_namespaces": _strings("Kubernetes namespaces faults may use (empty: any)."),
            },
        ),
    }
    schema = _object("A chaosrun experiment.", L.TOP_KEYS, top, L.REQUIRED_TOP_KEYS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "chaosrun experiment",
        **schema,
        "$defs": {
            **_probe_kinds(),
            "tolerance": _tolerance("What 'healthy' means: every given bound must hold."),
            "probe": {**steady_probe, "anyOf": [{"required": [k]} for k in (*L.SPEC_KEYS, "use")]},
            "template": template,
            "fault": _fault_entries(),
        },
    }
