"""Secrets: resolved late (at run start), from the environment or a file; never written in clear."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .errors import InvalidInput
from .model import Experiment

__all__ = ["resolve_secrets"]


def resolve_secrets(experiment: Experiment, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """name -> value for every declared secret. Raises InvalidInput naming a missing one
    with file:line:col of its declaration."""
    out: dict[str, str] = {}
    for ref in experiment.secrets:
        where = f"{ref.location or experiment.source}: secrets.{ref.name}"
        if ref.env is not None:
            value = environ.get(ref.env)
            if value is None:
                raise InvalidInput(f"{where}: environment variable {ref.env} is not set; export it before the run")
            out[ref.name] = value
        elif ref.file is not None:
            path = Path(ref.file)
            if not path.is_absolute() and experiment.source:
                path = Path(experiment.source).parent / path
            try:
                out[ref.name] = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise InvalidInput(f"{where}: cannot read {path}: {exc.strerror}") from exc
    return out
