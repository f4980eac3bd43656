"""Site settings: blast-radius caps an operator imposes on every experiment, and the Toxiproxy
servers `chaosrun stop` cleans.

```yaml
# --settings FILE, else $CHAOSRUN_SETTINGS, else $XDG_CONFIG_HOME/chaosrun/settings.yaml
# (~/.config/chaosrun/settings.yaml) when it exists
caps: {max_targets: 5, max_fault_duration: 10m, allowed_toxiproxy: [http://127.0.0.1:8474]}
toxiproxy: [http://127.0.0.1:8474]
```
An experiment's own caps and the settings' caps both apply: the stricter one wins.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .model import Caps
from .node import compose_file

__all__ = ["Settings", "load_settings", "settings_path", "stricter"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    caps: Caps = field(default_factory=Caps)
    toxiproxy: tuple[str, ...] = ()
    source: str | None = None


def settings_path(option: str | None, environ: Mapping[str, str] = os.environ) -> Path | None:
    """The settings file in force, or None (no settings: no extra caps)."""
    if option:
        return Path(option)
    if environ.get("CHAOSRUN_SETTINGS"):
        return Path(environ["CHAOSRUN_SETTINGS"])
    base = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    default = base / "chaosrun" / "settings.yaml"
    return default if default.is_file() else None


def load_settings(path: Path | None) -> Settings:
    """Read the settings file; raises ValidationFailed with located problems (exit 2)."""
    if path is None:
        return Settings()
    from .loader import parse_caps

    root = compose_file(str(path), what="settings")
    doc = root.doc
    m = root.mapping({"caps", "toxiproxy"})
    doc.raise_if_any()
    assert m is not None
    caps = parse_caps(m["caps"]) if "caps" in m else Caps()
    servers = (m["toxiproxy"].str_list() or ()) if "toxiproxy" in m else ()
    doc.raise_if_any()
    return Settings(caps=caps, toxiproxy=servers, source=str(path))


def _min(a: float | int | None, b: float | int | None) -> float | int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _allow(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    """Allow-lists: empty means any; both given: only what both allow (may be empty: nothing allowed)."""
    if not a:
        return b
    if not b:
        return a
    both = tuple(x for x in a if x in b)
    return both or ("<nothing: the experiment's and the settings' allow-lists do not overlap>",)


def stricter(a: Caps, b: Caps) -> Caps:
    """The caps that satisfy both."""
    max_targets = _min(a.max_targets, b.max_targets)
    return Caps(
        max_targets=None if max_targets is None else int(max_targets),
        max_targets_percent=_min(a.max_targets_percent, b.max_targets_percent),
        max_fault_duration_s=_min(a.max_fault_duration_s, b.max_fault_duration_s),
        allowed_toxiproxy=_allow(a.allowed_toxiproxy, b.allowed_toxiproxy),
        allowed_proxies=_allow(a.allowed_proxies, b.allowed_proxies),
        allowed_namespaces=_allow(a.allowed_namespaces, b.allowed_namespaces),
    )
