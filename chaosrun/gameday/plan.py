"""Game-day plans: experiments, pauses and manual checkpoints, run in order.

```yaml
title: Q4 payments game day
stop_on: [rollback_failed, error]     # statuses that always end the day (default: rollback_failed)
on_failure: ask                       # an experiment not as expected: stop | continue (default) | ask
variables: {payments_port: "9102"}    # passed to every experiment (their own --var still win)
notify:                               # webhooks (chaosrun.gameday.notify)
  - {url_env: SLACK_WEBHOOK_URL, format: slack}
  - {url: "https://hooks.example.com/chaos", secret_env: HOOK_KEY, retries: 2, timeout: 5s}
grafana: {url: "http://grafana:3000", token_env: GRAFANA_TOKEN, tags: [payments]}
experiments:
  - file: dependency-latency.yaml     # relative to the plan file
    variables: {latency: 500ms}
    expect: held                      # or a list: [held, deviated]; default held
    notes: Watch the checkout dashboard
    runbook: https://wiki.example.com/runbooks/payments
  - pause: 2m
  - checkpoint: Confirm the on-call has acknowledged the page
  - file: fragile-search.yaml
    expect: deviated                  # known fragile: the day passes when it deviates
```
The day passes (exit 0) when every experiment ended as expected; otherwise it exits with the
most severe code of those that did not: 5 > 4 > 3 > 2 > 7 > 1 > 6. A refused checkpoint ends
the day with exit 3.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..node import Node, compose_file
from ..result import EXIT_CODES, Status

__all__ = [
    "EXPECTABLE",
    "CheckpointStep",
    "GameDay",
    "GameDayEntry",
    "Grafana",
    "PauseStep",
    "RunStep",
    "Step",
    "Webhook",
    "load_gameday",
]

OnFailure = Literal["stop", "continue", "ask"]
# What an experiment may be expected to end as: outcomes of the system, never of chaosrun's tooling.
EXPECTABLE = ("held", "deviated", "not_steady", "aborted", "inconclusive")
_STATUSES: tuple[str, ...] = (*EXIT_CODES, "inconclusive")
_STEP_KEYS = {"notes", "runbook"}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStep:
    """Run one experiment file."""

    file: Path
    variables: tuple[tuple[str, str], ...]
    expect: tuple[str, ...] = ("held",)
    notes: str = ""
    runbook: str = ""
    where: str = ""  # plan.yaml:line:col


GameDayEntry = RunStep  # the name before pauses and checkpoints


@dataclass(frozen=True, slots=True, kw_only=True)
class PauseStep:
    duration_s: float
    notes: str = ""
    runbook: str = ""
    where: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointStep:
    """A question the operator answers at the terminal (or `--yes` answers for them)."""

    prompt: str
    notes: str = ""
    runbook: str = ""
    where: str = ""


Step = RunStep | PauseStep | CheckpointStep


@dataclass(frozen=True, slots=True, kw_only=True)
class Webhook:
    """A notification target. `url` and `secret` are secrets: never printed or written."""

    url: str
    format: Literal["json", "slack"] = "json"
    secret: str | None = None  # HMAC-SHA256 key (json format): X-Chaosrun-Signature
    timeout_s: float = 5.0  # per attempt
    retries: int = 2
    events: tuple[str, ...] = ("start", "experiment", "end")
    name: str = ""  # how logs name it (never the URL)


@dataclass(frozen=True, slots=True, kw_only=True)
class Grafana:
    """Where fault windows are posted as annotations (POST /api/annotations)."""

    url: str
    token: str | None = None
    dashboard_uid: str | None = None
    tags: tuple[str, ...] = ()
    timeout_s: float = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class GameDay:
    title: str
    steps: tuple[Step, ...]
    stop_on: tuple[Status, ...]
    source: str
    on_failure: OnFailure = "continue"
    notify: tuple[Webhook, ...] = ()
    grafana: Grafana | None = None

    @property
    def entries(self) -> tuple[RunStep, ...]:
        """The experiments, in order."""
        return tuple(s for s in self.steps if isinstance(s, RunStep))

    @property
    def needs_operator(self) -> bool:
        """Whether the day may ask a question at the terminal."""
        return self.on_failure == "ask" or any(isinstance(s, CheckpointStep) for s in self.steps)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value of the plan, to mask wherever text leaves."""
        values = [w.url for w in self.notify] + [w.secret for w in self.notify if w.secret]
        if self.grafana is not None and self.grafana.token:
            values.append(self.grafana.token)
        return tuple(values)


def _str_map(node: Node) -> tuple[tuple[str, str], ...]:
    out = []
    for key, value in node.entries() or []:
        text = value.str(non_empty=False)
        if text is not None:
            out.append((key, text))
    return tuple(out)


def _from_env(node: Node, environ: Mapping[str, str]) -> str | None:
    """The value of the environment variable that `node` names (a secret kept out of the plan)."""
    name = node.str()
    if name is None:
        return None
    value = environ.get(name)
    if not value:
        node.error(f"environment variable {name} is not set; export it before the game day")
    return value or None


def _secret_or_plain(node: Node, m: dict[str, Node], key: str, environ: Mapping[str, str]) -> str | None:
    plain, env = m.get(key), m.get(f"{key}_env")
    if plain is not None and env is not None:
        env.error(f"give {key} or {key}_env, not both")
        return None
    if env is not None:
        return _from_env(env, environ)
    if plain is not None:
        return plain.str()
    node.error(f"missing '{key}' (or '{key}_env' naming an environment variable)")
    return None


def _webhook(node: Node, i: int, environ: Mapping[str, str]) -> Webhook | None:
    keys = {"url", "url_env", "format", "secret_env", "timeout", "retries", "events", "name"}
    m = node.mapping(keys)
    if m is None:
        return None
    url = _secret_or_plain(node, m, "url", environ)
    secret = _from_env(m["secret_env"], environ) if "secret_env" in m else None
    fmt = m["format"].choice(("json", "slack")) if "format" in m else "json"
    timeout = m["timeout"].duration(min_s=0.05, max_s=60) if "timeout" in m else 5.0
    retries = m["retries"].int(min=0, max=5) if "retries" in m else 2
    events: tuple[str, ...] = ("start", "experiment", "end")
    if "events" in m:
        events = tuple(e for item in m["events"] if (e := item.choice(events)) is not None)
    if url is None or fmt is None or timeout is None or retries is None:
        return None
    if not url.startswith(("http://", "https://")):
        node.error("webhook url: expected an http:// or https:// URL")
        return None
    name = m["name"].str() if "name" in m else None
    return Webhook(
        url=url,
        format=fmt,  # type: ignore[arg-type]
        secret=secret,
        timeout_s=timeout,
        retries=retries,
        events=events,
        name=name or f"notify[{i}] ({fmt})",
    )


def _grafana(node: Node, environ: Mapping[str, str]) -> Grafana | None:
    m = node.mapping({"url", "token_env", "dashboard_uid", "tags", "timeout"}, required=("url",))
    if m is None or "url" not in m:
        return None
    url = m["url"].str()
    token = _from_env(m["token_env"], environ) if "token_env" in m else None
    tags = (m["tags"].str_list() or ()) if "tags" in m else ()
    timeout = m["timeout"].duration(min_s=0.05, max_s=60) if "timeout" in m else 5.0
    uid = m["dashboard_uid"].str() if "dashboard_uid" in m else None
    if url is None or timeout is None:
        return None
    return Grafana(url=url.rstrip("/"), token=token, dashboard_uid=uid, tags=tuple(tags), timeout_s=timeout)


def _step(item: Node, plan_dir: Path, common: dict[str, str], variables: Mapping[str, str]) -> Step | None:
    keys = item.raw.value if item.is_mapping else []
    names = {str(k.value) for k, _ in keys}
    where = item.where
    if "pause" in names:
        m = item.mapping({"pause"} | _STEP_KEYS)
        if m is None:
            return None
        duration = m["pause"].duration(min_s=0.0, max_s=24 * 3600)
        notes, runbook = _texts(m)
        return None if duration is None else PauseStep(duration_s=duration, notes=notes, runbook=runbook, where=where)
    if "checkpoint" in names:
        m = item.mapping({"checkpoint"} | _STEP_KEYS)
        if m is None:
            return None
        prompt = m["checkpoint"].str()
        notes, runbook = _texts(m)
        return None if prompt is None else CheckpointStep(prompt=prompt, notes=notes, runbook=runbook, where=where)
    e = item.mapping({"file", "variables", "expect"} | _STEP_KEYS, required=("file",))
    if e is None or "file" not in e:
        if e is not None:
            item.error("each step is an experiment ('file:'), a 'pause:' or a 'checkpoint:'")
        return None
    name = e["file"].str()
    if name is None:
        return None
    file = (plan_dir / name) if not Path(name).is_absolute() else Path(name)
    if not file.is_file():
        e["file"].error(f"no experiment file at {file}")
        return None
    own = dict(common)
    if "variables" in e:
        own.update(dict(_str_map(e["variables"])))
    own.update(variables)
    expect: tuple[str, ...] = ("held",)
    if "expect" in e:
        node = e["expect"]
        listed = node.items() if node.is_sequence else [node]
        expect = tuple(s for x in listed or [] if (s := x.choice(EXPECTABLE)) is not None)
        if node.is_sequence and not listed:
            node.error(f"expected at least one of {', '.join(EXPECTABLE)}")
    notes, runbook = _texts(e)
    return RunStep(file=file, variables=tuple(own.items()), expect=expect, notes=notes, runbook=runbook, where=where)


def _texts(m: dict[str, Node]) -> tuple[str, str]:
    notes = (m["notes"].str() or "") if "notes" in m else ""
    runbook = (m["runbook"].str() or "") if "runbook" in m else ""
    return notes, runbook


def load_gameday(
    path: str | Path, variables: Mapping[str, str] = {}, environ: Mapping[str, str] = os.environ
) -> GameDay:
    """Read and check a game-day plan; raises chaosrun.errors.ValidationFailed with every located problem.
    Webhook URLs, HMAC keys and the Grafana token named by `*_env` are read from `environ`."""
    p = Path(path)
    root = compose_file(str(path), what="game-day plan")
    doc = root.doc
    allowed = {"title", "stop_on", "on_failure", "variables", "experiments", "notify", "grafana"}
    m = root.mapping(allowed, required=("title", "experiments"))
    doc.raise_if_any()
    assert m is not None
    title = m["title"].str() or ""
    common = dict(_str_map(m["variables"])) if "variables" in m else {}
    common.update(variables)
    stop_on: list[Status] = []
    if "stop_on" in m:
        for item in m["stop_on"].items() or []:
            status = item.choice(_STATUSES)
            if status is not None:
                stop_on.append(status)  # type: ignore[arg-type]
    else:
        stop_on.append("rollback_failed")
    on_failure = m["on_failure"].choice(("stop", "continue", "ask")) if "on_failure" in m else "continue"
    steps = []
    items = m["experiments"].items() or []
    if not items and m["experiments"].is_sequence:
        m["experiments"].error("a game day needs at least one experiment")
    for item in items:
        step = _step(item, p.parent, common, variables)
        if step is not None:
            steps.append(step)
    if items and steps and not any(isinstance(s, RunStep) for s in steps):
        m["experiments"].error("a game day needs at least one experiment ('file:')")
    notify = tuple(w for i, n in enumerate(m["notify"]) if (w := _webhook(n, i, environ))) if "notify" in m else ()
    grafana = _grafana(m["grafana"], environ) if "grafana" in m else None
    doc.raise_if_any()
    return GameDay(
        title=title,
        steps=tuple(steps),
        stop_on=tuple(stop_on),
        source=str(path),
        on_failure=on_failure or "continue",  # type: ignore[arg-type]
        notify=notify,
        grafana=grafana,
    )
