"""The same Chaos Toolkit experiments under `chaos run` and `chaosrun run`: the same outcome
(status, deviated, activities run, hypothesis results, rollbacks), and the deliberate
differences (docs/chaostoolkit.md) asserted as differences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.servers import HttpServer

from .sidebyside import chaos_run, chaosrun_run, write

M = "tests.ctk.ctkmod"
CLOSED = "http://127.0.0.1:9"  # discard port: nothing listens on loopback here


def http_probe(name: str, url: str, tolerance: Any, **provider: Any) -> dict[str, Any]:
    return {"type": "probe", "name": name, "tolerance": tolerance,
            "provider": {"type": "http", "url": url, "timeout": 3, **provider}}  # fmt: skip


def py(kind: str, name: str, func: str, **arguments: Any) -> dict[str, Any]:
    provider: dict[str, Any] = {"type": "python", "module": M, "func": func}
    if arguments:
        provider["arguments"] = arguments
    return {"type": kind, "name": name, "provider": provider}


def proc(kind: str, name: str, path: str, arguments: Any) -> dict[str, Any]:
    return {"type": kind, "name": name, "provider": {"type": "process", "path": path, "arguments": arguments}}


def base(title: str, probes: list[dict[str, Any]], method: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    exp: dict[str, Any] = {
        "version": "1.0.0",
        "title": title,
        "description": f"side by side: {title}",
        "steady-state-hypothesis": {"title": "healthy", "probes": probes},
        "method": method,
    }
    exp.update(more)
    return exp


def every_feature(server: HttpServer, tmp: Path) -> dict[str, Any]:
    """All tolerance kinds, the three providers, configuration and secrets, ${} substitution,
    pauses, background activities, refs and rollbacks, in one experiment that holds."""
    marker = str(tmp / "rolled-back")
    return base(
        "every feature ${service}",
        [
            http_probe("int-status", "${base_url}/ok", 200, headers={"Authorization": "Bearer ${token}"}),
            http_probe("list-status", "${base_url}/status/204", [200, 204]),
            http_probe("regex-body", "${base_url}/ok", {"type": "regex", "pattern": "^o.$", "target": "body"}),
            http_probe(
                "jsonpath-body",
                "${base_url}/json?status=up",
                {"type": "jsonpath", "path": "$.items[*].state", "expect": "up", "target": "body"},
            ),
            {**py("probe", "range-number", "number", value=7), "tolerance": {"type": "range", "range": [5, 10]}},
            {**py("probe", "bool-python", "exists", path=str(tmp)), "tolerance": True},
            {
                **py("probe", "probe-tolerance", "number", value=12),
                "tolerance": {
                    "type": "probe",
                    "name": "above-ten",
                    "provider": {"type": "python", "module": M, "func": "above", "arguments": {"limit": 10}},
                },
            },
            {**proc("probe", "process-exit", "test", ["-d", str(tmp)]), "tolerance": 0},
            {**py("probe", "list-range", "number", value=3), "tolerance": [1, 5]},
        ],
        [
            {**proc("action", "background-sleep", "sleep", "0.5"), "background": True},
            {
                **py("action", "mark-start", "touch", path=str(tmp / "method-log"), text="start"),
                "pauses": {"before": "${pause_s}", "after": 0.2},
            },
            http_probe("method-probe-500", "${base_url}/status/500", 200),
            {"ref": "mark-start"},
        ],
        configuration={
            "service": "shop",
            "base_url": {"type": "env", "key": "CTK_TEST_BASE_URL"},
            "pause_s": {"type": "env", "key": "CTK_TEST_PAUSE", "default": 0.1, "env_var_type": "float"},
        },
        secrets={"api": {"token": {"type": "env", "key": "CTK_TEST_TOKEN"}, "inline": "inline-secret-xyz"}},
        rollbacks=[py("action", "mark-rolled-back", "touch", path=marker)],
    )


def _compare(exp: dict[str, Any], tmp: Path, env: dict[str, str] | None = None, fmt: str = "yaml") -> tuple[Any, Any]:
    path = write(tmp, f"experiment.{fmt}", exp)
    theirs = chaos_run(path, tmp, env)
    ours = chaosrun_run(path, tmp, env)
    ours.same_as(theirs)
    return theirs, ours


@pytest.mark.parametrize("fmt", [pytest.param("yaml", id="yaml"), pytest.param("json", id="json")])
def test_every_feature_holds_in_both(http_server: HttpServer, tmp_path: Path, fmt: str) -> None:
    env = {"CTK_TEST_BASE_URL": http_server.url, "CTK_TEST_TOKEN": "env-secret-abc"}
    theirs, ours = _compare(every_feature(http_server, tmp_path), tmp_path, env, fmt)
    assert theirs.code == 0 and ours.code == 0, ours.stdout + ours.stderr
    assert theirs.status == "completed" and not theirs.deviated
    assert all(met for _, met in ours.hypothesis("before") or []) and len(ours.hypothesis("before") or []) == 9
    # method: the failing method probe (500 vs tolerance 200) is recorded as succeeded; the ref ran again
    assert ("method-probe-500", "succeeded") in ours.ran
    assert [n for n, _ in ours.ran].count("mark-start") == 2
    assert ours.rollbacks == [("mark-rolled-back", "succeeded")]
    assert (tmp_path / "rolled-back").read_text().count("\n") == 2  # once per tool
    assert ours.chaosrun is not None and ours.chaosrun["status"] == "held"
    assert ours.journal["experiment"]["title"] == theirs.journal["experiment"]["title"] == "every feature shop"
    # secrets never reach chaosrun's outputs (Chaos Toolkit copies inline ones into its journal)
    for name in ("journal.json", "events.jsonl", "report.html", "summary.md"):
        text = (tmp_path / "out-experiment" / name).read_text()
        assert "inline-secret-xyz" not in text and "env-secret-abc" not in text, name
    assert "inline-secret-xyz" in (tmp_path / "chaos-experiment.json").read_text()
    assert "inline-secret-xyz" not in (tmp_path / "chaosrun-experiment.json").read_text()


def test_miss_before_method_is_not_steady_exit_6(http_server: HttpServer, tmp_path: Path) -> None:
    """Chaos Toolkit: completed, not deviated, exit 0, rollbacks run. chaosrun: the same journal,
    but exit 6 (not steady): a gate that failed must not pass a CI pipeline."""
    exp = base(
        "miss before",
        [
            http_probe("wants-404", f"{http_server.url}/ok", 404),
            py("probe", "never-runs", "touch", path=str(tmp_path / "second-probe-ran")),
        ],
        [py("action", "never-applied", "touch", path=str(tmp_path / "method-ran"))],
        rollbacks=[py("action", "rb", "touch", path=str(tmp_path / "rolled-back"))],
    )
    exp["steady-state-hypothesis"]["probes"][1]["tolerance"] = True
    theirs, ours = _compare(exp, tmp_path)
    assert (theirs.status, theirs.deviated, theirs.code) == ("completed", False, 0)
    assert ours.code == 6 and ours.chaosrun is not None and ours.chaosrun["status"] == "not_steady"
    assert ours.ran == [] and ours.rollbacks == [("rb", "succeeded")]
    assert ours.hypothesis("before") == [("wants-404", False)]  # stopped at the first miss
    assert not (tmp_path / "second-probe-ran").exists() and not (tmp_path / "method-ran").exists()
    # with Chaos Toolkit's exit codes, as a pipeline written for `chaos run` expects
    again = chaosrun_run(write(tmp_path, "experiment.yaml", exp), tmp_path, None, "--ctk-exit-codes")
    assert again.code == 0


def test_probe_error_before_method_fails_without_rollbacks(tmp_path: Path) -> None:
    exp = base(
        "probe error before",
        [http_probe("refused", f"{CLOSED}/ok", 200)],
        [py("action", "never-applied", "touch", path=str(tmp_path / "method-ran"))],
        rollbacks=[py("action", "rb", "touch", path=str(tmp_path / "rolled-back"))],
    )
    theirs, ours = _compare(exp, tmp_path)
    assert (theirs.status, theirs.code) == ("failed", 1)
    assert ours.code == 6 and ours.rollbacks == [] and not (tmp_path / "rolled-back").exists()


def test_deviation_after_method(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    exp = base(
        "deviates",
        [{**proc("probe", "flag-present", "test", ["-e", str(flag)]), "tolerance": 0}],
        [proc("action", "remove-flag", "rm", ["-f", str(flag)])],
        rollbacks=[proc("action", "restore-flag", "touch", [str(flag)])],
    )
    flag.touch()
    path = write(tmp_path, "experiment.yaml", exp)
    theirs = chaos_run(path, tmp_path)
    assert flag.exists()  # restored by the rollback
    ours = chaosrun_run(path, tmp_path)
    ours.same_as(theirs)
    assert (theirs.status, theirs.deviated, theirs.code) == ("completed", True, 1)
    assert ours.code == 1 and ours.chaosrun is not None and ours.chaosrun["status"] == "deviated"
    assert flag.exists()


def test_failing_method_activities_do_not_stop_the_method(tmp_path: Path) -> None:
    exp = base(
        "method failures",
        [{**py("probe", "fine", "number"), "tolerance": 42}],
        [
            proc("action", "exit-3", "sh", "-c 'exit 3'"),
            {"type": "action", "name": "refused", "provider": {"type": "http", "url": f"{CLOSED}/x", "timeout": 2}},
            py("action", "raises", "broken"),
            py("action", "still-runs", "touch", path=str(tmp_path / "last-ran")),
        ],
    )
    theirs, ours = _compare(exp, tmp_path)
    assert theirs.code == 0 and ours.code == 0
    assert ours.ran == [("exit-3", "succeeded"), ("raises", "failed"), ("refused", "failed"),
                        ("still-runs", "succeeded")]  # fmt: skip
    assert (tmp_path / "last-ran").read_text().count("\n") == 2


@pytest.mark.parametrize(
    ("strategy", "deviates", "played"),
    [
        pytest.param("never", True, False, id="never"),
        pytest.param("deviated", False, False, id="deviated-not-deviating"),
        pytest.param("deviated", True, True, id="deviated-deviating"),
        pytest.param("always", False, True, id="always"),
    ],
)
def test_runtime_rollback_strategies(tmp_path: Path, strategy: str, deviates: bool, played: bool) -> None:
    exp = base(
        f"rollbacks {strategy}",
        [{**py("probe", "number", "number"), "tolerance": 42}],
        [py("action", "noop", "number")],
        rollbacks=[py("action", "rb", "touch", path=str(tmp_path / "rolled-back"))],
        runtime={"rollbacks": {"strategy": strategy}},
    )
    if deviates:
        exp["method"] = [proc("action", "rm", "rm", ["-f", str(tmp_path / "flag")])]
        exp["steady-state-hypothesis"]["probes"] = [{**proc("probe", "flag", "test", ["-e", str(tmp_path / "flag")]),
                                                     "tolerance": 0}]  # fmt: skip
    (tmp_path / "flag").touch()
    path = write(tmp_path, "experiment.yaml", exp)
    theirs = chaos_run(path, tmp_path)
    (tmp_path / "flag").touch()
    ours = chaosrun_run(path, tmp_path)
    ours.same_as(theirs)
    assert bool(ours.rollbacks) is played
    assert list((tmp_path / "state").rglob("ctk-*.json")) == []  # nothing left in the ledger


def test_continuous_strategy_and_dynamic_configuration(http_server: HttpServer, tmp_path: Path) -> None:
    exp = base(
        "continuously",
        [http_probe("ok", "http://127.0.0.1:${port}/ok", 200)],
        [proc("action", "sleep", "sleep", ["1.5"])],
        configuration={
            "port": {
                "type": "probe",
                "provider": {"type": "python", "module": M, "func": "port_of", "arguments": {"url": http_server.url}},
            },
        },
        runtime={"hypothesis": {"strategy": "continuously"}},
    )
    theirs, ours = _compare(exp, tmp_path)
    assert theirs.code == 0 and ours.code == 0
    assert theirs.journal["steady_states"]["during"] and ours.journal["steady_states"]["during"]


def test_controls_run_in_the_same_order(tmp_path: Path) -> None:
    exp = base(
        "controls",
        [{**py("probe", "number", "number"), "tolerance": 42}],
        [py("action", "act", "number")],
        rollbacks=[py("action", "rb", "number")],
        controls=[{"name": "recorder", "provider": {"type": "python", "module": M}}],
    )
    logs = []
    path = write(tmp_path, "experiment.yaml", exp)
    for tool in (chaos_run, chaosrun_run):
        log = tmp_path / f"controls-{tool.__name__}.log"
        tool(path, tmp_path, {"CTK_TEST_CONTROL_LOG": str(log)})
        logs.append(log.read_text().splitlines())
    assert logs[0] == logs[1]
    assert logs[0][0] == "before_experiment controls" and logs[0][-1] == "after_experiment controls"
    assert "before_method None" in logs[0] or any(line.startswith("before_method") for line in logs[0])


def test_continuous_samples_show_the_method_period(http_server: HttpServer, tmp_path: Path) -> None:
    """chaosrun's addition: the hypothesis probes sampled through the method, in its journal."""
    exp = base(
        "continuous samples",
        [http_probe("ok", f"{http_server.url}/ok", 200)],
        [proc("action", "sleep", "sleep", ["2"])],
    )
    ours = chaosrun_run(write(tmp_path, "experiment.yaml", exp), tmp_path, None, "--probe-every", "0.25")
    assert ours.code == 0 and ours.chaosrun is not None
    phases = [p["name"] for p in ours.chaosrun["phases"]]
    assert phases == ["baseline", "fault", "recovery"]
    fault = [v for v in ours.chaosrun["verdicts"] if v["phase"] == "fault"]
    assert len(fault) == 1 and fault[0]["samples"] >= 4 and fault[0]["judged"] is False
    assert [f["name"] for f in ours.chaosrun["faults"]] == ["sleep"]
    off = chaosrun_run(write(tmp_path, "experiment.yaml", exp), tmp_path, None, "--probe-every", "0")
    assert off.chaosrun is not None and not [v for v in off.chaosrun["verdicts"] if v["phase"] == "fault"]


def test_a_failed_rollback_is_exit_5_and_stays_in_the_ledger(tmp_path: Path) -> None:
    exp = base(
        "rollback fails",
        [{**py("probe", "fine", "number"), "tolerance": 42}],
        [py("action", "act", "number")],
        rollbacks=[py("action", "rb-broken", "broken"), py("action", "rb-next", "number")],
    )
    theirs, ours = _compare(exp, tmp_path)
    assert theirs.code == 0 and theirs.rollbacks == [("rb-broken", "failed"), ("rb-next", "succeeded")]
    assert ours.code == 5 and ours.chaosrun is not None and ours.chaosrun["status"] == "rollback_failed"
    assert len(list((tmp_path / "state").rglob("ctk-*.json"))) == 1  # for `chaosrun recover`


def test_chaos_toolkits_continuous_iterations_are_not_method_activities(
    http_server: HttpServer, tmp_path: Path
) -> None:
    exp = base(
        "continuously, journal",
        [http_probe("ok", f"{http_server.url}/ok", 200)],
        [proc("action", "sleep", "sleep", ["1.2"])],
        runtime={"hypothesis": {"strategy": "continuously", "frequency": 0.2}},
    )
    ours = chaosrun_run(write(tmp_path, "experiment.yaml", exp), tmp_path)
    assert ours.code == 0 and ours.chaosrun is not None
    assert [f["name"] for f in ours.chaosrun["faults"]] == ["sleep"]
    during = [e for e in ours.chaosrun["events"] if e["type"] == "ctk_hypothesis" and e["when"] == "during"]
    assert len(during) == len(ours.journal["steady_states"]["during"]) >= 2


def test_var_overrides_configuration_as_chaos_run_does(http_server: HttpServer, tmp_path: Path) -> None:
    exp = base(
        "vars",
        [http_probe("ok", "${url}/status/${code}", 204)],
        [],
        configuration={"url": "http://127.0.0.1:9", "code": 500},
    )
    path = write(tmp_path, "experiment.yaml", exp)
    args = ("--var", f"url={http_server.url}", "--var", "code:int=204")
    theirs = chaos_run(path, tmp_path, None, *args)
    ours = chaosrun_run(path, tmp_path, None, *args)
    ours.same_as(theirs)
    assert theirs.code == 0 and ours.code == 0
