"""Synthetic journals in the wire shape of docs/journal.md, for report tests and benchmarks.

`make_journal(status)` builds a realistic journal.json dict of any status and size;
`journal_events(journal)` replays it as events.jsonl lines (cut short for a crashed run).
Statistics in the verdicts are computed here with `statistics.quantiles` (an implementation
independent of chaosrun.report.stats).
"""

from __future__ import annotations

import json
import math
import random
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

STATUSES = ("held", "deviated", "not_steady", "aborted", "error", "rollback_failed")
START = datetime(2026, 11, 26, 17, 0, 0, tzinfo=UTC)
_BASE_MS = {0: 18.0, 1: 32.0, 2: 61.0}
TOLERANCE = "success_ratio >= 0.99, p95 < 300ms"
SOURCE_TEXT = """\
title: Payments survive a slow EU database
regions:
  us-east: {base_url: http://127.0.0.1:8101}
  eu-west: {base_url: http://127.0.0.1:8102}
steady_state:
  probes:
    - name: checkout
      http: {url: /checkout/health, headers: {Authorization: "Bearer ${secret.token}"}}
      every: 200ms
      tolerance: {success_ratio: ">= 0.99", p95: "< 300ms"}
method:
  - toxiproxy.latency: {proxy: payments-eu, latency: 300ms}
"""


def at(t: float) -> str:
    """The UTC wall clock `t` seconds after the synthetic run started."""
    return (START + timedelta(seconds=t)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _quantiles(values: list[float]) -> tuple[float | None, ...]:
    if not values:
        return (None, None, None, None, None)
    if len(values) == 1:
        return (values[0],) * 4 + (values[0],)
    q = statistics.quantiles(values, n=100, method="inclusive")
    return (q[49], q[94], q[98], max(values), statistics.fmean(values))


def make_journal(
    status: str = "held",
    *,
    regions: tuple[str, ...] = ("us-east", "eu-west", "ap-south"),
    probes: tuple[str, ...] = ("checkout", "catalog"),
    phases_s: tuple[float, float, float] = (30.0, 60.0, 30.0),
    rate_hz: float = 5.0,
    seed: int = 7,
    title: str = "Payments survive a slow EU database",
    description: str = "Adds 300ms to the EU payments database and checks checkout keeps its SLO.",
    tags: tuple[str, ...] = ("payments", "latency", "game-day"),
    error_text: str = "timeout after 2s",
    source_text: str = SOURCE_TEXT,
    setup: bool = False,
) -> dict[str, Any]:
    """A complete journal.json dict for a run that ended with `status`.

    `setup`: the faulted region also has a set-up entry (a Toxiproxy proxy chaosrun creates
    before the baseline and removes at the end), as a real Toxiproxy run records.
    """
    rng = random.Random(seed)
    baseline_s, fault_s, recovery_s = phases_s
    fault_at, fault_end, total = baseline_s, baseline_s + fault_s, sum(phases_s)
    hit = regions[1] if len(regions) > 1 else regions[0]
    ended = {
        "not_steady": baseline_s,
        "aborted": fault_at + fault_s * 0.25,
        "error": fault_at + fault_s * 0.5,
    }.get(status, total)
    phases = [("baseline", 0.0, min(baseline_s, ended))]
    if ended > baseline_s:
        phases.append(("fault", fault_at, min(fault_end, ended)))
    if ended > fault_end:
        phases.append(("recovery", fault_end, total))
    recovered_at = fault_end + (14.0 if status == "deviated" else 1.4)

    errors: list[str] = [error_text, "status 503"]
    series = []
    verdicts = []
    for ri, region in enumerate(regions):
        for pi, probe in enumerate(probes):
            t_col: list[float] = []
            lat_col: list[float | None] = []
            ok_col: list[int] = []
            st_col: list[int | None] = []
            err_col: list[int] = []
            n = int(ended * rate_hz)
            base = _BASE_MS.get(ri % 3, 40.0) * (1 + 0.3 * (pi % 3))
            for i in range(n):
                t = round(i / rate_hz + rng.uniform(0, 0.004), 4)
                latency = rng.lognormvariate(math.log(base), 0.25)
                fail = rng.random() < 0.001
                if region == hit and fault_at <= t < recovered_at:
                    latency += {"deviated": 420.0, "aborted": 900.0}.get(status, 150.0)
                    fail = fail or rng.random() < {"deviated": 0.05, "aborted": 0.6}.get(status, 0.002)
                if status == "not_steady" and ri == 0:
                    fail = fail or rng.random() < 0.2
                timeout = fail and rng.random() < 0.5
                t_col.append(t)
                lat_col.append(None if timeout else round(latency, 3))
                ok_col.append(0 if fail else 1)
                st_col.append(None if timeout else (503 if fail else 200))
                err_col.append((0 if timeout else 1) if fail else -1)
            series.append(
                {
                    "probe": probe,
                    "region": region,
                    "t": t_col,
                    "latency_ms": lat_col,
                    "ok": ok_col,
                    "status": st_col,
                    "error": err_col,
                }
            )
            for phase, lo, hi in phases:
                rows = [i for i, t in enumerate(t_col) if lo <= t < hi]
                lats = sorted(v for i in rows if (v := lat_col[i]) is not None)
                fails = sum(1 for i in rows if not ok_col[i])
                p50, p95, p99, mx, mean = _quantiles(lats)
                ratio = (len(rows) - fails) / len(rows) if rows else None
                reasons = []
                if ratio is not None and ratio < 0.99:
                    reasons.append(f"success_ratio {ratio:.3f} < 0.99")
                if p95 is not None and p95 >= 300:
                    reasons.append(f"p95 {p95:.0f}ms >= 300ms")
                judged = not (phase == "fault" and probe == probes[-1] and len(probes) > 1)
                verdicts.append(
                    {
                        "probe": probe, "region": region, "phase": phase, "judged": judged,
                        "held": (not reasons) if judged else None, "samples": len(rows), "failures": fails,
                        "success_ratio": ratio, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "max_ms": mx,
                        "mean_ms": mean, "tolerance": TOLERANCE if judged else "", "reasons": reasons if judged else [],
                    }
                )  # fmt: skip

    applied = status != "not_steady"
    fault = {
        "id": "f1", "name": "slow-payments", "kind": "toxiproxy.latency",
        "target": "toxiproxy:http://127.0.0.1:8474/payments-eu", "region": hit,
        "description": "latency 300ms (downstream) on payments-eu",
        "applied_s": fault_at + 0.01 if applied else None,
        "removed_s": min(fault_end, ended) + 0.02 if applied else None,
        "applied_at": at(fault_at + 0.01) if applied else None,
        "removed_at": at(min(fault_end, ended) + 0.02) if applied else None,
        "undo": "ok" if applied else "not_applied", "error": None, "setup": False,
    }  # fmt: skip
    faults = [fault]
    if setup:
        create = "create proxy payments-eu (127.0.0.1:18081 -> 127.0.0.1:18080)"
        faults.insert(0, {
            "id": "s1", "name": f"setup: {create}", "kind": "toxiproxy.latency",
            "target": "toxiproxy:http://127.0.0.1:8474/payments-eu", "region": hit, "description": create,
            "applied_s": 0.005, "removed_s": ended + 0.03, "applied_at": at(0.005), "removed_at": at(ended + 0.03),
            "undo": "ok", "error": None, "setup": True,
        })  # fmt: skip
    remaining: list[str] = []
    rollbacks = [{"name": "restart-cache", "ok": True, "error": None, "t": min(fault_end, ended) + 0.5}]
    if status == "rollback_failed":
        fault.update(undo="failed", error="toxiproxy http://127.0.0.1:8474: 500 Internal Server Error")
        remaining = ["f1: latency 300ms (downstream) on payments-eu (toxiproxy http://127.0.0.1:8474)"]
        rollbacks.append(
            {"name": "flush-dns", "ok": False, "error": "exit status 1: permission denied", "t": fault_end + 0.9}
        )
    guardrails = []
    if status == "aborted":
        guardrails.append(
            {"name": "error-budget", "tripped": True, "region": hit, "t": ended,
             "evidence": "success_ratio 0.40 < 0.5 over 5s (25 samples)", "reaction_ms": 38.0}
        )  # fmt: skip
    recovery = []
    if ended >= total:
        for region in regions:
            for probe in probes:
                took = (recovered_at - fault_end) if region == hit else 0.0
                recovery.append(
                    {"probe": probe, "region": region, "recovery_s": took, "objective_s": 10.0, "met": took <= 10.0}
                )
    status_reasons = {
        "held": "hypothesis held in every phase and region",
        "deviated": f"checkout deviated in {hit} during the fault",
        "not_steady": f"not steady before the fault: checkout in {regions[0]}",
        "aborted": f"guardrail error-budget tripped in {hit}",
        "error": "toxiproxy http://127.0.0.1:8474: connection refused",
        "rollback_failed": "undo of f1 failed: a fault may remain",
    }
    return {
        "schema_version": 1,
        "chaosrun_version": "0.1.0",
        "run_id": f"20261126T170000Z-{seed:06x}",
        "status": status,
        "reason": status_reasons.get(status, ""),
        "started_at": at(0.0),
        "ended_at": at(ended),
        "duration_s": ended,
        "host": {"hostname": "ci-runner-7", "platform": "Linux-6.1-x86_64", "python": "3.11.7", "pid": 4242},
        "command": "chaosrun run experiments/latency.yaml --var env=staging",
        "experiment": {
            "title": title,
            "description": description,
            "tags": list(tags),
            "source": "experiments/latency.yaml",
            "source_text": source_text,
            "regions": [{"name": r, "base_url": f"http://127.0.0.1:{8101 + i}"} for i, r in enumerate(regions)],
            "phases": {"baseline_s": baseline_s, "fault_s": fault_s, "recovery_s": recovery_s},
            "probes": [
                {
                    "name": p,
                    "kind": "http",
                    "target": f"GET /{p}/health",
                    "every_s": 1 / rate_hz,
                    "tolerance": TOLERANCE,
                    "during": "success_ratio >= 0.95",
                    "recover_within_s": 10,
                    "regions": list(regions),
                }
                for p in probes
            ],
            "method": [{"name": "slow-payments", "kind": "toxiproxy.latency", "start_s": 0, "duration_s": None}],
            "guardrails": [{"name": "error-budget", "condition": "success_ratio >= 0.5 over 5s"}],
            "variables": {"env": "staging"},
        },
        "phases": [
            {"name": name, "start_s": lo, "end_s": hi, "started_at": at(lo), "ended_at": at(hi)}
            for name, lo, hi in phases
        ],
        "samples": {"errors": errors, "series": series},
        "verdicts": verdicts,
        "recovery": recovery,
        "faults": faults,
        "rollbacks": rollbacks,
        "guardrails": guardrails,
        "errors": [status_reasons["error"]] if status == "error" else [],
        "remaining": remaining,
    }


PROBE_NAMES = ("checkout", "catalog", "search", "login", "cart", "payments-api", "inventory", "shipping-quote",
               "recommendations", "profile", "orders-history", "status-page")  # fmt: skip
REGION_NAMES = ("us-east", "eu-west", "ap-south", "us-west", "eu-central", "ap-northeast", "sa-east", "af-south")


def scaled_journal(probes: int, regions: int, status: str = "deviated", **kwargs: Any) -> dict[str, Any]:
    """A journal of `probes` probes in each of `regions` regions (the second region faulted)."""
    return make_journal(status, probes=PROBE_NAMES[:probes], regions=REGION_NAMES[:regions], **kwargs)


def crowded_journal(**kwargs: Any) -> dict[str, Any]:
    """A deviated run whose faulted region has a set-up entry, two overlapping faults (one with a
    long name) and a guardrail trip a moment before the rollback: every label of the lane at once."""
    wire = make_journal("deviated", setup=True, **kwargs)
    fault = next(f for f in wire["faults"] if not f["setup"])
    baseline_s, fault_s, _ = wire["experiment"]["phases"].values()
    lo, hi = baseline_s + fault_s * 0.1, baseline_s + fault_s * 0.75
    second = {**fault, "id": "f2", "name": "drop-half-of-the-payments-eu-connections", "applied_s": lo,
              "removed_s": hi, "applied_at": at(lo), "removed_at": at(hi),
              "description": "reset_peer 50% on payments-eu"}  # fmt: skip
    wire["faults"].append(second)
    wire["guardrails"].append(
        {"name": "error-budget", "tripped": True, "region": fault["region"], "t": fault["removed_s"] + 0.2,
         "evidence": "success_ratio 0.40 < 0.5 over 5s (25 samples)", "reaction_ms": 38.0}
    )  # fmt: skip
    return wire


def journal_events(journal: dict[str, Any], *, until_s: float | None = None) -> list[dict[str, Any]]:
    """The events.jsonl a run would have written; with `until_s`, cut there with no run_ended (a crash)."""
    timed: list[tuple[float, int, dict[str, Any]]] = []
    exp = journal["experiment"]
    timed.append((0.0, 0, {"type": "run_started", "run_id": journal["run_id"], "experiment": exp,
                           "chaosrun_version": journal["chaosrun_version"], "host": journal["host"]["hostname"],
                           "pid": journal["host"]["pid"]}))  # fmt: skip
    for p in journal["phases"]:
        timed.append((p["start_s"], 1, {"type": "phase_started", "phase": p["name"]}))
    for f in journal["faults"]:
        if f["applied_s"] is not None:
            fields = {k: f[k] for k in ("kind", "target", "region", "description")}
            timed.append((f["applied_s"], 2, {"type": "fault_applied", "fault": f["id"], **fields}))
        if f["removed_s"] is not None:
            timed.append(
                (
                    f["removed_s"],
                    2,
                    {"type": "fault_removed", "fault": f["id"], "ok": f["undo"] == "ok", "error": f["error"]},
                )
            )
    rows: list[list[Any]] = []
    errors = journal["samples"]["errors"]
    for s in journal["samples"]["series"]:
        for i, t in enumerate(s["t"]):
            phase = next((p["name"] for p in reversed(journal["phases"]) if p["start_s"] <= t), "baseline")
            err = s["error"][i]
            rows.append(
                [
                    s["probe"],
                    s["region"],
                    phase,
                    t,
                    s["ok"][i],
                    s["latency_ms"][i],
                    s["status"][i],
                    errors[err] if err >= 0 else None,
                ]
            )
    rows.sort(key=lambda r: r[3])
    batch: list[list[Any]] = []
    for row in rows:
        if batch and math.floor(row[3]) != math.floor(batch[0][3]):
            timed.append((math.floor(batch[0][3]) + 1.0, 3, {"type": "samples", "batch": batch}))
            batch = []
        batch.append(row)
    if batch:
        timed.append((math.floor(batch[0][3]) + 1.0, 3, {"type": "samples", "batch": batch}))
    for g in journal["guardrails"]:
        timed.append(
            (
                g["t"],
                4,
                {"type": "guardrail_tripped", "guardrail": g["name"], "region": g["region"], "evidence": g["evidence"]},
            )
        )
    for r in journal["rollbacks"]:
        timed.append((r["t"], 4, {"type": "rollback", "name": r["name"], "ok": r["ok"], "error": r["error"]}))
    end = journal["duration_s"]
    for message in journal["errors"]:
        timed.append((end, 5, {"type": "error", "message": message}))
    timed.append((end + 0.1, 6, {"type": "run_ended", "status": journal["status"]}))
    timed.sort(key=lambda x: (x[0], x[1]))
    events = []
    for seq, (t, _, body) in enumerate(timed):
        if until_s is not None and t > until_s:
            break
        events.append({"seq": seq, "t": round(t, 4), "at": at(t), **body})
    return events


def write_events(path: Path, events: list[dict[str, Any]], *, torn_tail: bool = False) -> Path:
    """Write events as JSON Lines; `torn_tail` adds a half-written last line, as a kill mid-write leaves."""
    with path.open("w", encoding="utf-8") as f:
        for event in events:
            f.write(json.dumps(event, separators=(",", ":")) + "\n")
        if torn_tail:
            f.write('{"seq": 99999, "t": 1.0, "type": "samp')
    return path


def write_journal(path: Path, journal: dict[str, Any]) -> Path:
    path.write_text(json.dumps(journal, separators=(",", ":")), encoding="utf-8")
    return path
