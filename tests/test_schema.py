"""The JSON Schema accepts the experiments we ship (or the valid test documents) and rejects unknown keys."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import yaml

from chaosrun.faults import known_kinds
from chaosrun.schema import experiment_schema
from tests.loader_samples import FULL, MINIMAL, REPO, VALID_DOCUMENTS, shipped_experiments

SHIPPED = shipped_experiments()
# the repository's experiments, and the valid test documents
DOCUMENTS = {
    **{str(p.relative_to(REPO)): p.read_text(encoding="utf-8") for p in SHIPPED},
    **{f"tests:{name}": text for name, text in VALID_DOCUMENTS.items()},
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = experiment_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(validator: jsonschema.Draft202012Validator, document: Any) -> list[str]:
    return sorted(f"{e.json_path}: {e.message}" for e in validator.iter_errors(document))


@pytest.mark.parametrize("text", list(DOCUMENTS.values()), ids=list(DOCUMENTS))
def test_documents_validate(validator: jsonschema.Draft202012Validator, text: str) -> None:
    assert errors(validator, yaml.safe_load(text)) == []


@pytest.mark.parametrize(
    ("change", "where"),
    [
        pytest.param(lambda d: d.update(rollback=[]), "$", id="top-level"),
        pytest.param(
            lambda d: d["steady_state"]["probes"][0].update(evry="1s"), "$.steady_state.probes[0]", id="probe"
        ),
        pytest.param(
            lambda d: d["steady_state"]["probes"][0]["http"].update(timout="1s"),
            "$.steady_state.probes[0].http",
            id="http",
        ),
        pytest.param(lambda d: d["phases"].update(cooldown="1s"), "$.phases", id="phases"),
        pytest.param(lambda d: d["regions"]["local"].update(url="x"), "$.regions.local", id="region"),
    ],
)
def test_unknown_keys_are_rejected(validator: jsonschema.Draft202012Validator, change: Any, where: str) -> None:
    document = yaml.safe_load(MINIMAL)
    change(document)
    found = errors(validator, document)
    assert found, "the schema accepted an unknown key"
    assert any(e.startswith(where + ":") or e.startswith(where + ".") for e in found), found


def test_fault_entries_are_keyed_on_the_kind(validator: jsonschema.Draft202012Validator) -> None:
    schema = experiment_schema()
    kinds = [entry["properties"]["fault"]["const"] for entry in schema["$defs"]["fault"]["oneOf"]]
    assert kinds == list(known_kinds())
    document = yaml.safe_load(FULL)
    assert errors(validator, document) == []
    document["method"][0]["amout"] = 2  # test.noop has 'amount'
    assert errors(validator, document)
    document["method"][0] = {"fault": "no.such.kind"}
    assert errors(validator, document)


@pytest.mark.parametrize(
    ("value", "ok"),
    [("300ms", True), ("2s", True), ("${t}", True), ("${n}ms", True), ("fast", False), ("5", False)],
)
def test_duration_pattern(validator: jsonschema.Draft202012Validator, value: str, ok: bool) -> None:
    document = yaml.safe_load(MINIMAL)
    document["steady_state"]["probes"][0]["every"] = value
    assert (errors(validator, document) == []) is ok


@pytest.mark.parametrize(("value", "ok"), [(">= 0.99", True), (">= 99%", True), ("0.99", False), ("< 300ms", False)])
def test_ratio_pattern(validator: jsonschema.Draft202012Validator, value: str, ok: bool) -> None:
    document = yaml.safe_load(MINIMAL)
    document["steady_state"]["probes"][0]["tolerance"] = {"success_ratio": value}
    assert (errors(validator, document) == []) is ok
