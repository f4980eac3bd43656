"""Chaos Toolkit experiment file -> CtkExperiment, or every problem located (file:line:col path).

Two passes. The shapes (top-level keys, activities, providers, tolerances, pauses,
configuration and secrets) are checked here, each problem at its own node. Then chaostoolkit-lib's
own rules run on each part (`ensure_activity_is_valid`: python modules imported and their
arguments bound to the function, process paths resolved; `ensure_hypothesis_tolerance_is_valid`;
controls), and its message is placed at the part it is about. Configuration and secrets read from
the environment without a default must be set, as `chaos run` requires before it starts.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import yaml

from ..errors import Issue, ValidationFailed
from ..node import Document, compose, read_text
from .experiment import CtkActivity, CtkExperiment

__all__ = ["load_ctk_experiment"]

Path_ = tuple[str | int, ...]
_TOP = (
    "version", "title", "description", "tags", "configuration", "secrets", "extensions", "contributions",
    "controls", "runtime", "steady-state-hypothesis", "method", "rollbacks", "dry",
)  # fmt: skip
_STRATEGIES = {
    "hypothesis": ("default", "before-method-only", "after-method-only", "during-method-only", "continuously",
                   "continously"),
    "rollbacks": ("default", "always", "never", "deviated"),
}  # fmt: skip


class _Located:
    """The document as plain values, with the line and column of every node by path."""

    def __init__(self, file: str, root: yaml.Node) -> None:
        self.file = file
        self.where: dict[Path_, tuple[int, int]] = {}
        self.value = self._build(root, ())
        self.issues: list[Issue] = []

    def _build(self, node: yaml.Node, path: Path_) -> Any:
        self.where[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for k, v in node.value:
                key = yaml.SafeLoader.construct_scalar(_LOADER, k) if isinstance(k, yaml.ScalarNode) else str(k)
                out[str(key)] = self._build(v, (*path, str(key)))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._build(v, (*path, i)) for i, v in enumerate(node.value)]
        return _LOADER.construct_object(node, deep=True)

    def error(self, path: Path_, message: str) -> None:
        line, column = self._nearest(path)
        self.issues.append(Issue(file=self.file, line=line, column=column, path=_dotted(path), message=message))

    def _nearest(self, path: Path_) -> tuple[int, int]:
        while path and path not in self.where:
            path = path[:-1]
        return self.where.get(path, (1, 1))


_LOADER = yaml.SafeLoader("")


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def load_ctk_experiment(file: str) -> CtkExperiment:
    """Validate a Chaos Toolkit experiment; raises ValidationFailed with every located problem."""
    text = read_text(file)
    if isinstance(text, Issue):
        raise ValidationFailed([text])
    doc = Document(file=file)
    root = compose(text, doc)
    doc.raise_if_any()
    assert root is not None
    located = _Located(file, root.raw)
    exp = located.value
    if not isinstance(exp, dict):
        located.error((), "expected a Chaos Toolkit experiment mapping (title, description, method, ...)")
        raise ValidationFailed(located.issues)
    _check_shapes(located, exp)
    if not located.issues:
        _check_with_chaoslib(located, exp)
    if located.issues:
        raise ValidationFailed(sorted(located.issues, key=lambda i: (i.line, i.column)))
    return CtkExperiment(
        source=file,
        source_text=text,
        title=str(exp["title"]),
        description=str(exp["description"]),
        tags=tuple(str(t) for t in exp.get("tags") or ()),
        document_json=json.dumps(exp),
        hypothesis=tuple(_activities(exp, "hypothesis")),
        method=tuple(_activities(exp, "method")),
        rollbacks=tuple(_activities(exp, "rollbacks")),
    )


def _sections(exp: dict[str, Any]) -> Iterator[tuple[str, Path_, list[Any]]]:
    ssh = exp.get("steady-state-hypothesis")
    if isinstance(ssh, dict) and isinstance(ssh.get("probes"), list):
        yield "hypothesis", ("steady-state-hypothesis", "probes"), ssh["probes"]
    for key in ("method", "rollbacks"):
        if isinstance(exp.get(key), list):
            yield key, (key,), exp[key]


def _activities(exp: dict[str, Any], section: str) -> Iterator[CtkActivity]:
    for name, _, items in _sections(exp):
        if name != section:
            continue
        for a in items:
            provider = a.get("provider") or {}
            yield CtkActivity(
                name=str(a.get("name") or a.get("ref")),
                type=str(a.get("type") or "ref"),
                section=section,
                provider=str(provider.get("type") if "ref" not in a else "ref"),
                background=bool(a.get("background")),
                spec_json=json.dumps(a),
            )


def _check_shapes(at: _Located, exp: dict[str, Any]) -> None:
    for key in exp:
        if key not in _TOP:
            at.error((key,), f"unknown key {key!r} in a Chaos Toolkit experiment (known: {', '.join(_TOP)})")
    for key in ("title", "description"):
        if key not in exp:
            at.error((), f"missing required key {key!r} (Chaos Toolkit refuses an experiment without it)")
        elif not isinstance(exp[key], str) or not exp[key].strip():
            at.error((key,), "expected a non-empty string")
    if "method" not in exp:
        at.error((), "missing required key 'method' (a list of activities; it may be empty)")
    tags = exp.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) and t for t in tags)):
        at.error(("tags",), "expected a list of non-empty strings")
    ssh = exp.get("steady-state-hypothesis")
    if ssh is not None:
        if not isinstance(ssh, dict):
            at.error(("steady-state-hypothesis",), "expected a mapping with 'title' and 'probes'")
        else:
            if not isinstance(ssh.get("title"), str) or not ssh["title"]:
                at.error(("steady-state-hypothesis",), "missing required key 'title' (a non-empty string)")
            if "probes" in ssh and not isinstance(ssh["probes"], list):
                at.error(("steady-state-hypothesis", "probes"), "expected a list of probes")
    for key in ("method", "rollbacks"):
        if exp.get(key) is not None and not isinstance(exp[key], list):
            at.error((key,), "expected a list of activities")
    names = {a.get("name") for _, _, items in _sections(exp) for a in items if isinstance(a, dict)}
    for section, path, items in _sections(exp):
        for i, activity in enumerate(items):
            _check_activity(at, (*path, i), activity, section, names)
    _check_values(at, exp, "configuration")
    secrets = exp.get("secrets")
    if secrets is not None:
        if not isinstance(secrets, dict):
            at.error(("secrets",), "expected a mapping of scope -> {name: value}")
        else:
            for scope, values in secrets.items():
                if not isinstance(values, dict):
                    at.error(("secrets", scope), "expected a mapping of secret name -> value")
                else:
                    _check_values(at, secrets, scope, ("secrets",))
    runtime = exp.get("runtime")
    if isinstance(runtime, dict):
        for part, allowed in _STRATEGIES.items():
            strategy = (runtime.get(part) or {}).get("strategy") if isinstance(runtime.get(part), dict) else None
            if strategy is not None and strategy not in allowed:
                at.error(("runtime", part, "strategy"), f"expected one of {', '.join(allowed)}, got {strategy!r}")
    elif runtime is not None:
        at.error(("runtime",), "expected a mapping such as {rollbacks: {strategy: always}}")


def _check_activity(at: _Located, path: Path_, a: Any, section: str, names: set[Any]) -> None:
    if not isinstance(a, dict):
        at.error(path, "expected an activity mapping (type, name, provider) or {ref: name}")
        return
    if "ref" in a:
        if not isinstance(a["ref"], str) or not a["ref"]:
            at.error((*path, "ref"), "expected the name of another activity")
        elif a["ref"] not in names:
            at.error((*path, "ref"), f"no activity named {a['ref']!r} in this experiment")
        return
    if a.get("type") not in ("probe", "action"):
        at.error((*path, "type") if "type" in a else path, "expected type: probe or type: action")
    if section == "hypothesis" and a.get("type") == "action":
        at.error((*path, "type"), "the steady-state hypothesis takes probes only")
    if not isinstance(a.get("name"), str) or not a["name"]:
        at.error((*path, "name") if "name" in a else path, "missing required key 'name' (a non-empty string)")
    if section == "hypothesis" and "tolerance" not in a:
        at.error(path, "missing required key 'tolerance': every hypothesis probe needs one")
    provider = a.get("provider")
    if not isinstance(provider, dict):
        at.error((*path, "provider") if "provider" in a else path, "missing provider: {type: python|process|http, ...}")
    else:
        ptype = provider.get("type")
        if ptype not in ("python", "process", "http"):
            at.error((*path, "provider", "type"), f"expected python, process or http, got {ptype!r}")
        elif provider.get("arguments", {}) is None:  # chaos run crashes on it (a traceback)
            at.error((*path, "provider", "arguments"), "arguments: null; give a mapping (or list) or remove the key")
    for key in ("before", "after"):
        pause = (a.get("pauses") or {}).get(key) if isinstance(a.get("pauses"), dict) else None
        if isinstance(pause, bool) or not (
            pause is None or isinstance(pause, int | float) or (isinstance(pause, str) and pause.startswith("${"))
        ):
            at.error((*path, "pauses", key), "expected a number of seconds or a ${name} from the configuration")
    if "background" in a and not isinstance(a["background"], bool):
        at.error((*path, "background"), "expected true or false")


def _check_values(at: _Located, parent: dict[str, Any], key: str, prefix: Path_ = ()) -> None:
    """Configuration (or one secret scope): values, `{type: env, key, default?}` that must be set
    when they have no default, or (configuration) `{type: probe, provider}`."""
    values = parent.get(key)
    if values is None:
        return
    if not isinstance(values, dict):
        at.error((*prefix, key), "expected a mapping of name -> value")
        return
    for name, value in values.items():
        if not (isinstance(value, dict) and "type" in value):
            continue
        path = (*prefix, key, name)
        if value["type"] == "env":
            env = value.get("key")
            if not isinstance(env, str) or not env:
                at.error((*path, "key") if "key" in value else path, "expected the name of an environment variable")
            elif env not in os.environ and "default" not in value:
                at.error(path, f"environment variable {env} is not set and has no default; set it or add default:")
        elif value["type"] == "probe" and not prefix:
            if not isinstance(value.get("provider"), dict):
                at.error(path, "a configuration probe needs a provider: {type: python|process|http, ...}")
        elif value["type"] not in ("vault",):
            at.error((*path, "type"), f"unknown value type {value['type']!r} (env{', probe' if not prefix else ''})")


def _check_with_chaoslib(at: _Located, exp: dict[str, Any]) -> None:
    """chaostoolkit-lib's own rules, each message placed at the part it is about."""
    logging.getLogger("chaostoolkit").addHandler(logging.NullHandler())
    logging.getLogger("chaostoolkit").propagate = False
    from chaoslib.activity import ensure_activity_is_valid
    from chaoslib.control import validate_controls
    from chaoslib.exceptions import ChaosException
    from chaoslib.experiment import ensure_experiment_is_valid
    from chaoslib.hypothesis import ensure_hypothesis_tolerance_is_valid

    for section, path, items in _sections(exp):
        for i, activity in enumerate(items):
            try:
                ensure_activity_is_valid(activity)
                if section == "hypothesis" and "ref" not in activity:
                    ensure_hypothesis_tolerance_is_valid(activity["tolerance"])
            except ChaosException as exc:
                at.error((*path, i), _first_line(exc))
            except Exception as exc:  # an extension that fails while imported
                at.error((*path, i), f"{type(exc).__name__}: {_first_line(exc)}")
    if at.issues:
        return
    try:
        validate_controls(exp)
        ensure_experiment_is_valid(json.loads(json.dumps(exp)))
    except ChaosException as exc:
        at.error((), _first_line(exc))
    except Exception as exc:
        at.error((), f"{type(exc).__name__}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())
