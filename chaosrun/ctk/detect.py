"""Tell a Chaos Toolkit experiment from a chaosrun one, before either loader runs."""

from __future__ import annotations

import yaml

from ..loader.keys import TOP_KEYS
from ..node import MAX_BYTES, Document, compose

__all__ = ["CTK_ONLY_KEYS", "is_ctk_experiment"]

# top-level keys only Chaos Toolkit has (chaosrun's own are loader.keys.TOP_KEYS)
CTK_ONLY_KEYS = ("steady-state-hypothesis", "configuration", "controls", "runtime", "extensions",
                 "contributions", "version", "dry")  # fmt: skip


def is_ctk_experiment(file: str) -> bool:
    """True for a mapping with `steady-state-hypothesis` or `method` at the top, no chaosrun-only
    top-level key, and no chaosrun fault (`fault:`) in its method. Anything unreadable is not (the
    chaosrun loader then gives its located message)."""
    try:
        with open(file, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            return False
        root = compose(data.decode("utf-8-sig"), Document(file=file))
    except (OSError, ValueError, RecursionError):
        return False
    if root is None or not isinstance(root.raw, yaml.MappingNode):
        return False
    top = {k.value: v for k, v in root.raw.value if isinstance(k, yaml.ScalarNode)}
    if not ("method" in top or "steady-state-hypothesis" in top):
        return False
    if any(k in TOP_KEYS and k not in CTK_ONLY_KEYS and k not in _SHARED for k in top):
        return False
    if any(k in CTK_ONLY_KEYS for k in top):
        return True
    method = top.get("method")
    items = method.value if isinstance(method, yaml.SequenceNode) else []
    return not any(
        isinstance(item, yaml.MappingNode) and any(getattr(k, "value", None) == "fault" for k, _ in item.value)
        for item in items
    )


_SHARED = ("title", "description", "tags", "secrets", "method", "rollbacks")  # keys both formats have
