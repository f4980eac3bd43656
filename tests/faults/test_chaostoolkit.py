"""chaostoolkit.action: real children (process), a real local server (http), a module in tmp_path (python)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from chaosrun.clients.chaostoolkit import run_ctk_probe
from chaosrun.errors import FaultFailed, PlanRefused, RollbackFailed, ValidationFailed
from chaosrun.faults import FaultContext, Injection, get_undoer
from chaosrun.faults.chaostoolkit import CtkActionInjection
from chaosrun.loader import load_text
from chaosrun.model import Experiment
from chaosrun.running.plan import build_plan, format_plan
from tests.fixtures.servers import HttpServer

RUN_ID = "20260101T000000Z-abc123"
BASE = """\
title: CTK test
regions: {local: {base_url: "http://127.0.0.1:1"}}
variables: {where: somewhere}
steady_state:
  probes:
    - name: h
      http: {url: /h}
phases: {baseline: 1s, fault: 2s, recovery: 1s}
method:
"""


def experiment(step: str) -> Experiment:
    return load_text(BASE + textwrap.indent(textwrap.dedent(step).strip() + "\n", "  "), environ={})


def issues(step: str) -> str:
    with pytest.raises(ValidationFailed) as info:
        experiment(step)
    return str(info.value)


def context(exp: Experiment, logs: list[str] | None = None) -> FaultContext:
    return FaultContext(run_id=RUN_ID, experiment=exp, log=(logs if logs is not None else []).append)


def injection(step: str) -> tuple[CtkActionInjection, FaultContext]:
    exp = experiment(step)
    ctx = context(exp)
    plan = asyncio.run(build_plan(exp, ctx))
    (inj,) = plan.steps[0].injections
    assert isinstance(inj, CtkActionInjection)
    return inj, ctx


def apply(inj: Injection, ctx: FaultContext) -> None:
    asyncio.run(inj.apply(ctx))


def undo_from_ledger(inj: Injection) -> list[str]:
    """Undo as `chaosrun recover` would: from the JSON record alone, in a fresh context."""
    record = json.loads(json.dumps(inj.undo_record()))
    logs: list[str] = []
    other = experiment("- {fault: chaostoolkit.action, provider: {type: process, path: 'true'}}")
    undo = get_undoer(record["backend"])
    assert undo is not None
    asyncio.run(undo(record, context(other, logs)))
    return logs


def py_args(code: str) -> str:
    """Process-provider arguments running `code` (chaoslib puts `path` in front)."""
    return json.dumps(["-c", code])


# --- loading ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        pytest.param(
            "- {fault: chaostoolkit.action, provider: {type: shell, path: x}}",
            "expected one of python, process, http, got 'shell'",
            id="unknown-provider-type",
        ),
        pytest.param(
            "- {fault: chaostoolkit.action, provider: {type: python, module: os}}",
            "missing required key 'func'",
            id="python-needs-func",
        ),
        pytest.param(
            "- {fault: chaostoolkit.action, provider: {type: process, arguments: [x]}}",
            "missing required key 'path'",
            id="process-needs-path",
        ),
        pytest.param(
            "- {fault: chaostoolkit.action, provider: {type: http, method: GET}}",
            "missing required key 'url'",
            id="http-needs-url",
        ),
        pytest.param(
            "- {fault: chaostoolkit.action, provider: {path: /bin/true}}",
            "missing required key 'type'",
            id="provider-needs-type",
        ),
        pytest.param("- {fault: chaostoolkit.action}", "missing required key 'provider'", id="needs-provider"),
        pytest.param(
            "- {fault: chaostoolkit.action, provider: {type: process, path: sh, arguments: 'rm -rf x'}}",
            "give the arguments as a list",
            id="process-string-arguments-refused",
        ),
        pytest.param(
            "- {fault: chaostoolkit.action, provider: {type: http, url: 'https://x', verify_tls: false}}",
            "never disables TLS verification",
            id="verify-tls-false-refused",
        ),
        pytest.param(
            "- {fault: chaostoolkit.action, provider: {type: process, path: sh, argumnets: [x]}}",
            "unknown key 'argumnets'; did you mean 'arguments'?",
            id="typo-did-you-mean",
        ),
        pytest.param(
            "- {fault: chaostoolkit.action, provider: {type: python, module: 'not a module', func: f}}",
            "expected a dotted Python module name",
            id="bad-module-name",
        ),
        pytest.param(
            "- {fault: chaostoolkit.action, provider: {type: http, url: 'ftp://x'}}",
            "expected an http:// or https:// URL",
            id="http-url-scheme",
        ),
        pytest.param(
            "- {fault: chaostoolkit.action, provider: {type: process, path: sh, timeout: soon}}",
            "expected a number of seconds",
            id="provider-timeout-number",
        ),
        pytest.param(
            "- {fault: chaostoolkit.action, provider: {type: process, path: echo, arguments: ['${nope}']}}",
            "unknown variable '${nope}'",
            id="unknown-variable",
        ),
        pytest.param(
            "- {fault: chaostoolkit.action, provider: {type: process, path: echo, arguments: ['${region.name}']}}",
            "${region.name} is not resolved in a Chaos Toolkit provider",
            id="region-placeholder-refused",
        ),
        pytest.param(
            "- {fault: chaostoolkit.action, provider: {type: process, path: 'true'}, rollback: {type: ftp}}",
            "rollback.type: expected one of python, process, http",
            id="rollback-validated-too",
        ),
        pytest.param(
            "- {fault: chaostoolkit.action, provider: {type: process, path: 'true'}, configuration: {a: [1]}}",
            "configuration.a: expected a string",
            id="configuration-strings-only",
        ),
    ],
)
def test_invalid_steps_are_located_errors(step: str, expected: str) -> None:
    text = issues(step)
    assert expected in text
    assert "<text>:" in text  # file:line:col


def test_variables_substituted_and_configuration_placeholders_left_for_chaoslib() -> None:
    exp = experiment(
        """
        - fault: chaostoolkit.action
          configuration: {target: /tmp/x}
          provider: {type: process, path: echo, arguments: ["${where}", "${target}", "${run.id}"]}
        """
    )
    params = exp.method[0].params
    assert json.loads(params.provider.spec_json)["arguments"] == ["somewhere", "${target}", "${run.id}"]  # type: ignore[attr-defined]


# --- process provider -------------------------------------------------------------------


def test_process_action_and_rollback_from_the_ledger_record(tmp_path: Path) -> None:
    marker = tmp_path / "fill-disk-${run.id}"
    inj, ctx = injection(
        f"""
        - fault: chaostoolkit.action
          name: fill-disk
          provider: {{type: process, path: /bin/sh, arguments: ["-c", "echo full > '{marker}'"]}}
          rollback: {{type: process, path: rm, arguments: ["-f", "{marker}"]}}
        """
    )
    made = tmp_path / f"fill-disk-{RUN_ID}"  # ${run.id} is the run id: undo names exactly what was made
    assert inj.target == "chaostoolkit:ctk-test/fill-disk"
    assert "rollback: process rm -f" in inj.describe()
    assert not made.exists()  # resolving touched nothing
    apply(inj, ctx)
    assert made.read_text() == "full\n"
    undo_from_ledger(inj)
    assert not made.exists()
    undo_from_ledger(inj)  # idempotent: undo again, nothing left, no error


def test_non_zero_exit_is_a_failed_fault_naming_the_step() -> None:
    inj, ctx = injection(
        f"""
        - fault: chaostoolkit.action
          name: break-it
          provider: {{type: process, path: {sys.executable}, arguments: {py_args("import sys; sys.exit('no disk')")}}}
        """
    )
    with pytest.raises(FaultFailed) as info:
        apply(inj, ctx)
    assert "chaostoolkit action 'break-it'" in str(info.value)
    assert "exit code 1: no disk" in str(info.value)


def test_process_timeout_is_a_failed_fault_and_the_child_is_killed(tmp_path: Path) -> None:
    token = f"chaosrun-test-{uuid.uuid4().hex}"  # names the child in /proc, started or not when the timeout fires
    code = f"import time; {token!r}; time.sleep(30)"
    inj, ctx = injection(
        f"""
        - fault: chaostoolkit.action
          name: slow
          timeout: 300ms
          provider: {{type: process, path: {sys.executable}, arguments: {py_args(code)}}}
        """
    )
    with pytest.raises(FaultFailed) as info:
        apply(inj, ctx)
    assert "'slow'" in str(info.value)
    # the provider got our timeout, so subprocess.run killed the child (no orphan keeps running)
    for _ in range(500):
        if not _running_with(token):
            break
        time.sleep(0.01)
    else:
        pytest.fail(f"the child ({token}) still runs")


def _running_with(token: str) -> bool:
    """Whether a live (not zombie) process has `token` in its command line."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if token.encode() in (proc / "cmdline").read_bytes():
                return (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            continue
    return False


def test_missing_executable_refuses_the_plan() -> None:
    exp = experiment("- {fault: chaostoolkit.action, provider: {type: process, path: no-such-tool-xyz}}")
    with pytest.raises(PlanRefused, match="executable 'no-such-tool-xyz' not found"):
        asyncio.run(build_plan(exp, context(exp)))


def test_failed_rollback_is_rollback_failed_naming_what_remains() -> None:
    inj, _ = injection(
        "- {fault: chaostoolkit.action, name: x, provider: {type: process, path: 'true'}, "
        "rollback: {type: process, path: 'false'}}"
    )
    with pytest.raises(
        RollbackFailed, match=r"chaostoolkit action 'x': rollback \(process false\) failed: exit code 1"
    ):
        undo_from_ledger(inj)


def test_no_rollback_is_a_recorded_no_op() -> None:
    inj, _ = injection("- {fault: chaostoolkit.action, name: once, provider: {type: process, path: 'true'}}")
    assert inj.undo_record()["rollback"] is None
    assert "no rollback" in inj.describe()
    logs = undo_from_ledger(inj)
    assert logs == ["chaostoolkit action 'once': no rollback declared; nothing to undo"]


def test_dry_run_plan_lists_the_action() -> None:
    exp = experiment("- {fault: chaostoolkit.action, name: n, provider: {type: process, path: echo, arguments: [hi]}}")
    text = format_plan(asyncio.run(build_plan(exp, context(exp))))
    assert "chaostoolkit process echo hi (no rollback)" in text


# --- python provider --------------------------------------------------------------------


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module in tmp_path (unique name, on sys.path for this test only)."""
    name = f"ctk_user_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path

            def make(path, configuration=None):
                Path(path).write_text((configuration or {}).get("content", "none"))
                return {"made": path}

            def remove(path):
                Path(path).unlink(missing_ok=True)

            def explode():
                raise RuntimeError("the disk is on fire")

            def healthy():
                return True

            def unhealthy():
                return False
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


def test_python_action_gets_configuration_and_rollback_undoes(user_module: str, tmp_path: Path) -> None:
    target = tmp_path / "made.txt"
    inj, ctx = injection(
        f"""
        - fault: chaostoolkit.action
          name: make
          configuration: {{content: hello}}
          provider: {{type: python, module: {user_module}, func: make, arguments: {{path: "{target}"}}}}
          rollback: {{type: python, module: {user_module}, func: remove, arguments: {{path: "{target}"}}}}
        """
    )
    apply(inj, ctx)
    assert target.read_text() == "hello"
    undo_from_ledger(inj)
    assert not target.exists()


def test_python_exception_is_fault_failed_with_its_text(user_module: str) -> None:
    inj, ctx = injection(
        f"- {{fault: chaostoolkit.action, name: burn, "
        f"provider: {{type: python, module: {user_module}, func: explode}}}}"
    )
    with pytest.raises(FaultFailed, match=r"chaostoolkit action 'burn' .* failed: RuntimeError: the disk is on fire"):
        apply(inj, ctx)


def test_missing_python_module_refuses_the_plan() -> None:
    exp = experiment("- {fault: chaostoolkit.action, provider: {type: python, module: no_such_mod_xyz, func: f}}")
    with pytest.raises(PlanRefused, match="Python module 'no_such_mod_xyz' not found"):
        asyncio.run(build_plan(exp, context(exp)))


# --- http provider ----------------------------------------------------------------------


def test_http_action_ok_and_http_rollback(http_server: HttpServer) -> None:
    inj, ctx = injection(
        f"""
        - fault: chaostoolkit.action
          name: call
          provider: {{type: http, url: "{http_server.url}/ok", timeout: 5}}
          rollback: {{type: http, url: "{http_server.url}/echo", method: POST, timeout: 5}}
        """
    )
    before = http_server.requests
    apply(inj, ctx)
    undo_from_ledger(inj)
    assert http_server.requests == before + 2


def test_http_error_status_is_a_failed_fault(http_server: HttpServer) -> None:
    inj, ctx = injection(
        f"- {{fault: chaostoolkit.action, name: call, provider: {{type: http, url: '{http_server.url}/status/503'}}}}"
    )
    with pytest.raises(FaultFailed, match=r"chaostoolkit action 'call' .* failed: HTTP status 503"):
        apply(inj, ctx)


def test_http_connection_refused_is_a_failed_fault(unused_port: int) -> None:
    inj, ctx = injection(
        f"- {{fault: chaostoolkit.action, name: call, provider: {{type: http, url: 'http://127.0.0.1:{unused_port}/'}}}}"
    )
    with pytest.raises(FaultFailed, match=r"chaostoolkit action 'call' .* failed: failed to connect"):
        apply(inj, ctx)


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# --- the probe adapter ------------------------------------------------------------------


def probe(provider: dict[str, object], timeout_s: float = 5.0) -> tuple[bool, int | None, str | None]:
    out = asyncio.run(run_ctk_probe(provider, timeout_s))  # type: ignore[arg-type]
    assert out.latency_s is not None and out.latency_s >= 0
    return out.ok, out.status, out.error


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param("pass", (True, 0, None), id="exit-0-ok"),
        pytest.param("import sys; sys.exit(3)", (False, 3, "exit code 3"), id="exit-3-fails"),
    ],
)
def test_probe_process(code: str, expected: tuple[bool, int | None, str | None]) -> None:
    assert probe({"type": "process", "path": sys.executable, "arguments": ["-c", code]}) == expected


def test_probe_process_timeout_has_stable_text() -> None:
    ok, status, error = probe(
        {"type": "process", "path": sys.executable, "arguments": ["-c", "import time; time.sleep(30)"]}, 0.3
    )
    assert (ok, status, error) == (False, None, "timeout after 300ms")


def test_probe_http(http_server: HttpServer, unused_port: int) -> None:
    assert probe({"type": "http", "url": f"{http_server.url}/ok"}) == (True, 200, None)
    assert probe({"type": "http", "url": f"{http_server.url}/status/503"}) == (False, 503, "status 503")
    ok, status, error = probe({"type": "http", "url": f"http://127.0.0.1:{unused_port}/"})
    assert (ok, status) == (False, None)
    assert error is not None and error.startswith("failed to connect") and " at 0x" not in error


def test_probe_python(user_module: str) -> None:
    assert probe({"type": "python", "module": user_module, "func": "healthy"}) == (True, None, None)
    assert probe({"type": "python", "module": user_module, "func": "unhealthy"}) == (False, None, "returned False")
    ok, _, error = probe({"type": "python", "module": user_module, "func": "explode"})
    assert not ok and error == "RuntimeError: the disk is on fire"


# --- import cost ------------------------------------------------------------------------


def test_modules_do_not_import_chaoslib_or_kubernetes() -> None:
    code = (
        "import sys, chaosrun.clients.chaostoolkit, chaosrun.faults.chaostoolkit, chaosrun.faults.kubernetes\n"
        "heavy = [m for m in ('chaoslib', 'kubernetes', 'requests', 'chaosk8s') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2], timeout=60)
