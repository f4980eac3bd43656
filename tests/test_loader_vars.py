"""`--var` names the experiment does not know are refused by `run` and `validate` (a typo would
test the wrong thing), but not in game days nor from the environment; a missing secret is located."""
# ruff: noqa: E501  (expected messages are compared whole)

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chaosrun.errors import InvalidInput, ValidationFailed
from chaosrun.loader import load_experiment, load_text
from chaosrun.safety.secret import resolve_secrets
from tests.cli import ROOT, run_cli

EXPERIMENT = """\
title: Vars
variables: {latency: 1s, fault: 1s, note: "${not_a_use}"}
regions:
  local: {base_url: "http://127.0.0.1:${port}"}
steady_state:
  probes:
    - name: health
      http: {url: /health}
phases: {baseline: 1s, fault: "${fault}", recovery: 1s}
"""
KNOWN = "fault, latency, note, port"


def issues(variables: dict[str, str], *, environ: dict[str, str] | None = None, text: str = EXPERIMENT) -> list[str]:
    with pytest.raises(ValidationFailed) as info:
        load_text(text, file="exp.yaml", variables=variables, environ=environ or {}, strict_variables=True)
    return [str(i) for i in info.value.issues]


def test_a_misspelled_var_is_refused_with_the_closest_known_name_and_the_known_names() -> None:
    assert issues({"port": "1", "latncy": "2s"}) == [
        f"exp.yaml: --var latncy=...: unknown variable 'latncy' (neither declared under 'variables' nor used as ${{latncy}}); did you mean 'latency'? known: {KNOWN}"
    ]


def test_every_unknown_var_is_reported_and_without_a_close_name_only_the_known_ones() -> None:
    lines = issues({"port": "1", "fualt": "5m", "zzzzzz": "x"})
    assert len(lines) == 2
    assert "'fualt'" in lines[0] and "did you mean 'fault'?" in lines[0]
    assert lines[1].endswith(
        f"unknown variable 'zzzzzz' (neither declared under 'variables' nor used as ${{zzzzzz}}); known: {KNOWN}"
    )


def test_unknown_vars_are_reported_with_the_other_problems() -> None:
    lines = issues({"port": "1", "latncy": "2s"}, text=EXPERIMENT.replace("baseline: 1s", "baseline: 1 parsec"))
    assert len(lines) == 2 and "--var latncy" in lines[0] and "phases.baseline" in lines[1]


def test_declared_or_used_vars_are_fine() -> None:
    # `port` is used but not declared; `latency` is declared but not used; `fault` is both
    exp = load_text(
        EXPERIMENT,
        file="exp.yaml",
        variables={"port": "8101", "latency": "2s", "fault": "3s"},
        environ={},
        strict_variables=True,
    )
    assert exp.phases.fault_s == 3.0 and exp.regions[0].base_url == "http://127.0.0.1:8101"


def test_a_use_only_inside_a_variable_value_is_not_a_use() -> None:
    # variable values are literal: `${not_a_use}` in `note` substitutes nothing
    assert "unknown variable 'not_a_use'" in issues({"port": "1", "not_a_use": "x"})[0]


def test_environment_overrides_are_not_checked() -> None:
    env = {"CHAOSRUN_VAR_port": "8101", "CHAOSRUN_VAR_set_for_every_experiment": "x"}
    exp = load_text(EXPERIMENT, file="exp.yaml", environ=env, strict_variables=True)
    assert exp.regions[0].base_url == "http://127.0.0.1:8101"


def test_unknown_vars_are_accepted_when_not_strict() -> None:
    # the game-day path (and the library default): shared variables, each experiment uses some
    exp = load_text(EXPERIMENT, file="exp.yaml", variables={"port": "1", "other": "x"}, environ={})
    assert exp.phases.fault_s == 1.0


def test_a_var_used_only_in_an_included_probe_definition_is_known(tmp_path: Path) -> None:
    (tmp_path / "probes").mkdir()
    (tmp_path / "probes" / "defs.yaml").write_text("probes:\n  health: {http: {url: '${health_path}'}}\n")
    text = EXPERIMENT.replace("http: {url: /health}", "use: health") + "include: [probes/defs.yaml]\n"
    (tmp_path / "exp.yaml").write_text(text)
    variables = {"port": "1", "health_path": "/ready"}
    exp = load_experiment(tmp_path / "exp.yaml", variables=variables, environ={}, strict_variables=True)
    assert exp.probes[0].spec.url == "/ready"  # type: ignore[union-attr]
    with pytest.raises(ValidationFailed, match=r"did you mean 'health_path'\?"):
        load_experiment(
            tmp_path / "exp.yaml", variables={**variables, "helth_path": "/x"}, environ={}, strict_variables=True
        )


# --- through the CLI ---------------------------------------------------------------------------


def test_run_refuses_a_misspelled_var_and_runs_nothing(tmp_path: Path) -> None:
    exp = "experiments/dependency-latency.yaml"
    proc = run_cli("run", exp, "--dry-run", "--var", "latncy=2s", "--var", "fualt=5m", state_dir=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = proc.stderr.splitlines()
    assert errors[0].startswith(f"error: {exp}: --var latncy=...: unknown variable 'latncy'")
    assert "did you mean 'latency'?" in errors[0] and "known: ap_south_url, baseline," in errors[0]
    assert "did you mean 'fault'?" in errors[1]
    assert proc.stdout == ""  # no plan printed


def test_run_and_validate_accept_vars_the_experiment_uses(tmp_path: Path) -> None:
    exp = "experiments/dependency-latency.yaml"
    proc = run_cli("run", exp, "--dry-run", "--var", "latency=2s", "--var", "fault=5m", state_dir=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "2000ms" in proc.stdout or "2s" in proc.stdout, proc.stdout
    assert run_cli("validate", exp, "--var", "latency=2s").returncode == 0


def test_validate_refuses_an_unknown_var_but_not_an_environment_override(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT)
    proc = run_cli("validate", str(exp), "--var", "port=1", "--var", "prot=2")
    assert proc.returncode == 2
    assert "--var prot=...: unknown variable 'prot'" in proc.stderr and "did you mean 'port'?" in proc.stderr
    env = {"CHAOSRUN_VAR_port": "1", "CHAOSRUN_VAR_only_for_other_experiments": "x"}
    proc = run_cli("validate", str(exp), env=env)
    assert (proc.returncode, proc.stdout.strip()) == (0, f"{exp}: ok"), proc.stderr


GAMEDAY_EXPERIMENT = """\
title: {title}
regions: {{local: {{base_url: "http://127.0.0.1:${{port}}"}}}}
variables: {{port: "1"}}
steady_state:
  probes:
    - {{name: health, http: {{url: /ok}}, every: 100ms, tolerance: {{success_ratio: ">= 0.9"}}}}
phases: {{baseline: 300ms, fault: 300ms, recovery: 300ms}}
method: []
"""


def test_a_game_day_passes_variables_an_experiment_does_not_use(http_server: Any, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GAMEDAY_EXPERIMENT.format(title="a"))
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        f"title: drill\nvariables: {{port: '{http_server.port}', only_for_b: x}}\nexperiments:\n  - file: a.yaml\n"
    )
    proc = run_cli(
        "gameday", str(plan), "--out", str(tmp_path / "runs"), "--var", "also_unused=1", state_dir=tmp_path / "state"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "a.yaml: held (exit 0)" in proc.stdout
    assert "unknown variable" not in proc.stdout + proc.stderr


def test_the_shipped_game_day_plans_vars_are_not_checked() -> None:
    # the plans' experiments load with the plans' variables, as `chaosrun gameday` loads them
    from chaosrun.gameday import load_gameday

    for path in sorted((ROOT / "experiments" / "gamedays").glob("*.yaml")):
        for entry in load_gameday(path).entries:
            load_experiment(entry.file, variables={**dict(entry.variables), "unused_here": "x"}, environ={})


# --- a missing secret is located ------------------------------------------------------------------

SECRET_EXPERIMENT = """\
title: Secret
regions: {local: {base_url: "http://127.0.0.1:1"}}
secrets:
  token: {env: LOADER_VARS_UNSET_TOKEN}
  dbpass:
    file: secrets/missing.txt
steady_state:
  probes:
    - name: health
      http: {url: /health, headers: {X-Token: "${secret.token}"}}
phases: {baseline: 1s, fault: 1s, recovery: 1s}
"""


def test_a_missing_secret_names_the_line_and_column_of_its_declaration(tmp_path: Path) -> None:
    (tmp_path / "exp.yaml").write_text(SECRET_EXPERIMENT)
    exp = load_experiment(tmp_path / "exp.yaml", environ={})
    with pytest.raises(InvalidInput) as info:
        resolve_secrets(exp, environ={})
    assert str(info.value) == (
        f"{tmp_path / 'exp.yaml'}:4:16: secrets.token: environment variable LOADER_VARS_UNSET_TOKEN is not set; "
        "export it before the run"
    )
    with pytest.raises(InvalidInput) as info:
        resolve_secrets(exp, environ={"LOADER_VARS_UNSET_TOKEN": "t"})
    assert str(info.value).startswith(f"{tmp_path / 'exp.yaml'}:6:11: secrets.dbpass: cannot read ")


def test_a_missing_secret_through_run_is_exit_2_with_its_location(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(SECRET_EXPERIMENT)
    proc = run_cli("run", str(exp), "--out", str(tmp_path / "out"), state_dir=tmp_path / "state")
    assert proc.returncode == 2
    assert f"error: {exp}:4:16: secrets.token: environment variable LOADER_VARS_UNSET_TOKEN is not set" in proc.stderr
