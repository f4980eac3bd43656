"""experiments/https-regions.yaml end to end: the real CLI, a real nginx per region (TLS), a real
Toxiproxy in front of each region's load balancer, certificates made here (trustme)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from tests.fixtures.nginx import VHost, run_nginx
from tests.fixtures.toxiproxy_server import ToxiproxyProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
NAME = "api.example.test"


def _run(tmp: Path, toxiproxy: ToxiproxyProcess, port: int, ca: Path, *, eu_upstream: str) -> tuple[dict, str]:
    out = tmp / "out"
    variables = {
        "toxiproxy_url": toxiproxy.url,
        "hostname": NAME,
        "port": str(port),
        "ca_file": str(ca),
        "us_east_lb": f"127.0.0.1:{free_port()}",
        "eu_west_lb": f"127.0.0.1:{free_port()}",
        "us_east_lb_upstream": f"127.0.0.2:{port}",
        "eu_west_lb_upstream": eu_upstream,
        "latency": "50ms",
        "baseline": "2s",
        "fault": "2s",
        "recovery": "2s",
        "recover_within": "2s",
    }
    argv = [sys.executable, "-m", "chaosrun", "run", str(ROOT / "experiments/https-regions.yaml"), "--out", str(out)]
    argv += ["--state-dir", str(tmp / "state"), "--no-report"]
    argv += [a for k, v in variables.items() for a in ("--var", f"{k}={v}")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT)
    journal = json.loads((out / "journal.json").read_text())
    return journal, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.toxiproxy
@pytest.mark.slow
def test_https_drill_holds_and_names_an_expired_certificate(tmp_path: Path, toxiproxy_clean: ToxiproxyProcess) -> None:
    ca = trustme.CA()
    now = dt.datetime.now(dt.UTC)
    expired = ca.issue_cert(NAME, not_before=now - dt.timedelta(days=9), not_after=now - dt.timedelta(days=1))
    pems = {}
    for name, cert in (("good", ca.issue_cert(NAME)), ("expired", expired)):
        pems[name] = tmp_path / f"{name}.pem"
        cert.private_key_and_cert_chain_pem.write_to_path(str(pems[name]))
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    vhosts = [
        VHost("127.0.0.2", NAME, pems["good"], "us-east"),
        VHost("127.0.0.3", NAME, pems["good"], "eu-west"),
        VHost("127.0.0.4", NAME, pems["expired"], "stale"),
    ]
    with run_nginx(tmp_path / "nginx", vhosts) as nginx:
        journal, output = _run(
            tmp_path / "held", toxiproxy_clean, nginx.port, ca_file, eu_upstream=f"127.0.0.3:{nginx.port}"
        )
        assert journal["status"] == "held", output
        assert journal["faults"] and all(f["undo"] == "ok" for f in journal["faults"])
        toxiproxy_clean.delete_all_proxies()
        # eu-west's load balancer now presents an expired certificate: the run says so, per region
        journal, output = _run(
            tmp_path / "expired", toxiproxy_clean, nginx.port, ca_file, eu_upstream=f"127.0.0.4:{nginx.port}"
        )
    assert journal["status"] != "held", output
    text = json.dumps(journal)
    assert "TLS: certificate expired" in text, output
