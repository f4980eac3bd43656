"""Valid documents -> exact model values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chaosrun.errors import ValidationFailed
from chaosrun.faults import known_kinds
from chaosrun.loader import COMMON_FAULT_KEYS, load_experiment, load_text
from chaosrun.model import (
    Caps,
    CommandProbe,
    Experiment,
    FaultStep,
    Guardrail,
    HttpProbe,
    Location,
    Phases,
    Probe,
    PythonProbe,
    Region,
    Rollback,
    SecretRef,
    TcpProbe,
    Tolerance,
    ToxiproxyProxy,
    ToxiproxyServer,
)
from chaosrun.units import Bound
from tests.loader_samples import FULL, JSON, MINIMAL, NoopParams, shipped_experiments

EXPERIMENTS = shipped_experiments()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_document(tmp_path: Path) -> None:
    path = write(tmp_path, "min.yaml", MINIMAL)
    loc = Location(file=str(path), line=6, column=7)
    assert load_experiment(path, environ={}) == Experiment(
        title="Minimal",
        description="",
        tags=(),
        regions=(Region(name="local", base_url="http://127.0.0.1:8101", host="127.0.0.1"),),
        probes=(
            Probe(
                name="health",
                spec=HttpProbe(url="/health"),
                every_s=1.0,
                tolerance=Tolerance(),
                during=Tolerance(),
                recover_within_s=None,
                regions=("local",),
                location=loc,
            ),
        ),
        phases=Phases(baseline_s=1, fault_s=2, recovery_s=1),
        method=(),
        toxiproxy_servers=(ToxiproxyServer(name="default", url="http://127.0.0.1:8474"),),
        source=str(path),
        source_text=MINIMAL,
    )


def test_json_is_accepted() -> None:
    e = load_text(JSON, file="exp.json", environ={})
    assert (e.title, e.probes[0].spec, e.phases) == (
        "JSON works",
        HttpProbe(url="/health"),
        Phases(baseline_s=1, fault_s=2, recovery_s=1),
    )


@pytest.fixture
def full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Experiment:
    write(tmp_path, "exp.yaml", FULL)
    monkeypatch.chdir(tmp_path)
    return load_experiment("exp.yaml", environ={})


def at(line: int, column: int) -> Location:
    return Location(file="exp.yaml", line=line, column=column)


def test_full_document_header(full: Experiment, tmp_path: Path) -> None:
    assert full.title == "Checkout survives payment latency"
    assert full.description == "Payments in eu-west get 300ms slower."
    assert full.tags == ("payments", "latency")
    assert full.regions == (
        Region(name="us-east", base_url="http://127.0.0.1:8101", host="127.0.0.1"),
        Region(name="eu-west", base_url="http://127.0.0.1:8102/", host="127.0.0.2"),
    )
    assert full.variables == (("service", "checkout"), ("threshold", "300ms"))
    assert full.secrets == (
        SecretRef(name="token", env="API_TOKEN"),
        SecretRef(name="dbpass", file=str(tmp_path / "secrets" / "db.txt")),
    )
    assert full.phases == Phases(baseline_s=30, fault_s=60, recovery_s=30)
    assert (full.source, full.source_text) == ("exp.yaml", FULL)


def test_full_document_probes(full: Experiment) -> None:
    checkout, db, cli = full.probes
    assert checkout == Probe(
        name="checkout",
        spec=HttpProbe(
            url="/checkout/health",
            method="POST",
            timeout_s=2.0,
            expect_status=(200, 204),
            body_regex="ok|fine",
            json_path="status",
            json_expect="ok",
            max_latency_s=0.5,
            headers=(("Authorization", "Bearer ${secret.token}"), ("X-Region", "${region.name}")),
            body='{"ping": true}',
        ),
        every_s=0.2,
        tolerance=Tolerance(
            success_ratio=Bound(op=">=", value=0.99),
            p95=Bound(op="<", value=0.3),
            p99=Bound(op="<=", factor=1.5),
            window_s=10.0,
            min_samples=5,
        ),
        during=None,
        recover_within_s=10.0,
        recovery_streak=2,
        regions=("us-east",),
        location=at(15, 7),
    )
    assert db == Probe(
        name="db",
        spec=TcpProbe(host=None, port=5432, timeout_s=1.0, max_latency_s=0.1),
        every_s=0.0,
        tolerance=Tolerance(success_ratio=Bound(op=">=", value=0.99)),
        during=Tolerance(success_ratio=Bound(op=">=", value=0.5), max=Bound(op="<", value=2.0)),
        recover_within_s=None,
        regions=("us-east", "eu-west"),
        location=at(32, 7),
    )
    assert cli == Probe(
        name="cli",
        spec=CommandProbe(
            argv=("curl", "-fsS", "http://127.0.0.1:8101/health"),
            timeout_s=5.0,
            expect_exit=(0, 7),
            stdout_regex="ok",
            env=(("PGPASSWORD", "${secret.dbpass}"),),
        ),
        every_s=1.0,
        tolerance=Tolerance(),
        during=Tolerance(),
        recover_within_s=None,
        regions=("eu-west",),
        location=at(37, 7),
    )


def test_full_document_method_and_safety(full: Experiment) -> None:
    assert full.method == (
        FaultStep(
            kind="test.noop", name="test.noop#0", params=NoopParams(proxy="payments-eu", amount=3), location=at(47, 5)
        ),
        FaultStep(
            kind="test.noop",
            name="late",
            params=NoopParams(proxy="payments-us"),
            start_s=10.0,
            duration_s=50.0,
            location=at(50, 5),
        ),
    )
    assert full.rollbacks == (
        Rollback(name="restart", argv=("systemctl", "restart", "checkout"), timeout_s=20.0, location=at(56, 5)),
        Rollback(
            name="rollback#1",
            argv=("curl", "-H", "Authorization: ${secret.token}", "http://127.0.0.1:8101/reset"),
            location=at(57, 5),
        ),
    )
    assert full.guardrails == (
        Guardrail(
            name="error-budget",
            probe="checkout",
            spec=None,
            every_s=0.2,
            regions=("us-east",),
            window_s=5.0,
            success_ratio=Bound(op=">=", value=0.5),
            p99=Bound(op="<", value=2.0),
            consecutive_failures=3,
            location=at(59, 5),
        ),
        Guardrail(
            name="db-alive",
            probe=None,
            spec=TcpProbe(host="127.0.0.1", port=5432),
            every_s=0.5,
            regions=("eu-west",),
            consecutive_failures=5,
            min_samples=1,
            location=at(65, 5),
        ),
    )
    assert full.toxiproxy_servers == (
        ToxiproxyServer(name="default", url="http://127.0.0.1:8474"),
        ToxiproxyServer(name="other", url="http://127.0.0.1:8475"),
    )
    assert full.toxiproxy_proxies == (
        ToxiproxyProxy(
            name="payments-eu",
            server="default",
            listen="127.0.0.1:21001",
            upstream="127.0.0.1:9102",
            region="eu-west",
            location=at(74, 18),
        ),
        ToxiproxyProxy(
            name="payments-us", server="other", listen=None, upstream=None, region=None, location=at(75, 18)
        ),
    )
    assert full.caps == Caps(
        max_targets=3,
        max_targets_percent=50.0,
        max_fault_duration_s=300.0,
        allowed_toxiproxy=("http://127.0.0.1:8474",),
        allowed_proxies=("payments-eu",),
        allowed_namespaces=("shop",),
    )


@pytest.mark.parametrize(
    ("file_value", "env", "override", "expected"),
    [
        pytest.param("file", {}, {}, "file", id="file"),
        pytest.param("file", {"CHAOSRUN_VAR_svc": "env"}, {}, "env", id="env-beats-file"),
        pytest.param("file", {"CHAOSRUN_VAR_svc": "env"}, {"svc": "cli"}, "cli", id="var-beats-env"),
        pytest.param(None, {"CHAOSRUN_VAR_svc": "env"}, {}, "env", id="env-only"),
    ],
)
def test_variable_precedence(
    file_value: str | None, env: dict[str, str], override: dict[str, str], expected: str
) -> None:
    text = MINIMAL.replace("url: /health", "url: '/${svc}'")
    if file_value is not None:
        text += f"variables: {{svc: {file_value}}}\n"
    e = load_text(text, file="exp.yaml", variables=override, environ=env)
    assert e.probes[0].spec == HttpProbe(url=f"/{expected}")
    assert ("svc", expected) in e.variables


def test_variables_are_literal_and_numbers_become_text() -> None:
    text = MINIMAL.replace("{url: /health}", "{url: '/${a}', timeout: '${t}s'}") + "variables: {a: '${b}', t: 3}\n"
    spec = load_text(text, file="exp.yaml", environ={}).probes[0].spec
    assert spec == HttpProbe(url="/${b}", timeout_s=3.0)


INCLUDE = """\
probes:
  http-health:
    http: {url: /health, timeout: 2s, headers: {X-Token: "${secret.token}"}}
    every: 500ms
    tolerance: {success_ratio: ">= 0.9", p95: "< 1s"}
  custom:
    python: {file: custom_probe.py}
"""


def test_include_and_use_with_overrides(tmp_path: Path) -> None:
    write(tmp_path, "probes/defs.yaml", INCLUDE)
    write(tmp_path, "probes/custom_probe.py", "def probe(region, base_url):\n    return True\n")
    text = MINIMAL.replace(
        "    - name: health\n      http: {url: /health}\n",
        "    - {name: a, use: http-health}\n"
        "    - {name: b, use: http-health, http: {url: /other}, tolerance: {p95: '< 2s'}, every: 1s}\n"
        "    - {name: c, use: http-health, tcp: {port: 22}}\n"
        "    - {name: d, use: custom}\n",
    )
    text += "include: [probes/defs.yaml]\nsecrets: {token: {env: T}}\n"
    e = load_experiment(write(tmp_path, "exp.yaml", text), environ={})
    a, b, c, d = e.probes
    header = (("X-Token", "${secret.token}"),)
    assert (a.spec, a.every_s, a.tolerance) == (
        HttpProbe(url="/health", timeout_s=2.0, headers=header),
        0.5,
        Tolerance(success_ratio=Bound(op=">=", value=0.9), p95=Bound(op="<", value=1.0)),
    )
    # nested mappings merge key by key; the probe's own keys win
    assert (b.spec, b.every_s, b.tolerance) == (
        HttpProbe(url="/other", timeout_s=2.0, headers=header),
        1.0,
        Tolerance(success_ratio=Bound(op=">=", value=0.9), p95=Bound(op="<", value=2.0)),
    )
    assert c.spec == TcpProbe(host=None, port=22)  # another probe kind replaces the definition's
    assert d.spec == PythonProbe(file=str(tmp_path / "probes" / "custom_probe.py"), function="probe")
    assert a.location == Location(file=str(tmp_path / "exp.yaml"), line=6, column=7)


def test_python_probe_path_is_relative_to_the_experiment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "exps/probes/check.py", "async def ready(region, base_url):\n    return True\n")
    text = MINIMAL.replace("http: {url: /health}", "python: {file: probes/check.py, function: ready, timeout: 2s}")
    write(tmp_path, "exps/exp.yaml", text)
    monkeypatch.chdir(tmp_path)
    spec = load_experiment("exps/exp.yaml", environ={}).probes[0].spec
    assert spec == PythonProbe(file=str(tmp_path / "exps" / "probes" / "check.py"), function="ready", timeout_s=2.0)


def test_defaults_and_shorthands() -> None:
    text = (
        MINIMAL.replace('{base_url: "http://127.0.0.1:8101"}', "{host: db.local}").replace(
            "http: {url: /health}", "tcp: {port: 5432}"
        )
        + "toxiproxy: {server: 'http://10.0.0.1:8474', proxies: {pg: {region: local}}}\n"
        "method: [{fault: test.noop, proxy: pg}, {fault: test.noop, proxy: pg, name: second, start: 1s}]\n"
        "guardrails: [{name: g, http: {url: 'http://127.0.0.1:9/x'}, p99: '< 1s'}]\n"
    )
    e = load_text(text, file="exp.yaml", environ={})
    assert e.regions == (Region(name="local", base_url=None, host="db.local"),)
    assert e.toxiproxy_servers == (ToxiproxyServer(name="default", url="http://10.0.0.1:8474"),)
    assert [p.server for p in e.toxiproxy_proxies] == ["default"]
    assert [(s.name, s.start_s, s.duration_s) for s in e.method] == [("test.noop#0", 0.0, None), ("second", 1.0, None)]
    g = e.guardrails[0]
    assert (g.every_s, g.window_s, g.min_samples, g.regions) == (1.0, 5.0, 3, ("local",))


def test_single_server_is_the_default_for_proxies() -> None:
    text = MINIMAL + "toxiproxy: {servers: {lab: 'http://127.0.0.1:8474'}, proxies: {p: {}}}\n"
    e = load_text(text, file="exp.yaml", environ={})
    assert [p.server for p in e.toxiproxy_proxies] == ["lab"]


def test_fault_kind_receives_only_its_own_keys() -> None:
    """The convention: a kind's node.mapping(allowed=<its keys>) never sees fault/name/start/duration/restart."""
    assert COMMON_FAULT_KEYS == ("fault", "name", "start", "duration", "restart")
    text = (
        MINIMAL
        + "toxiproxy: {proxies: {p: {}}}\nmethod:\n  - {fault: test.noop, name: n, start: 0s, duration: 1s, proxy: p}\n"
    )
    step = load_text(text, file="exp.yaml", environ={}).method[0]
    assert step == FaultStep(
        kind="test.noop",
        name="n",
        params=NoopParams(proxy="p"),
        duration_s=1.0,
        location=Location(file="exp.yaml", line=11, column=5),
    )


def test_real_toxiproxy_kind_loads() -> None:
    assert "toxiproxy.latency" in known_kinds()
    text = MINIMAL + (
        "toxiproxy:\n  proxies: {payments: {listen: '127.0.0.1:21001', upstream: '127.0.0.1:9102', region: local}}\n"
        "method:\n  - {fault: toxiproxy.latency, proxy: payments, latency: 300ms, duration: 1s}\n"
    )
    step = load_text(text, file="exp.yaml", environ={}).method[0]
    assert (step.kind, step.name, step.duration_s) == ("toxiproxy.latency", "toxiproxy.latency#0", 1.0)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.name for p in EXPERIMENTS])
def test_shipped_experiments_load(path: Path) -> None:
    try:
        load_experiment(path, environ={})
    except ValidationFailed as exc:
        pytest.fail(str(exc))


def test_loading_imports_no_heavy_dependency() -> None:
    """`chaosrun validate` must stay fast: the loader (and the fault kinds it asks) import no HTTP/plot/CTK stack."""
    code = (
        "import sys; from chaosrun.loader import load_experiment; "
        f"load_experiment({str(EXPERIMENTS[0])!r}) if {bool(EXPERIMENTS)} else None; "
        "from chaosrun.faults import known_kinds; known_kinds(); "
        "print(sorted(m for m in ('aiohttp', 'matplotlib', 'chaoslib', 'kubernetes') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_too_long_recover_within_from_an_included_definition_is_reported_where_it_is_used(tmp_path: Path) -> None:
    """Not only in the shared definitions file, which invites editing it for every experiment."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "title: inc\nregions: {r: {base_url: 'http://127.0.0.1:9'}}\n"
        f"include: {Path(__file__).resolve().parents[1] / 'probes' / 'http-health.yaml'}\n"
        "steady_state:\n  probes:\n    - {name: checkout, use: http-checkout}\n"
        "phases: {baseline: 1s, fault: 1s, recovery: 3s}\n"
    )
    with pytest.raises(ValidationFailed) as caught:
        load_experiment(str(exp))
    (issue,) = caught.value.issues
    assert (issue.file, issue.line) == (str(exp), 6)
    assert "probe 'checkout': after.recover_within 10s from its definition" in issue.message
    assert "http-health.yaml:25:" in issue.message and "override it next to `use:`" in issue.message


def test_the_loaders_step_name_sanitising_is_the_one_toxic_names_use() -> None:
    """The loader refuses step names that would collide in toxic names; both must agree on 'unsafe'."""
    from chaosrun.faults.toxiproxy.undo import toxic_name
    from chaosrun.loader.sections import STEP_NAME_UNSAFE

    for name in ("slow payments", "a/b", "ok-name_1.2", "ünï", "x%41?#"):
        assert toxic_name("R-1", name, "up") == f"chaosrun-R-1-{STEP_NAME_UNSAFE.sub('_', name)}-up"
