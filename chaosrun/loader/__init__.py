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

Modules: `keys` (every section's keys), `fields` (small readers, layered mappings), `sections`
(regions, phases, secrets, method, rollbacks, toxiproxy, caps, placeholders), `probes` (include,
probes, tolerances, guardrails), `read` (the file, variables, the whole experiment). The parser
is one class built up in that order: `_Sections` <- `_Probes` <- `_Parser`.
"""

from __future__ import annotations

# `X as X`: re-exported for `chaosrun.schema` (which builds the JSON Schema from them) and the tests
from .keys import AFTER_KEYS as AFTER_KEYS
from .keys import CAPS_KEYS as CAPS_KEYS
from .keys import CHAOSTOOLKIT_KEYS as CHAOSTOOLKIT_KEYS
from .keys import COMMAND_KEYS as COMMAND_KEYS
from .keys import COMMON_FAULT_KEYS as COMMON_FAULT_KEYS
from .keys import DEFAULT_TOXIPROXY_URL as DEFAULT_TOXIPROXY_URL
from .keys import ENV_PREFIX as ENV_PREFIX
from .keys import GUARDRAIL_KEYS as GUARDRAIL_KEYS
from .keys import HTTP_KEYS as HTTP_KEYS
from .keys import HTTP_METHODS as HTTP_METHODS
from .keys import PHASE_KEYS as PHASE_KEYS
from .keys import PROBE_KEYS as PROBE_KEYS
from .keys import PROXY_KEYS as PROXY_KEYS
from .keys import PYTHON_KEYS as PYTHON_KEYS
from .keys import READY_KEYS as READY_KEYS
from .keys import REQUIRED_TOP_KEYS as REQUIRED_TOP_KEYS
from .keys import RESTART_KEYS as RESTART_KEYS
from .keys import ROLLBACK_KEYS as ROLLBACK_KEYS
from .keys import SECRET_KEYS as SECRET_KEYS
from .keys import SPEC_KEYS as SPEC_KEYS
from .keys import TCP_KEYS as TCP_KEYS
from .keys import TEMPLATE_KEYS as TEMPLATE_KEYS
from .keys import TOLERANCE_KEYS as TOLERANCE_KEYS
from .keys import TOP_KEYS as TOP_KEYS
from .keys import TOXIPROXY_KEYS as TOXIPROXY_KEYS
from .read import load_experiment, load_text, parse_caps

__all__ = ["COMMON_FAULT_KEYS", "DEFAULT_TOXIPROXY_URL", "load_experiment", "load_text", "parse_caps"]
