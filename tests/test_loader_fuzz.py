"""Property-based: whatever the input, the loader returns an Experiment or raises ValidationFailed
whose every issue is located (line >= 1) or names the file."""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaosrun.errors import ValidationFailed
from chaosrun.faults import known_kinds
from chaosrun.loader import (
    GUARDRAIL_KEYS,
    HTTP_KEYS,
    PROBE_KEYS,
    TOLERANCE_KEYS,
    TOP_KEYS,
    load_text,
)
from tests.loader_samples import FULL

FILE = "fuzz.yaml"
KEYS = sorted({*TOP_KEYS, *PROBE_KEYS, *HTTP_KEYS, *TOLERANCE_KEYS, *GUARDRAIL_KEYS, "proxy", "fault", "port"})
WORDS = [*KEYS, *known_kinds(), "us-east", "eu-west", "checkout", "payments-eu", "300ms", "-1s", "0s", "1e9h",
         ">= 0.99", "< 2s", "<= 1.5x baseline", "ignore", "${x}", "${secret.token}", "${region.name}", "/health",
         "http://127.0.0.1:1", "127.0.0.1:99999", "", " ", "null", "~", "[", "{", "&a", "*a",
         "!!python/object", "a\u2028b"]  # fmt: skip
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=20),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=10))
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=40,
)


def check(text: str) -> None:
    try:
        load_text(text, file=FILE, environ={}, variables={"x": "1"})
    except ValidationFailed as exc:
        assert exc.issues
        for issue in exc.issues:
            assert issue.file, issue
            assert issue.line >= 1 or str(issue).startswith(issue.file + ":"), issue
            assert len(str(issue).splitlines()) == 1, issue


def dump(document: Any, as_json: bool) -> str:
    if as_json:
        return json.dumps(document, default=str)
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


@FUZZ
@given(document=values, as_json=st.booleans())
def test_random_structures(document: Any, as_json: bool) -> None:
    check(dump(document, as_json))


@FUZZ
@given(document=st.dictionaries(st.sampled_from(TOP_KEYS), values, max_size=len(TOP_KEYS)))
def test_random_sections(document: dict[str, Any]) -> None:
    check(dump(document, False))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


BASE = yaml.safe_load(FULL)
PATHS = _paths(BASE)[1:]


@FUZZ
@given(data=st.data())
def test_mutations_of_a_valid_experiment(data: st.DataObject) -> None:
    document = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        path = data.draw(st.sampled_from(PATHS))
        parent = document
        try:
            for step in path[:-1]:
                parent = parent[step]
            parent[path[-1]]  # the path may be gone after an earlier mutation
        except (KeyError, IndexError, TypeError):
            continue
        action = data.draw(st.sampled_from(["delete", "replace", "rename", "wrong-type"]))
        last = path[-1]
        if action == "delete":
            del parent[last]
        elif action == "replace":
            parent[last] = data.draw(values)
        elif action == "rename" and isinstance(parent, dict):
            parent[data.draw(keys)] = parent.pop(last)
        else:
            parent[last] = data.draw(st.sampled_from([[], {}, None, 3, "x", [1, "a"], {"a": 1}]))
    check(dump(document, False))


@FUZZ
@given(data=st.data())
def test_text_edits_of_a_valid_experiment(data: st.DataObject) -> None:
    text = FULL
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        start = data.draw(st.integers(min_value=0, max_value=len(text)))
        end = data.draw(st.integers(min_value=start, max_value=min(len(text), start + 10)))
        text = (
            text[:start]
            + data.draw(st.text(max_size=8) | st.sampled_from([":", "- ", "\n  ", "{", "'", "\t"]))
            + text[end:]
        )
    check(text)
