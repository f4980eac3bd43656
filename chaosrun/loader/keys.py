"""The keys of every experiment section: the loader reads them, `chaosrun.schema` describes them."""

from __future__ import annotations

COMMON_FAULT_KEYS = ("fault", "name", "start", "duration", "restart")
RESTART_KEYS = ("command", "timeout", "ready")
READY_KEYS = ("tcp", "http")
DEFAULT_TOXIPROXY_URL = "http://127.0.0.1:8474"
ENV_PREFIX = "CHAOSRUN_VAR_"

TOP_KEYS = ("title", "description", "tags", "regions", "variables", "secrets", "include", "steady_state",
            "phases", "method", "rollbacks", "guardrails", "toxiproxy", "caps")  # fmt: skip
REQUIRED_TOP_KEYS = ("title", "regions", "steady_state", "phases")
SPEC_KEYS = ("http", "tcp", "command", "python", "chaostoolkit", "prometheus", "burn_rate", "kubernetes")
PROBE_KEYS = ("name", "use", *SPEC_KEYS, "every", "regions", "tolerance", "during", "after")
TEMPLATE_KEYS = tuple(k for k in PROBE_KEYS if k not in ("name", "use"))
HTTP_KEYS = ("url", "method", "timeout", "expect_status", "body_regex", "json_path", "json_expect",
             "max_latency", "headers", "body", "max_body", "tls")  # fmt: skip
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
REGION_KEYS = ("base_url", "host", "connect_to", "tls", "prometheus", "cluster")
TLS_KEYS = ("ca_file", "cert_file", "key_file", "key", "server_name", "insecure_skip_verify")
AUTH_KEYS = ("bearer", "username", "password")
_PROM_SERVER_KEYS = ("url", "timeout", "auth", "headers", "tls")
PROMETHEUS_KEYS = ("query", "value", *_PROM_SERVER_KEYS)
BURN_RATE_KEYS = ("errors", "total", "objective", "long_window", "short_window", "factor", *_PROM_SERVER_KEYS)
KUBERNETES_KEYS = ("namespace", "selector", "deployment", "min_ready", "kubeconfig", "context", "timeout")
