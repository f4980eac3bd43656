"""`chaosrun recover` with a damaged ledger: readable entries are still undone, nothing is a traceback."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from chaosrun.safety.ledger import Ledger, LedgerEntry, Owner
from chaosrun.safety.recovery import recover
from tests.cli import run_cli
from tests.engine import support  # registers the `test` undoer

DEAD_PID = 2**22 + 12345  # above the default pid_max: never a live process


def _entry(url: str) -> LedgerEntry:
    return LedgerEntry(
        entry_id="f1-aaaa",
        run_id="20261126T170000Z-abcdef",
        owner=Owner(DEAD_PID),
        experiment="crashed run",
        target=f"test:{url}",
        description=f"mode slow on {url}",
        undo={"backend": "test", "url": url},
        created_at=time.time(),
    )


def test_recover_undoes_readable_entries_and_reports_an_unreadable_one(make_http_server: Any, tmp_path: Path) -> None:
    srv = make_http_server("x")
    srv.set_mode("slow")
    ledger = Ledger(tmp_path)
    ledger.add(_entry(srv.url))
    corrupt = tmp_path / "ledger" / "20261126T170001Z-ffffff" / "f9.json"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text("{not json")
    support.UNDONE.clear()
    report = asyncio.run(recover(ledger, echo=lambda s: None))
    assert len(report.undone) == 1 and srv.mode() == "healthy"
    assert len(report.failed) == 1 and "f9.json is unreadable" in report.failed[0]
    assert ledger.scan()[0] == [] and corrupt.exists()  # the corrupt entry is left for a person


def test_corrupt_ledger_refuses_runs_and_recover_exits_5_without_a_traceback(tmp_path: Path) -> None:
    corrupt = tmp_path / "state" / "ledger" / "20261126T170001Z-ffffff" / "f9.json"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_text("{not json")
    proc = run_cli("recover", state_dir=tmp_path / "state")
    assert proc.returncode == 5 and "f9.json is unreadable" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "title: t\nregions: {r: {base_url: 'http://127.0.0.1:9'}}\n"
        "steady_state: {probes: [{name: p, http: {url: /}}]}\nphases: {baseline: 1s, fault: 1s, recovery: 1s}\n"
        "toxiproxy: {proxies: {svc: {listen: '127.0.0.1:21999', upstream: '127.0.0.1:9', region: r}}}\n"
        "method: [{fault: toxiproxy.latency, proxy: svc, latency: 10ms}]\n"
    )
    proc = run_cli("run", str(exp), state_dir=tmp_path / "state")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ledger entry") and "inspect and remove it by hand" in proc.stderr
    assert "Traceback" not in proc.stderr
