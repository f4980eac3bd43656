"""What chaosrun and an in-cluster agent exchange: the agent's plan (one JSON argument) and
the lines it writes to stdout (JSON Lines), read back through the API server's pod log.

Plan: the run id, the agent's region, the run's start on the wall clock (UTC epoch seconds;
chaosrun's `Clock.wall0`), when to stop (seconds after that), and one series per (probe,
target region): the probe spec (http or tcp), the target's base_url/host, the period and the
first tick's offset. The agent samples `start_wall + offset_s + k * every_s`: the same fixed-rate
schedule as local series.

Lines (one JSON object each, keys kept short: this is the hot path):
- `{"hello": 1, "run": ID, "region": R, "wall": T}` once at start;
- `{"seq": N, "i": SERIES, "sched": T, "sent": T, "ok": B, "lat": S|null, "st": CODE|null,
  "err": TEXT|null, "lag": S}` per sample (`sched`: scheduled wall time, `sent`: when written);
- `{"end": 1, "samples": N, "why": "plan"|"signal"}` when the agent stops: at its plan's end, or
  early on SIGTERM (then chaosrun, unless it is the one stopping, counts the agent as lost).
`seq` increases by one per line, so lines read twice after a resumed log stream are dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput
from ..model import HttpProbe, ProbeSpec, TcpProbe

__all__ = ["AgentLine", "AgentPlan", "AgentSeries", "decode_line", "spec_from_json", "spec_to_json"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSeries:
    probe: str
    target: str  # the region whose endpoint is probed
    base_url: str | None
    host: str | None
    spec: ProbeSpec
    every_s: float
    offset_s: float  # first tick, seconds after the plan's start_wall


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentPlan:
    run_id: str
    region: str  # where the agent runs
    start_wall: float
    stop_s: float  # seconds after start_wall: no tick starts later
    series: tuple[AgentSeries, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "run_id": self.run_id,
                "region": self.region,
                "start_wall": self.start_wall,
                "stop_s": self.stop_s,
                "series": [
                    {
                        "probe": s.probe,
                        "target": s.target,
                        "base_url": s.base_url,
                        "host": s.host,
                        "spec": spec_to_json(s.spec),
                        "every_s": s.every_s,
                        "offset_s": s.offset_s,
                    }
                    for s in self.series
                ],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> AgentPlan:
        try:
            d = json.loads(text)
            return cls(
                run_id=str(d["run_id"]),
                region=str(d["region"]),
                start_wall=float(d["start_wall"]),
                stop_s=float(d["stop_s"]),
                series=tuple(
                    AgentSeries(
                        probe=str(s["probe"]),
                        target=str(s["target"]),
                        base_url=s["base_url"],
                        host=s["host"],
                        spec=spec_from_json(s["spec"]),
                        every_s=float(s["every_s"]),
                        offset_s=float(s["offset_s"]),
                    )
                    for s in d["series"]
                ),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"agent plan: unreadable ({type(exc).__name__}: {exc})") from exc


def spec_to_json(spec: ProbeSpec) -> dict[str, Any]:
    match spec:
        case HttpProbe():
            if any("${secret." in text for text in (spec.url, spec.body or "", *(v for _, v in spec.headers))):
                raise InvalidInput(
                    "an in-cluster agent cannot use ${secret.*} (secrets never leave chaosrun): probe this region "
                    "locally, or give the agent its own credentials"
                )
            return {
                "kind": "http",
                "url": spec.url,
                "method": spec.method,
                "timeout_s": spec.timeout_s,
                "expect_status": list(spec.expect_status),
                "body_regex": spec.body_regex,
                "json_path": spec.json_path,
                "json_expect": spec.json_expect,
                "max_latency_s": spec.max_latency_s,
                "headers": [list(h) for h in spec.headers],
                "body": spec.body,
            }
        case TcpProbe():
            return {
                "kind": "tcp",
                "host": spec.host,
                "port": spec.port,
                "timeout_s": spec.timeout_s,
                "max_latency_s": spec.max_latency_s,
            }
    raise InvalidInput(f"an in-cluster agent runs http and tcp probes only, not {type(spec).__name__}")


def spec_from_json(d: dict[str, Any]) -> ProbeSpec:
    kind = d.get("kind")
    if kind == "http":
        return HttpProbe(
            url=str(d["url"]),
            method=str(d["method"]),
            timeout_s=float(d["timeout_s"]),
            expect_status=tuple(int(x) for x in d["expect_status"]),
            body_regex=d["body_regex"],
            json_path=d["json_path"],
            json_expect=d["json_expect"],
            max_latency_s=d["max_latency_s"],
            headers=tuple((str(k), str(v)) for k, v in d["headers"]),
            body=d["body"],
        )
    if kind == "tcp":
        return TcpProbe(
            host=d["host"], port=int(d["port"]), timeout_s=float(d["timeout_s"]), max_latency_s=d["max_latency_s"]
        )
    raise ValueError(f"unknown probe kind {kind!r}")


@dataclass(frozen=True, slots=True)
class AgentLine:
    """One sample line, decoded."""

    seq: int
    series: int
    sched: float
    sent: float
    ok: bool
    latency_s: float | None
    status: int | None
    error: str | None
    lag_s: float


def decode_line(obj: dict[str, Any]) -> AgentLine | None:
    """A sample line, or None for the other kinds (hello, end); ValueError when malformed."""
    if "seq" not in obj or "i" not in obj:
        return None
    try:
        lat = obj.get("lat")
        st = obj.get("st")
        err = obj.get("err")
        return AgentLine(
            seq=int(obj["seq"]),
            series=int(obj["i"]),
            sched=float(obj["sched"]),
            sent=float(obj["sent"]),
            ok=bool(obj["ok"]),
            latency_s=None if lat is None else float(lat),
            status=None if st is None else int(st),
            error=None if err is None else str(err)[:200],
            lag_s=float(obj.get("lag", 0.0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed sample line: {exc}") from exc
