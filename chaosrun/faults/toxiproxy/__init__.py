"""Toxiproxy fault kinds: toxics on proxies (`toxiproxy.latency`, ...) and `toxiproxy.down`.

Ownership: every toxic chaosrun creates is named `chaosrun-<run id>-<step>-<stream>`, and its
undo record names the server, the proxy and the toxic, so undo (and `chaosrun stop`) removes
exactly what this run made. `down` records the proxy's previous `enabled` value (read by
`setup()`) and undo restores it; on a proxy it disables it leaves a marker toxic named
`chaosrun-<run id>-<step>-down` (never acts), so `chaosrun stop` can re-enable the proxy
without the ledger. Undo is idempotent: a 404 means already gone.

`setup()` is the preflight: every server answers `/version`; declared proxies with
listen+upstream that are missing are created (as setup injections, so undo deletes them);
a target proxy that carries another run's toxics refuses the plan, and every target proxy is
claimed on the server (a marker toxic `chaosrun-<run id>-claim` that never acts), so a run from
another state folder or host is refused before its baseline. `verify()` reads back whether a
fault is still in place.

Importing this package registers the eight kinds (`kinds`) and the `toxiproxy` undoer (`undo`):
    params.py      ToxicParams, DownParams, Ramp and their parsing from YAML
    injections.py  ToxicInjection, DownInjection, ProxyInjection, ClaimInjection: apply, verify, undo records
    kinds.py       the FaultKind classes and setup() (the preflight)
    undo.py        toxic names and owners, undo_toxiproxy, remove_owned_toxics (emergency stop)
"""

from __future__ import annotations

from .injections import ClaimInjection, DownInjection, ProxyInjection, ToxicInjection
from .kinds import TOXIC_KINDS, DownFault
from .params import DownParams, Ramp, ToxicParams
from .undo import owner_of, remove_owned_toxics, toxic_name, undo_toxiproxy

__all__ = [
    "TOXIC_KINDS",
    "ClaimInjection",
    "DownFault",
    "DownInjection",
    "DownParams",
    "ProxyInjection",
    "Ramp",
    "ToxicInjection",
    "ToxicParams",
    "owner_of",
    "remove_owned_toxics",
    "toxic_name",
    "undo_toxiproxy",
]
