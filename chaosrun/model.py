"""The typed experiment model: frozen dataclasses produced by the loader.

Durations are seconds (`*_s`), ratios are 0..1. Nothing here holds raw YAML.
Fault parameters are owned by their back end (`chaosrun.faults.*`) and probe specs by
their kind (`chaosrun.probes.*`); this module only knows their base classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeVar

from .units import Bound

DEFAULT_MAX_BODY = 1 << 20  # bytes of an HTTP probe's response body read at most (1 MiB)

__all__ = [
    "DEFAULT_MAX_BODY",
    "PHASES",
    "Caps",
    "ChaosToolkitProbe",
    "CommandProbe",
    "Experiment",
    "FaultParams",
    "FaultStep",
    "Guardrail",
    "HttpProbe",
    "Location",
    "Phase",
    "Phases",
    "Probe",
    "ProbeSpec",
    "PythonProbe",
    "Region",
    "RegionCluster",
    "Restart",
    "Rollback",
    "SecretRef",
    "TcpProbe",
    "Tolerance",
    "ToxiproxyProxy",
    "ToxiproxyServer",
]
__all__ += ["BURN_WINDOW", "BurnRateProbe", "KubernetesProbe", "PromServer", "PrometheusProbe", "TlsOptions"]

T = TypeVar("T")
Phase = Literal["baseline", "fault", "recovery"]
PHASES: tuple[Phase, ...] = ("baseline", "fault", "recovery")


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """Where something was declared (for messages and the journal)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsOptions:
    """How an HTTPS client verifies a server and proves itself (per probe, per region, or both).

    None fields are unset: a probe's options override its region's field by field."""

    ca_file: str | None = None  # absolute path; None: the system trust store
    cert_file: str | None = None  # client certificate (mTLS)
    key_file: str | None = None  # its private key, a path...
    key_secret: str | None = None  # ...or the name of a secret holding the PEM text (never logged)
    server_name: str | None = None  # SNI and the name the certificate must carry
    insecure_skip_verify: bool | None = None  # reported loudly; never the default

    def over(self, base: TlsOptions | None) -> TlsOptions:
        """These options, with unset fields taken from `base`."""
        if base is None:
            return self
        return TlsOptions(
            ca_file=_either(self.ca_file, base.ca_file),
            cert_file=_either(self.cert_file, base.cert_file),
            key_file=_either(self.key_file, base.key_file),
            key_secret=_either(self.key_secret, base.key_secret),
            server_name=_either(self.server_name, base.server_name),
            insecure_skip_verify=_either(self.insecure_skip_verify, base.insecure_skip_verify),
        )


def _either(value: T | None, fallback: T | None) -> T | None:
    return fallback if value is None else value


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionCluster:
    """The region's own Kubernetes cluster: its probes run there, in an agent Job (chaosrun/kube/)."""

    image: str  # the chaosrun image (deploy/kubernetes/Dockerfile)
    namespace: str = "default"
    kubeconfig: str | None = None  # absolute path; None: $KUBECONFIG, in-cluster, ~/.kube/config
    context: str | None = None
    service_account: str | None = None
    image_pull_policy: str = "IfNotPresent"
    host_network: bool = False
    start_timeout_s: float = 60.0  # the agent must run by then, else the run is refused
    matrix: bool = False  # the agent also probes every other region (the region-to-region matrix)
    endpoints: tuple[tuple[str, str], ...] = ()  # (region, base_url) as reached from this cluster


@dataclass(frozen=True, slots=True, kw_only=True)
class Region:
    """A place where the service runs; probes run against every region."""

    name: str
    base_url: str | None = None
    host: str | None = None  # for tcp probes; derived from base_url when omitted
    connect_to: str | None = None  # `host[:port]` HTTP(S) traffic goes to, keeping the URL's name (curl --connect-to)
    tls: TlsOptions | None = None
    prometheus: str | None = None  # this region's Prometheus server URL
    cluster: RegionCluster | None = None  # probes run from this cluster (an agent), not locally


# --- probes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpProbe:
    """An HTTP request per sample. `url` may be a path joined to the region's base_url."""

    url: str
    method: str = "GET"
    timeout_s: float = 5.0
    expect_status: tuple[int, ...] = (200,)
    body_regex: str | None = None
    json_path: str | None = None  # dotted path such as `status` or `items[0].state`
    json_expect: str | int | float | bool | None = None
    max_latency_s: float | None = None  # per-sample check: slower counts as a failed sample
    headers: tuple[tuple[str, str], ...] = ()  # values may hold ${secret.x}, resolved late
    body: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY  # a response body over this is a failed sample, never read whole
    tls: TlsOptions | None = None  # over the region's


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpProbe:
    """A TCP connect per sample; the latency is the connect time."""

    host: str | None  # None: the region's host
    port: int
    timeout_s: float = 2.0
    max_latency_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandProbe:
    """A command run without a shell, in its own process group, with a timeout."""

    argv: tuple[str, ...]
    timeout_s: float = 10.0
    expect_exit: tuple[int, ...] = (0,)
    stdout_regex: str | None = None
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PythonProbe:
    """A user function loaded by file path: `def probe(region: str, base_url: str | None) -> bool | None`.

    It may be async; returning False or raising counts as a failed sample.
    """

    file: str  # absolute path
    function: str
    timeout_s: float = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ChaosToolkitProbe:
    """A Chaos Toolkit provider (python, process or http) run per sample through chaostoolkit-lib,
    so existing Chaos Toolkit probes work unchanged. Good sample: python returned anything but
    False, process exited 0, http answered below 400."""

    provider_json: str  # the provider mapping as canonical JSON
    configuration: tuple[tuple[str, str], ...] = ()
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PromServer:
    """How to reach a Prometheus server's HTTP API (shared by the prometheus and burn_rate kinds)."""

    url: str | None = None  # None: the region's `prometheus`
    headers: tuple[tuple[str, str], ...] = ()  # values may hold ${secret.x}
    bearer: str | None = None  # token; may hold ${secret.x}
    username: str | None = None  # basic auth
    password: str | None = None  # may hold ${secret.x}
    tls: TlsOptions | None = None  # over the region's


@dataclass(frozen=True, slots=True, kw_only=True)
class PrometheusProbe:
    """An instant PromQL query per sample; good when the single value it returns is within `value`."""

    query: str  # may hold ${region.name}
    value: Bound | None = None  # None: any number (one series answering is the check)
    timeout_s: float = 5.0
    server: PromServer = field(default_factory=PromServer)


@dataclass(frozen=True, slots=True, kw_only=True)
class BurnRateProbe:
    """The multiwindow, multi-burn-rate SLO check: a sample fails when the error budget burns faster
    than `factor` over both windows at once. `errors` and `total` hold `{{.window}}` (Sloth's placeholder)."""

    errors: str
    total: str
    objective: float  # the SLO target, 0..1 (0.999)
    long_window_s: float
    short_window_s: float
    factor: float = 14.4
    timeout_s: float = 5.0
    server: PromServer = field(default_factory=PromServer)


@dataclass(frozen=True, slots=True, kw_only=True)
class KubernetesProbe:
    """Readiness from the Kubernetes API: ready pods for a selector, or a Deployment's available replicas."""

    namespace: str
    selector: str | None = None  # label selector of pods
    deployment: str | None = None
    min_ready: int | None = None  # at least this many
    min_ready_percent: float | None = None  # or this share (0..1) of the pods / desired replicas
    kubeconfig: str | None = None
    context: str | None = None
    timeout_s: float = 5.0


BURN_WINDOW = "{{.window}}"  # where a burn_rate query's range goes (Sloth's SLI placeholder)

ProbeSpec = (
    HttpProbe
    | TcpProbe
    | CommandProbe
    | PythonProbe
    | ChaosToolkitProbe
    | PrometheusProbe
    | BurnRateProbe
    | KubernetesProbe
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Tolerance:
    """What 'healthy' means for one probe in one region and phase."""

    success_ratio: Bound | None = None
    p50: Bound | None = None
    p95: Bound | None = None
    p99: Bound | None = None
    max: Bound | None = None
    mean: Bound | None = None
    window_s: float | None = None  # also check every sliding window of this length
    min_samples: int = 1

    def latency_bounds(self) -> tuple[tuple[str, Bound], ...]:
        """The latency statistics bounded here, as (stat name, bound)."""
        named = (("p50", self.p50), ("p95", self.p95), ("p99", self.p99), ("max", self.max), ("mean", self.mean))
        return tuple((n, b) for n, b in named if b is not None)

    def describe(self) -> str:
        parts = [
            "every sample succeeds"
            if self.success_ratio is None
            else f"success_ratio {self.success_ratio.describe('ratio')}"
        ]
        parts += [f"{n} {b.describe('s')}" for n, b in self.latency_bounds()]
        if self.window_s is not None:
            parts.append(f"over every {self.window_s:g}s window")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Probe:
    """A steady-state probe: sampled continuously in every phase and region."""

    name: str
    spec: ProbeSpec
    every_s: float  # 0: back to back
    tolerance: Tolerance
    during: Tolerance | None  # fault-phase tolerance; None: not judged during the fault
    recover_within_s: float | None  # None: the recovery phase is judged whole
    regions: tuple[str, ...]  # resolved: never empty
    location: Location
    recovery_streak: int = 3  # consecutive good samples that count as recovered


# --- faults -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultParams:
    """Base of every fault kind's parameters (subclassed by each back end)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Restart:
    """A fault step's own undo command, run when the step ends (before recovery is measured).

    The command must return (a daemonizing start: `setsid -f ...`, `--daemonize yes`): it is
    judged by its exit code. Then `ready_tcp` (`host:port` accepts a connection) or
    `ready_http` (a URL answers below 400) is polled; both within `timeout_s` in all.
    """

    argv: tuple[str, ...]
    timeout_s: float = 30.0
    ready_tcp: str | None = None
    ready_http: str | None = None
    location: Location


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultStep:
    """One entry of the method: a fault kind, its parameters and its timing."""

    kind: str  # "toxiproxy.latency"
    name: str
    params: FaultParams
    start_s: float = 0.0  # offset inside the fault phase
    duration_s: float | None = None  # None: until the fault phase ends
    location: Location
    restart: Restart | None = None  # run when the step ends, after its faults are undone


@dataclass(frozen=True, slots=True, kw_only=True)
class Rollback:
    """An extra undo step run after the faults are removed: a command without a shell."""

    name: str
    argv: tuple[str, ...]
    timeout_s: float = 30.0
    location: Location


# --- guardrails -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Guardrail:
    """An abort condition checked on every sample, in every phase.

    It watches a steady-state probe (`probe`) or its own `spec`. It trips when, in any of its
    regions, over the last `window_s`: the success ratio breaks `success_ratio`, or p99 breaks
    `p99`, or `consecutive_failures` samples in a row failed.
    """

    name: str
    probe: str | None  # name of a steady-state probe
    spec: ProbeSpec | None  # a dedicated guard probe
    every_s: float
    regions: tuple[str, ...]
    window_s: float = 5.0
    success_ratio: Bound | None = None  # holds when healthy: '>= 0.5' trips below 0.5
    p99: Bound | None = None  # holds when healthy: '< 2s'
    consecutive_failures: int | None = None
    min_samples: int = 3
    location: Location


# --- infrastructure ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ToxiproxyProxy:
    """A proxy chaosrun may use (and create if missing)."""

    name: str
    server: str  # server name
    listen: str | None  # `127.0.0.1:port`; None when the proxy must already exist
    upstream: str | None
    region: str | None
    location: Location


@dataclass(frozen=True, slots=True, kw_only=True)
class ToxiproxyServer:
    name: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Caps:
    """Blast-radius caps: a plan beyond any of them is refused before anything runs."""

    max_targets: int | None = None
    max_targets_percent: float | None = None
    max_fault_duration_s: float | None = None
    allowed_toxiproxy: tuple[str, ...] = ()  # server URLs; empty: any
    allowed_proxies: tuple[str, ...] = ()  # proxy names; empty: any
    allowed_namespaces: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretRef:
    """A secret read late from the environment (or a file); never written anywhere in clear."""

    name: str
    env: str | None = None
    file: str | None = None
    location: Location | None = field(default=None, compare=False)  # of the `env:`/`file:` value, for messages


@dataclass(frozen=True, slots=True, kw_only=True)
class Phases:
    baseline_s: float
    fault_s: float
    recovery_s: float

    @property
    def total_s(self) -> float:
        return self.baseline_s + self.fault_s + self.recovery_s


@dataclass(frozen=True, slots=True, kw_only=True)
class Experiment:
    """A validated experiment."""

    title: str
    description: str
    tags: tuple[str, ...]
    regions: tuple[Region, ...]
    probes: tuple[Probe, ...]
    phases: Phases
    method: tuple[FaultStep, ...]
    rollbacks: tuple[Rollback, ...] = ()
    guardrails: tuple[Guardrail, ...] = ()
    toxiproxy_servers: tuple[ToxiproxyServer, ...] = ()
    toxiproxy_proxies: tuple[ToxiproxyProxy, ...] = ()
    caps: Caps = field(default_factory=Caps)
    secrets: tuple[SecretRef, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()  # resolved values (never secrets)
    source: str = ""  # path of the experiment file
    source_text: str = ""  # the file as written (no secret values: those come from env/files)

    @property
    def slug(self) -> str:
        import re

        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")[:60] or "experiment"

    def region(self, name: str) -> Region:
        return next(r for r in self.regions if r.name == name)

    def server(self, name: str) -> ToxiproxyServer:
        return next(s for s in self.toxiproxy_servers if s.name == name)
