"""The pipeline templates users copy (examples/ci/, action.yml): linted by the real linters, and
every chaosrun command and flag they use exists in the CLI.

- GitHub Actions: actionlint (built from its Go module by scripts/install-actionlint.sh; it runs
  shellcheck on every `run:` script when shellcheck is installed, as .ci/run does), and the
  GitHub workflow and action JSON Schemas that check-jsonschema ships.
- The composite action is linted through a workflow that uses it (actionlint checks the inputs
  a step gives against action.yml), in a scratch repository.
- GitLab CI: the GitLab CI JSON Schema that check-jsonschema ships, plus the job's structure.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from chaosrun.cli import cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "ci"
ACTIONLINT = ROOT / ".tools" / "bin" / "actionlint"
WORKFLOWS = ("github-actions.yml", "github-actions-composite.yml")
ACTION_REF = "chaosrun/chaosrun@v0.1.0"  # how the composite example names the action


def _actionlint() -> Path:
    if ACTIONLINT.exists():
        return ACTIONLINT
    if os.environ.get("CI"):
        pytest.fail(f"{ACTIONLINT} is missing: scripts/test.sh installs it (scripts/install-actionlint.sh)")
    pytest.skip("actionlint not installed: bash scripts/install-actionlint.sh")


def _lint(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(_actionlint()), "-no-color"], cwd=repo, capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip


def _scratch_repo(tmp: Path, workflows: dict[str, str]) -> Path:
    """A git repository with action.yml at its root and the given workflows."""
    subprocess.run(["git", "init", "-q", str(tmp)], check=True, timeout=30)
    shutil.copy(ROOT / "action.yml", tmp / "action.yml")
    folder = tmp / ".github" / "workflows"
    folder.mkdir(parents=True)
    for name, text in workflows.items():
        (folder / name).write_text(text.replace(ACTION_REF, "./"))
    return tmp


def _templates() -> dict[str, str]:
    return {name: (EXAMPLES / name).read_text() for name in WORKFLOWS}


def test_github_templates_pass_actionlint(tmp_path: Path) -> None:
    proc = _lint(_scratch_repo(tmp_path, _templates()))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if shutil.which("shellcheck") is None and os.environ.get("CI"):
        pytest.fail("shellcheck is missing: .ci/run installs it, so actionlint checks the run: scripts")


@pytest.mark.parametrize(
    ("change", "finding"),
    [
        pytest.param(("min-score:", "min-scor:"), 'input "min-scor" is not defined in action', id="unknown-input"),
        pytest.param(("steps.chaos.outputs.index", "steps.chaoss.outputs.index"), "property \"chaoss\" is not defined",
                     id="unknown-step"),
        pytest.param(("actions/upload-artifact@v4", "actions/upload-artifact@v4\n        with-typo: 1"),
                     "unexpected key \"with-typo\"", id="bad-key"),
    ],
)  # fmt: skip
def test_actionlint_really_checks_the_templates(tmp_path: Path, change: tuple[str, str], finding: str) -> None:
    templates = _templates()
    name = "github-actions-composite.yml"
    assert change[0] in templates[name]
    templates[name] = templates[name].replace(change[0], change[1], 1)
    proc = _lint(_scratch_repo(tmp_path, templates))
    assert proc.returncode == 1 and finding in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        pytest.param("vendor.gitlab-ci", ["examples/ci/gitlab-ci.yml"], id="gitlab-ci"),
        pytest.param("vendor.github-actions", ["action.yml"], id="action"),
        pytest.param("vendor.github-workflows", [f"examples/ci/{w}" for w in WORKFLOWS], id="workflows"),
    ],
)
def test_templates_match_their_json_schemas(schema: str, files: list[str]) -> None:
    tool = Path(sys.executable).with_name("check-jsonschema")
    proc = subprocess.run([str(tool), "--builtin-schema", schema, *files], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok -- validation done" in proc.stdout


def test_the_gitlab_job_starts_toxiproxy_runs_the_preflight_first_and_keeps_junit() -> None:
    job = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())["resilience-gate"]
    assert job["services"][0]["name"].startswith("ghcr.io/shopify/toxiproxy:2.12.0")
    assert job["variables"]["CHAOSRUN_VAR_toxiproxy_url"] == f"http://{job['services'][0]['alias']}:8474"
    script = job["script"]
    assert script[0].startswith("chaosrun check ") and script[1].startswith("chaosrun gate ")
    out = shlex.split(script[1])[shlex.split(script[1]).index("--out") + 1]
    assert job["artifacts"]["when"] == "always" and job["artifacts"]["reports"]["junit"] == f"{out}/junit.xml"
    assert any(out.startswith(p.rstrip("/")) for p in job["artifacts"]["paths"])


def test_the_github_workflow_runs_the_preflight_before_the_gate_and_uploads_always() -> None:
    steps = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())["jobs"]["gate"]["steps"]
    runs = [s.get("run", "") for s in steps]
    check = next(i for i, r in enumerate(runs) if r.startswith("chaosrun check"))
    gate = next(i for i, r in enumerate(runs) if r.startswith("chaosrun gate"))
    toxiproxy = next(i for i, r in enumerate(runs) if "toxiproxy" in r.lower())
    upload = next(i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert toxiproxy < check < gate < upload and steps[upload]["if"] == "always()"


# ---------------------------------------------------------------- commands and flags exist


def _scripts() -> list[tuple[str, str]]:
    """(where, script) of every shell script in the templates."""
    out: list[tuple[str, str]] = []

    def steps_of(where: str, steps: list[dict[str, Any]]) -> None:
        out.extend((f"{where} step {s.get('name') or i}", s["run"]) for i, s in enumerate(steps) if "run" in s)

    for name in WORKFLOWS:
        doc = yaml.safe_load((EXAMPLES / name).read_text())
        for job_name, job in doc["jobs"].items():
            steps_of(f"{name} job {job_name}", job["steps"])
    steps_of("action.yml", yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"])
    gitlab = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())
    for job_name, job in gitlab.items():
        if isinstance(job, dict):
            for key in ("before_script", "script", "after_script"):
                out.extend((f"gitlab-ci.yml {job_name}.{key}", line) for line in job.get(key, []))
    return out


_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def _uses() -> list[tuple[str, str, tuple[str, ...]]]:
    """(where, chaosrun command, its --flags) for every chaosrun command in the templates.
    Flags collected into a bash array (`args=(...)`, `args+=(...)`) count for the script's command."""
    found = []
    for where, script in _scripts():
        lines = script.replace("\\\n", " ").splitlines()
        commands = []
        array_flags: list[str] = []
        for line in lines:
            words = shlex.split(line, comments=True, posix=True) if line.strip() else []
            for i, word in enumerate(words):
                if (
                    word == "chaosrun"
                    and (i == 0 or words[i - 1] in (";", "&&", "||", "then", "do"))
                    and i + 1 < len(words)
                ):
                    commands.append((words[i + 1], tuple(_FLAG.findall(line))))
            if re.match(r"\s*(for .*do )?args\+?=\(", line) or "args+=(" in line:
                array_flags += _FLAG.findall(line)
        if len(commands) == 1 and array_flags:
            commands = [(commands[0][0], (*commands[0][1], *array_flags))]
        found += [(where, cmd, flags) for cmd, flags in commands]
    return found


def test_the_templates_use_chaosrun_commands() -> None:
    used = {cmd for _, cmd, _ in _uses()}
    assert {"check", "gate", "recover"} <= used, used
    flags = {f for _, cmd, fl in _uses() if cmd == "gate" for f in fl}
    assert {"--out", "--min-score", "--allow", "--title"} <= flags


@pytest.mark.parametrize(("where", "command", "flags"), _uses(), ids=lambda v: v if isinstance(v, str) else None)
def test_every_command_and_flag_the_templates_use_exists(where: str, command: str, flags: tuple[str, ...]) -> None:
    assert command in cli.commands, f"{where}: chaosrun has no command {command!r}"
    cmd = cli.commands[command]
    assert isinstance(cmd, click.Command)
    known = {opt for p in cmd.params for opt in (*p.opts, *p.secondary_opts) if opt.startswith("--")}
    unknown = sorted(set(flags) - known)
    assert not unknown, f"{where}: chaosrun {command} has no option {', '.join(unknown)}"
