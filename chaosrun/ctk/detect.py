"""Tell a Chaos Toolkit experiment from a chaosrun one, before either loader runs."""

from __future__ import annotations

import yaml

from ..node import MAX_BYTES

__all__ = ["CHAOSRUN_KEYS", "CTK_KEYS", "is_ctk_experiment"]

CTK_KEYS = ("method", "steady-state-hypothesis")  # only Chaos Toolkit has these at the top
CHAOSRUN_KEYS = ("steady_state", "regions", "phases")  # only chaosrun has these


def is_ctk_experiment(file: str) -> bool:
    """True when `file` is a mapping with `method` or `steady-state-hypothesis` at the top and
    none of chaosrun's own top-level keys. Anything unreadable is not (chaosrun's loader then
    gives its located message)."""
    try:
        with open(file, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            return False
        top = _top_keys(data.decode("utf-8-sig"))
    except (OSError, ValueError, yaml.YAMLError, RecursionError):
        return False
    return any(k in top for k in CTK_KEYS) and not any(k in top for k in CHAOSRUN_KEYS)


def _top_keys(text: str) -> set[str]:
    """The top-level keys, read from the YAML events (no values are built, no aliases expanded)."""
    keys: set[str] = set()
    depth = 0
    expect_key = False
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            if depth == 0 and not isinstance(event, yaml.MappingStartEvent):
                return set()
            depth += 1
            if depth == 1:
                expect_key = True
                continue
            if depth == 2:
                expect_key = False  # a value that is a collection
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1
            if depth == 1:
                expect_key = True
        elif isinstance(event, yaml.ScalarEvent | yaml.AliasEvent) and depth == 1:
            if expect_key and isinstance(event, yaml.ScalarEvent):
                keys.add(event.value)
            expect_key = not expect_key
    return keys
