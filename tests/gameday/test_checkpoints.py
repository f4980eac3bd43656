"""Checkpoints answered by a person at a real pseudo-terminal, refused without one, `--yes`;
expectations that fail and what `on_failure` does then."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaosrun.errors import ValidationFailed
from chaosrun.gameday import CheckpointStep, PauseStep, RunStep, load_gameday
from tests.cli import ROOT
from tests.fixtures.servers import HttpServer
from tests.gate import support
from tests.test_terminal import Terminal


def _plan(tmp: Path, url: str, extra: str = "", second_expect: str = "held") -> Path:
    support.write(tmp, "one.yaml", support.held("first service", url))
    support.write(tmp, "two.yaml", support.held("second service", url))
    return support.write(
        tmp,
        "plan.yaml",
        "title: checkpoint day\n"
        f"{extra}"
        "experiments:\n"
        "  - file: one.yaml\n"
        "  - pause: 100ms\n"
        "  - checkpoint: Confirm the on-call has acknowledged the page\n"
        "    runbook: https://runbooks.example.invalid/page\n"
        "  - file: two.yaml\n"
        f"    expect: {second_expect}\n",
    )


def _no_terminal(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """`chaosrun ARGS` with no terminal at all: stdin is /dev/null (as in CI or cron)."""
    env = {**os.environ, "CI": "true", "CHAOSRUN_STATE_DIR": str(tmp / "state")}
    return subprocess.run([sys.executable, "-m", "chaosrun", *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=180, cwd=ROOT, env=env, check=False)  # fmt: skip


def _terminal(tmp: Path, *args: str) -> Terminal:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(TERM="xterm", CHAOSRUN_STATE_DIR=str(tmp / "state"), COLUMNS="160")
    return Terminal([sys.executable, "-m", "chaosrun", "gameday", *args, "--out", str(tmp / "out")], env)


@pytest.mark.parametrize(("answer", "code"), [pytest.param(b"y\r", 0, id="yes"), pytest.param(b"n\r", 3, id="no")])
def test_a_checkpoint_is_answered_at_the_terminal(http_server: HttpServer, tmp_path: Path, answer: bytes,
                                                  code: int) -> None:  # fmt: skip
    term = _terminal(tmp_path, str(_plan(tmp_path, http_server.url)))
    prompt = "checkpoint: Confirm the on-call has acknowledged the page - continue the game day? [y/N]"
    assert term.read_until(prompt, 60), term.screen
    assert "runbook: https://runbooks.example.invalid/page" in term.screen
    assert "one.yaml: held (exit 0)" in term.screen  # the first experiment ran before the question
    term.type(answer)
    assert term.exit_code(120) == code, term.screen
    if code == 0:
        assert "two.yaml: held (exit 0), expected held: ok" in term.screen
    else:
        assert "stopping the game day: checkpoint refused by the operator" in term.screen
        assert "not run: " in term.screen and "two.yaml" in term.screen.split("not run: ")[1]
        assert len(list((tmp_path / "out").rglob("journal.json"))) == 1
    assert "Traceback" not in term.screen


def test_a_checkpoint_without_a_terminal_or_yes_is_refused_before_anything_runs(
    http_server: HttpServer, tmp_path: Path
) -> None:
    plan = _plan(tmp_path, http_server.url)
    proc = _no_terminal("gameday", str(plan), "--out", str(tmp_path / "out"), tmp=tmp_path)
    assert proc.returncode == 2
    assert (
        f"error: {plan}: the plan has a checkpoint at {plan}:5:5 and there is no terminal to answer it; "
        "run the game day from a terminal, or pass --yes" in proc.stderr
    ), proc.stderr
    assert not (tmp_path / "out").exists()
    assert http_server.connections == 0  # nothing was probed


def test_on_failure_ask_without_a_terminal_is_refused_too(http_server: HttpServer, tmp_path: Path) -> None:
    support.write(tmp_path, "one.yaml", support.held("one", http_server.url))
    plan = support.write(tmp_path, "p.yaml", "title: t\non_failure: ask\nexperiments:\n  - file: one.yaml\n")
    proc = _no_terminal("gameday", str(plan), tmp=tmp_path)
    assert proc.returncode == 2 and "the plan has 'on_failure: ask' and there is no terminal" in proc.stderr


def test_an_unexpected_outcome_with_on_failure_stop_ends_the_day(http_server: HttpServer, tmp_path: Path) -> None:
    """Expected to deviate, it held: not as expected (exit 1), and `on_failure: stop` ends the day."""
    support.write(tmp_path, "one.yaml", support.held("one", http_server.url))
    support.write(tmp_path, "two.yaml", support.held("two", http_server.url))
    plan = support.write(
        tmp_path, "p.yaml",
        "title: t\non_failure: stop\nexperiments:\n  - {file: one.yaml, expect: deviated}\n  - file: two.yaml\n",
    )  # fmt: skip
    proc = _no_terminal("gameday", str(plan), "--out", str(tmp_path / "out"), tmp=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "one.yaml: held (exit 0), expected deviated: NOT AS EXPECTED" in proc.stdout
    assert "did not end as expected: on_failure: stop ends the day" in proc.stdout
    summary = next((tmp_path / "out").rglob("summary.md")).read_text()
    assert "| ✓ Held | expected deviated |" in summary and "**fail**: held, not as expected \\(exit 0\\)" in summary
    assert "two.yaml" in summary.split("## Notes")[1]


def test_plan_steps_load_with_their_notes(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "http://127.0.0.1:1", second_expect="[held, deviated]")
    day = load_gameday(plan)
    kinds = [type(s) for s in day.steps]
    assert kinds == [RunStep, PauseStep, CheckpointStep, RunStep]
    pause, checkpoint, last = day.steps[1], day.steps[2], day.steps[3]
    assert isinstance(pause, PauseStep) and pause.duration_s == pytest.approx(0.1)
    assert isinstance(checkpoint, CheckpointStep) and checkpoint.runbook == "https://runbooks.example.invalid/page"
    assert isinstance(last, RunStep) and last.expect == ("held", "deviated")
    assert day.needs_operator and len(day.entries) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param("  - {file: one.yaml, expect: error}\n", "expect: expected one of held, deviated", id="expect"),
        pytest.param("  - pause: soon\n", "experiments[0].pause:", id="pause"),
        pytest.param("  - checkpoint: ''\n", "experiments[0].checkpoint: expected a non-empty string", id="empty"),
        pytest.param("  - {pause: 1s, file: one.yaml}\n", "experiments[0].file: unknown key 'file'", id="mixed"),
        pytest.param("  - pause: 1s\n", "a game day needs at least one experiment ('file:')", id="no-experiment"),
        pytest.param(
            "  - file: one.yaml\nnotify: [{url_env: GAMEDAY_UNSET_HOOK}]\n",
            "notify[0].url_env: environment variable GAMEDAY_UNSET_HOOK is not set", id="unset-env",
        ),
        pytest.param(
            "  - file: one.yaml\nnotify: [{format: slack}]\n",
            "p.yaml:4:10: notify[0]: missing 'url' (or 'url_env' naming an environment variable)", id="no-url",
        ),
        pytest.param(
            "  - file: one.yaml\nnotify: [{url: 'ftp://x', format: teams}]\n",
            "notify[0].format: expected one of json, slack", id="bad-format",
        ),
    ],
)  # fmt: skip
def test_bad_steps_are_located(tmp_path: Path, body: str, message: str) -> None:
    support.write(tmp_path, "one.yaml", support.held("one", "http://127.0.0.1:1"))
    plan = support.write(tmp_path, "p.yaml", "title: t\nexperiments:\n" + body)
    with pytest.raises(ValidationFailed) as info:
        load_gameday(plan, environ={})
    assert message in str(info.value)
    assert "p.yaml:" in str(info.value)
