"""Who owns a ledger entry or a run claim: a pid is an identity only with its start time and
the boot and PID namespace it was read in. A reused pid, or a pid recorded in another
container sharing the state volume, must never count as the run (nor be signalled by `stop`)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaosrun.safety.ledger import Ledger, LedgerEntry, Owner
from chaosrun.safety.recovery import emergency_stop, recover
from tests.engine import support  # noqa: F401  (registers the `test` undoer the entries name)

DEAD_PID = 2**22 + 12345  # above the default pid_max: never a live process


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that has nothing to do with chaosrun (a pid that a dead run's pid could have become)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def entry(url: str, owner: Owner) -> LedgerEntry:
    return LedgerEntry(
        entry_id="f1-aaaa",
        run_id="20261126T170000Z-abcdef",
        owner=owner,
        experiment="crashed run",
        target=f"test:{url}",
        description=f"mode slow on {url}",
        undo={"backend": "test", "url": url},
        created_at=time.time(),
    )


def test_the_current_process_is_alive_and_a_reused_pid_or_another_namespace_is_not(
    bystander: subprocess.Popen[bytes],
) -> None:
    me = Owner.current()
    assert me.start is not None and me.where and me.alive() and me.is_current()
    assert Owner(bystander.pid).alive()  # an old record (pid only): the pid alone decides, as before
    assert Owner(bystander.pid, _start_of(bystander.pid), me.where).alive()  # the very process
    assert not Owner(bystander.pid, _start_of(bystander.pid) + 1, me.where).alive()  # same pid, another process
    elsewhere = Owner(me.pid, me.start, "another-boot/pid:[4026531836]")
    assert elsewhere.elsewhere() and not elsewhere.alive() and not elsewhere.is_current()
    assert elsewhere.describe() == f"pid {me.pid} in another container or boot"


def test_records_round_trip_and_old_records_still_load(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    e = entry("http://127.0.0.1:9", Owner.current())
    ledger.add(e)
    (loaded,) = ledger.entries()
    assert loaded == e and loaded.pid == e.owner.pid
    old = json.loads(e.to_json())
    for key in ("pid_start", "pid_where"):
        del old[key]
    assert LedgerEntry.from_json(json.dumps(old)).owner == Owner(e.owner.pid)


def test_recover_undoes_an_entry_whose_pid_was_reused(
    make_http_server: Any, tmp_path: Path, bystander: subprocess.Popen[bytes]
) -> None:
    srv = make_http_server("x")
    srv.set_mode("slow")
    ledger = Ledger(tmp_path)
    me = Owner.current()
    ledger.add(entry(srv.url, Owner(bystander.pid, (me.start or 0) + 1, me.where)))  # the run died; its pid was reused
    report = asyncio.run(recover(ledger, echo=lambda s: None))
    assert report.skipped_live == [] and len(report.undone) == 1
    assert srv.mode() == "healthy" and ledger.entries() == []


def test_recover_undoes_an_entry_written_in_another_container(make_http_server: Any, tmp_path: Path) -> None:
    """A CronJob pod ran as pid 1 and was killed; `recover` runs in a new pod where pid 1 is alive."""
    srv = make_http_server("x")
    srv.set_mode("slow")
    ledger = Ledger(tmp_path)
    ledger.add(entry(srv.url, Owner(1, 12345, "a-boot-that-is-not-ours/pid:[4026532999]")))
    lines: list[str] = []
    report = asyncio.run(recover(ledger, echo=lines.append))
    assert report.skipped_live == [] and len(report.undone) == 1 and srv.mode() == "healthy"
    assert any("ran as pid 1 in another container or boot: it cannot be alive here" in line for line in lines)


def test_recover_skips_an_entry_of_a_live_run(make_http_server: Any, tmp_path: Path) -> None:
    srv = make_http_server("x")
    srv.set_mode("slow")
    ledger = Ledger(tmp_path)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        ledger.add(entry(srv.url, Owner(child.pid, _start_of(child.pid), Owner.current().where)))  # a live run
        report = asyncio.run(recover(ledger, echo=lambda s: None))
        assert len(report.skipped_live) == 1 and srv.mode() == "slow"
    finally:
        child.kill()
        child.wait(timeout=10)


def test_stop_never_signals_a_process_that_reused_a_dead_runs_pid(
    tmp_path: Path, bystander: subprocess.Popen[bytes]
) -> None:
    ledger = Ledger(tmp_path)
    claim = tmp_path / "runs" / "20261126T170000Z-abcdef.json"
    claim.parent.mkdir(parents=True)
    me = Owner.current()
    stale = Owner(bystander.pid, (me.start or 0) + 1, me.where)
    claim.write_text(json.dumps({"run_id": "20261126T170000Z-abcdef", **stale.fields(), "experiment": "gone",
                                 "targets": ["test:x"], "started_at": time.time()}))  # fmt: skip
    lines: list[str] = []
    asyncio.run(emergency_stop(ledger, (), wait_s=0.5, echo=lines.append))
    assert bystander.poll() is None  # still running: never signalled
    assert not any("stopping run" in line for line in lines)


def _start_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[19])
