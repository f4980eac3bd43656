"""Toxiproxy fault parameters: the typed `ToxicParams`/`DownParams` and their parsing from YAML.

`_ATTRS` is the table of toxic types: each attribute's YAML key (also its Toxiproxy name), unit,
whether it is required and its minimum. Durations in ms/µs must be whole units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ...clients.toxiproxy import Stream
from ...model import FaultParams
from ..base import ParseContext

if TYPE_CHECKING:
    from ...node import Node

_MAX_INT = 2**53 - 1  # exact in JSON everywhere
_MAX_MS_S = 86_400.0  # one day: a longer toxic is a typo


@dataclass(frozen=True, slots=True, kw_only=True)
class _Attr:
    key: str  # the YAML key and the Toxiproxy attribute
    unit: Literal["ms", "us", "B", "KB/s"]
    required: bool = False
    min: int = 0
    why_min: str = ""

    def format(self, value: int) -> str:
        return f"{value}µs" if self.unit == "us" else f"{value}{self.unit}"


_ATTRS: dict[str, tuple[_Attr, ...]] = {
    "latency": (_Attr(key="latency", unit="ms", required=True), _Attr(key="jitter", unit="ms")),
    "bandwidth": (
        _Attr(key="rate", unit="KB/s", required=True, min=1, why_min="Toxiproxy stalls the link for ever at 0"),
    ),
    "slow_close": (_Attr(key="delay", unit="ms", required=True),),
    "timeout": (_Attr(key="timeout", unit="ms", required=True),),
    "reset_peer": (_Attr(key="timeout", unit="ms"),),
    "slicer": (
        _Attr(key="average_size", unit="B", required=True, min=1),
        _Attr(key="size_variation", unit="B"),
        _Attr(key="delay", unit="us"),
    ),
    "limit_data": (_Attr(key="bytes", unit="B", required=True),),
}
_RAMPED = {"latency": "latency", "bandwidth": "rate"}
_COMMON = ("proxy", "region", "stream", "toxicity")


@dataclass(frozen=True, slots=True, kw_only=True)
class Ramp:
    """Move `attribute` to `to` in `steps` equal updates spread over the fault's duration."""

    attribute: str
    to: int
    steps: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ToxicParams(FaultParams):
    """One toxic type on one proxy (or every proxy of a region), on one or both streams."""

    toxic_type: str
    proxy: str | None
    region: str | None
    streams: tuple[Stream, ...]
    toxicity: float = 1.0
    attributes: tuple[tuple[str, int], ...]
    ramp: Ramp | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DownParams(FaultParams):
    """The proxy (or every proxy of a region) is disabled: new connections are refused."""

    proxy: str | None
    region: str | None


def _keys(toxic_type: str) -> tuple[str, ...]:
    return (*_COMMON, *(a.key for a in _ATTRS[toxic_type]), *(("ramp",) if toxic_type in _RAMPED else ()))


def _parse_target(node: Node, m: Mapping[str, Node], ctx: ParseContext) -> tuple[bool, str | None, str | None]:
    """(ok, proxy, region): exactly one of them, and it names something declared."""
    if ("proxy" in m) == ("region" in m):
        node.error("give exactly one of 'proxy' (one proxy) or 'region' (every proxy of that region)")
        return False, None, None
    if "proxy" in m:
        proxy = m["proxy"].str()
        if proxy is None:
            return False, None, None
        if proxy not in ctx.proxies:
            import difflib

            # never suggest another region's proxy (`redis-eu-west` -> `redis-us-east` would move the fault)
            named = {r for r in ctx.regions if r in proxy}
            same_region = [p for p, r in ctx.proxies.items() if not named or r in named or any(n in p for n in named)]
            hint = difflib.get_close_matches(proxy, same_region, n=1)
            listed = ", ".join(f"{p} ({r or 'no region'})" for p, r in sorted(ctx.proxies.items())) or "(none)"
            more = f"did you mean '{hint[0]}'?" if hint else f"declared: {listed}"
            m["proxy"].error(f"unknown toxiproxy proxy '{proxy}'; {more}")
            return False, None, None
        return True, proxy, None
    region = m["region"].str()
    if region is None:
        return False, None, None
    if region not in ctx.regions:
        m["region"].error(f"unknown region '{region}'; declared: {', '.join(ctx.regions) or '(none)'}")
        return False, None, None
    if region not in ctx.proxies.values():
        m["region"].error(f"no toxiproxy proxy is declared for region '{region}'; give a proxy that region")
        return False, None, None
    return True, None, region


_UNIT_TEXT = {
    "ms": "A duration in whole milliseconds: '300ms', '1s'.",
    "us": "A duration in whole microseconds: '500us', '2ms'.",
    "B": "A number of bytes.",
    "KB/s": "Kilobytes per second (1 KB = 1000 bytes), at least 1.",
}


def key_schema(toxic_type: str) -> dict[str, dict[str, object]]:
    """The JSON Schema of a toxic kind's keys (for `chaosrun schema` and editors)."""
    out: dict[str, dict[str, object]] = {
        "proxy": {"type": "string", "description": "One declared proxy (or give region)."},
        "region": {"type": "string", "description": "Every declared proxy of this region (or give proxy)."},
        "stream": {"enum": ["upstream", "downstream", "both"], "description": "Default downstream."},
        "toxicity": {"type": "number", "minimum": 0, "maximum": 1, "description": "Share of connections (default 1)."},
    }
    for attr in _ATTRS[toxic_type]:
        kind: dict[str, object] = {"type": "integer", "minimum": attr.min} if attr.unit in ("B", "KB/s") else {
            "type": "string"}  # fmt: skip
        out[attr.key] = {**kind, "description": ("Required. " if attr.required else "") + _UNIT_TEXT[attr.unit]}
    ramped = _RAMPED.get(toxic_type)
    if ramped is not None:
        out["ramp"] = {
            "type": "object",
            "additionalProperties": False,
            "required": ["to"],
            "description": f"Move {ramped} to `to` in `steps` equal updates (default 5) over the step's duration.",
            "properties": {
                "to": {"description": f"The last value of {ramped} (same unit)."},
                "steps": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "Default 5."},
            },
        }
    return out


def _parse_attr(node: Node, attr: _Attr) -> int | None:
    if attr.unit in ("ms", "us"):
        seconds = node.duration(max_s=_MAX_MS_S)
        if seconds is None:
            return None
        scale = 1_000 if attr.unit == "ms" else 1_000_000
        value = round(seconds * scale)
        if abs(seconds * scale - value) > 1e-6:
            unit = "milliseconds" if attr.unit == "ms" else "microseconds"
            node.error(f"Toxiproxy takes whole {unit}, got {node.raw.value!r}")
            return None
    else:
        number = node.int(max=_MAX_INT)
        if number is None:
            return None
        value = number
    if value < attr.min:
        why = f": {attr.why_min}" if attr.why_min else ""
        node.error(f"must be at least {attr.format(attr.min)}, got {attr.format(value)}{why}")
        return None
    return value


def _parse_toxic(toxic_type: str, node: Node, ctx: ParseContext) -> ToxicParams | None:
    attrs = _ATTRS[toxic_type]
    ramped = _RAMPED.get(toxic_type)
    allowed = (*_COMMON, *(a.key for a in attrs), *(("ramp",) if ramped else ()))
    m = node.mapping(allowed, required=tuple(a.key for a in attrs if a.required))
    if m is None:
        return None
    ok, proxy, region = _parse_target(node, m, ctx)
    values: dict[str, int] = {}
    for attr in attrs:
        value = _parse_attr(m[attr.key], attr) if attr.key in m else (None if attr.required else 0)
        ok = ok and value is not None
        values[attr.key] = value or 0
    if toxic_type == "slicer" and ok and values["size_variation"] >= values["average_size"]:
        m["size_variation"].error("must be smaller than average_size")
        ok = False
    stream = m["stream"].choice(("upstream", "downstream", "both")) if "stream" in m else "downstream"
    toxicity = m["toxicity"].float(min=0.0, max=1.0) if "toxicity" in m else 1.0
    ramp = None
    if ramped is not None and "ramp" in m:
        ramp = _parse_ramp(m["ramp"], next(a for a in attrs if a.key == ramped))
        ok = ok and ramp is not None
    if not ok or stream is None or toxicity is None:
        return None
    streams: tuple[Stream, ...] = ("upstream", "downstream") if stream == "both" else (_stream(stream),)
    return ToxicParams(
        toxic_type=toxic_type,
        proxy=proxy,
        region=region,
        streams=streams,
        toxicity=toxicity,
        attributes=tuple(values.items()),
        ramp=ramp,
    )


def _stream(text: str) -> Stream:
    return "upstream" if text == "upstream" else "downstream"


def _parse_ramp(node: Node, attr: _Attr) -> Ramp | None:
    m = node.mapping(("to", "steps"), required=("to",))
    if m is None or "to" not in m:
        return None
    to = _parse_attr(m["to"], attr)
    steps = m["steps"].int(min=1, max=1000) if "steps" in m else 5
    if to is None or steps is None:
        return None
    return Ramp(attribute=attr.key, to=to, steps=steps)
