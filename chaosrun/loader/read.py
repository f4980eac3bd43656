"""Document-level reading: the file, the `variables` section, the whole experiment, and every problem at once."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from types import MappingProxyType

from ..errors import Issue, ValidationFailed
from ..faults import ParseContext
from ..model import Caps, Experiment, Phases
from ..node import Document, Node, compose, read_text
from .fields import _filtered, _get, _str, _text, _walk_scalars
from .keys import ENV_PREFIX, REQUIRED_TOP_KEYS, TOP_KEYS
from .probes import _Probes

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}")  # as `Node.substitute` finds them
_LATE = ("secret.", "region.", "run.")
_NO_VARIABLES: Mapping[str, str] = MappingProxyType({})


def load_experiment(
    path: str | Path,
    *,
    variables: Mapping[str, str] = _NO_VARIABLES,
    environ: Mapping[str, str] = os.environ,
    strict_variables: bool = False,
) -> Experiment:
    """Read and validate an experiment file. Raises ValidationFailed listing every problem.

    `strict_variables`: a name in `variables` (the `--var`s of `run` and `validate`) that the
    experiment neither declares nor uses as `${name}` is a problem (a typo would test the wrong
    thing). Off for game days, whose variables go to every experiment, and never applied to the
    environment (`CHAOSRUN_VAR_<name>`)."""
    file = str(path)
    text = read_text(file)
    if isinstance(text, Issue):
        raise ValidationFailed([text])
    return load_text(text, file=file, variables=variables, environ=environ, strict_variables=strict_variables)


def parse_caps(node: Node) -> Caps:
    """A `caps:` mapping outside an experiment (the settings file); problems go to node.doc."""
    return _Parser(node.doc, ".").caps(node, None)


def load_text(
    text: str,
    *,
    file: str = "<text>",
    variables: Mapping[str, str] = _NO_VARIABLES,
    environ: Mapping[str, str] = os.environ,
    base_dir: str | None = None,
    strict_variables: bool = False,
) -> Experiment:
    """Validate an experiment given as text; relative paths are from `base_dir` (default: the file's folder).
    `strict_variables`: see `load_experiment`."""
    doc = Document(file)
    root = compose(text, doc)
    if root is None:
        _raise_if_any(doc)
        raise AssertionError("compose() returns None only with an issue")
    if not root.is_mapping:
        root.error(f"expected a mapping with keys such as title, regions, steady_state and phases, got {root.kind}")
        _raise_if_any(doc)
    keys = [k.value for k, _ in root.raw.value]
    if keys == ["probes"]:
        root.error("this is a file of probe definitions for 'include:', not an experiment; validate the experiment")
    elif "experiments" in keys and "steady_state" not in keys:
        root.error("this is a game-day plan, not an experiment; run it with 'chaosrun gameday'")
    _raise_if_any(doc)
    doc.variables = _variables(root, variables, environ)
    parser = _Parser(doc, base_dir or os.path.dirname(file) or ".")
    experiment = parser.experiment(root, text)
    if strict_variables:
        _check_overrides(root, parser.template_roots, variables)
    _raise_if_any(doc)
    return experiment


def _raise_if_any(doc: Document) -> None:
    if doc.issues:
        unique = list(dict.fromkeys(doc.issues))  # a shared probe definition reports its problems once
        unique.sort(key=lambda i: (i.file != doc.file, i.file, i.line, i.column))
        raise ValidationFailed(unique)


def _variables(root: Node, overrides: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """Variable values: file < environment (CHAOSRUN_VAR_<name>) < overrides (--var). Values are literal."""
    values: dict[str, str] = {}
    node = _variables_node(root)
    for name, value in (node.entries() or []) if node is not None else []:
        if not _NAME.match(name) or name.startswith(_LATE):
            value.error(f"invalid variable name '{name}'; use letters, digits, '_', '.', '-' (no secret./region./run.)")
        elif not value.is_scalar or value.is_null:
            value.error(f"expected a value (text or number), got {value.kind}")
        else:
            values[name] = str(value.raw.value)
    values.update((k[len(ENV_PREFIX) :], v) for k, v in environ.items() if k.startswith(ENV_PREFIX) and k != ENV_PREFIX)
    for name in overrides:
        if not _NAME.match(name):
            root.doc.add(0, 0, "", f"--var {name}=...: invalid variable name; use letters, digits, '_', '.', '-'")
    values.update(overrides)
    return values


def _variables_node(root: Node) -> Node | None:
    return next((Node(v, root.doc, "variables") for k, v in root.raw.value if k.value == "variables"), None)


def _check_overrides(root: Node, included: Collection[Node], overrides: Mapping[str, str]) -> None:
    """Each `--var` name must be declared under `variables` or used as `${name}` in the experiment
    or a file it includes; otherwise (most likely a typo) it is a problem naming the closest known name."""
    node = _variables_node(root)
    declared = [str(k.value) for k, _ in node.raw.value] if node is not None and node.is_mapping else []
    used: set[str] = set()
    # without the `variables` section: a `${x}` in a variable's value is literal, not a use
    for scalars_of in (_filtered(root, ("variables",), keep=False), *included):
        for scalar in _walk_scalars(scalars_of):
            used.update(m.group(1) for m in _REFERENCE.finditer(str(scalar.raw.value)))
    known = sorted({*declared, *(n for n in used if not n.startswith(_LATE))})
    for name in overrides:
        if name in known or not _NAME.match(name):  # an invalid name is reported already
            continue
        hint = difflib.get_close_matches(name, known, n=1)
        more = f"did you mean '{hint[0]}'? " if hint else ""
        root.doc.add(
            0,
            0,
            "",
            f"--var {name}=...: unknown variable '{name}' (neither declared under 'variables' nor used as "
            f"${{{name}}}); {more}known: {', '.join(known) or '(none)'}",
        )


class _Parser(_Probes):
    """Reads one experiment document into the model; problems go to the Document."""

    def experiment(self, root: Node, text: str) -> Experiment:
        top = root.mapping(TOP_KEYS, required=REQUIRED_TOP_KEYS) or {}
        f = [top]
        self.regions = {r.name: r for r in self.region_list(top.get("regions"))}
        self.phases = self.read_phases(top.get("phases"))
        secrets = _get(f, "secrets", self.secrets, ())
        servers, proxies = self.toxiproxy(top.get("toxiproxy"))
        if "include" in top:
            self.include(top["include"])
        probes = self.probes(top.get("steady_state"))
        guardrails = _get(f, "guardrails", lambda n: self.guardrails(n, probes), ())
        ctx = ParseContext(
            regions=tuple(self.regions),
            proxies={p.name: p.region for p in proxies},
            base_dir=os.path.abspath(self.base_dir),
        )
        method = _get(f, "method", lambda n: self.method(n, ctx), ())
        known_secrets = {s.name for s in secrets}
        for scalars_of in (root, *self.template_roots):
            self.check_placeholders(scalars_of, known_secrets)
        return Experiment(
            title=_get(f, "title", _str, ""),
            description=_get(f, "description", _text, ""),
            tags=_get(f, "tags", Node.str_list, ()),
            regions=tuple(self.regions.values()),
            probes=probes,
            phases=self.phases or Phases(baseline_s=0, fault_s=0, recovery_s=0),
            method=method,
            rollbacks=_get(f, "rollbacks", self.rollbacks, ()),
            guardrails=guardrails,
            toxiproxy_servers=servers,
            toxiproxy_proxies=proxies,
            caps=_get(f, "caps", lambda n: self.caps(n, proxies), Caps()),
            secrets=secrets,
            variables=tuple(sorted(self.doc.variables.items())),
            source=self.doc.file,
            source_text=text,
        )
