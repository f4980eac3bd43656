"""Python providers and a control for the Chaos Toolkit side-by-side tests (run by both tools)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def touch(path: str, text: str = "") -> bool:
    """An action: write a marker file (append a line)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text + "\n")
    return True


def exists(path: str) -> bool:
    """A probe: is the marker there?"""
    return Path(path).exists()


def number(value: int = 42) -> int:
    return value


def above(limit: int, value: Any = None) -> bool:
    """A probe used as a tolerance: the other probe's output arrives as `value`."""
    return int(value) > limit


def broken() -> None:
    raise RuntimeError("this action always fails")


def port_of(url: str) -> str:
    """Dynamic configuration: a value computed before the run."""
    return url.rsplit(":", 1)[1]


def _log(hook: str, context: Any) -> None:
    path = os.environ.get("CTK_TEST_CONTROL_LOG")
    if path:
        name = context.get("name") or context.get("title") if isinstance(context, dict) else None
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{hook} {name}\n")


def before_experiment_control(context: Any, **kwargs: Any) -> None:
    _log("before_experiment", context)


def after_experiment_control(context: Any, state: Any, **kwargs: Any) -> None:
    _log("after_experiment", context)


def before_hypothesis_control(context: Any, **kwargs: Any) -> None:
    _log("before_hypothesis", context)


def before_method_control(context: Any, **kwargs: Any) -> None:
    _log("before_method", context)


def before_rollback_control(context: Any, **kwargs: Any) -> None:
    _log("before_rollback", context)


def after_activity_control(context: Any, state: Any, **kwargs: Any) -> None:
    _log("after_activity", context)


def wait_for_pods(label_selector: str, ns: str, count: int, timeout_s: float = 60.0) -> int:
    """An action: wait (bounded) until `count` pods match, through chaostoolkit-kubernetes."""
    import time

    from chaosk8s.pod.probes import count_pods

    deadline = time.monotonic() + timeout_s
    seen = count_pods(label_selector=label_selector, ns=ns)
    while seen != count and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = count_pods(label_selector=label_selector, ns=ns)
    return int(seen)
